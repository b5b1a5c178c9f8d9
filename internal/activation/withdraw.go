package activation

import (
	"context"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// Withdraw withdraws a pending request as its requester: the reviewers
// are told, and nothing can be approved after. Like a rejection it is a
// decision, made in one read-modify-write of the scope's policy that
// records it until the request's deadline (so no approval can follow it
// through this instance or another) and refuses a request already
// decided. It rests on the caller being the beneficiary that the
// request's signed token names (jit.Confirmation.Requester), not on an
// eligibility: a withdrawal only takes a request away, and a requester
// who has since lost the role may still withdraw what they asked for.
//
// Errors: KindDenied (a bad token, or a caller other than the requester),
// KindConflict (already approved, rejected or withdrawn), KindUpstream
// and KindUnavailable (IAM).
func (s *Service) Withdraw(ctx context.Context, caller jit.Principal, token string) (Result, error) {
	const op = "activation.Withdraw"
	req, err := s.openRequest(ctx, caller, token, jit.EventWithdrawFailed)
	if err != nil {
		return Result{}, err
	}
	fail := func(err error) (Result, error) {
		s.record(ctx, jit.Event{Kind: jit.EventWithdrawFailed, Actor: caller, Request: &req, Err: err})
		return Result{}, err
	}
	if caller.Email != req.Beneficiary {
		return fail(jit.Denied(op, "Only the requester can withdraw this request"))
	}
	events := s.decidedInLog(ctx, req)
	if err := decidedError(op, events); err != nil {
		return fail(err)
	}
	conf := jit.Confirmation{Requester: caller.Email}
	attempted := false
	rec, err := s.policies.Decide(ctx, req, conf, func(rec jit.RequestRecord) (jit.Decision, error) {
		if attempted && rec.Unconfirmed && rec.Granted == nil && rec.Withdrawn {
			// Our earlier attempt's write landed, its answer was lost.
			return jit.Decision{Landed: true}, nil
		}
		attempted = true
		if err := alreadyDecided(op, rec, events); err != nil {
			return jit.Decision{}, err
		}
		return jit.Decision{Withdraw: caller.Email}, nil
	})
	if err != nil {
		if k := jit.KindOf(err); k == jit.KindConflict || k == jit.KindDenied {
			return fail(err)
		}
		return fail(wrapUpstream(op, "Withdrawing the activation request failed", err))
	}
	state := stateOf(req, rec, events, s.now())
	state.DecidedBy, state.DecidedAt = caller.Email, s.now()
	e := jit.Event{Kind: jit.EventWithdrawn, Actor: caller, Request: &req,
		Activations: []jit.Activation{plannedActivation(req, req.RequestedAt)}}
	e.ActionURL, e.BaseURL = s.link(token, req), BaseURLFrom(ctx)
	r := s.requestResult(caller.Email, req, state)
	// The withdrawal is decided in IAM already: its audit record and the
	// reviewers' notification only report it.
	r.Warnings = s.recordAndNotify(ctx, e)
	return r, nil
}
