package activation

import (
	"context"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// End ends an activation now, or cancels a scheduled one: the caller's
// own, or anyone's when the caller is an administrator (a revocation).
//
// Only the one binding the id names is removed, by a read-modify-write
// guarded by the etag; other members and bindings stay as they are.
// Ending removes the binding, and IAM stops honouring it after
// propagation (typically two, at most seven minutes); credentials minted
// while it was active (keys, signed URLs, impersonated tokens) are not
// revoked by it.
//
// Errors: KindInvalid for a malformed id, KindDenied for someone else's
// activation (unless an administrator), KindNotFound when the binding no
// longer exists (ended twice, expired, or extended), and the adapters'.
func (l *Lifecycle) End(ctx context.Context, caller jit.Principal, id string) (jit.Grant, error) {
	const op = "activation.End"
	ref, err := jit.ParseGrantID(id)
	if err != nil {
		return jit.Grant{}, err
	}
	owner, ok := jit.UserOfMember(ref.Member)
	if !ok {
		return jit.Grant{}, jit.Invalid(op, "The activation id is not valid")
	}
	kind := jit.EventEnded
	planned := jit.Activation{ID: id, Beneficiary: owner,
		Entitlement: jit.Scope(ref.Resource).Entitlement(ref.Role, "")}
	detail := map[string]string{"resource": ref.Resource, "beneficiary": string(owner)}
	fail := func(err error) (jit.Grant, error) {
		l.svc.record(ctx, jit.Event{Kind: jit.EventEndFailed, Actor: caller, Activations: []jit.Activation{planned}, Detail: detail, Err: err})
		return jit.Grant{}, err
	}
	if owner != caller.Email {
		admin, err := l.IsAdministrator(ctx, caller)
		if err != nil {
			return fail(err)
		}
		if !admin {
			return fail(jit.Denied(op, "You can only end your own activations"))
		}
		kind = jit.EventRevoked
	}
	g, err := l.bindings.Revoke(ctx, ref)
	if err != nil {
		return fail(wrapUpstream(op, "Ending the activation failed", err))
	}
	act := jit.GrantActivation(g)
	detail["ended_at"] = l.now().Format(timeFormat)
	e := jit.Event{Kind: kind, Actor: caller, Activations: []jit.Activation{act}, Detail: detail}
	l.svc.record(ctx, e)
	return g, nil
}

const timeFormat = "2006-01-02T15:04:05Z07:00"
