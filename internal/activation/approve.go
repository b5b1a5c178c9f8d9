package activation

import (
	"context"
	"log/slog"
	"strings"

	"github.com/jitaccess/jitaccess/internal/jit"
)

const msgRequestAccessFailed = "Accessing the activation request failed"

// GetRequest shows an approval request to its beneficiary or a reviewer.
func (s *Service) GetRequest(ctx context.Context, caller jit.Principal, token string) (Result, error) {
	const op = "activation.GetRequest"
	req, err := s.openRequest(ctx, caller, token)
	if err != nil {
		return Result{}, err
	}
	if caller.Email != req.Beneficiary && !req.IsReviewer(caller.Email) {
		err := jit.Denied(op, msgRequestAccessFailed)
		s.record(ctx, jit.Event{Kind: jit.EventRequestAccessDenied, Actor: caller, Request: &req, Err: err})
		return Result{}, err
	}
	planned := plannedActivation(req, req.RequestedAt)
	status := jit.StatusActivationPending
	// The token cannot say it was approved (nothing is stored), but the
	// project's policy can: if the beneficiary holds the role now, the
	// request was approved (the original kept showing "waiting", #425).
	if ents, _, err := s.entitlementsAt(ctx, req.Beneficiary, scopeOf(req.Entitlement)); err == nil {
		for _, e := range ents {
			if e.Entitlement == req.Entitlement && e.Status == jit.StatusActive && e.ValidUntil.After(req.RequestedAt) {
				status = jit.StatusActive
				planned.End = e.ValidUntil
				planned.Start = e.ValidUntil.Add(-req.Duration)
			}
		}
	} else {
		s.opts.Logger.WarnContext(ctx, "checking whether the request was approved failed", slog.Any("error", err))
	}
	return resultOf(caller.Email, &req, []jit.Activation{planned}, status), nil
}

// Approve approves a request as one of its reviewers and writes the
// binding. The window starts now, at approval, not when it was requested
// (the original started it at request time, so late approvals shortened
// or even expired the grant). Beneficiary and reviewer eligibility and the
// justification are re-checked against the current rules.
func (s *Service) Approve(ctx context.Context, caller jit.Principal, token string) (Result, error) {
	const op = "activation.Approve"
	req, err := s.openRequest(ctx, caller, token)
	if err != nil {
		return Result{}, err
	}
	now := s.now()
	act := plannedActivation(req, now)
	act.Approver = caller.Email
	fail := func(err error) (Result, error) {
		s.record(ctx, jit.Event{Kind: jit.EventApproveFailed, Actor: caller, Request: &req, Activations: []jit.Activation{act}, Err: err})
		return Result{}, err
	}
	switch {
	case caller.Email == req.Beneficiary:
		return fail(jit.Denied(op, "You cannot approve your own request"))
	case !req.IsReviewer(caller.Email):
		return fail(jit.Denied(op, "The request does not permit approval by "+string(caller.Email)))
	}
	pol := s.opts.Policy
	if err := pol.CheckJustification(req.Justification); err != nil {
		return fail(err)
	}
	if err := pol.CheckJustificationPattern(req.Justification); err != nil {
		return fail(err)
	}
	if err := pol.CheckDuration(req.Duration); err != nil {
		return fail(err)
	}
	if err := s.requireEligible(ctx, req.Beneficiary, req.Entitlement, jit.MPA); err != nil {
		return fail(err)
	}
	if err := s.requireReviewers(ctx, req.Entitlement, []jit.UserID{caller.Email}); err != nil {
		return fail(err)
	}
	if err := s.grant(ctx, []jit.Activation{act}); err != nil {
		return fail(wrapUpstream(op, "Approving the activation request failed", err))
	}
	e := jit.Event{Kind: jit.EventApproved, Actor: caller, Request: &req, Activations: []jit.Activation{act}, BaseURL: BaseURLFrom(ctx)}
	s.record(ctx, e)
	r := resultOf(caller.Email, &req, []jit.Activation{act}, jit.StatusActive)
	r.Warnings = s.notify(ctx, e)
	return r, nil
}

// openRequest verifies a token; any failure is the original's 403.
func (s *Service) openRequest(ctx context.Context, caller jit.Principal, token string) (jit.ActivationRequest, error) {
	const op = "activation.openRequest"
	if strings.TrimSpace(token) == "" {
		return jit.ActivationRequest{}, jit.Invalid(op, "An activation token is required")
	}
	req, err := s.tokens.Verify(ctx, token)
	if err != nil {
		if k := jit.KindOf(err); k == jit.KindUpstream || k == jit.KindUnavailable || k == jit.KindTooMany {
			return jit.ActivationRequest{}, wrapUpstream(op, msgRequestAccessFailed, err)
		}
		err = jit.E(op, jit.KindDenied, msgRequestAccessFailed, err)
		s.record(ctx, jit.Event{Kind: jit.EventRequestAccessDenied, Actor: caller, Err: err})
		return jit.ActivationRequest{}, err
	}
	return req, nil
}
