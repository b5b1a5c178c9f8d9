package iam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"google.golang.org/api/cloudresourcemanager/v3"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// This file is the group commit: one writer per busy resource takes
// everything waiting for that resource's policy, grants and approval
// decisions alike, into one read-modify-write (see Client).

// queue holds the work waiting for a resource's next write.
type queue struct {
	pending []*item
}

// item is one caller's change: a grant (acts) or an approval request's
// decision (decide).
type item struct {
	op   string // for the caller's errors
	ctx  context.Context
	done chan result // buffered: the writer never blocks on it
	// taken is set, under Client.mu, when the writer has taken the item
	// into a batch; from then on only the writer answers it.
	taken bool

	acts []jit.Activation // a grant

	req    jit.ActivationRequest // a decision
	decide func(jit.RequestRecord) (jit.Decision, error)

	// conf is confirmed in the live policies inside the write; up waits
	// for the resource's ancestors and their policies, read when the
	// item's batch starts.
	conf jit.Confirmation
	up   hierarchy

	// The outcome of the batch's latest attempt for this item: the
	// decision's record, the reason the item is left out of the write
	// (errLanded: it is in the policy already), whether the write
	// changes the policy for it; and whether a write that carried it may
	// have been applied although its answer was lost (sticky).
	rec     jit.RequestRecord
	err     error
	changed bool
	maybe   bool
}

type result struct {
	rec jit.RequestRecord
	err error
}

func (it *item) isDecision() bool { return it.decide != nil }

func (it *item) answer(rec jit.RequestRecord, err error) { it.done <- result{rec: rec, err: err} }

// errLanded marks an item whose change the policy already holds.
var errLanded = errors.New("the change is already in the policy")

// submit queues it for the resource's writer, starting the writer if
// none runs, and waits for the answer. An item still queued when its
// caller's context ends is withdrawn: it is never written. One being
// written is written under a deadline no later than its caller's, so its
// real outcome is moments away, and only it tells the truth.
func (c *Client) submit(resource string, it *item) (jit.RequestRecord, error) {
	if err := it.ctx.Err(); err != nil {
		return jit.RequestRecord{}, jit.E(it.op, jit.KindUnavailable, msgTimedOut, err)
	}
	it.done = make(chan result, 1)
	c.mu.Lock()
	q := c.queues[resource]
	start := q == nil
	if start {
		q = &queue{}
		c.queues[resource] = q
	}
	q.pending = append(q.pending, it)
	c.mu.Unlock()
	if start {
		go c.run(resource, q)
	}
	select {
	case r := <-it.done:
		return r.rec, r.err
	case <-it.ctx.Done():
	}
	c.mu.Lock()
	if !it.taken {
		q.pending = slices.DeleteFunc(q.pending, func(x *item) bool { return x == it })
		c.mu.Unlock()
		return jit.RequestRecord{}, jit.E(it.op, jit.KindUnavailable, msgTimedOut, it.ctx.Err())
	}
	c.mu.Unlock()
	r := <-it.done
	return r.rec, r.err
}

