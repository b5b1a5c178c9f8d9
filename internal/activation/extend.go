package activation

import (
	"context"
	"fmt"
	"time"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// Extend replaces the caller's own activation with a longer one, in one
// write: the new binding keeps the earliest start and ends at the latest
// end, so there is never a moment without access and never two bindings.
// The new end is duration after now (or after the start, for a scheduled
// activation), with duration within ACTIVATION_TIMEOUT, like a fresh
// activation. Eligibility is re-checked: only a JIT (self-approval) role
// can be extended; a peer-approval role needs a new approval request.
//
// Errors: KindInvalid for a malformed id, a bad duration or an end that
// would not be later; KindDenied for someone else's activation, a role
// that is no longer eligible or needs approval; KindNotFound when the
// binding no longer exists; and the adapters'.
func (l *Lifecycle) Extend(ctx context.Context, caller jit.Principal, id string, duration time.Duration) (jit.Grant, error) {
	const op = "activation.Extend"
	ref, err := jit.ParseGrantID(id)
	if err != nil {
		return jit.Grant{}, err
	}
	if owner, ok := jit.UserOfMember(ref.Member); !ok || owner != caller.Email {
		return jit.Grant{}, jit.Denied(op, "You can only extend your own activations")
	}
	pol := l.svc.opts.Policy
	if err := pol.CheckDuration(duration); err != nil {
		return jit.Grant{}, err
	}
	scope, err := l.svc.scopeOfResource(ref.Resource)
	if err != nil {
		return jit.Grant{}, err
	}
	l.svc.policies.Prepare(ctx, scope, nil)
	// The id names the binding, window and all: everything but the
	// justification is known before anything is read, and the
	// justification is carried over inside the write.
	old, ok := condition.ParseActivation(condition.ActivationTitle, ref.Expression)
	if !ok {
		return jit.Grant{}, jit.Invalid(op, "The activation id is not valid")
	}
	now := l.now()
	if !now.Before(old.End) {
		return jit.Grant{}, jit.E(op, jit.KindNotFound, "The activation has already expired; activate the role again instead", nil)
	}
	base := now
	if old.Start.After(now) {
		base = old.Start
	}
	end := base.Add(duration)
	ent := scope.Entitlement(ref.Role, old.ResourceCondition)
	act := jit.Activation{Type: jit.JIT, Beneficiary: caller.Email, Entitlement: ent, Start: old.Start, End: end}
	act.ID, err = jit.NewActivationID(jit.JIT, l.svc.opts.Random)
	if err != nil {
		return jit.Grant{}, err
	}
	detail := map[string]string{
		"resource":        ref.Resource,
		"previous_id":     id,
		"previous_end":    old.End.UTC().Format(timeFormat),
		"previous_start":  old.Start.UTC().Format(timeFormat),
		"extension_start": now.UTC().Format(timeFormat),
	}
	fail := func(err error) (jit.Grant, error) {
		l.svc.record(ctx, jit.Event{Kind: jit.EventExtendFailed, Actor: caller, Activations: []jit.Activation{act}, Detail: detail, Err: err})
		return jit.Grant{}, err
	}
	if !end.After(old.End) {
		return fail(jit.Invalid(op, fmt.Sprintf("The activation already lasts until %s; choose a longer duration to extend it",
			old.End.UTC().Format(timeFormat))))
	}
	conf, err := l.eligibility(ctx, caller.Email, scope, ent)
	if err != nil {
		return fail(err)
	}
	err = l.bindings.Replace(ctx, ref, conf, func(g jit.Grant) (jit.Activation, error) {
		act.Justification = g.Justification
		if err := pol.CheckJustification(g.Justification); err != nil {
			return jit.Activation{}, jit.Invalid(op, "The activation has no justification the app can carry over; activate the role again instead")
		}
		if err := pol.CheckJustificationPattern(g.Justification); err != nil {
			return jit.Activation{}, err
		}
		return act, nil
	})
	if err != nil {
		if k := jit.KindOf(err); k == jit.KindInvalid {
			return fail(err)
		}
		return fail(wrapUpstream(op, "Extending the activation failed", err))
	}
	l.svc.record(ctx, jit.Event{Kind: jit.EventExtended, Actor: caller, Activations: []jit.Activation{act}, Detail: detail})
	return jit.Grant{
		Resource: ref.Resource, Role: ref.Role, Member: ref.Member, Beneficiary: caller.Email,
		ResourceCondition: old.ResourceCondition, Expression: condition.ActivationExpression(act.Start, act.End, act.Entitlement.ResourceCondition),
		Start: act.Start, End: act.End, Justification: act.Justification,
	}, nil
}

// eligibility is what extending user's activation of ent must confirm:
// that the catalog shows ent as JIT-eligible (a peer-approval role needs a
// new approval), and, in the write, that the live policies still hold it.
func (l *Lifecycle) eligibility(ctx context.Context, user jit.UserID, scope jit.Scope, ent jit.Entitlement) (jit.Confirmation, error) {
	const op = "activation.eligibility"
	available, err := l.svc.catalog.EligibilityAt(ctx, user, scope)
	if err != nil {
		return jit.Confirmation{}, wrapUpstream(op, "Checking eligibility failed", err)
	}
	mpa := false
	for _, a := range available {
		if a.Entitlement != ent {
			continue
		}
		if a.Type == jit.JIT {
			return jit.Confirmation{Eligible: []jit.Requirement{{User: user, Entitlement: ent, Type: jit.JIT, Grounds: a.Grounds}}}, nil
		}
		mpa = true
	}
	if mpa {
		return jit.Confirmation{}, jit.Denied(op, fmt.Sprintf(
			"%s needs a peer's approval, and so does extending it: request the role again and have a reviewer approve the new request", ent.Role))
	}
	return jit.Confirmation{}, jit.Denied(op, "The user "+string(user)+" is no longer allowed to activate "+ent.ID())
}
