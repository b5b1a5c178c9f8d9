package activation

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// RequestInput is a request for peer approval of one MPA-eligible role.
type RequestInput struct {
	Project       string
	EntitlementID string
	Justification string
	Reviewers     []string
	Duration      time.Duration
	// StartTime schedules the window to start later; nil means at
	// approval.
	StartTime *time.Time
	// Link turns a signed token into the approval URL sent to reviewers.
	Link func(token string) string
}

// RequestApproval creates a signed approval request and sends it to the
// chosen reviewers. Every reviewer must currently hold the same
// MPA-eligible entitlement (the original's issue #421: without this check
// anyone's address could be injected). Nothing is written to IAM.
func (s *Service) RequestApproval(ctx context.Context, caller jit.Principal, in RequestInput) (Result, error) {
	const op = "activation.RequestApproval"
	pol := s.opts.Policy
	scope, err := s.requiredScope(op, in.Project)
	if err != nil {
		return Result{}, err
	}
	if strings.TrimSpace(in.EntitlementID) == "" {
		return Result{}, jit.Invalid(op, "Specify a role to activate")
	}
	if err := pol.CheckReviewerCount(len(in.Reviewers)); err != nil {
		return Result{}, err
	}
	if err := pol.CheckJustification(in.Justification); err != nil {
		return Result{}, err
	}
	if !s.opts.CanNotify {
		return Result{}, jit.E(op, jit.KindUnavailable, "The multi-party approval feature is not available because the server-side configuration is incomplete", nil)
	}
	ent, err := jit.ParseEntitlementID(in.EntitlementID)
	if err != nil {
		return Result{}, err
	}
	if jit.ScopeOf(ent) != scope {
		return Result{}, jit.Invalid(op, "The project ID does not match the current project")
	}
	reviewers := make([]jit.UserID, 0, len(in.Reviewers))
	for _, r := range in.Reviewers {
		u, err := jit.ParseUserID(r)
		if err != nil {
			return Result{}, err
		}
		if u == caller.Email {
			return Result{}, jit.Invalid(op, "You cannot select yourself as a reviewer")
		}
		if !slices.Contains(reviewers, u) {
			reviewers = append(reviewers, u)
		}
	}
	if err := pol.CheckReviewerCount(len(reviewers)); err != nil {
		return Result{}, err
	}
	// From here on a refusal is audited, as the original's createMpaRequest
	// refusals were ("Received invalid activation request …").
	invalid := func(err error) (Result, error) {
		s.record(ctx, jit.Event{Kind: jit.EventRequestInvalid, Actor: caller, Project: scope.Project(), Entitlement: ent, Err: err})
		return Result{}, err
	}
	if err := pol.CheckJustificationPattern(in.Justification); err != nil {
		return invalid(err)
	}
	if err := pol.CheckDuration(in.Duration); err != nil {
		return invalid(err)
	}

	id, err := jit.NewActivationID(jit.MPA, s.opts.Random)
	if err != nil {
		return Result{}, err
	}
	now := s.now()
	startAt, err := s.scheduledStart(op, in.StartTime, now)
	if err != nil {
		return Result{}, err
	}
	if in.StartTime == nil {
		startAt = time.Time{}
	}
	req := jit.ActivationRequest{
		StartAt: startAt,
		ID:      id, Beneficiary: caller.Email, Reviewers: reviewers, Entitlement: ent,
		Justification: in.Justification, Duration: in.Duration, RequestedAt: now,
		ApproveBy: now.Add(min(s.opts.RequestTimeout, pol.MaxDuration)),
	}
	planned := []jit.Activation{plannedActivation(req, now)}
	fail := func(err error) (Result, error) {
		s.record(ctx, jit.Event{Kind: jit.EventRequestFailed, Actor: caller, Request: &req, Activations: planned, Err: err})
		return Result{}, err
	}
	// Independent checks, asked at once; the requester's comes first in
	// the answer, as before.
	var (
		ap          jit.ApproverPolicy
		reviewerErr error
		wg          sync.WaitGroup
	)
	wg.Go(func() { ap, reviewerErr = s.checkChosenReviewers(ctx, caller.Email, ent, reviewers) })
	eligibleErr := s.requireEligible(ctx, caller.Email, ent, jit.MPA)
	wg.Wait()
	if eligibleErr != nil {
		return invalid(eligibleErr)
	}
	if reviewerErr != nil {
		return invalid(reviewerErr)
	}
	// Last of the checks, so that only requests that would really be sent
	// count against the limit.
	if l := s.opts.EmailLimit; l != nil {
		if ok, retry := l.Allow(string(caller.Email), len(reviewers)); !ok {
			return fail(jit.E(op, jit.KindTooMany, fmt.Sprintf(
				"You have sent too many approval requests: try again in %s (each reviewer of a request counts as one email)", roundUp(retry)), nil))
		}
	}
	req.Required, req.Dedicated = ap.Quorum, ap.Dedicated
	// What this instance knows of the scope's ancestry travels with the
	// request, so that the reviewer's instance need not walk it.
	req.Ancestry = s.policies.Prepare(ctx, scope, nil)
	// The email's session (connect, TLS, AUTH) needs nothing of the token:
	// it is set up while the token is being signed.
	send, discard := s.prepareNotify(ctx, jit.EventRequested)
	token, err := s.tokens.Sign(ctx, req)
	if err != nil {
		discard()
		return fail(wrapUpstream(op, "Requesting access failed", err))
	}
	e := jit.Event{Kind: jit.EventRequested, Actor: caller, Request: &req, Activations: planned, Token: token, Required: req.Quorum()}
	if in.Link != nil {
		e.ActionURL = in.Link(token)
	}
	// Without the notification no reviewer learns of the request, so here
	// (unlike after a grant) a failure fails the request.
	if err := send(ctx, e); err != nil {
		return fail(wrapUpstream(op, "Notifying the reviewers failed", err))
	}
	s.record(ctx, e)
	r := resultOf(caller.Email, &req, planned, jit.StatusActivationPending)
	r.Request = &jit.RequestState{Status: jit.RequestPending, Required: req.Quorum()}
	r.RequestID, r.RequestedAt, r.ExpiresAt = req.ID, req.RequestedAt, req.ApproveBy
	return r, nil
}