// run is a resource's writer: it writes the pending items, batch after
// batch, until none are left, then removes the queue. Every item waiting
// when a batch starts is in it, whatever its kind, so a stream of one kind
// cannot hold the other back.
func (c *Client) run(resource string, q *queue) {
	for {
		c.mu.Lock()
		var batch []*item
		for _, it := range q.pending {
			it.taken = true
			if err := it.ctx.Err(); err != nil {
				it.answer(jit.RequestRecord{}, jit.E(it.op, jit.KindUnavailable, msgTimedOut, err))
				continue
			}
			batch = append(batch, it)
		}
		q.pending = nil
		if len(batch) == 0 {
			delete(c.queues, resource)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		// Deadlines are wall-clock time, whatever Options.Clock says.
		c.writeBatch(resource, batch, time.Now().Add(c.opts.RetryBudget))
	}
}

// writeBatch writes a batch in one read-modify-write that ends by the
// earliest deadline of its callers (and by budgetEnd). Each item is
// applied on its own, so an item that cannot be written (a requirement
// that no longer holds, a decision already made, a full policy) fails only
// its own caller. If the write itself fails, each item is tried alone
// under its own deadline and the same budget, so that one item Google
// refuses, or one caller in a hurry, fails only its own caller.
func (c *Client) writeBatch(resource string, batch []*item, budgetEnd time.Time) {
	deadline, resolveBy := budgetEnd, time.Duration(0)
	for _, it := range batch {
		d, reserve := c.deadlineOf(it, budgetEnd)
		if d.Before(deadline) {
			deadline, resolveBy = d, reserve
		}
	}
	// Detached from cancellation (a client that hangs up must not cut a
	// write in half), bounded by the callers' deadlines.
	ctx, cancel := context.WithDeadline(context.WithoutCancel(batch[0].ctx), deadline)
	// The ancestors' policies are read, once for the batch, while the
	// resource's is.
	if slices.ContainsFunc(batch, func(it *item) bool { return needsAncestors(resource, it.conf) }) {
		up := c.readHierarchy(ctx, resource)
		for _, it := range batch {
			it.up = up
		}
	}
	err := c.readModifyWrite(ctx, resource, func(p *cloudresourcemanager.Policy, lost bool) (string, error) {
		if lost {
			for _, it := range batch {
				it.maybe = it.maybe || it.changed
			}
		}
		changed := c.applyBatch(resource, p, batch)
		if len(changed) > 0 {
			return requestReason(changed), nil
		}
		if slices.ContainsFunc(batch, func(it *item) bool { return it.maybe && !errors.Is(it.err, errLanded) }) {
			// Nothing to write, but a write whose answer was lost may
			// still land and contradict what its callers are about to be
			// told: write the policy unchanged, which changes the etag,
			// so that the late write can only fail.
			return fenceReason, nil
		}
		return "", errNothingToWrite
	})
	cancel()
	if err == nil {
		c.count(batch)
		for _, it := range batch {
			if it.err != nil && !errors.Is(it.err, errLanded) {
				it.answer(jit.RequestRecord{}, it.err)
			} else {
				it.answer(it.rec, nil)
			}
		}
		return
	}
	applied, inFlight := maybeApplied(err)
	if m := (*maybeAppliedError)(nil); errors.As(err, &m) {
		err = m.err
	}
	var open, suspects []*item
	for _, it := range batch {
		switch {
		case errors.Is(it.err, errLanded):
			it.answer(it.rec, nil)
		case applied && (it.maybe || it.changed):
			suspects = append(suspects, it)
		case it.err != nil:
			// Left out of every write that may have landed.
			it.answer(jit.RequestRecord{}, it.err)
		default:
			open = append(open, it)
		}
	}
	if len(suspects) > 0 {
		// Google may have applied the write although its answer was lost:
		// look before saying it failed, for at most a second past the
		// callers' deadline.
		landed, known := c.landed(batch[0].ctx, resource, suspects, inFlight, max(resolveBy, min(c.opts.ReadTimeout, time.Second)))
		for i, it := range suspects {
			switch {
			case !known:
				it.answer(jit.RequestRecord{}, jit.E(it.op, jit.KindUnavailable, msgUnconfirmed, err))
			case landed[i]:
				it.answer(it.rec, nil)
				c.countShared(it, len(batch) > 1)
			case it.err != nil:
				it.answer(jit.RequestRecord{}, it.err)
			default:
				// Not written, and (fenced off) it will not be.
				it.maybe = false
				open = append(open, it)
			}
		}
	}
	if len(batch) == 1 {
		for _, it := range open {
			it.answer(jit.RequestRecord{}, err)
		}
		return
	}
	// Halves, down to single items: a batch with one item Google refuses
	// costs a few more writes, not one per item.
	if half := len(open) / 2; half > 0 {
		c.writeBatch(resource, open[:half], budgetEnd)
		c.writeBatch(resource, open[half:], budgetEnd)
	} else if len(open) == 1 {
		c.writeBatch(resource, open, budgetEnd)
	}
}

const fenceReason = "jitaccess: no change, fencing off an earlier update whose answer was lost"

// count updates Stats for a batch that was written.
func (c *Client) count(batch []*item) {
	grants, decisions := 0, 0
	for _, it := range batch {
		switch {
		case !it.changed:
		case it.isDecision():
			decisions++
		default:
			grants++
		}
	}
	if grants+decisions < 2 {
		return
	}
	c.batched.Add(int64(grants))
	c.batchedDecisions.Add(int64(decisions))
	if grants > 0 && decisions > 0 {
		c.mixed.Add(1)
	}
}

func (c *Client) countShared(it *item, shared bool) {
	switch {
	case !shared:
	case it.isDecision():
		c.batchedDecisions.Add(1)
	default:
		c.batched.Add(1)
	}
}

// applyBatch applies every item of the batch to the policy as read, each
// validated on its own: decisions one after the other (two approvals of
// one request in one batch see each other), then the grants. An item that
// cannot be applied leaves the policy as it was and carries its reason in
// item.err. It returns the items the write changes.
func (c *Client) applyBatch(resource string, p *cloudresourcemanager.Policy, batch []*item) []*item {
	now := c.opts.Clock()
	var changed, grants []*item
	for _, it := range batch {
		it.err, it.changed = nil, false
		switch {
		case it.isDecision():
			it.rec, it.err = c.applyOne(resource, p, it, now)
		case it.maybe && grantsIn(p, it):
			// An earlier attempt wrote it; its answer was lost.
			it.err = errLanded
		default:
			if _, it.err = confirmIn(resource, p, it.up, it.conf); it.err == nil {
				grants = append(grants, it)
			}
			continue
		}
		if it.changed = it.err == nil; it.changed {
			changed = append(changed, it)
		}
	}
	if len(grants) == 0 {
		return changed
	}
	// The grants are applied together, in one sweep of the policy; only
	// when that breaks Google's limits is each tried in turn, to fail only
	// those that do not fit.
	var acts []jit.Activation
	for _, it := range grants {
		acts = append(acts, it.acts...)
	}
	saved := slices.Clone(p.Bindings)
	if err := applyActivations(c.conds, p, acts, now); err != nil {
		p.Bindings = saved
		for _, it := range grants {
			before := slices.Clone(p.Bindings)
			if it.err = applyActivations(c.conds, p, it.acts, now); it.err != nil {
				p.Bindings = before
			}
		}
	}
	for _, it := range grants {
		if it.changed = it.err == nil; it.changed {
			changed = append(changed, it)
		}
	}
	return changed
}

// deadlineOf is when an item's write must end: its caller's deadline less
// a reserve for reading the outcome back, and no later than budgetEnd.
func (c *Client) deadlineOf(it *item, budgetEnd time.Time) (time.Time, time.Duration) {
	d, ok := it.ctx.Deadline()
	if !ok {
		return budgetEnd, c.opts.ReadTimeout
	}
	reserve := min(c.opts.ReadTimeout, time.Until(d)/4)
	d = d.Add(-max(reserve, 0))
	if d.After(budgetEnd) {
		return budgetEnd, c.opts.ReadTimeout
	}
	return d, reserve
}

// landed reads the policy back and reports, per item, whether its change
// is in it; known is false when that could not be established in time.
//
// A write that got no answer (inFlight) may still be on its way to Google
// and land after the read. So unless every item is there, the policy just
// read is written back unchanged: that changes the etag, and a late write,
// which carries an older etag, can then only fail. If the write-back
// itself meets a newer etag, something landed in between: read again.
func (c *Client) landed(parent context.Context, resource string, items []*item, inFlight bool, timeout time.Duration) (landed []bool, known bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), timeout)
	defer cancel()
	for {
		policy, err := c.getPolicy(ctx, resource)
		if err != nil {
			c.opts.Logger.ErrorContext(ctx, "reading back an IAM policy update whose answer was lost failed",
				slog.String("resource", resource), slog.Any("error", err))
			return nil, false
		}
		out := make([]bool, len(items))
		for i, it := range items {
			out[i] = c.isIn(policy, it)
		}
		if !inFlight || !slices.Contains(out, false) {
			return out, true
		}
		policy.Version = 3
		err = c.setPolicy(ctx, resource, policy, fenceReason)
		if err == nil {
			return out, true
		}
		if !isConflict(err) {
			c.opts.Logger.ErrorContext(ctx, "fencing off an IAM policy update whose answer was lost failed",
				slog.String("resource", resource), slog.Any("error", err))
			return nil, false
		}
	}
}

