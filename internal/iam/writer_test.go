package iam_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/option"

	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/iam"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// requestFor is an approval request of role on project by user, which one
// approval grants.
func requestFor(user jit.UserID, project jit.ProjectID, role string, now time.Time) jit.ActivationRequest {
	return jit.ActivationRequest{ID: "mpa-" + strings.ReplaceAll(strings.Split(string(user), "@")[0], ".", "-"), Beneficiary: user,
		Reviewers: []jit.UserID{"dave@example.com"}, Entitlement: jit.Entitlement{Project: project, Role: role},
		Justification: "CHG-7 private", Duration: time.Hour, RequestedAt: now, ApproveBy: now.Add(time.Hour)}
}

// approve is dave's approval of req as the activation use case decides
// it: grant unless the record says it is decided, and recognise its own
// earlier decision when the record is Unconfirmed.
func approve(req jit.ActivationRequest, now time.Time, calls *atomic.Int64) func(jit.RequestRecord) (jit.Decision, error) {
	return func(rec jit.RequestRecord) (jit.Decision, error) {
		n := calls.Add(1)
		if rec.Unconfirmed && n > 1 && rec.Granted != nil && rec.Granted.Approver == "dave@example.com" {
			return jit.Decision{Landed: true}, nil
		}
		if rec.Granted != nil {
			return jit.Decision{}, jit.E("test", jit.KindConflict, "already approved", nil)
		}
		a := jit.Activation{ID: req.ID, Type: jit.MPA, Beneficiary: req.Beneficiary, Entitlement: req.Entitlement,
			Justification: req.Justification, Approver: "dave@example.com", Start: now, End: now.Add(time.Hour)}
		return jit.Decision{Approve: "dave@example.com", Grant: &a}, nil
	}
}

// TestGrantsAndDecisionsShareOneWrite: self-activations and approvals that
// wait for the same project's policy are written together, in one
// read-modify-write, with a request reason that names every one of them
// and nobody's justification; in one instance they never fight each other
// for the etag.
func TestGrantsAndDecisionsShareOneWrite(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	c := newTestClient(t, e, iam.Options{})
	e.World.Faults.Set("cloudresourcemanager.projects.getIamPolicy", emulator.Fault{Latency: 200 * time.Millisecond})
	const project, resource = "dev-playground", "projects/dev-playground"
	now := time.Now().UTC().Truncate(time.Second)
	writesBefore := e.World.PolicyWrites(resource)
	var wg sync.WaitGroup
	// The first grant occupies the writer; what arrives meanwhile shares
	// the next write.
	wg.Go(func() {
		if err := c.Grant(t.Context(), []jit.Activation{activationFor("first@example.com", project, "roles/editor", now, time.Hour)}, jit.Confirmation{}); err != nil {
			t.Errorf("first grant: %v", err)
		}
	})
	for e.World.Faults.Calls("cloudresourcemanager.projects.getIamPolicy") == 0 {
		time.Sleep(time.Millisecond)
	}
	const n = 4
	grants := make([]jit.Activation, n)
	reqs := make([]jit.ActivationRequest, n)
	for i := range n {
		grants[i] = activationFor(jit.UserID(fmt.Sprintf("self%d@example.com", i)), project, "roles/editor", now, time.Hour)
		grants[i].ID = fmt.Sprintf("jit-self-%d", i)
		grants[i].Justification = "INC-9 private"
		reqs[i] = requestFor(jit.UserID(fmt.Sprintf("peer%d@example.com", i)), project, "roles/viewer", now)
		wg.Go(func() {
			if err := c.Grant(t.Context(), []jit.Activation{grants[i]}, jit.Confirmation{}); err != nil {
				t.Errorf("grant %d: %v", i, err)
			}
		})
		wg.Go(func() {
			var calls atomic.Int64
			rec, err := c.Decide(t.Context(), reqs[i], jit.Confirmation{}, approve(reqs[i], now, &calls))
			if err != nil || rec.Granted == nil {
				t.Errorf("decision %d: %+v, %v", i, rec, err)
			}
		})
	}
	wg.Wait()
	for i := range n {
		if !hasBinding(t, e, grants[i]) {
			t.Errorf("grant %d is not in the policy", i)
		}
		rec, err := c.RequestRecord(t.Context(), reqs[i])
		if err != nil || rec.Granted == nil {
			t.Errorf("request %d: %+v, %v", i, rec, err)
		}
	}
	st := c.Stats()
	writes := e.World.PolicyWrites(resource) - writesBefore
	if st.Mixed == 0 || st.Batched == 0 || st.BatchedDecisions == 0 {
		t.Errorf("no write carried both grants and decisions: %+v", st)
	}
	if st.Conflicts != 0 {
		t.Errorf("%d etag conflicts in one instance: its grants and decisions raced each other", st.Conflicts)
	}
	if writes >= 1+2*n {
		t.Errorf("%d policy writes for 1 + %d grants and %d decisions: none shared", writes, n, n)
	}
	var mixed string
	// The first write is the first grant's alone, with its own reason.
	reasons := e.World.RequestReasons(resource)
	if len(reasons) < 2 {
		t.Fatalf("reasons = %q", reasons)
	}
	for _, r := range reasons[1:] {
		if strings.Contains(r, "INC-") || strings.Contains(r, "CHG-") {
			t.Errorf("a shared write's reason carries a justification: %q", r)
		}
		if strings.Contains(r, "activations and") {
			mixed = r
		}
	}
	if !strings.Contains(mixed, "approval request decisions in one update") || !strings.Contains(mixed, "jit-self-") || !strings.Contains(mixed, "request mpa-peer") {
		t.Errorf("no reason names the grants and decisions of the shared write: %q", e.World.RequestReasons(resource))
	}
	t.Logf("1 + %d grants and %d decisions: %d policy writes, %+v", n, n, writes, st)
}

