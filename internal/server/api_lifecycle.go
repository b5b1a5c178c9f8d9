package server

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/jitaccess/jitaccess/internal/activation"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// LifecycleUseCases are the operations on granted activations: My
// access, end, extend, history. *activation.Lifecycle implements them.
type LifecycleUseCases interface {
	MyAccess(ctx context.Context, caller jit.Principal, q activation.AccessQuery) (activation.Access, error)
	End(ctx context.Context, caller jit.Principal, id string) (jit.Grant, error)
	Extend(ctx context.Context, caller jit.Principal, id string, d time.Duration) (jit.Grant, error)
	History(ctx context.Context, caller jit.Principal, in activation.HistoryInput) ([]jit.HistoryEntry, string, error)
	IsAdministrator(ctx context.Context, caller jit.Principal) (bool, error)
	IsAuditor(ctx context.Context, caller jit.Principal) (bool, error)
}

// lifecycleRoutes registers the lifecycle API when it is configured.
func (s *Server) lifecycleRoutes(r chi.Router) {
	if s.opts.Lifecycle == nil {
		return
	}
	r.Get("/activations", s.handle(s.listActivations))
	r.Post("/activations/end", s.handle(s.endActivation))
	r.Post("/activations/extend", s.handle(s.extendActivation))
	r.Get("/history", s.handle(s.getHistory))
}

// activationJSON is one activation of the lifecycle API.
type activationJSON struct {
	ID                string  `json:"id"`
	Resource          string  `json:"resource"`
	Role              string  `json:"role"`
	ResourceCondition *string `json:"resourceCondition"`
	Beneficiary       string  `json:"beneficiary"`
	Start             string  `json:"start"`
	End               string  `json:"end"`
	Status            string  `json:"status"`
	RemainingSeconds  int64   `json:"remainingSeconds"`
	ApprovedBy        string  `json:"approvedBy,omitempty"`
	Justification     string  `json:"justification"`
}

func newActivationJSON(g jit.Grant, now time.Time) activationJSON {
	return activationJSON{
		ID: g.ID(), Resource: g.Resource, Role: g.Role, ResourceCondition: optional(g.ResourceCondition),
		Beneficiary: string(g.Beneficiary), Start: rfc3339(g.Start), End: rfc3339(g.End),
		Status: string(g.Status(now)), RemainingSeconds: int64(g.Remaining(now) / time.Second),
		ApprovedBy: approvedBy(g), Justification: g.Justification,
	}
}

// approvedBy names the approver, or all of them for a role that needed
// several.
func approvedBy(g jit.Grant) string {
	if len(g.Approvers) > 1 {
		names := make([]string, len(g.Approvers))
		for i, u := range g.Approvers {
			names[i] = string(u)
		}
		return strings.Join(names, ", ")
	}
	return string(g.Approver)
}

type activationsResponse struct {
	Activations     []activationJSON `json:"activations"`
	Warnings        []string         `json:"warnings"`
	IsAdministrator bool             `json:"isAdministrator"`
	ServerTime      string           `json:"serverTime"`
}

func (s *Server) listActivations(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	q := activation.AccessQuery{User: r.URL.Query().Get("user")}
	if v := r.URL.Query().Get("all"); v != "" {
		all, err := strconv.ParseBool(v)
		if err != nil {
			return jit.Invalid("server.listActivations", "all must be true or false")
		}
		q.All = all
	}
	lc := s.opts.Lifecycle
	// Whether the caller may see the administrator's controls does not
	// wait for their activations, nor they for it.
	var (
		admin    bool
		adminErr error
		wg       sync.WaitGroup
	)
	wg.Go(func() { admin, adminErr = lc.IsAdministrator(r.Context(), p) })
	access, err := lc.MyAccess(r.Context(), p, q)
	wg.Wait()
	if err != nil {
		return err
	}
	if adminErr != nil {
		return adminErr
	}
	now := s.now()
	out := activationsResponse{Activations: []activationJSON{}, Warnings: append([]string{}, access.Warnings...),
		IsAdministrator: admin, ServerTime: rfc3339(now)}
	for _, g := range access.Grants {
		out.Activations = append(out.Activations, newActivationJSON(g, now))
	}
	return writeJSON(w, http.StatusOK, out)
}

// activationIDRequest is POST /api/activations/end's body, and the start
// of /extend's.
type activationIDRequest struct {
	ID string `json:"id"`
}

type extendRequest struct {
	ID                string `json:"id"`
	ActivationTimeout int64  `json:"activationTimeout"` // minutes
}

