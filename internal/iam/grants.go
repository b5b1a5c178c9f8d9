package iam

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/api/cloudresourcemanager/v3"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// This file holds the lifecycle operations on activation bindings that
// already exist: reading them back from live policies (My access),
// removing one (end, revoke) and replacing one with a longer window
// (extend). They work on projects, folders and organizations alike.
// Like Grant, every write is a read-modify-write at version 3 guarded by
// the etag, sweeps expired bindings the app wrote, checks Google's limits
// before sending, and never touches another binding or member.

// maxParallelReads bounds the getIamPolicy calls one listing runs at
// once: enough to list a few hundred projects in a few seconds, few
// enough to stay well inside Resource Manager's per-minute read quota.
const maxParallelReads = 16

// grantOf reads a binding as an activation grant of resource; ok is false
// for every binding the app did not write.
func grantOf(m *conds, resource string, b *cloudresourcemanager.Binding) (jit.Grant, bool) {
	if b == nil || b.Condition == nil || len(b.Members) != 1 {
		return jit.Grant{}, false
	}
	w, ok := m.activation(b.Condition.Title, b.Condition.Expression)
	if !ok {
		return jit.Grant{}, false
	}
	user, ok := jit.UserOfMember(b.Members[0])
	if !ok {
		return jit.Grant{}, false
	}
	g := jit.Grant{
		Resource: resource, Role: b.Role, Member: b.Members[0], Beneficiary: user,
		ResourceCondition: w.ResourceCondition, Expression: b.Condition.Expression,
		Start: w.Start, End: w.End,
	}
	if approvers, j, ok := jit.ParseDescription(b.Condition.Description); ok {
		g.Justification = j
		if len(approvers) > 0 {
			g.Approver, g.Approvers = approvers[len(approvers)-1], approvers
		}
	}
	return g, true
}

