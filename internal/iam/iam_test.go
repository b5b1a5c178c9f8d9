package iam_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/api/cloudresourcemanager/v3"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/iam"
	"github.com/jitaccess/jitaccess/internal/jit"
)

func newTestClient(t *testing.T, e *emulator.Emulator, opts iam.Options) *iam.Client {
	t.Helper()
	crm, err := cloudresourcemanager.NewService(t.Context(), e.HTTPClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	opts.Unconfirmed = true
	return iam.New(crm, opts)
}

func activationFor(user jit.UserID, project jit.ProjectID, role string, start time.Time, d time.Duration) jit.Activation {
	return jit.Activation{
		ID: "jit-test", Type: jit.JIT, Beneficiary: user, Justification: "INC-1",
		Entitlement: jit.Entitlement{Project: project, Role: role},
		Start:       start.UTC().Truncate(time.Second), End: start.UTC().Truncate(time.Second).Add(d),
	}
}

func TestGrantWritesTheOriginalsBindingAndSweepsOnlyExpiredOwnBindings(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	c := newTestClient(t, e, iam.Options{})
	const resource = "projects/prod-web-frontend"
	before := emutest.Others(t, e.World, resource)
	if n := len(emutest.Activations(t, e.World, resource)); n != 1 {
		t.Fatalf("the demo world has %d activation bindings on %s, want the expired one", n, resource)
	}
	now := time.Now()
	a := activationFor("alice@example.com", "prod-web-frontend", "roles/compute.instanceAdmin.v1", now, time.Hour)
	a.Entitlement.ResourceCondition = `resource.name.startsWith("projects/prod-web-frontend/zones/europe-west1-b/instances/")`
	if err := c.Grant(t.Context(), []jit.Activation{a}, jit.Confirmation{}); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	acts := emutest.Activations(t, e.World, resource)
	if len(acts) != 1 {
		t.Fatalf("got %d activation bindings, want only the new one (the expired one swept): %+v", len(acts), acts)
	}
	got := acts[0]
	want := emulator.Binding{Role: "roles/compute.instanceAdmin.v1", Members: []string{"user:alice@example.com"}, Condition: &emulator.Expr{
		Title:       "JIT access activation",
		Description: "Self-approved, justification: INC-1",
		Expression:  condition.ActivationExpression(a.Start, a.End, a.Entitlement.ResourceCondition),
	}}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("binding:\n got %s\nwant %s", gj, wj)
	}
	if after := emutest.Others(t, e.World, resource); !slices.Equal(before, after) {
		t.Errorf("other bindings changed:\nbefore %v\nafter  %v", before, after)
	}
}

func TestGrantReplacesTheSameMembersPreviousWindow(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	c := newTestClient(t, e, iam.Options{})
	now := time.Now()
	first := activationFor("dave@example.com", "prod-payments-db", "roles/cloudsql.client", now, time.Hour)
	second := activationFor("dave@example.com", "prod-payments-db", "roles/cloudsql.client", now, 2*time.Hour)
	other := activationFor("erin@example.com", "prod-payments-db", "roles/cloudsql.client", now, time.Hour)
	for _, a := range []jit.Activation{first, other, second} {
		if err := c.Grant(t.Context(), []jit.Activation{a}, jit.Confirmation{}); err != nil {
			t.Fatal(err)
		}
	}
	acts := emutest.Activations(t, e.World, "projects/prod-payments-db")
	if len(acts) != 2 {
		t.Fatalf("got %d activation bindings, want dave's latest and erin's: %+v", len(acts), acts)
	}
	for _, b := range acts {
		w, _ := condition.ParseActivation(b.Condition.Title, b.Condition.Expression)
		if b.Members[0] == "user:dave@example.com" && !w.End.Equal(second.End) {
			t.Errorf("dave's window ends %v, want the second activation's %v", w.End, second.End)
		}
	}
}