// prepareNotify starts preparing the notification of an event of kind
// (see Notifier.Prepare). Without a notifier, send does nothing.
func (s *Service) prepareNotify(ctx context.Context, kind jit.EventKind) (send func(context.Context, jit.Event) error, discard func()) {
	if s.notifier == nil {
		return func(context.Context, jit.Event) error { return nil }, func() {}
	}
	return s.notifier.Prepare(ctx, kind)
}

// checkChosenReviewers checks the reviewers a requester chose: the role's
// dedicated approvers where approver bindings declare them (the requester
// may notify all or pick some, at least the quorum), otherwise peers who
// hold the same MPA-eligible entitlement, as in the original.
func (s *Service) checkChosenReviewers(ctx context.Context, beneficiary jit.UserID, ent jit.Entitlement, reviewers []jit.UserID) (jit.ApproverPolicy, error) {
	const op = "activation.checkChosenReviewers"
	ap, err := s.approverPolicy(ctx, ent)
	if err != nil {
		return jit.ApproverPolicy{}, err
	}
	possible := ap.Peers
	if ap.Dedicated {
		possible = ap.Approvers
	}
	possible = slices.DeleteFunc(slices.Clone(possible), func(u jit.UserID) bool { return u == beneficiary })
	if ap.Quorum > 1 && ap.Quorum > len(possible) {
		return jit.ApproverPolicy{}, jit.E(op, jit.KindInvalid, fmt.Sprintf(
			"%s needs %d approvals, but only %d people other than you can approve it; ask an administrator to fix its approvers",
			ent.ID(), ap.Quorum, len(possible)), nil)
	}
	if ap.Dedicated {
		var bad []string
		for _, r := range reviewers {
			if !slices.Contains(possible, r) {
				bad = append(bad, string(r))
			}
		}
		if len(bad) > 0 {
			return jit.ApproverPolicy{}, jit.Denied(op, fmt.Sprintf("The selected reviewers are not allowed to approve %s: %s", ent.ID(), strings.Join(bad, ", ")))
		}
	} else if err := requirePeers(ent, ap.Peers, reviewers); err != nil {
		return jit.ApproverPolicy{}, err
	}
	if len(reviewers) < ap.Quorum {
		return jit.ApproverPolicy{}, jit.Invalid(op, fmt.Sprintf("%s needs %d approvals: select at least %d reviewers", ent.ID(), ap.Quorum, ap.Quorum))
	}
	return ap, nil
}

// roundUp says a wait as a person would: "3 minutes", "1 hour".
func roundUp(d time.Duration) string {
	switch {
	case d <= time.Minute:
		return "a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes", int((d+time.Minute-1)/time.Minute))
	}
	h := int((d + time.Hour - 1) / time.Hour)
	if h == 1 {
		return "an hour"
	}
	return fmt.Sprintf("%d hours", h)
}

// requirePeers checks that every reviewer is one of the holders of ent as
// MPA-eligible.
func requirePeers(ent jit.Entitlement, holders, reviewers []jit.UserID) error {
	const op = "activation.requireReviewers"
	var bad []string
	for _, r := range reviewers {
		if !slices.Contains(holders, r) {
			bad = append(bad, string(r))
		}
	}
	if len(bad) > 0 {
		return jit.Denied(op, fmt.Sprintf("The selected reviewers are not allowed to approve %s: %s", ent.ID(), strings.Join(bad, ", ")))
	}
	return nil
}

// plannedActivation is the activation a request asks for, as if approved
// at time at (or at its scheduled start, if later).
func plannedActivation(req jit.ActivationRequest, at time.Time) jit.Activation {
	if req.StartAt.After(at) {
		at = req.StartAt
	}
	return jit.Activation{
		ID: req.ID, Type: jit.MPA, Beneficiary: req.Beneficiary, Entitlement: req.Entitlement,
		Justification: req.Justification, Start: at, End: at.Add(req.Duration),
	}
}
