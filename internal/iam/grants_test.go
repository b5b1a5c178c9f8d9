package iam_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/option"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/iam"
	"github.com/jitaccess/jitaccess/internal/jit"
)

func addBindings(t *testing.T, w *emulator.World, resource string, bs ...emulator.Binding) {
	t.Helper()
	p, _ := w.Policy(resource)
	p.Version = 3
	p.Bindings = append(p.Bindings, bs...)
	if _, apiErr := w.SetIamPolicy(resource, p); apiErr != nil {
		t.Fatal(apiErr)
	}
}

// lookalike is a binding with the app's title and window that is not the
// app's: it has two members, so removing it would drop someone else.
func lookalike(role string, start, end time.Time, members ...string) emulator.Binding {
	return emulator.Binding{Role: role, Members: members, Condition: &emulator.Expr{
		Title: condition.ActivationTitle, Description: "Self-approved, justification: shared",
		Expression: condition.ActivationExpression(start, end, ""),
	}}
}

func expiredOwn(user, role string, i int) emulator.Binding {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
	return emulator.Binding{Role: role, Members: []string{"user:" + user}, Condition: &emulator.Expr{
		Title: condition.ActivationTitle, Description: "Self-approved, justification: old",
		Expression: condition.ActivationExpression(start, start.Add(time.Hour), ""),
	}}
}

