package iam_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/iam"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// hasBinding reports whether a's exact binding is in the project's policy.
func hasBinding(t *testing.T, e *emulator.Emulator, a jit.Activation) bool {
	t.Helper()
	want := condition.ActivationExpression(a.Start, a.End, a.Entitlement.ResourceCondition)
	for _, b := range emutest.Activations(t, e.World, a.Entitlement.Project.ResourceName()) {
		if b.Role == a.Entitlement.Role && b.Members[0] == a.Beneficiary.Member() && b.Condition.Expression == want {
			return true
		}
	}
	return false
}

// TestTheFirstCallerDoesNotWaitForLaterGrants: while the first caller's
// grant is written, other callers keep granting, each one grant after the
// other, for as long as the first caller has not been answered. The first
// caller must be answered after its own write, not after the stream of
// later ones (the old leader drained every later batch before returning).
func TestTheFirstCallerDoesNotWaitForLaterGrants(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	c := newTestClient(t, e, iam.Options{})
	e.World.Faults.Set("cloudresourcemanager.projects.setIamPolicy", emulator.Fault{Latency: 20 * time.Millisecond})
	now := time.Now()
	const project, role, streamers, each = "dev-playground", "roles/editor", 4, 10
	var firstDone atomic.Bool
	var streamed atomic.Int64
	var wg sync.WaitGroup
	for k := range streamers {
		wg.Go(func() {
			// Streamer k starts once the k+1st write is under way, so that
			// the streamers fall into different writes and one of them
			// always has a grant waiting while another's is written.
			for e.World.Faults.Calls("cloudresourcemanager.projects.getIamPolicy") <= k && !firstDone.Load() {
				time.Sleep(time.Millisecond)
			}
			for n := 0; n < each && !firstDone.Load(); n++ {
				user := jit.UserID(fmt.Sprintf("stream%d-%02d@example.com", k, n))
				if err := c.Grant(t.Context(), []jit.Activation{activationFor(user, project, role, now, time.Hour)}, jit.Confirmation{}); err != nil {
					t.Errorf("stream grant %d/%d: %v", k, n, err)
				}
				streamed.Add(1)
			}
		})
	}
	first := activationFor("first@example.com", project, role, now, time.Hour)
	err := c.Grant(t.Context(), []jit.Activation{first}, jit.Confirmation{})
	firstDone.Store(true)
	if err != nil {
		t.Fatalf("first Grant: %v", err)
	}
	wg.Wait()
	if n := streamed.Load(); n >= streamers*each {
		t.Errorf("the first caller was answered only after all %d later grants were written", n)
	}
	if !hasBinding(t, e, first) {
		t.Errorf("the first grant is not in the policy")
	}
}

// TestEachCallerIsToldTheTruthAboutItsOwnGrant: writes are slow, and some
// callers give up long before a write could finish. Whatever each caller
// is told must be true of its own grant, now and later: nil ⇔ the binding
// exists.
func TestEachCallerIsToldTheTruthAboutItsOwnGrant(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	c := newTestClient(t, e, iam.Options{RetryBudget: time.Minute})
	e.World.Faults.Set("cloudresourcemanager.projects.setIamPolicy", emulator.Fault{Latency: 150 * time.Millisecond})
	now := time.Now()
	const project, role, n = "staging-payments-api", "roles/editor", 24
	acts := make([]jit.Activation, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		acts[i] = activationFor(jit.UserID(fmt.Sprintf("caller%02d@example.com", i)), project, role, now, time.Hour)
		wg.Go(func() {
			// A third of the callers cannot wait for any write; a third
			// may or may not; a third can wait for several.
			timeout := []time.Duration{30 * time.Millisecond, 200 * time.Millisecond, 30 * time.Second}[i%3]
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			errs[i] = c.Grant(ctx, []jit.Activation{acts[i]}, jit.Confirmation{})
		})
	}
	wg.Wait()
	// A grant queued behind everything else: once it is written, no
	// earlier grant can still be on its way.
	sentinel := activationFor("sentinel@example.com", project, role, now, time.Hour)
	if err := c.Grant(t.Context(), []jit.Activation{sentinel}, jit.Confirmation{}); err != nil {
		t.Fatalf("sentinel Grant: %v", err)
	}
	granted, refused := 0, 0
	for i := range n {
		has := hasBinding(t, e, acts[i])
		switch {
		case errs[i] == nil && !has:
			t.Errorf("caller %d was told granted, but has no binding", i)
		case errs[i] != nil && has:
			t.Errorf("caller %d was told %v, but the binding was written", i, errs[i])
		case errs[i] == nil:
			granted++
		default:
			refused++
		}
	}
	if granted == 0 {
		t.Errorf("nobody was granted, not even the callers who could wait 30 s")
	}
	// Usually some of the 30 ms callers are refused; when a lost write
	// lands after all, they are told so (a true answer, a little late).
	t.Logf("%d granted, %d refused", granted, refused)
}