// Grants reads the live policies of resources in parallel (bounded) and
// returns the activation bindings the app wrote that have not expired at
// now; for user only, or everyone's when user is empty. A resource that
// cannot be read is reported in failed rather than failing the listing;
// err is set only when the context ends.
func (c *Client) Grants(ctx context.Context, resources []string, user jit.UserID, now time.Time) (grants []jit.Grant, failed map[string]error, err error) {
	results := make([][]jit.Grant, len(resources))
	errs := make([]error, len(resources))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxParallelReads)
	for i, r := range resources {
		g.Go(func() error {
			p, err := c.getPolicy(gctx, r)
			if err != nil {
				errs[i] = translateResource("iam.Grants", r, err)
				return nil
			}
			for _, b := range p.Bindings {
				gr, ok := grantOf(c.conds, r, b)
				if !ok || gr.Status(now) == jit.GrantExpired || (user != "" && gr.Beneficiary != user) {
					continue
				}
				results[i] = append(results[i], gr)
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines report through errs
	if ctx.Err() != nil {
		return nil, nil, jit.E("iam.Grants", jit.KindUnavailable, "Reading the IAM policies timed out, please try again", ctx.Err())
	}
	for i, r := range resources {
		if errs[i] != nil {
			if failed == nil {
				failed = map[string]error{}
			}
			failed[r] = errs[i]
		}
		grants = append(grants, results[i]...)
	}
	return grants, failed, nil
}

func errNoSuchGrant(op string) error {
	return jit.E(op, jit.KindNotFound,
		"There is no such activation: it has already ended, or it expired, or it was extended (which gives it a new id). Reload the list.", nil)
}

// indexOf finds the binding ref names: same role, exactly one member
// (the same), the same expression, and a condition the app wrote.
func indexOf(m *conds, p *cloudresourcemanager.Policy, ref jit.GrantRef) int {
	return slices.IndexFunc(p.Bindings, func(b *cloudresourcemanager.Binding) bool {
		if b == nil || b.Role != ref.Role || len(b.Members) != 1 || !strings.EqualFold(b.Members[0], ref.Member) ||
			b.Condition == nil || b.Condition.Expression != ref.Expression {
			return false
		}
		_, ok := m.activation(b.Condition.Title, b.Condition.Expression)
		return ok
	})
}

// Revoke removes the binding ref names, in one read-modify-write, and
// returns it as it was. Errors: KindNotFound when no such binding exists
// (ending twice), and those of Grant.
func (c *Client) Revoke(ctx context.Context, ref jit.GrantRef) (jit.Grant, error) {
	const op = "iam.Revoke"
	if u, ok := jit.UserOfMember(ref.Member); ok {
		defer c.written(u)
	}
	var removed jit.Grant
	err := c.modifyResource(ctx, ref.Resource, "Ending a just-in-time activation", func(p *cloudresourcemanager.Policy, unsure bool) error {
		i := indexOf(c.conds, p, ref)
		if i < 0 && unsure && removed.Member != "" {
			return errNothingToWrite // our earlier attempt removed it
		}
		if i < 0 {
			return errNoSuchGrant(op)
		}
		now := c.opts.Clock().UTC().Truncate(time.Second)
		removed, _ = grantOf(c.conds, ref.Resource, p.Bindings[i])
		if removed.Status(now) == jit.GrantExpired {
			// It grants nothing any more; ending it would be a no-op
			// reported as a success.
			return errNoSuchGrant(op)
		}
		if b := p.Bindings[i]; jit.RequestIDOf(b.Condition.Description) != "" {
			// An approved request's binding also says that the request
			// was decided (requests.go): it stays, its window ended now,
			// so that the approval link cannot grant it again.
			start := removed.Start
			if !start.Before(now) {
				start = now.Add(-time.Second)
			}
			b.Condition = &cloudresourcemanager.Expr{
				Title: b.Condition.Title, Description: b.Condition.Description,
				Expression: condition.ActivationExpression(start, now, removed.ResourceCondition),
			}
		} else {
			p.Bindings = slices.Delete(p.Bindings, i, i+1)
		}
		sweepExpired(c.conds, p, now)
		return checkLimits(op, p)
	})
	return removed, err
}

// Replace swaps the binding ref names for the binding of the activation
// build makes of it (as read in the same read-modify-write), in one
// write: at no moment does the member hold neither or both. conf (the
// beneficiary's eligibility) is confirmed in the live policies inside the
// same read-modify-write, as for Grant. An error of build ends the write
// and is returned as it is. Errors: as Revoke, and KindDenied when conf no
// longer holds.
func (c *Client) Replace(ctx context.Context, ref jit.GrantRef, conf jit.Confirmation, build func(old jit.Grant) (jit.Activation, error)) error {
	const op = "iam.Replace"
	if conf.Empty() && !c.opts.Unconfirmed {
		return errUnconfirmed(op)
	}
	if u, ok := jit.UserOfMember(ref.Member); ok {
		defer c.written(u)
	}
	var up hierarchy
	if needsAncestors(ref.Resource, conf) {
		up = c.readHierarchy(ctx, ref.Resource)
	}
	var replacement *jit.GrantRef // what an earlier attempt wrote
	return c.modifyResource(ctx, ref.Resource, "Extending a just-in-time activation", func(p *cloudresourcemanager.Policy, unsure bool) error {
		i := indexOf(c.conds, p, ref)
		if i < 0 && unsure && replacement != nil && indexOf(c.conds, p, *replacement) >= 0 {
			return errNothingToWrite // our earlier attempt replaced it
		}
		if i < 0 {
			return errNoSuchGrant(op)
		}
		old, _ := grantOf(c.conds, ref.Resource, p.Bindings[i])
		if old.Status(c.opts.Clock()) == jit.GrantExpired {
			return errNoSuchGrant(op)
		}
		if _, err := confirmIn(ref.Resource, p, up, conf); err != nil {
			return err
		}
		act, err := build(old)
		if err != nil {
			return err
		}
		if !act.End.After(act.Start) || act.Entitlement.Role != ref.Role || !strings.EqualFold(act.Beneficiary.Member(), ref.Member) {
			return jit.E(op, jit.KindInternal, "", errors.New("the replacement is not for the same role and member"))
		}
		expr := condition.ActivationExpression(act.Start, act.End, act.Entitlement.ResourceCondition)
		replacement = &jit.GrantRef{Resource: ref.Resource, Role: ref.Role, Member: ref.Member, Expression: expr}
		p.Bindings[i] = &cloudresourcemanager.Binding{
			Role:    ref.Role,
			Members: []string{p.Bindings[i].Members[0]},
			Condition: &cloudresourcemanager.Expr{
				Title: condition.ActivationTitle, Description: truncate(act.Description(), maxDescription), Expression: expr,
			},
		}
		sweepExpired(c.conds, p, c.opts.Clock())
		return checkLimits(op, p)
	})
}

// sweepExpired drops the app's own expired activation bindings, anyone's:
// they grant nothing and count against the policy's limits. A request's
// bindings follow the request's own rule (keepForRequest): they say the
// request was decided for as long as its token lives.
func sweepExpired(m *conds, p *cloudresourcemanager.Policy, now time.Time) {
	p.Bindings = slices.DeleteFunc(p.Bindings, func(b *cloudresourcemanager.Binding) bool {
		if keep, handled := keepForRequest(m, b, now); handled {
			return !keep
		}
		g, ok := grantOf(m, "", b)
		return ok && g.Status(now) == jit.GrantExpired
	})
}

// modifyResource is one caller's read-modify-write of any resource's
// policy, outside the writers' batches: for changes to bindings that
// already exist, rare enough that batching would buy nothing. An error
// returned by modify is final, except errNothingToWrite, which means
// done. modify learns (unsure) when an earlier attempt's answer was lost,
// so that it can recognise its own change in the policy it reads.
//
// Like Grant, the write is detached from the caller's cancellation but
// not from its deadline: a client that hangs up does not cut a write in
// half, and the answer is the real outcome.
func (c *Client) modifyResource(ctx context.Context, resource, reason string, modify func(p *cloudresourcemanager.Policy, unsure bool) error) error {
	const op = "iam.modifyResource"
	deadline := time.Now().Add(c.opts.RetryBudget)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	unsure := false
	err := c.readModifyWrite(ctx, resource, func(p *cloudresourcemanager.Policy, lost bool) (string, error) {
		unsure = unsure || lost
		return reason, modify(p, unsure)
	})
	if applied, _ := maybeApplied(err); applied {
		// The last answer that came back does not settle whether an
		// earlier write, whose answer was lost, was applied.
		return jit.E(op, jit.KindUnavailable, msgUnconfirmed, err)
	}
	return err
}