func TestGrantsReadsOnlyTheAppsLiveBindings(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	e.World.SetIndexDelay(time.Hour) // irrelevant here: Grants reads live policies
	c := newTestClient(t, e, iam.Options{})
	now := time.Now().UTC().Truncate(time.Second)
	if err := c.Grant(t.Context(), []jit.Activation{activationFor("dave@example.com", "prod-payments-db", "roles/cloudsql.client", now, time.Hour)}, jit.Confirmation{}); err != nil {
		t.Fatal(err)
	}
	later := activationFor("dave@example.com", "prod-payments-db", "roles/cloudsql.client", now.Add(48*time.Hour), time.Hour)
	later.Approver = "erin@example.com"
	if err := c.Grant(t.Context(), []jit.Activation{later}, jit.Confirmation{}); err != nil {
		t.Fatal(err)
	}
	addBindings(t, e.World, "projects/prod-payments-db",
		lookalike("roles/cloudsql.client", now, now.Add(time.Hour), "user:dave@example.com", "user:erin@example.com"),
		expiredOwn("dave@example.com", "roles/cloudsql.client", 1))
	resources := []string{"projects/prod-payments-db", "projects/prod-data-warehouse", "projects/no-such-project", "folders/1001"}
	grants, failed, err := c.Grants(t.Context(), resources, "dave@example.com", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(grants) != 2 {
		t.Fatalf("grants = %+v, want today's and the scheduled one (not the foreign, shared or expired bindings)", grants)
	}
	if grants[0].Status(now) != jit.GrantActive || grants[1].Status(now) != jit.GrantScheduled || grants[1].Approver != "erin@example.com" ||
		grants[0].Justification != "INC-1" || grants[0].Remaining(now) != time.Hour {
		t.Errorf("grants = %+v", grants)
	}
	if _, ok := failed["projects/no-such-project"]; !ok || len(failed) != 1 {
		t.Errorf("failed = %v, want only the missing project", failed)
	}
	// Everyone's: erin has no binding of her own there, only the shared one.
	all, _, _ := c.Grants(t.Context(), resources[:1], "", now)
	if len(all) != 2 {
		t.Errorf("everyone's = %+v", all)
	}
}

func TestRevokeRemovesOnlyTheNamedBindingAndOnlyOnce(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	c := newTestClient(t, e, iam.Options{})
	const resource = "projects/prod-payments-db"
	now := time.Now().UTC().Truncate(time.Second)
	for _, u := range []jit.UserID{"dave@example.com", "erin@example.com"} {
		if err := c.Grant(t.Context(), []jit.Activation{activationFor(u, "prod-payments-db", "roles/cloudsql.client", now, time.Hour)}, jit.Confirmation{}); err != nil {
			t.Fatal(err)
		}
	}
	// Same role, title and window as dave's, but shared with erin.
	shared := lookalike("roles/cloudsql.client", now, now.Add(time.Hour), "user:dave@example.com", "user:erin@example.com")
	addBindings(t, e.World, resource, shared)
	grants, _, _ := c.Grants(t.Context(), []string{resource}, "dave@example.com", now)
	if len(grants) != 1 {
		t.Fatalf("grants = %+v", grants)
	}
	before := emutest.Others(t, e.World, resource)
	tampered := grants[0].Ref()
	tampered.Expression = strings.Replace(tampered.Expression, "request.time <", "request.time <=", 1)
	if _, err := c.Revoke(t.Context(), tampered); jit.KindOf(err) != jit.KindNotFound {
		t.Errorf("revoking a binding that does not exist: %v", err)
	}
	got, err := c.Revoke(t.Context(), grants[0].Ref())
	if err != nil || got.Beneficiary != "dave@example.com" {
		t.Fatalf("Revoke = %+v, %v", got, err)
	}
	p, _ := e.World.Policy(resource)
	var members [][]string
	for _, b := range p.Bindings {
		if b.Condition != nil && b.Condition.Title == condition.ActivationTitle {
			members = append(members, b.Members)
		}
	}
	if !slices.EqualFunc(members, [][]string{{"user:erin@example.com"}, {"user:dave@example.com", "user:erin@example.com"}}, slices.Equal) {
		t.Errorf("activation-titled bindings after revoking dave's: %v", members)
	}
	if after := emutest.Others(t, e.World, resource); !slices.Equal(before, after) {
		t.Error("other bindings changed")
	}
	writes := e.World.PolicyWrites(resource)
	if _, err := c.Revoke(t.Context(), grants[0].Ref()); jit.KindOf(err) != jit.KindNotFound {
		t.Errorf("revoking twice: %v", err)
	}
	if e.World.PolicyWrites(resource) != writes {
		t.Error("revoking twice wrote the policy")
	}
}

func TestReplaceSwapsTheWindowInOneWriteOnFoldersToo(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	c := newTestClient(t, e, iam.Options{})
	const resource = "folders/1001"
	now := time.Now().UTC().Truncate(time.Second)
	old := emulator.Binding{Role: "roles/logging.viewer", Members: []string{"user:alice@example.com"}, Condition: &emulator.Expr{
		Title: condition.ActivationTitle, Description: "Self-approved, justification: INC-3",
		Expression: condition.ActivationExpression(now.Add(-10*time.Minute), now.Add(20*time.Minute), ""),
	}}
	addBindings(t, e.World, resource, old, expiredOwn("bob@example.com", "roles/logging.viewer", 2))
	grants, _, err := c.Grants(t.Context(), []string{resource}, "alice@example.com", now)
	if err != nil || len(grants) != 1 {
		t.Fatalf("Grants = %+v, %v", grants, err)
	}
	act := jit.Activation{Type: jit.JIT, Beneficiary: "alice@example.com", Justification: "INC-3",
		Entitlement: jit.Entitlement{Role: "roles/logging.viewer"}, Start: grants[0].Start, End: now.Add(time.Hour)}
	writes := e.World.PolicyWrites(resource)
	if err := c.Replace(t.Context(), grants[0].Ref(), jit.Confirmation{}, func(jit.Grant) (jit.Activation, error) { return act, nil }); err != nil {
		t.Fatal(err)
	}
	acts := emutest.Activations(t, e.World, resource)
	if e.World.PolicyWrites(resource) != writes+1 || len(acts) != 1 ||
		acts[0].Condition.Expression != condition.ActivationExpression(grants[0].Start, now.Add(time.Hour), "") {
		t.Errorf("after Replace: %d writes, bindings %+v (bob's expired one should be swept)", e.World.PolicyWrites(resource)-writes, acts)
	}
	if err := c.Replace(t.Context(), grants[0].Ref(), jit.Confirmation{}, func(jit.Grant) (jit.Activation, error) { return act, nil }); jit.KindOf(err) != jit.KindNotFound {
		t.Errorf("replacing the replaced binding: %v", err)
	}
}

// TestPreflightSweepsThenRefusesNamingTheLimit: before any write would
// exceed Google's limits, the app's expired bindings are swept; when that
// is not enough, the write is refused with a message naming the limit,
// and nothing is written.
func TestPreflightSweepsThenRefusesNamingTheLimit(t *testing.T) {
	t.Parallel()
	const role = "roles/editor"
	conditional := func(i int) emulator.Binding {
		return emulator.Binding{Role: role, Members: []string{"user:grace@example.com"}, Condition: &emulator.Expr{
			Title: "Admin's temporary grant", Expression: fmt.Sprintf(`request.time < timestamp("2030-01-%02dT00:00:00Z")`, i+1),
		}}
	}
	principals := func(n int) emulator.Binding {
		b := emulator.Binding{Role: "roles/viewer"}
		for i := range n {
			b.Members = append(b.Members, fmt.Sprintf("user:u%d@example.com", i))
		}
		return b
	}
	for _, tc := range []struct {
		name     string
		bindings func() []emulator.Binding
		message  string // "" means the write succeeds after the sweep
	}{
		{"conditional_swept", func() []emulator.Binding {
			bs := []emulator.Binding{expiredOwn("grace@example.com", role, 1), expiredOwn("grace@example.com", role, 2)}
			for i := range 18 {
				bs = append(bs, conditional(i))
			}
			return bs
		}, ""},
		{"conditional_full", func() []emulator.Binding {
			// The sweep removes heidi's expired binding, which does not help.
			bs := []emulator.Binding{expiredOwn("heidi@example.com", role, 1)}
			for i := range 20 {
				bs = append(bs, conditional(i))
			}
			return bs
		}, "Google Cloud allows at most 20"},
		{"principals_swept", func() []emulator.Binding {
			return []emulator.Binding{principals(1497), expiredOwn("a@example.com", "roles/viewer", 1),
				expiredOwn("b@example.com", "roles/viewer", 2), expiredOwn("c@example.com", "roles/viewer", 3)}
		}, ""},
		{"principals_full", func() []emulator.Binding {
			// Swept to 1499, and this grant adds two.
			return []emulator.Binding{principals(1499), expiredOwn("a@example.com", "roles/viewer", 1)}
		}, "Google Cloud allows at most 1500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := emutest.Start(t)
			c := newTestClient(t, e, iam.Options{})
			const resource = "projects/staging-web-frontend"
			addBindings(t, e.World, resource, tc.bindings()...)
			writes := e.World.PolicyWrites(resource)
			err := c.Grant(t.Context(), []jit.Activation{
				activationFor("grace@example.com", "staging-web-frontend", role, time.Now(), time.Hour),
				activationFor("grace@example.com", "staging-web-frontend", "roles/browser", time.Now(), time.Hour),
			}, jit.Confirmation{})
			if tc.message == "" {
				if err != nil {
					t.Fatalf("Grant after the sweep: %v", err)
				}
				for _, b := range emutest.Activations(t, e.World, resource) {
					if w, _ := condition.ParseActivation(b.Condition.Title, b.Condition.Expression); w.Expired(time.Now()) {
						t.Errorf("expired binding kept: %+v", b)
					}
				}
				return
			}
			if jit.KindOf(err) != jit.KindConflict || !strings.Contains(jit.MessageOf(err), tc.message) {
				t.Fatalf("Grant on a full policy: %v, want a conflict naming %q", err, tc.message)
			}
			if e.World.PolicyWrites(resource) != writes {
				t.Error("the policy was written")
			}
		})
	}
}