// TestAStreamOfGrantsDoesNotHoldBackDecisions: while self-activations keep
// arriving on a project, one after the other without a pause, an approval
// on the same project is written with the next batch: it is answered
// while the stream still runs, and no write is lost to the etag between
// them (a second writer for decisions had to win the etag against the
// grants' writer, and under load lost every time).
func TestAStreamOfGrantsDoesNotHoldBackDecisions(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	c := newTestClient(t, e, iam.Options{})
	e.World.Faults.Set("cloudresourcemanager.projects.setIamPolicy", emulator.Fault{Latency: 20 * time.Millisecond})
	const project, streamers, each = "dev-playground", 4, 25
	now := time.Now().UTC().Truncate(time.Second)
	var decided atomic.Bool
	var streamed atomic.Int64
	var wg sync.WaitGroup
	for k := range streamers {
		wg.Go(func() {
			for i := 0; i < each && !decided.Load(); i++ {
				a := activationFor(jit.UserID(fmt.Sprintf("s%d-%02d@example.com", k, i)), project, "roles/editor", now, time.Hour)
				if err := c.Grant(t.Context(), []jit.Activation{a}, jit.Confirmation{}); err != nil {
					t.Errorf("stream grant %d/%d: %v", k, i, err)
				}
				streamed.Add(1)
			}
		})
	}
	// The decision arrives once the stream is under way.
	for e.World.Faults.Calls("cloudresourcemanager.projects.setIamPolicy") < 2 {
		time.Sleep(time.Millisecond)
	}
	req := requestFor("erin@example.com", project, "roles/viewer", now)
	var calls atomic.Int64
	rec, err := c.Decide(t.Context(), req, jit.Confirmation{}, approve(req, now, &calls))
	decided.Store(true)
	wg.Wait()
	if err != nil || rec.Granted == nil {
		t.Fatalf("Decide during a stream of grants: %+v, %v", rec, err)
	}
	if n := streamed.Load(); n >= streamers*each {
		t.Errorf("the decision was answered only after all %d grants of the stream", n)
	}
	if st := c.Stats(); st.Conflicts != 0 || calls.Load() != 1 {
		t.Errorf("%d etag conflicts, decision read %d times: grants and decisions of one instance raced for the etag", st.Conflicts, calls.Load())
	}
}

// TestAQueuedDecisionIsWithdrawnWhenItsCallerGivesUp: a decision still
// waiting for the writer when its caller's context ends is never
// decided nor written, and its caller is told so.
func TestAQueuedDecisionIsWithdrawnWhenItsCallerGivesUp(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	c := newTestClient(t, e, iam.Options{})
	e.World.Faults.Set("cloudresourcemanager.projects.getIamPolicy", emulator.Fault{Latency: 300 * time.Millisecond})
	const project = "dev-playground"
	now := time.Now().UTC().Truncate(time.Second)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := c.Grant(t.Context(), []jit.Activation{activationFor("first@example.com", project, "roles/editor", now, time.Hour)}, jit.Confirmation{}); err != nil {
			t.Errorf("first grant: %v", err)
		}
	})
	for e.World.Faults.Calls("cloudresourcemanager.projects.getIamPolicy") == 0 {
		time.Sleep(time.Millisecond)
	}
	req := requestFor("erin@example.com", project, "roles/viewer", now)
	var calls atomic.Int64
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := c.Decide(ctx, req, jit.Confirmation{}, approve(req, now, &calls))
	wg.Wait()
	if jit.KindOf(err) != jit.KindUnavailable || !strings.Contains(jit.MessageOf(err), "timed out") {
		t.Errorf("Decide after its caller gave up = %v, want a time-out", err)
	}
	if calls.Load() != 0 {
		t.Errorf("the withdrawn decision was decided %d times", calls.Load())
	}
	if rec, err := c.RequestRecord(t.Context(), req); err != nil || rec.Decided() {
		t.Errorf("record after a withdrawn decision: %+v, %v", rec, err)
	}
}

// loseMixed passes every call on to the emulator, but answers 500 to the
// first setIamPolicy that carries both grants and decisions, after the
// emulator applied it.
type loseMixed struct {
	next http.RoundTripper
	lost atomic.Bool
}

