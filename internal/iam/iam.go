// Package iam writes activation bindings into project IAM policies through
// the Resource Manager v3 API. Every write is a read-modify-write at policy
// version 3 guarded by the policy's etag, retried with jittered
// exponential backoff when someone else wrote first, so no other binding
// is ever lost. The same write sweeps expired activation bindings that
// jitaccess itself wrote (recognised by parsing their condition, not by
// their description), and never touches any other binding or member.
package iam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/googleapi"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// Google's documented limits for an allow policy (see the emulator for
// the same numbers): principals per policy, group principals per policy,
// conditional bindings for one role and principal.
const (
	maxPrincipals            = 1500
	maxGroupPrincipals       = 250
	maxConditionalPerRoleAnd = 20
	maxDescription           = 256
)

// Options tune a Client.
type Options struct {
	// ReadTimeout and WriteTimeout bound each getIamPolicy and setIamPolicy
	// call (BACKEND_READ_TIMEOUT, BACKEND_WRITE_TIMEOUT).
	ReadTimeout, WriteTimeout time.Duration
	// RetryBudget bounds the whole read-modify-write including retries,
	// unless the caller's context ends sooner.
	RetryBudget time.Duration
	// BaseBackoff is the first retry's maximum wait; it doubles up to
	// MaxBackoff, and each wait is drawn at random below it (full jitter),
	// so concurrent writers spread out instead of colliding again.
	BaseBackoff, MaxBackoff time.Duration
	Clock                   func() time.Time
	Logger                  *slog.Logger
}

// Stats counts what a Client did, for load tests and benchmarks.
type Stats struct {
	Writes    int64 // successful setIamPolicy calls
	Conflicts int64 // setIamPolicy calls refused for a stale etag
	Retries   int64 // read-modify-write cycles started again for any reason
	Batched   int64 // grants that shared a write with others
}

// Client adds activation bindings to project policies.
//
// Concurrent grants on the same project are committed together: a writer
// goroutine per busy project takes every grant waiting at that moment and
// writes them in one read-modify-write. Under a burst this turns N
// contending read-modify-writes (each of which loses to the others and
// starts over) into a few writes, and it keeps the etag retries for what
// they are for, writers in other instances.
//
// Each caller's answer is true about its own grant, within its own
// deadline:
//   - a grant still waiting when its caller's context ends is withdrawn
//     and never written;
//   - a grant being written is written under a deadline no later than its
//     caller's (less a reserve for reading the outcome back), detached from
//     cancellation, so the caller waits for the real outcome: a client
//     that hangs up does not leave a binding the caller was told failed;
//   - when Google's answer to a setIamPolicy call is lost (a timeout), the
//     policy is read back to learn whether the grants landed;
//   - when a batch fails, each grant is written alone, so one bad grant
//     fails only its own caller.
//
// The callers never write themselves, so the first caller does not wait
// for the grants that arrive after it.
type Client struct {
	crm  *cloudresourcemanager.Service
	opts Options

	mu     sync.Mutex
	queues map[jit.ProjectID]*queue // a queue exists while its writer runs

	writes, conflicts, retries, batched atomic.Int64

	decisions decisionQueues // approval requests' decisions, see requests.go
}

// queue holds the grants waiting for a project's next write.
type queue struct {
	pending []*grant
}

type grant struct {
	ctx  context.Context
	acts []jit.Activation
	// reqs are confirmed in the live policies inside the write (see
	// GrantConfirmed).
	reqs []jit.Requirement
	done chan error // buffered: the writer never blocks on it
	// taken is set, under Client.mu, when the writer has taken the grant
	// into a batch; from then on only the writer answers it.
	taken bool
}

// New returns a Client using crm.
func New(crm *cloudresourcemanager.Service, opts Options) *Client {
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = 20 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 20 * time.Second
	}
	if opts.RetryBudget <= 0 {
		opts.RetryBudget = 30 * time.Second
	}
	if opts.BaseBackoff <= 0 {
		opts.BaseBackoff = 20 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 2 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Client{crm: crm, opts: opts, queues: map[jit.ProjectID]*queue{}}
}

// Stats returns the counters since the Client was created.
func (c *Client) Stats() Stats {
	return Stats{Writes: c.writes.Load(), Conflicts: c.conflicts.Load(), Retries: c.retries.Load(), Batched: c.batched.Load()}
}

const msgTimedOut = "Updating the IAM policy timed out, please try again"

