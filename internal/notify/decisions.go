package notify

import (
	"fmt"
	"slices"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// Notification kinds of approval requests beyond the original's: a
// rejection, and an approval that does not yet complete the quorum of a
// request that needs several. Both are replies to the request's email.
const (
	ActivationRejected      Kind = "ActivationRejected"
	ActivationApprovalAdded Kind = "ActivationApprovalAdded"
	// ActivationWithdrawn: the requester withdrew a pending request.
	ActivationWithdrawn Kind = "ActivationWithdrawn"
)

// NewActivationWithdrawn is the notification that the requester withdrew
// r: To the reviewers, who no longer need to look at it, CC the requester.
func NewActivationWithdrawn(r jit.ActivationRequest, baseURL, actionURL string) Notification {
	n := requestReply(r, baseURL)
	n.Kind, n.ActionURL = ActivationWithdrawn, actionURL
	n.To, n.CC = slices.Clone(r.Reviewers), []jit.UserID{r.Beneficiary}
	return n
}

// NewActivationRejected is the notification that approver rejected r, with
// an optional reason: To the beneficiary, CC the reviewers.
func NewActivationRejected(r jit.ActivationRequest, approver jit.UserID, reason, baseURL string) Notification {
	n := requestReply(r, baseURL)
	n.Kind, n.Approver, n.Reason = ActivationRejected, approver, reason
	n.To, n.CC = []jit.UserID{r.Beneficiary}, slices.Clone(r.Reviewers)
	return n
}

// NewActivationApprovalAdded is the notification that approver approved r
// and more approvals are needed: To the reviewers who have not approved
// yet, CC the beneficiary, with the request's link so that they can add
// theirs.
func NewActivationApprovalAdded(r jit.ActivationRequest, approver jit.UserID, approvals []jit.Approval, required int, baseURL, actionURL string) Notification {
	n := requestReply(r, baseURL)
	n.Kind, n.Approver, n.Required, n.ActionURL = ActivationApprovalAdded, approver, required, actionURL
	approved := map[jit.UserID]bool{approver: true}
	for _, a := range approvals {
		approved[a.By] = true
		n.Approvals = append(n.Approvals, a.By)
	}
	if !slices.Contains(n.Approvals, approver) {
		n.Approvals = append(n.Approvals, approver)
	}
	for _, u := range r.Reviewers {
		if !approved[u] {
			n.To = append(n.To, u)
		}
	}
	n.CC = []jit.UserID{r.Beneficiary}
	return n
}

func requestReply(r jit.ActivationRequest, baseURL string) Notification {
	return Notification{
		Subject:           requestSubject(r.Beneficiary, scopeOf(r.Entitlement)),
		IsReply:           true,
		Beneficiary:       r.Beneficiary,
		Reviewers:         slices.Clone(r.Reviewers),
		Project:           scopeOf(r.Entitlement),
		Roles:             []string{r.Entitlement.Role},
		ResourceCondition: r.Entitlement.ResourceCondition,
		RequestExpiry:     r.ApproveBy,
		Justification:     r.Justification,
		BaseURL:           baseURL,
	}
}

// Progress says how far a request needing several approvals is, e.g.
// "1 of 2 approvals".
func (n Notification) Progress() string {
	return fmt.Sprintf("%d of %d approvals", len(n.Approvals), n.Required)
}

// decisionFromEvent builds the notification of a rejection, an added
// approval or a withdrawal.
func decisionFromEvent(e jit.Event) (Notification, bool) {
	if e.Request == nil {
		return Notification{}, false
	}
	base := e.BaseURL
	if base == "" {
		base = baseURL(e.ActionURL)
	}
	switch e.Kind {
	case jit.EventRejected:
		return NewActivationRejected(*e.Request, e.Actor.Email, e.Reason, base), true
	case jit.EventWithdrawn:
		return NewActivationWithdrawn(*e.Request, base, e.ActionURL), true
	case jit.EventApprovalRecorded:
		n := NewActivationApprovalAdded(*e.Request, e.Actor.Email, e.Approvals, e.Required, base, e.ActionURL)
		n.Comment = e.Comment
		return n, len(n.To) > 0
	}
	return Notification{}, false
}
