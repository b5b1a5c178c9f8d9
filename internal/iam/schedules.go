package iam

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/api/cloudresourcemanager/v3"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// This file bounds scheduled windows (activation bindings whose window
// starts later) and ends those whose eligibility is gone.
//
// A scheduled window is an ordinary activation binding with a future
// start: nothing runs at its start (the app may scale to zero), so IAM
// grants it then whatever happened meanwhile. Two rules keep that safe:
//
//   - a member holds at most one scheduled window of a role, on one
//     resource (checkOneScheduled): Google Cloud PAM refuses a schedule
//     that overlaps another; we refuse a second one outright, so that
//     nobody queues days of access in one sitting and a handful of users
//     cannot fill a policy's 20 conditional bindings per role and member
//     or its 1,500 principals;
//   - every write the app makes to a policy ends the scheduled windows of
//     ours in it whose eligibility no longer holds in the live policies of
//     the resource and its ancestors (scheduleSweep), before their start.
//
// The second rule can only judge what policies say: a member removed from
// an eligible binding, or the binding removed, ends the window; a member
// removed from a *group* that an eligible binding names does not, because
// the write path cannot see group membership. docs/security.md says so.

// scheduledWindow reads b as a scheduled window of ours: an activation
// binding of one member whose window starts after now.
func scheduledWindow(m *conds, b *cloudresourcemanager.Binding, now time.Time) (condition.Window, bool) {
	if b == nil || b.Condition == nil || len(b.Members) != 1 {
		return condition.Window{}, false
	}
	w, ok := m.activation(b.Condition.Title, b.Condition.Expression)
	if !ok || !w.Start.After(now) {
		return condition.Window{}, false
	}
	return w, true
}

// checkOneScheduled refuses a policy, about to be written with acts, in
// which the member of a scheduled activation would hold a second
// scheduled window of its role. A new window that overlaps the member's
// scheduled one has replaced it already (applyActivations).
func checkOneScheduled(m *conds, p *cloudresourcemanager.Policy, acts []jit.Activation, now time.Time) error {
	const op = "iam.checkOneScheduled"
	for _, a := range acts {
		if !a.Start.After(now) {
			continue
		}
		member := a.Beneficiary.Member()
		for _, b := range p.Bindings {
			w, ok := scheduledWindow(m, b, now)
			if !ok || b.Role != a.Entitlement.Role || !strings.EqualFold(b.Members[0], member) ||
				(w.Start.Equal(a.Start) && w.End.Equal(a.End) && w.ResourceCondition == a.Entitlement.ResourceCondition) {
				continue
			}
			hint := ", or choose a window that overlaps it to replace it"
			if jit.RequestIDOf(b.Condition.Description) != "" {
				hint = "" // an approved request's window is never replaced (requests.go)
			}
			return jit.E(op, jit.KindConflict, fmt.Sprintf(
				"%s already has a scheduled activation of %s on %s, from %s to %s. Only one scheduled activation per role is allowed: end (cancel) it in My access first%s.",
				a.Beneficiary, a.Entitlement.Role, a.Entitlement.Resource(),
				w.Start.UTC().Format(time.RFC3339), w.End.UTC().Format(time.RFC3339), hint), nil)
		}
	}
	return nil
}

// scheduleSweep starts, for a write to resource whose policy (as read)
// holds scheduled windows of ours, reading the live policies of the
// resource's ancestors; the function it returns waits for them and ends,
// in p, those of the windows whose eligibility no longer holds. It returns
// nil when the policy holds no scheduled window: the usual write reads
// nothing more. Only the bindings found now are judged: those the write
// itself adds were confirmed by it.
func (c *Client) scheduleSweep(ctx context.Context, resource string, p *cloudresourcemanager.Policy) func(*cloudresourcemanager.Policy) {
	now := c.opts.Clock()
	found := map[*cloudresourcemanager.Binding]bool{}
	for _, b := range p.Bindings {
		if _, ok := scheduledWindow(c.conds, b, now); ok {
			found[b] = true
		}
	}
	if len(found) == 0 {
		return nil
	}
	var (
		ancestors map[string]*cloudresourcemanager.Policy
		complete  bool
		done      = make(chan struct{})
	)
	go func() {
		defer close(done)
		// The same remembered, live-checked ancestry as a confirmation's
		// (hierarchy.go).
		up, err := c.ancestors(ctx, resource)
		if err != nil {
			c.opts.Logger.WarnContext(ctx, "reading a resource's ancestors failed; scheduled activations are judged at a later write",
				slog.String("resource", resource), slog.Any("error", err))
			return
		}
		ancestors, complete = map[string]*cloudresourcemanager.Policy{}, true
		for _, a := range up {
			ancestors[a.name] = a.policy
		}
	}()
	return func(p *cloudresourcemanager.Policy) {
		<-done
		c.endUngrounded(ctx, resource, p, found, ancestors, complete, now)
	}
}

// endUngrounded ends the windows of found still in p whose eligibility
// neither p nor the ancestors' policies hold. An approved request's
// binding also says that the request was decided (requests.go): it stays,
// with its window ended, as when it is ended by hand (Revoke). When some
// ancestor could not be read (!complete), a window whose eligibility is
// not found in what was read is kept: the next write judges it again.
func (c *Client) endUngrounded(ctx context.Context, resource string, p *cloudresourcemanager.Policy,
	found map[*cloudresourcemanager.Binding]bool, ancestors map[string]*cloudresourcemanager.Policy, complete bool, now time.Time) {
	kept := p.Bindings[:0]
	for _, b := range p.Bindings {
		if !found[b] {
			kept = append(kept, b)
			continue
		}
		w, ok := scheduledWindow(c.conds, b, now)
		user, isUser := jit.UserOfMember(b.Members[0])
		if !ok || !isUser || grounded(b.Role, w.ResourceCondition, user, p, ancestors) || !complete {
			kept = append(kept, b)
			continue
		}
		c.opts.Logger.WarnContext(ctx, "ending a scheduled activation whose eligibility was removed",
			slog.String("resource", resource), slog.String("role", b.Role), slog.String("member", b.Members[0]),
			slog.Time("start", w.Start), slog.Time("end", w.End))
		if jit.RequestIDOf(b.Condition.Description) != "" {
			b.Condition = &cloudresourcemanager.Expr{
				Title: b.Condition.Title, Description: b.Condition.Description,
				Expression: condition.ActivationExpression(now.Add(-time.Second).Truncate(time.Second), now.Truncate(time.Second), w.ResourceCondition),
			}
			kept = append(kept, b)
		}
	}
	clear(p.Bindings[len(kept):])
	p.Bindings = kept
}

// grounded reports whether one of the policies holds an eligible binding
// (either marker) of role with the window's resource condition that takes
// in user: it names them, their domain or everyone, or it names a group
// (whose members the write path cannot see: the user may be one).
func grounded(role, resourceCondition string, user jit.UserID, own *cloudresourcemanager.Policy, ancestors map[string]*cloudresourcemanager.Policy) bool {
	holds := func(p *cloudresourcemanager.Policy) bool {
		for _, b := range p.Bindings {
			if b == nil || b.Role != role || b.Condition == nil {
				continue
			}
			el, ok, err := condition.ParseEligibility(b.Condition.Expression)
			if err != nil || !ok || el.ResourceCondition != resourceCondition {
				continue
			}
			for _, m := range b.Members {
				if user.NamedBy(m) || strings.HasPrefix(strings.ToLower(m), "group:") {
					return true
				}
			}
		}
		return false
	}
	if holds(own) {
		return true
	}
	for _, p := range ancestors {
		if holds(p) {
			return true
		}
	}
	return false
}
