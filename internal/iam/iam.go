// Package iam writes activation bindings and approval decisions into the
// IAM policies of projects, folders and organizations through the Resource
// Manager v3 API. Every write is a read-modify-write at policy version 3
// guarded by the policy's etag, retried with jittered exponential backoff
// when someone else wrote first, so no other binding is ever lost; the
// writes one instance makes to one policy go through one writer, which
// commits them together (see Client). The same write sweeps expired
// activation bindings that jitaccess itself wrote (recognised by parsing
// their condition, not by their description), and never touches any other
// binding or member.
package iam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"google.golang.org/api/cloudresourcemanager/v3"

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
	// Scope is RESOURCE_SCOPE ("organizations/O", "folders/F"): the
	// highest node whose policy a write confirms against; empty means up
	// to the organization.
	Scope string
	// Written, when set, is told after every grant, decision and change
	// of a binding whose access it changed (the beneficiary), whether or
	// not the write succeeded, since a failed write may still have
	// landed: internal/catalog's read cache forgets the user, so that they
	// see their access at once.
	Written func(user jit.UserID)
	// Unconfirmed lets Grant and Decide write without a confirmation. Only
	// tests of the writer's mechanics set it; the app never does, and an
	// architecture test holds it to that.
	Unconfirmed bool
}

// Stats counts what a Client did, for load tests and benchmarks.
type Stats struct {
	Writes    int64 // successful setIamPolicy calls
	Conflicts int64 // setIamPolicy calls refused for a stale etag
	Retries   int64 // read-modify-write cycles started again for any reason
	Batched   int64 // grants that shared a write with other grants or decisions
	// BatchedDecisions counts approval decisions that shared a write with
	// other decisions or grants, Mixed the writes that carried both.
	BatchedDecisions, Mixed int64
}

// Client writes activation bindings and approval decisions into IAM
// policies.
//
// Everything written to one project's (or folder's, or organization's)
// policy through one Client goes through one writer: a goroutine per busy
// resource takes every grant and every approval decision waiting at that
// moment and writes them in one read-modify-write: one getIamPolicy, each
// item applied and validated on its own, one setIamPolicy. Under a burst
// this turns N contending read-modify-writes (each of which loses to the
// others and starts over) into a few writes; since grants and decisions
// share the writer, neither kind can keep the other from its write (two
// writers per project in one instance would fight each other for the
// etag); and the etag retries are kept for what they are for, writers in
// other instances and people.
//
// Each caller's answer is true about its own item, within its own
// deadline:
//   - an item still waiting when its caller's context ends is withdrawn
//     and never written;
//   - an item being written is written under a deadline no later than its
//     caller's (the batch's is the earliest of its callers', less a
//     reserve for reading the outcome back), detached from cancellation,
//     so the caller waits for the real outcome: a client that hangs up
//     does not leave a binding the caller was told failed;
//   - an item that cannot be applied (a requirement that no longer holds,
//     a decision already made, a policy that would be full) fails only its
//     own caller, and the others are written;
//   - when Google's answer to a setIamPolicy call is lost (a timeout), the
//     next attempt recognises what landed, and when no attempt is left
//     the policy is read back, and fenced off with an unchanged write, to
//     learn whether each item landed;
//   - when a batch's write fails, its items are tried again in halves down
//     to single items, so one item Google refuses fails only its own
//     caller.
//
// The callers never write themselves, so the first caller does not wait
// for the items that arrive after it.
type Client struct {
	crm  *cloudresourcemanager.Service
	opts Options

	mu     sync.Mutex
	queues map[string]*queue // by resource name; a queue exists while its writer runs

	conds *conds

	hmu   sync.Mutex
	links map[string]link // remembered parents, see hierarchy.go

	writes, conflicts, retries, batched, batchedDecisions, mixed atomic.Int64
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
	return &Client{crm: crm, opts: opts, queues: map[string]*queue{}, conds: newConds(), links: map[string]link{}}
}

// Stats returns the counters since the Client was created.
func (c *Client) Stats() Stats {
	return Stats{Writes: c.writes.Load(), Conflicts: c.conflicts.Load(), Retries: c.retries.Load(), Batched: c.batched.Load(),
		BatchedDecisions: c.batchedDecisions.Load(), Mixed: c.mixed.Load()}
}

// Grant writes the activations, which must all be for one resource (a
// project, folder or organization) and one beneficiary, in a single
// read-modify-write of its policy, once conf holds in the live policies
// (confirm.go). A nil error means the bindings were written; any error
// means they were not, and will not be (see Client).
//
// Errors are *jit.Error: KindDenied when conf no longer holds; KindInvalid
// for activations that cannot be written (a role not grantable there, a
// full policy), KindConflict when concurrent writers kept winning past the
// retry budget, KindDenied/KindNotFound for permission or resource
// problems, KindTooMany, KindUpstream or KindUnavailable for Google-side
// failures and for a context that ended first.
func (c *Client) Grant(ctx context.Context, acts []jit.Activation, conf jit.Confirmation) error {
	const op = "iam.Grant"
	if len(acts) == 0 {
		return nil
	}
	if conf.Empty() && !c.opts.Unconfirmed {
		return errUnconfirmed(op)
	}
	resource, member := acts[0].Entitlement.Resource(), acts[0].Beneficiary.Member()
	for _, a := range acts {
		if a.Entitlement.Resource() != resource || a.Beneficiary.Member() != member {
			return jit.E(op, jit.KindInternal, "", errors.New("activations span several resources or beneficiaries"))
		}
		if !a.End.After(a.Start) {
			return jit.E(op, jit.KindInternal, "", fmt.Errorf("activation %s has an empty window", a.ID))
		}
	}
	defer c.written(acts[0].Beneficiary)
	_, err := c.submit(resource, &item{op: op, ctx: ctx, acts: acts, conf: conf})
	return err
}

// written tells Options.Written about user.
func (c *Client) written(user jit.UserID) {
	if c.opts.Written != nil {
		c.opts.Written(user)
	}
}

// applyActivations changes policy in place: it drops activation bindings
// jitaccess wrote that have expired (anyone's) or that the new ones
// replace (same member, role and resource condition), appends the new
// bindings, and checks Google's limits before anything is sent.
func applyActivations(m *conds, policy *cloudresourcemanager.Policy, acts []jit.Activation, now time.Time) error {
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
		if keep, handled := keepForRequest(m, b, now); handled {
			// An approval request's decision: see requests.go.
			return !keep
		}
		w, ok := m.activation(b.Condition.Title, b.Condition.Expression)
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
	if err := checkOneScheduled(m, policy, acts, now); err != nil {
		return err
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