// TestConcurrentGrantsLoseNothing is the acceptance test of the etag
// protocol: 200 users activate on one project at once; every binding lands
// exactly once and nothing else changes.
func TestConcurrentGrantsLoseNothing(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	c := newTestClient(t, e, iam.Options{RetryBudget: 2 * time.Minute, BaseBackoff: 5 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	const resource = "projects/dev-playground"
	const n = 200
	before := emutest.Others(t, e.World, resource)
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			user := jit.UserID(fmt.Sprintf("user%03d@example.com", i))
			errs <- c.Grant(t.Context(), []jit.Activation{activationFor(user, "dev-playground", "roles/editor", now, time.Hour)}, jit.Confirmation{})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Grant: %v", err)
		}
	}
	members := map[string]int{}
	for _, b := range emutest.Activations(t, e.World, resource) {
		members[b.Members[0]]++
	}
	for i := range n {
		if m := fmt.Sprintf("user:user%03d@example.com", i); members[m] != 1 {
			t.Errorf("%s has %d activation bindings, want 1", m, members[m])
		}
	}
	if after := emutest.Others(t, e.World, resource); !slices.Equal(before, after) {
		t.Errorf("other bindings changed")
	}
	st := c.Stats()
	t.Logf("%d concurrent activations: %d policy writes (%d grants shared a write), %d etag conflicts retried, %d bindings lost",
		n, st.Writes, st.Batched, st.Conflicts, n-len(members))
}

// TestConcurrentClientsRetryEtagConflicts: two Clients stand for two
// instances of the app; their writes conflict on the etag and are retried.
func TestConcurrentClientsRetryEtagConflicts(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	opts := iam.Options{RetryBudget: time.Minute, BaseBackoff: 5 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
	clients := []*iam.Client{newTestClient(t, e, opts), newTestClient(t, e, opts), newTestClient(t, e, opts), newTestClient(t, e, opts)}
	const resource = "projects/staging-payments-api"
	e.World.Faults.Set("cloudresourcemanager.projects.getIamPolicy", emulator.Fault{Latency: 2 * time.Millisecond})
	before := emutest.Others(t, e.World, resource)
	const n = 40
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			user := jit.UserID(fmt.Sprintf("dev%02d@example.com", i))
			errs <- clients[i%len(clients)].Grant(t.Context(), []jit.Activation{activationFor(user, "staging-payments-api", "roles/editor", now, time.Hour)}, jit.Confirmation{})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Grant: %v", err)
		}
	}
	if got := len(emutest.Activations(t, e.World, resource)); got != n {
		t.Errorf("%d activation bindings, want %d", got, n)
	}
	if after := emutest.Others(t, e.World, resource); !slices.Equal(before, after) {
		t.Errorf("other bindings changed")
	}
	var conflicts int64
	for _, c := range clients {
		conflicts += c.Stats().Conflicts
	}
	t.Logf("%d grants from %d clients: %d etag conflicts retried, 0 lost", n, len(clients), conflicts)
}

func TestGrantRefusesAFullPolicyBeforeWriting(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	c := newTestClient(t, e, iam.Options{})
	const resource = "projects/staging-web-frontend"
	p, _ := e.World.Policy(resource)
	p.Version = 3
	for i := range 20 {
		p.Bindings = append(p.Bindings, emulator.Binding{Role: "roles/editor", Members: []string{"user:grace@example.com"}, Condition: &emulator.Expr{
			Title: "Admin's temporary grant", Expression: fmt.Sprintf(`request.time < timestamp("2030-01-%02dT00:00:00Z")`, i+1),
		}})
	}
	if _, apiErr := e.World.SetIamPolicy(resource, p); apiErr != nil {
		t.Fatal(apiErr)
	}
	writes := e.World.PolicyWrites(resource)
	err := c.Grant(t.Context(), []jit.Activation{activationFor("grace@example.com", "staging-web-frontend", "roles/editor", time.Now(), time.Hour)}, jit.Confirmation{})
	if jit.KindOf(err) != jit.KindConflict {
		t.Fatalf("Grant on a full policy: %v (kind %v), want KindConflict", err, jit.KindOf(err))
	}
	t.Logf("message: %s", jit.MessageOf(err))
	if got := e.World.PolicyWrites(resource); got != writes {
		t.Errorf("the policy was written %d times, want 0", got-writes)
	}
}