// Grant writes the activations, which must all be for one project and one
// beneficiary, in a single read-modify-write of the project's policy.
// A nil error means the bindings were written; any error means they were
// not, and will not be (see Client).
//
// Errors are *jit.Error: KindInvalid for activations that cannot be
// written (mixed projects, a role not grantable on projects, a full
// policy), KindConflict when concurrent writers kept winning past the
// retry budget, KindDenied/KindNotFound for permission or project
// problems, KindTooMany, KindUpstream or KindUnavailable for Google-side
// failures and for a context that ended first.
func (c *Client) Grant(ctx context.Context, acts []jit.Activation) error {
	return c.grant(ctx, acts, nil)
}

func (c *Client) grant(ctx context.Context, acts []jit.Activation, reqs []jit.Requirement) error {
	const op = "iam.Grant"
	if len(acts) == 0 {
		return nil
	}
	project, member := acts[0].Entitlement.Project, acts[0].Beneficiary.Member()
	for _, a := range acts {
		if a.Entitlement.Project != project || a.Beneficiary.Member() != member {
			return jit.E(op, jit.KindInternal, "", errors.New("activations span several projects or beneficiaries"))
		}
		if !a.End.After(a.Start) {
			return jit.E(op, jit.KindInternal, "", fmt.Errorf("activation %s has an empty window", a.ID))
		}
	}
	if err := ctx.Err(); err != nil {
		return jit.E(op, jit.KindUnavailable, msgTimedOut, err)
	}
	g := &grant{ctx: ctx, acts: acts, reqs: reqs, done: make(chan error, 1)}
	c.mu.Lock()
	q := c.queues[project]
	start := q == nil
	if start {
		q = &queue{}
		c.queues[project] = q
	}
	q.pending = append(q.pending, g)
	c.mu.Unlock()
	if start {
		go c.run(project, q)
	}
	select {
	case err := <-g.done:
		return err
	case <-ctx.Done():
	}
	c.mu.Lock()
	if !g.taken {
		// Withdrawn before anyone wrote it: it never will be.
		q.pending = slices.DeleteFunc(q.pending, func(x *grant) bool { return x == g })
		c.mu.Unlock()
		return jit.E(op, jit.KindUnavailable, msgTimedOut, ctx.Err())
	}
	c.mu.Unlock()
	// Being written under a deadline no later than ours: the outcome is
	// moments away, and only it tells the truth.
	return <-g.done
}