func (l *loseMixed) RoundTrip(r *http.Request) (*http.Response, error) {
	mixed := strings.Contains(r.Header.Get("x-goog-request-reason"), "activations and")
	resp, err := l.next.RoundTrip(r)
	if err != nil || !mixed || !l.lost.CompareAndSwap(false, true) {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return &http.Response{StatusCode: 500, Header: http.Header{"Content-Type": {"application/json"}}, Request: r,
		Body: io.NopCloser(strings.NewReader(`{"error":{"code":500,"message":"lost"}}`))}, nil
}

// TestASharedWriteWhoseAnswerWasLost: the write a grant and a decision
// share is applied, but its answer is lost. The next attempt finds both
// in the policy: each caller is told it succeeded, the decision counts as
// its own (not "already approved"), and nothing is written twice.
func TestASharedWriteWhoseAnswerWasLost(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	lose := &loseMixed{next: http.DefaultTransport}
	crm, err := cloudresourcemanager.NewService(t.Context(), append(e.HTTPClientOptions(), option.WithHTTPClient(&http.Client{Transport: lose}))...)
	if err != nil {
		t.Fatal(err)
	}
	c := iam.New(crm, iam.Options{BaseBackoff: time.Millisecond, Unconfirmed: true})
	e.World.Faults.Set("cloudresourcemanager.projects.getIamPolicy", emulator.Fault{Latency: 200 * time.Millisecond})
	const project, resource = "prod-payments-api", "projects/prod-payments-api"
	now := time.Now().UTC().Truncate(time.Second)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := c.Grant(t.Context(), []jit.Activation{activationFor("first@example.com", project, "roles/editor", now, time.Hour)}, jit.Confirmation{}); err != nil {
			t.Errorf("first grant: %v", err)
		}
	})
	for e.World.Faults.Calls("cloudresourcemanager.projects.getIamPolicy") == 0 {
		time.Sleep(time.Millisecond)
	}
	writesBefore := e.World.PolicyWrites(resource)
	g := activationFor("self@example.com", project, "roles/editor", now, time.Hour)
	req := requestFor("erin@example.com", project, "roles/run.developer", now)
	var calls atomic.Int64
	var grantErr, decideErr error
	var rec jit.RequestRecord
	wg.Go(func() { grantErr = c.Grant(t.Context(), []jit.Activation{g}, jit.Confirmation{}) })
	wg.Go(func() { rec, decideErr = c.Decide(t.Context(), req, jit.Confirmation{}, approve(req, now, &calls)) })
	wg.Wait()
	if !lose.lost.Load() {
		t.Fatal("the grant and the decision did not share a write")
	}
	if grantErr != nil || !hasBinding(t, e, g) {
		t.Errorf("grant: %v, binding written %v", grantErr, hasBinding(t, e, g))
	}
	if decideErr != nil || rec.Granted == nil || rec.Granted.Approver != "dave@example.com" || calls.Load() != 2 {
		t.Errorf("decision: %+v, %v after %d reads", rec, decideErr, calls.Load())
	}
	members := map[string]int{}
	for _, b := range emutest.Activations(t, e.World, resource) {
		members[b.Members[0]+" "+b.Role]++
	}
	if members["user:self@example.com roles/editor"] != 1 || members["user:erin@example.com roles/run.developer"] != 1 {
		t.Errorf("activation bindings %v, want one each", members)
	}
	// The first grant's write may or may not have been taken before the
	// others arrived; the lost write is never written again.
	if n := e.World.PolicyWrites(resource) - writesBefore; n > 2 {
		t.Errorf("%d policy writes after the first grant's, want the lost one (and at most the first's)", n)
	}
}

// TestADecisionWhoseWriteOutlivesItsBudgetClaimsNoOutcome: a decision
// whose every setIamPolicy is slower than the write timeout may still be
// applied by Google after the app stopped waiting; its caller must not be
// told that it failed, only that Google did not confirm it.
func TestADecisionWhoseWriteOutlivesItsBudgetClaimsNoOutcome(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	c := newTestClient(t, e, iam.Options{RetryBudget: time.Second, WriteTimeout: 300 * time.Millisecond, BaseBackoff: 10 * time.Millisecond})
	e.World.Faults.Set("cloudresourcemanager.projects.setIamPolicy", emulator.Fault{Latency: 2 * time.Second})
	now := time.Now().UTC().Truncate(time.Second)
	req := requestFor("erin@example.com", "shared-ci-cd", "roles/viewer", now)
	var calls atomic.Int64
	rec, err := c.Decide(t.Context(), req, jit.Confirmation{}, approve(req, now, &calls))
	if err == nil {
		// Possible on a slow machine only if a write did land: then the
		// record must say so.
		if rec.Granted == nil {
			t.Fatalf("Decide = %+v without an error or a grant", rec)
		}
		return
	}
	if jit.KindOf(err) != jit.KindUnavailable || !strings.Contains(jit.MessageOf(err), "did not confirm") {
		t.Errorf("a decision whose write got no answer answered %v (%q), which claims to know its outcome", err, jit.MessageOf(err))
	}
	t.Logf("answer: %s (decided %d times)", jit.MessageOf(err), calls.Load())
}