// endedActivationJSON is the ended activation, with what ending does.
type endedActivationJSON struct {
	activationJSON
	EndedAt string `json:"endedAt"`
	Notice  string `json:"notice"`
}

// endNotice says truthfully what ending an activation does and does not.
const endNotice = "The binding was removed. IAM stops honouring it after propagation, typically within 2 minutes and at most 7. " +
	"Credentials minted while it was active (service account keys, signed URLs, access tokens of impersonated service accounts) are not revoked by this."

func (s *Server) endActivation(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	var body activationIDRequest
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	g, err := s.opts.Lifecycle.End(r.Context(), p, body.ID)
	if err != nil {
		return err
	}
	now := s.now()
	out := endedActivationJSON{activationJSON: newActivationJSON(g, now), EndedAt: rfc3339(now), Notice: endNotice}
	out.Status, out.RemainingSeconds = "ENDED", 0
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) extendActivation(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	var body extendRequest
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	g, err := s.opts.Lifecycle.Extend(r.Context(), p, body.ID, minutes(body.ActivationTimeout))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newActivationJSON(g, s.now()))
}

type historyEntryJSON struct {
	Time  string `json:"time"`
	Event string `json:"event"`
	// Kind and Title are how clients group and name the entry: one
	// vocabulary for the web UI and jitctl. Failed says the action
	// failed (Reason says why).
	Kind          string `json:"kind"`
	Title         string `json:"title"`
	Failed        bool   `json:"failed,omitempty"`
	Severity      string `json:"severity"`
	Message       string `json:"message"`
	User          string `json:"user"`
	Beneficiary   string `json:"beneficiary,omitempty"`
	Resource      string `json:"resource,omitempty"`
	Role          string `json:"role,omitempty"`
	Justification string `json:"justification,omitempty"`
	ApprovedBy    string `json:"approvedBy,omitempty"`
	Reason        string `json:"reason,omitempty"`
	Comment       string `json:"comment,omitempty"`
	ActivationID  string `json:"activationId,omitempty"`
	Start         string `json:"start,omitempty"`
	End           string `json:"end,omitempty"`
}

type historyResponse struct {
	Entries       []historyEntryJSON `json:"entries"`
	NextPageToken string             `json:"nextPageToken,omitempty"`
	IsAuditor     bool               `json:"isAuditor"`
}

func (s *Server) getHistory(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	in := activation.HistoryInput{
		User: q.Get("user"), Resource: q.Get("resource"), Role: q.Get("role"),
		From: q.Get("from"), To: q.Get("to"), PageToken: q.Get("pageToken"),
	}
	if v := strings.TrimSpace(q.Get("pageSize")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return jit.Invalid("server.getHistory", "pageSize must be between 1 and 200")
		}
		in.PageSize = n
	}
	if in.Events, in.ExcludeEvents, err = historyEvents(q["kind"]); err != nil {
		return err
	}
	lc := s.opts.Lifecycle
	entries, next, err := lc.History(r.Context(), p, in)
	if err != nil {
		return err
	}
	auditor, err := lc.IsAuditor(r.Context(), p)
	if err != nil {
		return err
	}
	out := historyResponse{Entries: []historyEntryJSON{}, NextPageToken: next, IsAuditor: auditor}
	for _, e := range entries {
		// Cloud Logging's severity names are "Error", "ERROR" in its API.
		failed := strings.EqualFold(e.Severity, "error")
		j := historyEntryJSON{
			Time: rfc3339(e.Time), Event: e.Event, Kind: historyKind(e.Event), Title: historyTitle(e, failed), Failed: failed,
			Severity: e.Severity, Message: e.Message, User: string(e.User),
			Beneficiary: string(e.Beneficiary), Resource: e.Resource, Role: e.Role, Justification: e.Justification,
			ApprovedBy: string(e.Approver), Reason: e.Reason, Comment: e.Comment, ActivationID: e.ActivationID,
		}
		if !e.Start.IsZero() {
			j.Start, j.End = rfc3339(e.Start), rfc3339(e.End)
		}
		out.Entries = append(out.Entries, j)
	}
	return writeJSON(w, http.StatusOK, out)
}

// parseStartTime reads the optional startTime of a self-activation or
// request body.
func parseStartTime(v *string) (*time.Time, error) {
	if v == nil || strings.TrimSpace(*v) == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(*v))
	if err != nil {
		return nil, jit.Invalid("server.parseStartTime", "startTime must be an RFC 3339 time such as 2026-01-31T09:00:00Z")
	}
	return &t, nil
}

func (s *Server) now() time.Time {
	if s.opts.Clock != nil {
		return s.opts.Clock().UTC()
	}
	return time.Now().UTC()
}