// run is a project's writer: it writes the pending grants, batch after
// batch, until none are left, then removes the queue.
func (c *Client) run(project jit.ProjectID, q *queue) {
	for {
		c.mu.Lock()
		var batch []*grant
		for _, g := range q.pending {
			g.taken = true
			if err := g.ctx.Err(); err != nil {
				g.done <- jit.E("iam.Grant", jit.KindUnavailable, msgTimedOut, err)
				continue
			}
			batch = append(batch, g)
		}
		q.pending = nil
		if len(batch) == 0 {
			delete(c.queues, project)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		// Deadlines are wall-clock time, whatever Options.Clock says.
		c.writeBatch(project, batch, time.Now().Add(c.opts.RetryBudget))
	}
}

// writeBatch writes a batch in one read-modify-write that ends by the
// earliest deadline of its callers (and by budgetEnd). If the write fails,
// each grant is tried alone under its own deadline and the same budget, so
// that one bad grant, or one caller in a hurry, fails only its own caller.
func (c *Client) writeBatch(project jit.ProjectID, batch []*grant, budgetEnd time.Time) {
	deadline, resolveBy := budgetEnd, time.Duration(0)
	for _, g := range batch {
		d, reserve := c.deadlineOf(g, budgetEnd)
		if d.Before(deadline) {
			deadline, resolveBy = d, reserve
		}
	}
	var acts []jit.Activation
	var reqs []jit.Requirement
	for _, g := range batch {
		acts = append(acts, g.acts...)
		reqs = append(reqs, g.reqs...)
	}
	// Detached from cancellation (a client that hangs up must not cut a
	// write in half), bounded by the callers' deadlines.
	ctx, cancel := context.WithDeadline(context.WithoutCancel(batch[0].ctx), deadline)
	err := c.write(ctx, project, acts, reqs, requestReason(batch))
	cancel()
	if applied, inFlight := maybeApplied(err); applied {
		// Google may have applied the write although its answer was lost:
		// look before saying it failed, for at most a second past the
		// callers' deadline.
		landed, known := c.landed(batch[0].ctx, project, batch, inFlight, max(resolveBy, min(c.opts.ReadTimeout, time.Second)))
		if !known {
			unknown := jit.E("iam.Grant", jit.KindUnavailable,
				"Google Cloud did not confirm the IAM policy update; check whether the role is active before trying again", err)
			for _, g := range batch {
				g.done <- unknown
			}
			return
		}
		var rest []*grant
		for i, g := range batch {
			if landed[i] {
				g.done <- nil
			} else {
				rest = append(rest, g)
			}
		}
		if len(rest) < len(batch) {
			c.batched.Add(int64(len(batch) - len(rest)))
		}
		batch = rest
		if len(batch) == 0 {
			return
		}
	}
	if err == nil || len(batch) == 1 {
		if err == nil && len(batch) > 1 {
			c.batched.Add(int64(len(batch)))
		}
		for _, g := range batch {
			g.done <- err
		}
		return
	}
	for _, g := range batch {
		c.writeBatch(project, []*grant{g}, budgetEnd)
	}
}

// deadlineOf is when a grant's write must end: its caller's deadline less
// a reserve for reading the outcome back, and no later than budgetEnd.
func (c *Client) deadlineOf(g *grant, budgetEnd time.Time) (time.Time, time.Duration) {
	d, ok := g.ctx.Deadline()
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

// landed reads the policy back and reports, per grant, whether all of its
// bindings are in it exactly as written; known is false when that could
// not be established in time.
//
// A write that got no answer (inFlight) may still be on its way to Google
// and land after the read. So unless every grant is there, the policy just
// read is written back unchanged: that changes the etag, and a late write,
// which carries an older etag, can then only fail. If the write-back
// itself meets a newer etag, something landed in between: read again.
func (c *Client) landed(parent context.Context, project jit.ProjectID, batch []*grant, inFlight bool, timeout time.Duration) (landed []bool, known bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), timeout)
	defer cancel()
	resource := project.ResourceName()
	for {
		policy, err := c.crm.Projects.GetIamPolicy(resource, &cloudresourcemanager.GetIamPolicyRequest{
			Options: &cloudresourcemanager.GetPolicyOptions{RequestedPolicyVersion: 3},
		}).Context(ctx).Do()
		if err != nil {
			c.opts.Logger.ErrorContext(ctx, "reading back an IAM policy update whose answer was lost failed",
				slog.String("resource", resource), slog.Any("error", err))
			return nil, false
		}
		out := grantsIn(policy, batch)
		if !inFlight || !slices.Contains(out, false) {
			return out, true
		}
		policy.Version = 3
		call := c.crm.Projects.SetIamPolicy(resource, &cloudresourcemanager.SetIamPolicyRequest{Policy: policy, UpdateMask: "bindings,etag"}).Context(ctx)
		call.Header().Set("x-goog-request-reason", "jitaccess: no change, fencing off an earlier update whose answer was lost")
		_, err = call.Do()
		if err == nil {
			c.writes.Add(1)
			return out, true
		}
		if !isConflict(err) {
			c.opts.Logger.ErrorContext(ctx, "fencing off an IAM policy update whose answer was lost failed",
				slog.String("resource", resource), slog.Any("error", err))
			return nil, false
		}
	}
}

// grantsIn reports, per grant, whether all of its bindings are in policy.
func grantsIn(policy *cloudresourcemanager.Policy, batch []*grant) []bool {
	key := func(role, member, title, expr string) string {
		return role + "\x00" + strings.ToLower(member) + "\x00" + title + "\x00" + expr
	}
	present := map[string]bool{}
	for _, b := range policy.Bindings {
		if b != nil && b.Condition != nil && len(b.Members) == 1 {
			present[key(b.Role, b.Members[0], b.Condition.Title, b.Condition.Expression)] = true
		}
	}
	out := make([]bool, len(batch))
	for i, g := range batch {
		out[i] = true
		for _, a := range g.acts {
			expr := condition.ActivationExpression(a.Start, a.End, a.Entitlement.ResourceCondition)
			if !present[key(a.Entitlement.Role, a.Beneficiary.Member(), condition.ActivationTitle, expr)] {
				out[i] = false
			}
		}
	}
	return out
}