// isIn reports whether policy holds the item's change: all of a grant's
// bindings exactly as written, or what the decision's caller recognises
// as its own decision in the request's record.
func (c *Client) isIn(policy *cloudresourcemanager.Policy, it *item) bool {
	if !it.isDecision() {
		return grantsIn(policy, it)
	}
	rec, _ := requestRecord(c.conds, policy, it.req)
	rec = fill(rec, it.req)
	rec.Unconfirmed = true
	dec, err := it.decide(rec)
	if err != nil || !dec.Landed {
		return false
	}
	it.rec = rec
	return true
}

// grantsIn reports whether all of a grant's bindings are in policy.
func grantsIn(policy *cloudresourcemanager.Policy, it *item) bool {
	key := func(role, member, title, expr string) string {
		return role + "\x00" + strings.ToLower(member) + "\x00" + title + "\x00" + expr
	}
	present := map[string]bool{}
	for _, b := range policy.Bindings {
		if b != nil && b.Condition != nil && len(b.Members) == 1 {
			present[key(b.Role, b.Members[0], b.Condition.Title, b.Condition.Expression)] = true
		}
	}
	for _, a := range it.acts {
		expr := condition.ActivationExpression(a.Start, a.End, a.Entitlement.ResourceCondition)
		if !present[key(a.Entitlement.Role, a.Beneficiary.Member(), condition.ActivationTitle, expr)] {
			return false
		}
	}
	return true
}

// requestReason is the x-goog-request-reason of a write, which Cloud
// Audit Logs show as the reason of the policy change: one caller's
// description, or, for a batch, who was granted what and which requests
// were decided, so that no caller's justification stands for the others'.
func requestReason(items []*item) string {
	if len(items) == 1 {
		if it := items[0]; it.isDecision() {
			return "Approval request " + it.req.ID
		}
		return items[0].acts[0].Description()
	}
	var acts, decisions []string
	for _, it := range items {
		if it.isDecision() {
			decisions = append(decisions, "request "+it.req.ID+" "+string(it.req.Beneficiary))
			continue
		}
		for _, a := range it.acts {
			acts = append(acts, a.ID+" "+string(a.Beneficiary))
		}
	}
	var what []string
	if len(acts) > 0 {
		what = append(what, fmt.Sprintf("%d activations", len(acts)))
	}
	if len(decisions) > 0 {
		what = append(what, fmt.Sprintf("%d approval request decisions", len(decisions)))
	}
	return fmt.Sprintf("jitaccess: %s in one update: %s", strings.Join(what, " and "), strings.Join(slices.Concat(acts, decisions), ", "))
}
