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
// Concurrent grants on the same project are committed together: the first
// caller writes, and every grant that arrives while it writes joins the
// next write. Under a burst this turns N contending read-modify-writes
// (each of which loses to the others and starts over) into a few writes,
// and it keeps the etag retries for what they are for, writers in other
// instances.
type Client struct {
	crm  *cloudresourcemanager.Service
	opts Options

	mu     sync.Mutex
	queues map[jit.ProjectID]*queue

	writes, conflicts, retries, batched atomic.Int64
}

// queue holds the grants waiting for a project's next write.
type queue struct {
	pending []*grant
	running bool
}

type grant struct {
	acts []jit.Activation
	done chan error
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

// Grant writes the activations, which must all be for one project and one
// beneficiary, in a single read-modify-write of the project's policy.
//
// Errors are *jit.Error: KindInvalid for activations that cannot be
// written (mixed projects, a role not grantable on projects, a full
// policy), KindConflict when concurrent writers kept winning past the
// retry budget, KindDenied/KindNotFound for permission or project
// problems, KindTooMany, KindUpstream or KindUnavailable for Google-side
// failures.
func (c *Client) Grant(ctx context.Context, acts []jit.Activation) error {
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
	g := &grant{acts: acts, done: make(chan error, 1)}
	c.mu.Lock()
	q := c.queues[project]
	if q == nil {
		q = &queue{}
		c.queues[project] = q
	}
	q.pending = append(q.pending, g)
	lead := !q.running
	q.running = true
	c.mu.Unlock()
	if lead {
		// The write outlives this caller's cancellation: others wait on it.
		c.drain(context.WithoutCancel(ctx), project, q)
	}
	select {
	case err := <-g.done:
		return err
	case <-ctx.Done():
		return jit.E(op, jit.KindUnavailable, "Updating the IAM policy timed out, please try again", ctx.Err())
	}
}

// drain writes the project's pending grants, batch after batch, until none
// are left.
func (c *Client) drain(ctx context.Context, project jit.ProjectID, q *queue) {
	for {
		c.mu.Lock()
		batch := q.pending
		q.pending = nil
		if len(batch) == 0 {
			q.running = false
			delete(c.queues, project)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.writeBatch(ctx, project, batch)
	}
}

// writeBatch writes a batch in one read-modify-write. If the batch as a
// whole cannot be written (say one grant would overfill the policy), each
// grant is tried alone, so that one bad grant fails only its own caller.
func (c *Client) writeBatch(ctx context.Context, project jit.ProjectID, batch []*grant) {
	var all []jit.Activation
	for _, g := range batch {
		all = append(all, g.acts...)
	}
	err := c.write(ctx, project, all)
	if err == nil || len(batch) == 1 || jit.KindOf(err) != jit.KindConflict {
		if len(batch) > 1 {
			c.batched.Add(int64(len(batch)))
		}
		for _, g := range batch {
			g.done <- err
		}
		return
	}
	for _, g := range batch {
		g.done <- c.write(ctx, project, g.acts)
	}
}

func (c *Client) write(ctx context.Context, project jit.ProjectID, acts []jit.Activation) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.RetryBudget)
	defer cancel()
	return c.readModifyWrite(ctx, project, func(p *cloudresourcemanager.Policy) error {
		return applyActivations(p, acts, c.opts.Clock())
	}, acts[0].Description())
}

// readModifyWrite applies modify to the project's current policy and
// writes it back with its etag, starting over when the etag is stale or
// Google answers with a retryable error.
func (c *Client) readModifyWrite(ctx context.Context, project jit.ProjectID, modify func(*cloudresourcemanager.Policy) error, reason string) error {
	const op = "iam.readModifyWrite"
	resource := project.ResourceName()
	backoff := c.opts.BaseBackoff
	for attempt := 1; ; attempt++ {
		err := c.tryOnce(ctx, resource, modify, reason)
		if err == nil {
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return perm.err
		}
		if !retryable(err) {
			return translate(op, project, err)
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
				return jit.E(op, jit.KindConflict, "Failed to update IAM bindings due to concurrent modifications, please try again", err)
			}
			return translate(op, project, err)
		case <-t.C:
		}
		c.retries.Add(1)
	}
}

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
		return fmt.Errorf("set IAM policy of %s: %w", resource, err)
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
