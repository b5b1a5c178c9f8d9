package server

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/jitaccess/jitaccess/internal/activation"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// requestRoutes registers the approval request routes (relative to /api).
func (s *Server) requestRoutes(r chi.Router) {
	r.Post("/activation-request/reject", s.handle(s.rejectActivationRequest))
	r.Post("/activation-request/withdraw", s.handle(s.withdrawActivationRequest))
	r.Get("/requests", s.handle(s.listRequests))
}

// rejectRequest is POST /api/activation-request/reject's body.
type rejectRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) rejectActivationRequest(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	uc := s.opts.UseCases
	var body rejectRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &body); err != nil {
			return err
		}
	}
	res, err := uc.Reject(s.withBaseURL(r), p, r.URL.Query().Get("activation"), body.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newActivationResponse(res))
}

// withdrawRequest is POST /api/activation-request/withdraw's body: none,
// or an empty object.
type withdrawRequest struct{}

func (s *Server) withdrawActivationRequest(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	if r.ContentLength != 0 {
		var body withdrawRequest
		if err := decodeJSON(r, &body); err != nil {
			return err
		}
	}
	res, err := s.opts.UseCases.Withdraw(s.withBaseURL(r), p, r.URL.Query().Get("activation"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newActivationResponse(res))
}

// requestStateJSON is the state of an approval request, in the request
// views and (flattened) in the activation request answers.
type requestStateJSON struct {
	RequestID         string         `json:"id,omitempty"`
	RequestedAt       string         `json:"requestedAt,omitempty"`
	ExpiresAt         string         `json:"expiresAt,omitempty"`
	Status            string         `json:"status"`
	Approvals         []approvalJSON `json:"approvals"`
	ApprovalsRequired int            `json:"approvalsRequired"`
	DecidedBy         string         `json:"decidedBy,omitempty"`
	DecidedAt         string         `json:"decidedAt,omitempty"`
	RejectedBy        string         `json:"rejectedBy,omitempty"`
	RejectReason      string         `json:"rejectReason,omitempty"`
}

type approvalJSON struct {
	By      string `json:"by"`
	At      string `json:"at,omitempty"`
	Comment string `json:"comment,omitempty"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func newRequestStateJSON(id string, requestedAt, expiresAt time.Time, st jit.RequestState) *requestStateJSON {
	out := &requestStateJSON{
		RequestID: id, RequestedAt: rfc3339(requestedAt), ExpiresAt: rfc3339(expiresAt),
		Status: string(st.Status), Approvals: []approvalJSON{}, ApprovalsRequired: max(st.Required, 1),
		DecidedBy: string(st.DecidedBy), DecidedAt: rfc3339(st.DecidedAt),
	}
	for _, a := range st.Approvals {
		out.Approvals = append(out.Approvals, approvalJSON{By: string(a.By), At: rfc3339(a.At), Comment: a.Comment})
	}
	if st.Status == jit.RequestRejected {
		out.RejectedBy, out.RejectReason = string(st.DecidedBy), st.RejectReason
	}
	return out
}

// requestJSON is one item of GET /api/requests.
type requestJSON struct {
	Token         string   `json:"token"`
	Beneficiary   string   `json:"beneficiary"`
	Resource      string   `json:"resource"`
	ProjectID     string   `json:"projectId"`
	Role          string   `json:"role"`
	EntitlementID string   `json:"entitlementId"`
	Justification string   `json:"justification"`
	Reviewers     []string `json:"reviewers"`
	Duration      int64    `json:"activationTimeout"` // minutes
	*requestStateJSON
}

type requestsResponse struct {
	Requests []requestJSON `json:"requests"`
}

func (s *Server) listRequests(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	uc := s.opts.UseCases
	view := r.URL.Query().Get("view")
	if view == "" {
		view = string(activation.ViewMine)
	}
	items, err := uc.ListRequests(r.Context(), p, activation.RequestView(view))
	if err != nil {
		return err
	}
	out := requestsResponse{Requests: []requestJSON{}}
	for _, it := range items {
		j := requestJSON{
			Token: it.Token, Beneficiary: string(it.Beneficiary),
			// A folder's or the organization's request has no project:
			// its resource name is the scope, as in the activation answers.
			Resource: it.Entitlement.Resource(), ProjectID: scopeName(it.Entitlement),
			Role: it.Entitlement.Role, EntitlementID: it.Entitlement.ID(), Justification: it.Justification,
			Reviewers: []string{}, Duration: int64(it.Duration / time.Minute),
			requestStateJSON: newRequestStateJSON(it.ID, it.RequestedAt, it.ApproveBy, it.State),
		}
		for _, u := range it.Reviewers {
			j.Reviewers = append(j.Reviewers, string(u))
		}
		out.Requests = append(out.Requests, j)
	}
	return writeJSON(w, http.StatusOK, out)
}
