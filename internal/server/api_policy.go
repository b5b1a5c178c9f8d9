package server

import (
	"crypto/rand"
	"net/http"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// jsonUser is the original's UserId JSON form, {"email": "…"}.
type jsonUser struct {
	Email string `json:"email"`
}

func newJSONUser(u jit.UserID) jsonUser { return jsonUser{Email: string(u)} }

// policyResponse is GET /api/policy's body (reference §2.3 row 2).
type policyResponse struct {
	JustificationHint        string   `json:"justificationHint"`
	SignedInUser             jsonUser `json:"signedInUser"`
	ApplicationVersion       string   `json:"applicationVersion"`
	DefaultActivationTimeout int      `json:"defaultActivationTimeout"` // minutes
	MaxActivationTimeout     int      `json:"maxActivationTimeout"`     // minutes
	// Additions the UI uses to guide the user before the server refuses.
	MaxRoles     int `json:"maxRoles"`
	MinReviewers int `json:"minReviewers"`
	MaxReviewers int `json:"maxReviewers"`
	// ApprovalComment is ACTIVATION_APPROVAL_COMMENT: "optional" or
	// "required".
	ApprovalComment string `json:"approvalComment"`
}

// getPolicy tells the UI the rules it must follow and who is signed in.
func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	pol := s.opts.Policy
	return writeJSON(w, http.StatusOK, policyResponse{
		JustificationHint:        pol.JustificationHint,
		SignedInUser:             newJSONUser(p.Email),
		ApplicationVersion:       s.opts.Version,
		DefaultActivationTimeout: int(pol.DefaultDuration() / time.Minute),
		MaxActivationTimeout:     int(pol.MaxDuration / time.Minute),
		MaxRoles:                 pol.MaxRoles,
		MinReviewers:             pol.MinReviewers,
		MaxReviewers:             pol.MaxReviewers,
		ApprovalComment:          approvalCommentMode(pol),
	})
}

func approvalCommentMode(pol jit.Policy) string {
	if pol.RequireApprovalComment {
		return "required"
	}
	return "optional"
}

// outdatedClient answers GET /api/ like the original: always 404, with a
// link that reloads the page past any cached copy of the 1.0 frontend.
func outdatedClient(w http.ResponseWriter, _ *http.Request) error {
	writeMessage(w, http.StatusNotFound,
		"You're viewing an outdated version of the application, <a href='/?_="+rand.Text()+"'>please refresh your browser</a>")
	return nil
}
