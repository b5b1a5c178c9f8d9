package server

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"time"

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

// Probe checks one dependency the app needs to serve; Check returns nil
// when it is usable.
type Probe struct {
	// Name is the key in the details of /health/ready, in the original's
	// style (DevModeIsDisabled): a statement that is true when healthy.
	Name  string
	Check func(ctx context.Context) error
}

// ReadinessOptions tune CachedReadiness.
type ReadinessOptions struct {
	// TTL is how long one round of probes answers /health/ready; 0 means
	// DefaultReadinessTTL. Load balancers and uptime checks probe every few
	// seconds from many places; the cache keeps that from turning into a
	// stream of calls to Google.
	TTL time.Duration
	// Timeout bounds each probe; 0 means DefaultProbeTimeout.
	Timeout time.Duration
	Clock   func() time.Time
	Logger  *slog.Logger
}

// Defaults of ReadinessOptions.
const (
	DefaultReadinessTTL = 15 * time.Second
	DefaultProbeTimeout = 5 * time.Second
)

// CachedReadiness runs the probes concurrently, at most once per TTL, and
// reports each as a detail. Callers that arrive while a round runs wait for
// it and share its answer. A round runs on its own deadline, not the
// caller's, so that a prober that hangs up does not leave a cancelled
// result in the cache.
func CachedReadiness(probes []Probe, opts ReadinessOptions) ReadinessFunc {
	if opts.TTL <= 0 {
		opts.TTL = DefaultReadinessTTL
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultProbeTimeout
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &readinessCache{probes: probes, opts: opts}
	return c.details
}

type readinessCache struct {
	probes []Probe
	opts   ReadinessOptions

	mu      sync.Mutex // held while a round runs
	checked time.Time
	last    map[string]bool
}

func (c *readinessCache) details(ctx context.Context) map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != nil && c.opts.Clock().Sub(c.checked) < c.opts.TTL {
		return maps.Clone(c.last)
	}
	ctx = context.WithoutCancel(ctx)
	results := make([]error, len(c.probes))
	var wg sync.WaitGroup
	for i, p := range c.probes {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
			defer cancel()
			results[i] = p.Check(pctx)
		})
	}
	wg.Wait()
	details := make(map[string]bool, len(c.probes))
	for i, p := range c.probes {
		details[p.Name] = results[i] == nil
		if results[i] != nil {
			// The details say what failed; the log says why.
			c.opts.Logger.WarnContext(ctx, "Readiness probe failed",
				slog.Group(cloudlog.LabelsGroup, slog.String("event", "api.checkHealth")),
				slog.String("probe", p.Name), slog.Any("error", results[i]))
		}
	}
	c.last, c.checked = details, c.opts.Clock()
	return maps.Clone(details)
}