// resetAfterApply forwards setIamPolicy calls but, for the first n, drops
// Google's answer: the change is applied and the caller sees an error,
// as when a connection breaks after the request was processed.
type resetAfterApply struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    int
}

func (l *resetAfterApply) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err != nil || !strings.HasSuffix(r.URL.Path, ":setIamPolicy") {
		return resp, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		return resp, err
	}
	l.n--
	_ = resp.Body.Close()
	return nil, errors.New("connection reset after the request was sent")
}

// TestALostAnswerIsResolvedByReadingThePolicy: an end or an extension
// whose setIamPolicy answer was lost, but which Google applied, is
// reported as done (the next read shows it), not as "already ended".
func TestALostAnswerIsResolvedByReadingThePolicy(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	lossy := &resetAfterApply{next: http.DefaultTransport}
	crm, err := cloudresourcemanager.NewService(t.Context(), append(e.HTTPClientOptions(), option.WithHTTPClient(&http.Client{Transport: lossy}))...)
	if err != nil {
		t.Fatal(err)
	}
	c := iam.New(crm, iam.Options{BaseBackoff: time.Millisecond, Unconfirmed: true})
	now := time.Now().UTC().Truncate(time.Second)
	for _, u := range []jit.UserID{"dave@example.com", "erin@example.com"} {
		if err := c.Grant(t.Context(), []jit.Activation{activationFor(u, "prod-payments-db", "roles/cloudsql.client", now, time.Hour)}, jit.Confirmation{}); err != nil {
			t.Fatal(err)
		}
	}
	grants, _, _ := c.Grants(t.Context(), []string{"projects/prod-payments-db"}, "", now)
	if len(grants) != 2 {
		t.Fatalf("grants = %+v", grants)
	}
	lossy.mu.Lock()
	lossy.n = 1
	lossy.mu.Unlock()
	if _, err := c.Revoke(t.Context(), grants[0].Ref()); err != nil {
		t.Errorf("Revoke with a lost answer: %v", err)
	}
	lossy.mu.Lock()
	lossy.n = 1
	lossy.mu.Unlock()
	act := activationFor(grants[1].Beneficiary, "prod-payments-db", "roles/cloudsql.client", grants[1].Start, 2*time.Hour)
	if err := c.Replace(t.Context(), grants[1].Ref(), jit.Confirmation{}, func(jit.Grant) (jit.Activation, error) { return act, nil }); err != nil {
		t.Errorf("Replace with a lost answer: %v", err)
	}
	acts := emutest.Activations(t, e.World, "projects/prod-payments-db")
	if len(acts) != 1 || acts[0].Members[0] != string(grants[1].Member) ||
		acts[0].Condition.Expression != condition.ActivationExpression(act.Start, act.End, "") {
		t.Errorf("bindings after both = %+v", acts)
	}
}