// TestACancelledCallerWaitsForItsWriteOutcome: a caller whose request is
// cancelled (the client hung up) while its grant is being written learns
// the real outcome, not a "timed out" that the binding contradicts.
func TestACancelledCallerWaitsForItsWriteOutcome(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	c := newTestClient(t, e, iam.Options{})
	e.World.Faults.Set("cloudresourcemanager.projects.setIamPolicy", emulator.Fault{Latency: 100 * time.Millisecond})
	a := activationFor("hangup@example.com", "shared-ci-cd", "roles/cloudbuild.builds.editor", time.Now(), time.Hour)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for e.World.Faults.Calls("cloudresourcemanager.projects.setIamPolicy") == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	err := c.Grant(ctx, []jit.Activation{a}, jit.Confirmation{})
	if has := hasBinding(t, e, a); (err == nil) != has {
		t.Errorf("Grant = %v, binding written = %v", err, has)
	}
}

// TestOneBadGrantFailsOnlyItsOwnCaller: grants batched with one that
// Google refuses (a role that does not exist) are written; only the bad
// one fails, with its own error.
func TestOneBadGrantFailsOnlyItsOwnCaller(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	c := newTestClient(t, e, iam.Options{})
	e.World.Faults.Set("cloudresourcemanager.projects.getIamPolicy", emulator.Fault{Latency: 50 * time.Millisecond})
	now := time.Now()
	const project = "dev-playground"
	good := func(i int) jit.Activation {
		return activationFor(jit.UserID(fmt.Sprintf("good%02d@example.com", i)), project, "roles/editor", now, time.Hour)
	}
	bad := activationFor("bad@example.com", project, "roles/no such role", now, time.Hour)
	// The first grant occupies the writer; the rest queue up behind it and
	// share the next write.
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := c.Grant(t.Context(), []jit.Activation{good(0)}, jit.Confirmation{}); err != nil {
			t.Errorf("first grant: %v", err)
		}
	})
	for e.World.Faults.Calls("cloudresourcemanager.projects.getIamPolicy") == 0 {
		time.Sleep(time.Millisecond)
	}
	var badErr error
	wg.Go(func() { badErr = c.Grant(t.Context(), []jit.Activation{bad}, jit.Confirmation{}) })
	for i := 1; i <= 5; i++ {
		wg.Go(func() {
			if err := c.Grant(t.Context(), []jit.Activation{good(i)}, jit.Confirmation{}); err != nil {
				t.Errorf("good grant %d failed with the bad one: %v", i, err)
			}
		})
	}
	wg.Wait()
	if badErr == nil || !strings.Contains(jit.MessageOf(badErr), "cannot be granted") {
		t.Errorf("bad grant: %v (message %q)", badErr, jit.MessageOf(badErr))
	}
	for i := 0; i <= 5; i++ {
		if !hasBinding(t, e, good(i)) {
			t.Errorf("good grant %d is not in the policy", i)
		}
	}
}

// TestABatchedWriteDoesNotGiveOneUsersReason: the x-goog-request-reason of
// a write shared by several users names each activation, and carries no
// single user's justification.
func TestABatchedWriteDoesNotGiveOneUsersReason(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	c := newTestClient(t, e, iam.Options{})
	e.World.Faults.Set("cloudresourcemanager.projects.getIamPolicy", emulator.Fault{Latency: 50 * time.Millisecond})
	const project, resource = "dev-playground", "projects/dev-playground"
	now := time.Now()
	var wg sync.WaitGroup
	first := activationFor("first@example.com", project, "roles/editor", now, time.Hour)
	first.Justification = "INC-1 first user's secret reason"
	wg.Go(func() { _ = c.Grant(t.Context(), []jit.Activation{first}, jit.Confirmation{}) })
	for e.World.Faults.Calls("cloudresourcemanager.projects.getIamPolicy") == 0 {
		time.Sleep(time.Millisecond)
	}
	var acts []jit.Activation
	for i := range 4 {
		a := activationFor(jit.UserID(fmt.Sprintf("batched%d@example.com", i)), project, "roles/editor", now, time.Hour)
		a.ID = fmt.Sprintf("jit-batch-%d", i)
		a.Justification = fmt.Sprintf("INC-%d private", 100+i)
		acts = append(acts, a)
		wg.Go(func() {
			if err := c.Grant(t.Context(), []jit.Activation{a}, jit.Confirmation{}); err != nil {
				t.Errorf("Grant: %v", err)
			}
		})
	}
	wg.Wait()
	reasons := e.World.RequestReasons(resource)
	if len(reasons) == 0 || reasons[0] != first.Description() {
		t.Fatalf("reasons = %q, want the first, lone write to carry its own description", reasons)
	}
	for _, r := range reasons[1:] {
		if strings.Contains(r, "INC-") {
			t.Errorf("a batched write's reason carries a justification: %q", r)
		}
		for _, a := range acts {
			if strings.Contains(r, a.ID) != strings.Contains(r, string(a.Beneficiary)) {
				t.Errorf("reason %q names %s without its user or the other way round", r, a.ID)
			}
		}
	}
	if st := c.Stats(); st.Batched > 0 && len(reasons) > 1 && !strings.Contains(strings.Join(reasons[1:], " "), "activations in one update") {
		t.Errorf("batched writes (%d grants), but no reason lists them: %q", st.Batched, reasons)
	}
}
