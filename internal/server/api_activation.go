package server

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/internal/activation"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// UseCases are the operations the API exposes; *activation.Service
// implements them.
type UseCases interface {
	ListProjects(ctx context.Context, caller jit.Principal) ([]jit.ProjectID, error)
	ListEntitlements(ctx context.Context, caller jit.Principal, project string) ([]jit.EligibleEntitlement, []string, error)
	ListPeers(ctx context.Context, caller jit.Principal, project, entitlementID string) ([]jit.UserID, jit.ApprovalRequirement, error)
	SelfActivate(ctx context.Context, caller jit.Principal, in activation.SelfActivateInput) (activation.Result, error)
	RequestApproval(ctx context.Context, caller jit.Principal, in activation.RequestInput) (activation.Result, error)
	GetRequest(ctx context.Context, caller jit.Principal, token string) (activation.Result, error)
	Approve(ctx context.Context, caller jit.Principal, token, comment string) (activation.Result, error)
	Reject(ctx context.Context, caller jit.Principal, token, reason string) (activation.Result, error)
	Withdraw(ctx context.Context, caller jit.Principal, token string) (activation.Result, error)
	ListRequests(ctx context.Context, caller jit.Principal, view activation.RequestView) ([]activation.RequestItem, error)
}

// projectsResponse is GET /api/projects's body.
type projectsResponse struct {
	Projects []string `json:"projects"`
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	projects, err := s.opts.UseCases.ListProjects(r.Context(), p)
	if err != nil {
		return err
	}
	out := projectsResponse{Projects: make([]string, 0, len(projects))}
	for _, id := range projects {
		out.Projects = append(out.Projects, string(id))
	}
	return writeJSON(w, http.StatusOK, out)
}

// entitlementJSON is one item of GET /api/projects/{p}/roles.
type entitlementJSON struct {
	ID                string  `json:"id"`
	Name              string  `json:"name"`
	ResourceCondition *string `json:"resourceCondition"`
	ActivationType    string  `json:"activationType"`
	Status            string  `json:"status"`
	ValidUntil        *int64  `json:"validUntil"`
	approvalRuleJSON
}

// approvalRuleJSON says, for an MPA entitlement, what its approval takes
// (jitaccess additions, absent for JIT entitlements, which the original's
// UI ignores): how many distinct approvals a request needs, and whether
// the reviewers are the role's dedicated approvers (DEDICATED) or the
// other holders of the same eligible role (PEER).
type approvalRuleJSON struct {
	ApprovalsRequired int    `json:"approvalsRequired,omitempty"`
	ApproverType      string `json:"approverType,omitempty"`
}

func newApprovalRuleJSON(a jit.ApprovalRequirement) approvalRuleJSON {
	t := "PEER"
	if a.Dedicated {
		t = "DEDICATED"
	}
	return approvalRuleJSON{ApprovalsRequired: max(a.Required, 1), ApproverType: t}
}

