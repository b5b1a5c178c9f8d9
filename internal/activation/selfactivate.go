package activation

import (
	"context"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// SelfActivateInput is a request to activate JIT-eligible roles.
type SelfActivateInput struct {
	Project        string
	EntitlementIDs []string
	Justification  string
	Duration       time.Duration
	// StartTime schedules the activation to start later; nil means now.
	StartTime *time.Time
}

// SelfActivate activates one or more JIT-eligible entitlements of one
// project for the caller. Checks run in the original's order so that
// existing users see the same messages; eligibility is re-checked against
// the catalog, never taken from the client.
func (s *Service) SelfActivate(ctx context.Context, caller jit.Principal, in SelfActivateInput) (Result, error) {
	const op = "activation.SelfActivate"
	pol := s.opts.Policy
	scope, err := s.requiredScope(op, in.Project)
	if err != nil {
		return Result{}, err
	}
	if len(in.EntitlementIDs) == 0 {
		return Result{}, jit.Invalid(op, "Specify one or more roles to activate")
	}
	if err := pol.CheckJustification(in.Justification); err != nil {
		return Result{}, err
	}
	if len(in.EntitlementIDs) > pol.MaxRoles {
		return Result{}, pol.CheckRoleCount(len(in.EntitlementIDs))
	}
	// Like the original: ids of another project are dropped, duplicates merged.
	var ents []jit.Entitlement
	seen := map[jit.Entitlement]bool{}
	for _, id := range in.EntitlementIDs {
		e, err := jit.ParseEntitlementID(id)
		if err != nil {
			return Result{}, err
		}
		if jit.ScopeOf(e) != scope || seen[e] {
			continue
		}
		seen[e] = true
		ents = append(ents, e)
	}
	if err := pol.CheckRoleCount(len(ents)); err != nil {
		return Result{}, err
	}
	start, err := s.scheduledStart(op, in.StartTime, s.now())
	if err != nil {
		return Result{}, err
	}
	acts := make([]jit.Activation, 0, len(ents))
	for _, e := range ents {
		id, err := jit.NewActivationID(jit.JIT, s.opts.Random)
		if err != nil {
			return Result{}, err
		}
		acts = append(acts, jit.Activation{
			ID: id, Type: jit.JIT, Beneficiary: caller.Email, Entitlement: e,
			Justification: in.Justification, Start: start, End: start.Add(in.Duration),
		})
	}
	fail := func(err error) (Result, error) {
		s.record(ctx, jit.Event{Kind: jit.EventSelfActivateFailed, Actor: caller, Activations: acts, Err: err})
		return Result{}, err
	}
	// As in the original, a justification that does not match the pattern
	// and a duration out of range are refusals the audit trail records.
	if err := pol.CheckJustificationPattern(in.Justification); err != nil {
		return fail(err)
	}
	if err := pol.CheckDuration(in.Duration); err != nil {
		return fail(err)
	}
	// The catalog says where the eligible bindings are; the write confirms
	// them in the live policies (whose ancestry is learnt meanwhile).
	s.policies.Prepare(ctx, scope, nil)
	conf, err := s.eligibility(ctx, caller.Email, scope, ents, jit.JIT)
	if err != nil {
		return fail(err)
	}
	if err := s.policies.Grant(ctx, acts, conf); err != nil {
		return fail(wrapUpstream(op, "Activating role failed", err))
	}
	e := jit.Event{Kind: jit.EventSelfActivated, Actor: caller, Activations: acts}
	r := resultOf(caller.Email, nil, acts, jit.StatusActive)
	r.Warnings = s.recordAndNotify(ctx, e)
	return r, nil
}