// requestReason is the x-goog-request-reason of a write, which Cloud
// Audit Logs show as the reason of the policy change: one caller's
// description, or, for a batch, who was granted what, so that no
// caller's justification stands for the others'.
func requestReason(batch []*grant) string {
	if len(batch) == 1 {
		return batch[0].acts[0].Description()
	}
	parts := make([]string, 0, len(batch))
	for _, g := range batch {
		for _, a := range g.acts {
			parts = append(parts, a.ID+" "+string(a.Beneficiary))
		}
	}
	return fmt.Sprintf("jitaccess: %d activations in one update: %s", len(parts), strings.Join(parts, ", "))
}

func (c *Client) write(ctx context.Context, project jit.ProjectID, acts []jit.Activation, reqs []jit.Requirement, reason string) error {
	// The policies of the folders and organization that hold eligible
	// bindings are read while the project's is.
	ancestors := c.readAncestors(ctx, project, reqs)
	return c.readModifyWrite(ctx, project, func(p *cloudresourcemanager.Policy) error {
		if err := confirmIn(project, p, ancestors, reqs); err != nil {
			return err
		}
		return applyActivations(p, acts, c.opts.Clock())
	}, reason)
}

// readModifyWrite applies modify to the project's current policy and
// writes it back with its etag, starting over when the etag is stale or
// Google answers with a retryable error. ctx bounds the whole cycle.
// When an error may hide a write that Google applied (its answer was
// lost), maybeApplied reports true for it.
func (c *Client) readModifyWrite(ctx context.Context, project jit.ProjectID, modify func(*cloudresourcemanager.Policy) error, reason string) error {
	return c.readModifyWriteUnsure(ctx, project, func(p *cloudresourcemanager.Policy, _ bool) error { return modify(p) }, reason)
}

