package server

import (
	"log/slog"
	"net/http"

	"github.com/jitaccess/jitaccess/internal/cloudlog"
)

// healthBody is the original's health response.
type healthBody struct {
	Healthy bool            `json:"healthy"`
	Details map[string]bool `json:"details"`
}

// alive answers as long as the process serves HTTP (GET /health/alive).
func (s *Server) alive(w http.ResponseWriter, _ *http.Request) error {
	return writeJSON(w, http.StatusOK, healthBody{Healthy: true, Details: map[string]bool{}})
}

// ready reports whether every dependency is usable (GET /health/ready):
// 200 when all details are true, 503 otherwise, logged as the original's
// api.checkHealth warning.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	details := map[string]bool{}
	if s.opts.Ready != nil {
		if d := s.opts.Ready(r.Context()); d != nil {
			details = d
		}
	}
	healthy := true
	for _, ok := range details {
		healthy = healthy && ok
	}
	status := http.StatusOK
	if !healthy {
		status = http.StatusServiceUnavailable
		s.log.WarnContext(r.Context(), "Health check failed",
			slog.Group(cloudlog.LabelsGroup, slog.String("event", "api.checkHealth")),
			slog.Any("details", details))
	}
	return writeJSON(w, status, healthBody{Healthy: healthy, Details: details})
}