type entitlementsResponse struct {
	Warnings     []string          `json:"warnings"`
	Entitlements []entitlementJSON `json:"entitlements"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (s *Server) listRoles(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	ents, warnings, err := s.opts.UseCases.ListEntitlements(r.Context(), p, scopeParam(r))
	if err != nil {
		return err
	}
	out := entitlementsResponse{Warnings: append([]string{}, warnings...), Entitlements: []entitlementJSON{}}
	for _, e := range ents {
		item := entitlementJSON{
			ID: e.ID(), Name: e.Role, ResourceCondition: optional(e.ResourceCondition),
			ActivationType: string(e.Type), Status: string(e.Status),
		}
		if e.Approval != nil {
			item.approvalRuleJSON = newApprovalRuleJSON(*e.Approval)
		}
		if e.Status == jit.StatusActive && !e.ValidUntil.IsZero() {
			v := e.ValidUntil.Unix()
			item.ValidUntil = &v
		}
		out.Entitlements = append(out.Entitlements, item)
	}
	return writeJSON(w, http.StatusOK, out)
}

type peersResponse struct {
	Peers []jsonUser `json:"peers"`
	approvalRuleJSON
}

func (s *Server) listPeers(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	peers, approval, err := s.opts.UseCases.ListPeers(r.Context(), p, scopeParam(r), r.URL.Query().Get("id"))
	if err != nil {
		return err
	}
	out := peersResponse{Peers: []jsonUser{}, approvalRuleJSON: newApprovalRuleJSON(approval)}
	for _, u := range peers {
		out.Peers = append(out.Peers, newJSONUser(u))
	}
	return writeJSON(w, http.StatusOK, out)
}

// selfActivateRequest is POST …/roles/self-activate's body.
type selfActivateRequest struct {
	EntitlementIDs    []string `json:"entitlementIds"`
	Justification     string   `json:"justification"`
	ActivationTimeout int64    `json:"activationTimeout"`   // minutes
	StartTime         *string  `json:"startTime,omitempty"` // RFC 3339; absent: now
}

// maxMinutes keeps a hostile activationTimeout from overflowing
// time.Duration (whose range ends at about 153 million minutes; 1<<30 did
// not, and 307445736 minutes wrapped round to a short activation); any
// value this large is refused by the policy anyway.
const maxMinutes = int64(math.MaxInt64 / int64(time.Minute))

func minutes(m int64) time.Duration {
	if m > maxMinutes {
		m = maxMinutes
	}
	if m < -maxMinutes {
		m = -maxMinutes
	}
	return time.Duration(m) * time.Minute
}

func (s *Server) selfActivate(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	var body selfActivateRequest
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	start, err := parseStartTime(body.StartTime)
	if err != nil {
		return err
	}
	res, err := s.opts.UseCases.SelfActivate(r.Context(), p, activation.SelfActivateInput{
		Project:        scopeParam(r),
		EntitlementIDs: body.EntitlementIDs,
		Justification:  body.Justification,
		Duration:       minutes(body.ActivationTimeout),
		StartTime:      start,
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newActivationResponse(res))
}

// requestActivationRequest is POST …/roles/request's body.
type requestActivationRequest struct {
	EntitlementID     string   `json:"entitlementId"`
	Justification     string   `json:"justification"`
	Peers             []string `json:"peers"`
	ActivationTimeout int64    `json:"activationTimeout"`   // minutes
	StartTime         *string  `json:"startTime,omitempty"` // RFC 3339; absent: at approval
}

func (s *Server) requestActivation(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	var body requestActivationRequest
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	start, err := parseStartTime(body.StartTime)
	if err != nil {
		return err
	}
	project := scopeParam(r)
	in := activation.RequestInput{
		Project:       project,
		EntitlementID: body.EntitlementID,
		Justification: body.Justification,
		Reviewers:     body.Peers,
		Duration:      minutes(body.ActivationTimeout),
		StartTime:     start,
	}
	if base := s.opts.ExternalURL; base != "" {
		in.Link = func(token string) string {
			q := url.Values{"activation": {token}, "projectId": {project}}
			return strings.TrimRight(base, "/") + "/?" + q.Encode()
		}
	}
	res, err := s.opts.UseCases.RequestApproval(r.Context(), p, in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newActivationResponse(res))
}

func (s *Server) getActivationRequest(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	res, err := s.opts.UseCases.GetRequest(r.Context(), p, r.URL.Query().Get("activation"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newActivationResponse(res))
}

// approveRequest is POST /api/activation-request's optional body (the
// original's UI sends none).
type approveRequest struct {
	Comment string `json:"comment"`
}

func (s *Server) approveActivationRequest(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	var body approveRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &body); err != nil {
			return err
		}
	}
	res, err := s.opts.UseCases.Approve(s.withBaseURL(r), p, r.URL.Query().Get("activation"), body.Comment)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newActivationResponse(res))
}

// withBaseURL is the request's context with the app's root URL, for the
// base_url of the notifications a decision sends (as the original's did),
// taken from EXTERNAL_URL only: never from a host the client named.
func (s *Server) withBaseURL(r *http.Request) context.Context {
	if base := s.opts.ExternalURL; base != "" {
		return activation.WithBaseURL(r.Context(), strings.TrimRight(base, "/")+"/")
	}
	return r.Context()
}

// activationResponse is the original's ActivationResponse (§2.4).
type activationResponse struct {
	Beneficiary   jsonUser             `json:"beneficiary"`
	Reviewers     []jsonUser           `json:"reviewers"`
	IsBeneficiary bool                 `json:"isBeneficiary"`
	IsReviewer    bool                 `json:"isReviewer"`
	Justification string               `json:"justification"`
	Entitlements  []activationItemJSON `json:"entitlements"`
	Warnings      []string             `json:"warnings,omitempty"`
	// The state of an approval request (see api_requests.go); absent for
	// self-activations.
	*requestStateJSON
}

type activationItemJSON struct {
	ActivationID      string  `json:"activationId"`
	ProjectID         string  `json:"projectId"`
	ID                string  `json:"id"`
	Name              string  `json:"name"`
	ResourceCondition *string `json:"resourceCondition"`
	Status            string  `json:"status"`
	StartTime         int64   `json:"startTime"`
	EndTime           int64   `json:"endTime"`
}

func newActivationResponse(res activation.Result) activationResponse {
	out := activationResponse{
		Beneficiary:   newJSONUser(res.Beneficiary),
		Reviewers:     []jsonUser{},
		IsBeneficiary: res.IsBeneficiary,
		IsReviewer:    res.IsReviewer,
		Justification: res.Justification,
		Entitlements:  []activationItemJSON{},
		Warnings:      res.Warnings,
	}
	if res.Request != nil {
		out.requestStateJSON = newRequestStateJSON(res.RequestID, res.RequestedAt, res.ExpiresAt, *res.Request)
	}
	for _, u := range res.Reviewers {
		out.Reviewers = append(out.Reviewers, newJSONUser(u))
	}
	for _, it := range res.Items {
		out.Entitlements = append(out.Entitlements, activationItemJSON{
			ActivationID:      it.ActivationID,
			ProjectID:         scopeName(it.Entitlement),
			ID:                it.Entitlement.ID(),
			Name:              it.Entitlement.Role,
			ResourceCondition: optional(it.Entitlement.ResourceCondition),
			Status:            string(it.Status),
			StartTime:         it.Start.Unix(),
			EndTime:           it.End.Unix(),
		})
	}
	return out
}