// readModifyWriteUnsure is readModifyWrite whose modify also learns
// whether an earlier attempt's write may have been applied (its answer
// was lost), for decisions that must recognise their own write.
func (c *Client) readModifyWriteUnsure(ctx context.Context, project jit.ProjectID, modify func(*cloudresourcemanager.Policy, bool) error, reason string) error {
	const op = "iam.readModifyWrite"
	resource := project.ResourceName()
	backoff := c.opts.BaseBackoff
	unsure, inFlight := false, false
	fail := func(err error) error {
		if unsure {
			return &maybeAppliedError{err: err, inFlight: inFlight}
		}
		return err
	}
	for attempt := 1; ; attempt++ {
		err := c.tryOnce(ctx, resource, func(p *cloudresourcemanager.Policy) error { return modify(p, unsure) }, reason)
		if err == nil {
			return nil
		}
		var lost *lostAnswerError
		if errors.As(err, &lost) {
			unsure, inFlight = true, inFlight || lost.inFlight
			err = lost.err
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return fail(perm.err)
		}
		if !retryable(err) {
			return fail(translate(op, project, err))
		}
		if isConflict(err) {
			c.conflicts.Add(1)
		}
		wait := rand.N(backoff) + time.Millisecond //nolint:gosec // jitter needs no cryptographic randomness
		backoff = min(2*backoff, c.opts.MaxBackoff)
		c.opts.Logger.DebugContext(ctx, "retrying IAM policy update",
			slog.String("resource", resource), slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.Any("error", err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			if isConflict(err) {
				return fail(jit.E(op, jit.KindConflict, "Failed to update IAM bindings due to concurrent modifications, please try again", err))
			}
			return fail(translate(op, project, err))
		case <-t.C:
		}
		c.retries.Add(1)
	}
}

// maybeAppliedError marks a failure after a setIamPolicy call whose answer
// was lost: Google may have applied it, and (inFlight) may still do so.
type maybeAppliedError struct {
	err      error
	inFlight bool
}

func (e *maybeAppliedError) Error() string { return e.err.Error() }
func (e *maybeAppliedError) Unwrap() error { return e.err }

func maybeApplied(err error) (applied, inFlight bool) {
	var m *maybeAppliedError
	if errors.As(err, &m) {
		return true, m.inFlight
	}
	return false, false
}

// lostAnswerError is a setIamPolicy call whose outcome Google's answer
// does not tell: none came (inFlight: it may still be applied), or a 500.
type lostAnswerError struct {
	err      error
	inFlight bool
}

func (e *lostAnswerError) Error() string { return e.err.Error() }
func (e *lostAnswerError) Unwrap() error { return e.err }

// permanentError marks a failure of modify that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }

func (c *Client) tryOnce(ctx context.Context, resource string, modify func(*cloudresourcemanager.Policy) error, reason string) error {
	getCtx, cancel := context.WithTimeout(ctx, c.opts.ReadTimeout)
	policy, err := c.crm.Projects.GetIamPolicy(resource, &cloudresourcemanager.GetIamPolicyRequest{
		Options: &cloudresourcemanager.GetPolicyOptions{RequestedPolicyVersion: 3},
	}).Context(getCtx).Do()
	cancel()
	if err != nil {
		return fmt.Errorf("get IAM policy of %s: %w", resource, err)
	}
	// Conditions need version 3 on write, whatever version came back.
	policy.Version = 3
	if err := modify(policy); err != nil {
		return &permanentError{err: err}
	}
	setCtx, cancel := context.WithTimeout(ctx, c.opts.WriteTimeout)
	defer cancel()
	call := c.crm.Projects.SetIamPolicy(resource, &cloudresourcemanager.SetIamPolicyRequest{
		Policy: policy,
		// Only bindings change; auditConfigs and anything else stay as they are.
		UpdateMask: "bindings,etag",
	}).Context(setCtx)
	call.Header().Set("x-goog-request-reason", headerSafe(reason))
	if _, err := call.Do(); err != nil {
		err = fmt.Errorf("set IAM policy of %s: %w", resource, err)
		var g *googleapi.Error
		switch {
		case !errors.As(err, &g) || g.Code == http.StatusBadGateway || g.Code == http.StatusGatewayTimeout:
			// No answer (a timeout, a dropped connection), or a gateway
			// that gave up waiting: the call may still be on its way and
			// be applied later.
			return &lostAnswerError{err: err, inFlight: true}
		case g.Code == http.StatusInternalServerError:
			// An answer, but one that does not say whether the change was
			// made before the failure; the call itself is over.
			return &lostAnswerError{err: err}
		}
		// Any other answer is Google's decision, and means it did not.
		return err
	}
	c.writes.Add(1)
	return nil
}

// applyActivations changes policy in place: it drops activation bindings
// jitaccess wrote that have expired (anyone's) or that the new ones
// replace (same member, role and resource condition), appends the new
// bindings, and checks Google's limits before anything is sent.
func applyActivations(policy *cloudresourcemanager.Policy, acts []jit.Activation, now time.Time) error {
	const op = "iam.applyActivations"
	replaced := map[string][]jit.Activation{}
	for _, a := range acts {
		k := bindingKey(a.Entitlement.Role, a.Beneficiary.Member(), a.Entitlement.ResourceCondition)
		replaced[k] = append(replaced[k], a)
	}
	policy.Bindings = slices.DeleteFunc(policy.Bindings, func(b *cloudresourcemanager.Binding) bool {
		if b == nil || b.Condition == nil || len(b.Members) != 1 {
			// Never ours: we write exactly one member with a condition, and
			// removing a shared binding would drop other members.
			return false
		}
		if keep, handled := keepForRequest(b, now); handled {
			// An approval request's decision: see requests.go.
			return !keep
		}
		w, ok := condition.ParseActivation(b.Condition.Title, b.Condition.Expression)
		if !ok {
			return false
		}
		return w.Expired(now) || overlapsAny(w, replaced[bindingKey(b.Role, b.Members[0], w.ResourceCondition)])
	})
	// Within one write, the last activation for a member, role and resource
	// condition wins (two reviewers approving the same request at once).
	last := map[string]int{}
	for i, a := range acts {
		last[bindingKey(a.Entitlement.Role, a.Beneficiary.Member(), a.Entitlement.ResourceCondition)] = i
	}
	for i, a := range acts {
		if last[bindingKey(a.Entitlement.Role, a.Beneficiary.Member(), a.Entitlement.ResourceCondition)] != i {
			continue
		}
		policy.Bindings = append(policy.Bindings, &cloudresourcemanager.Binding{
			Role:    a.Entitlement.Role,
			Members: []string{a.Beneficiary.Member()},
			Condition: &cloudresourcemanager.Expr{
				Title:       condition.ActivationTitle,
				Description: truncate(a.Description(), maxDescription),
				Expression:  condition.ActivationExpression(a.Start, a.End, a.Entitlement.ResourceCondition),
			},
		})
	}
	return checkLimits(op, policy)
}

// overlapsAny reports whether w overlaps one of acts' windows: a new
// activation supersedes the member's overlapping one, while one that does
// not overlap (a scheduled activation for tomorrow, today's access) is
// kept.
func overlapsAny(w condition.Window, acts []jit.Activation) bool {
	for _, a := range acts {
		if w.Start.Before(a.End) && a.Start.Before(w.End) {
			return true
		}
	}
	return false
}

func bindingKey(role, member, resourceCondition string) string {
	return role + "\x00" + strings.ToLower(member) + "\x00" + resourceCondition
}

// checkLimits refuses a policy Google would refuse, with a message an
// administrator can act on, instead of Google's terse 400.
func checkLimits(op string, p *cloudresourcemanager.Policy) error {
	principals, groups := 0, 0
	conditional := map[string]int{}
	for _, b := range p.Bindings {
		for _, m := range b.Members {
			principals++
			if strings.HasPrefix(m, "group:") {
				groups++
			}
			if b.Condition != nil {
				conditional[b.Role+"\x00"+strings.ToLower(m)]++
			}
		}
	}
	if principals > maxPrincipals {
		return jit.E(op, jit.KindConflict, fmt.Sprintf(
			"The IAM policy is full: it would have %d principals, and Google Cloud allows at most %d. Ask an administrator to remove unused bindings.",
			principals, maxPrincipals), nil)
	}
	if groups > maxGroupPrincipals {
		return jit.E(op, jit.KindConflict, fmt.Sprintf(
			"The IAM policy is full: it would have %d group principals, and Google Cloud allows at most %d.", groups, maxGroupPrincipals), nil)
	}
	for k, n := range conditional {
		if n > maxConditionalPerRoleAnd {
			role, member, _ := strings.Cut(k, "\x00")
			return jit.E(op, jit.KindConflict, fmt.Sprintf(
				"The IAM policy already has %d conditional bindings of %s for %s; Google Cloud allows at most %d. Ask an administrator to remove unused ones.",
				n-1, role, member, maxConditionalPerRoleAnd), nil)
		}
	}
	return nil
}

func retryable(err error) bool {
	var g *googleapi.Error
	if errors.As(err, &g) {
		switch g.Code {
		case http.StatusConflict, http.StatusPreconditionFailed, http.StatusTooManyRequests,
			http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	// Per-call timeouts inside the overall budget are worth another try.
	return errors.Is(err, context.DeadlineExceeded)
}

func isConflict(err error) bool {
	var g *googleapi.Error
	return errors.As(err, &g) && (g.Code == http.StatusConflict || g.Code == http.StatusPreconditionFailed)
}

// translate turns a Resource Manager failure into a *jit.Error.
func translate(op string, project jit.ProjectID, err error) error {
	var g *googleapi.Error
	if !errors.As(err, &g) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return jit.E(op, jit.KindUnavailable, "Updating the IAM policy timed out, please try again", err)
		}
		return jit.E(op, jit.KindUpstream, "Updating the IAM policy failed", err)
	}
	switch g.Code {
	case http.StatusBadRequest:
		if strings.Contains(g.Message, "not supported") || strings.Contains(g.Message, "does not exist") {
			return jit.E(op, jit.KindDenied, "The role cannot be granted on a project", err)
		}
		return jit.E(op, jit.KindInvalid, "Google Cloud refused the IAM policy update: "+g.Message, err)
	case http.StatusUnauthorized:
		return jit.E(op, jit.KindUnavailable, "The application's credentials were refused by Google Cloud", err)
	case http.StatusForbidden:
		return jit.E(op, jit.KindDenied, fmt.Sprintf("Denied access to project '%s'", project), err)
	case http.StatusNotFound:
		return jit.E(op, jit.KindNotFound, fmt.Sprintf("The project '%s' does not exist", project), err)
	case http.StatusConflict, http.StatusPreconditionFailed:
		return jit.E(op, jit.KindConflict, "Failed to update IAM bindings due to concurrent modifications, please try again", err)
	case http.StatusTooManyRequests:
		return jit.E(op, jit.KindTooMany, "Google Cloud's IAM quota is exhausted, please try again later", err)
	}
	if g.Code >= 500 {
		return jit.E(op, jit.KindUpstream, "Google Cloud failed to update the IAM policy, please try again", err)
	}
	return jit.E(op, jit.KindUpstream, "Updating the IAM policy failed", err)
}

// headerSafe keeps a header value to printable ASCII-compatible text.
func headerSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return truncate(s, maxDescription)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