func TestGrantRetriesTransientFailuresAndMapsPermanentOnes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault emulator.Fault
		kind  jit.Kind
	}{
		{"unavailable_twice_then_ok", emulator.Fault{Code: http.StatusServiceUnavailable, Count: 2}, -1},
		{"quota_once_then_ok", emulator.Fault{Code: http.StatusTooManyRequests, Count: 1}, -1},
		{"denied", emulator.Fault{Code: http.StatusForbidden}, jit.KindDenied},
		{"always_unavailable", emulator.Fault{Code: http.StatusServiceUnavailable}, jit.KindUpstream},
		{"slow", emulator.Fault{Latency: 3 * time.Second}, jit.KindUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := emutest.Start(t)
			c := newTestClient(t, e, iam.Options{RetryBudget: time.Second, WriteTimeout: 500 * time.Millisecond, BaseBackoff: 10 * time.Millisecond})
			e.World.Faults.Set("cloudresourcemanager.projects.setIamPolicy", tc.fault)
			before, _ := e.World.Policy("projects/shared-ci-cd")
			err := c.Grant(t.Context(), []jit.Activation{activationFor("dave@example.com", "shared-ci-cd", "roles/cloudbuild.builds.editor", time.Now(), time.Hour)}, jit.Confirmation{})
			if tc.kind == -1 {
				if err != nil {
					t.Fatalf("Grant: %v", err)
				}
				return
			}
			if jit.KindOf(err) != tc.kind {
				t.Fatalf("Grant: %v (kind %v), want kind %v", err, jit.KindOf(err), tc.kind)
			}
			if tc.name == "slow" {
				// Google (and the emulator) may still apply a write the app
				// stopped waiting for: the answer must not claim it failed.
				if !strings.Contains(jit.MessageOf(err), "did not confirm") {
					t.Errorf("a lost write answered %q, which claims to know its outcome", jit.MessageOf(err))
				}
				return
			}
			if after, _ := e.World.Policy("projects/shared-ci-cd"); after.Etag != before.Etag {
				t.Errorf("the policy changed although the write failed")
			}
		})
	}
}

// TestAPolicyThatCannotBeReadIsNotReportedAsAFailedUpdate: when
// getIamPolicy fails, nothing was written, and the message (which the
// user, the audit log and the history show) says the policy could not be
// read, not that updating it failed.
func TestAPolicyThatCannotBeReadIsNotReportedAsAFailedUpdate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault emulator.Fault
		want  string
	}{
		{"always_unavailable", emulator.Fault{Code: http.StatusServiceUnavailable}, "Google Cloud failed to read the IAM policy"},
		{"bad_request", emulator.Fault{Code: http.StatusBadRequest}, "Google Cloud refused to read the IAM policy"},
		{"slow", emulator.Fault{Latency: 3 * time.Second}, "Reading the IAM policy timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := emutest.Start(t)
			c := newTestClient(t, e, iam.Options{RetryBudget: time.Second, ReadTimeout: 300 * time.Millisecond, BaseBackoff: 10 * time.Millisecond})
			e.World.Faults.Set("cloudresourcemanager.projects.getIamPolicy", tc.fault)
			err := c.Grant(t.Context(), []jit.Activation{activationFor("dave@example.com", "shared-ci-cd", "roles/cloudbuild.builds.editor", time.Now(), time.Hour)}, jit.Confirmation{})
			msg := jit.MessageOf(err)
			if err == nil || !strings.Contains(msg, tc.want) || strings.Contains(strings.ToLower(msg), "update") {
				t.Errorf("Grant = %v (message %q), want a message saying %q", err, msg, tc.want)
			}
		})
	}
}
