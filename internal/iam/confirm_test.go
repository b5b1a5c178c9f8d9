package iam_test

import (
	"slices"
	"sync/atomic"

	"google.golang.org/api/cloudresourcemanager/v3"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/iam"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// dropMember removes member from the bindings of role on resource, as an
// administrator would.
func dropMember(t *testing.T, w *emulator.World, resource, role, member string) {
	t.Helper()
	p, ok := w.Policy(resource)
	if !ok {
		t.Fatalf("no policy for %s", resource)
	}
	for i, b := range p.Bindings {
		if b.Role == role {
			p.Bindings[i].Members = slices.DeleteFunc(slices.Clone(b.Members), func(m string) bool { return strings.EqualFold(m, member) })
		}
	}
	p.Bindings = slices.DeleteFunc(p.Bindings, func(b emulator.Binding) bool { return len(b.Members) == 0 })
	if _, err := w.SetIamPolicy(resource, p); err != nil {
		t.Fatal(err)
	}
}

func TestGrantConfirmedChecksTheLivePolicies(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		name     string
		user     jit.UserID
		ent      jit.Entitlement
		typ      jit.ActivationType
		grounds  []jit.Grounds
		revoke   func(t *testing.T, w *emulator.World)
		ancestor string // a policy read besides the project's
	}{
		{
			name: "direct_on_the_project", user: "dave@example.com", typ: jit.JIT,
			ent:     jit.Entitlement{Project: "prod-payments-db", Role: "roles/cloudsql.client"},
			grounds: []jit.Grounds{{Resource: "projects/prod-payments-db", Principals: []string{"user:dave@example.com"}}},
			revoke: func(t *testing.T, w *emulator.World) {
				dropMember(t, w, "projects/prod-payments-db", "roles/cloudsql.client", "user:dave@example.com")
			},
		},
		{
			name: "group_on_a_folder", user: "dave@example.com", typ: jit.JIT,
			ent:     jit.Entitlement{Project: "staging-web-frontend", Role: "roles/editor"},
			grounds: []jit.Grounds{{Resource: "folders/1002", Principals: []string{"group:developers@example.com"}}},
			revoke: func(t *testing.T, w *emulator.World) {
				dropMember(t, w, "folders/1002", "roles/editor", "group:developers@example.com")
			},
			ancestor: "cloudresourcemanager.folders.getIamPolicy",
		},
		{
			name: "group_on_the_project", user: "erin@example.com", typ: jit.MPA,
			ent:     jit.Entitlement{Project: "prod-payments-api", Role: "roles/run.developer"},
			grounds: []jit.Grounds{{Resource: "projects/prod-payments-api", Principals: []string{"group:payments-devs@example.com"}}},
			revoke: func(t *testing.T, w *emulator.World) {
				dropMember(t, w, "projects/prod-payments-api", "roles/run.developer", "group:payments-devs@example.com")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := emutest.Start(t)
			w := e.World
			c := newTestClient(t, e, iam.Options{})
			req := []jit.Requirement{{User: tt.user, Entitlement: tt.ent, Type: tt.typ, Grounds: tt.grounds}}
			act := activationFor(tt.user, tt.ent.Project, tt.ent.Role, now, time.Hour)
			reads := w.Faults.Calls("cloudresourcemanager.projects.getIamPolicy")
			ancestorReads := w.Faults.Calls(tt.ancestor)
			if err := c.Grant(t.Context(), []jit.Activation{act}, jit.Confirmation{Eligible: req}); err != nil {
				t.Fatalf("GrantConfirmed while eligible: %v", err)
			}
			if n := w.Faults.Calls("cloudresourcemanager.projects.getIamPolicy") - reads; n != 1 {
				t.Errorf("%d reads of the project's policy, want 1 (shared by the check and the write)", n)
			}
			if tt.ancestor != "" {
				if n := w.Faults.Calls(tt.ancestor) - ancestorReads; n != 1 {
					t.Errorf("%d reads of the folder's policy, want 1", n)
				}
			}
			tt.revoke(t, w)
			writes := w.TotalPolicyWrites()
			err := c.Grant(t.Context(), []jit.Activation{act}, jit.Confirmation{Eligible: req})
			if jit.KindOf(err) != jit.KindDenied || !strings.Contains(jit.MessageOf(err), "is not allowed to activate") {
				t.Errorf("GrantConfirmed after the eligible binding was removed: %v, want denied", err)
			}
			if n := w.TotalPolicyWrites() - writes; n != 0 {
				t.Errorf("%d writes after the eligibility was removed", n)
			}
		})
	}
}

// TestGrantConfirmedWithUnknownGroupNeedsThemAll: when the catalog knows
// only that the user is in one of several groups of a binding, the binding
// must still name every one of them.
func TestGrantConfirmedWithUnknownGroupNeedsThemAll(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	w := e.World
	c := newTestClient(t, e, iam.Options{})
	const resource = "projects/prod-payments-api"
	p, _ := w.Policy(resource)
	for i, b := range p.Bindings {
		if b.Role == "roles/run.developer" {
			p.Bindings[i].Members = append(slices.Clone(b.Members), "group:developers@example.com")
		}
	}
	if _, err := w.SetIamPolicy(resource, p); err != nil {
		t.Fatal(err)
	}
	ent := jit.Entitlement{Project: "prod-payments-api", Role: "roles/run.developer"}
	req := []jit.Requirement{{User: "erin@example.com", Entitlement: ent, Type: jit.MPA, Grounds: []jit.Grounds{{
		Resource: resource, Principals: []string{"group:developers@example.com", "group:payments-devs@example.com"},
	}}}}
	act := activationFor("erin@example.com", ent.Project, ent.Role, time.Now(), time.Hour)
	if err := c.Grant(t.Context(), []jit.Activation{act}, jit.Confirmation{Eligible: req}); err != nil {
		t.Fatalf("both groups still there: %v", err)
	}
	dropMember(t, w, resource, "roles/run.developer", "group:payments-devs@example.com")
	if err := c.Grant(t.Context(), []jit.Activation{act}, jit.Confirmation{Eligible: req}); jit.KindOf(err) != jit.KindDenied {
		t.Errorf("one of the groups removed: %v, want denied (the user may have been in that one)", err)
	}
}

func TestAWriteThatNothingConfirmsIsRefused(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	crm, err := cloudresourcemanager.NewService(t.Context(), e.HTTPClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	c := iam.New(crm, iam.Options{}) // as the app builds it
	const resource = "projects/prod-payments-db"
	before, _ := e.World.Policy(resource)
	act := activationFor("dave@example.com", "prod-payments-db", "roles/cloudsql.client", time.Now(), time.Hour)
	if err := c.Grant(t.Context(), []jit.Activation{act}, jit.Confirmation{}); jit.KindOf(err) != jit.KindInternal {
		t.Errorf("Grant without a confirmation: %v, want an internal error", err)
	}
	req := jit.ActivationRequest{ID: "mpa-test", Beneficiary: "dave@example.com", Entitlement: act.Entitlement, ApproveBy: time.Now().Add(time.Hour)}
	if _, err := c.Decide(t.Context(), req, jit.Confirmation{}, func(jit.RequestRecord) (jit.Decision, error) {
		return jit.Decision{Reject: "erin@example.com"}, nil
	}); jit.KindOf(err) != jit.KindInternal {
		t.Errorf("Decide without a confirmation: %v, want an internal error", err)
	}
	if err := c.Replace(t.Context(), jit.GrantRef{Resource: resource, Role: act.Entitlement.Role, Member: act.Beneficiary.Member()}, jit.Confirmation{}, func(jit.Grant) (jit.Activation, error) { return act, nil }); jit.KindOf(err) != jit.KindInternal {
		t.Errorf("Replace without a confirmation: %v, want an internal error", err)
	}
	if after, _ := e.World.Policy(resource); after.Etag != before.Etag {
		t.Errorf("the policy was written")
	}
}

// TestAMovedProjectNoLongerInheritsItsOldFolder: the Client remembers a
// project's ancestry, but a write checks each link that was not observed
// in the last few seconds live; after the project moves out of the folder
// that made the user eligible, the grounds that name that folder no
// longer count.
func TestAMovedProjectNoLongerInheritsItsOldFolder(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	w := e.World
	crm, err := cloudresourcemanager.NewService(t.Context(), e.HTTPClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	var later atomic.Int64 // how far the Client's clock is ahead
	c := iam.New(crm, iam.Options{Clock: func() time.Time { return time.Now().Add(time.Duration(later.Load())) }})
	ent := jit.Entitlement{Project: "staging-web-frontend", Role: "roles/editor"}
	conf := jit.Confirmation{Eligible: []jit.Requirement{{User: "dave@example.com", Entitlement: ent, Type: jit.JIT,
		Grounds: []jit.Grounds{{Resource: "folders/1002", Principals: []string{"group:developers@example.com"}}}}}}
	act := activationFor("dave@example.com", ent.Project, ent.Role, time.Now(), time.Hour)
	c.Prepare(t.Context(), jit.ScopeOf(ent), nil)
	if err := c.Grant(t.Context(), []jit.Activation{act}, conf); err != nil {
		t.Fatalf("eligible through folders/1002: %v", err)
	}
	folder, ok := w.Folder("folders/1002")
	if !ok {
		t.Fatal("no folders/1002")
	}
	p, ok := w.Project("staging-web-frontend")
	if !ok {
		t.Fatal("no staging-web-frontend")
	}
	org := folder.Parent
	for strings.HasPrefix(org, "folders/") {
		f, _ := w.Folder(org)
		org = f.Parent
	}
	p.Parent = org
	w.AddProject(p)
	later.Store(int64(time.Minute)) // the links observed by the first write are no longer fresh
	writes := w.TotalPolicyWrites()
	if err := c.Grant(t.Context(), []jit.Activation{act}, conf); jit.KindOf(err) != jit.KindDenied {
		t.Errorf("after the project left folders/1002: %v, want denied", err)
	}
	if n := w.TotalPolicyWrites() - writes; n != 0 {
		t.Errorf("%d policy writes", n)
	}
}

// TestAWithdrawalRestsOnItsRequester: a withdrawal is written only for the
// beneficiary the request names, and its confirmation allows nothing else
// (no grant, no approval or rejection); the record reads withdrawn, and is
// kept as the requester's rejection for earlier versions.
func TestAWithdrawalRestsOnItsRequester(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	crm, err := cloudresourcemanager.NewService(t.Context(), e.HTTPClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	c := iam.New(crm, iam.Options{}) // as the app builds it
	const resource = "projects/prod-payments-api"
	now := time.Now().UTC().Truncate(time.Second)
	ent := jit.Entitlement{Project: "prod-payments-api", Role: "roles/run.developer"}
	req := jit.ActivationRequest{ID: "mpa-withdrawn", Beneficiary: "erin@example.com", Reviewers: []jit.UserID{"dave@example.com"},
		Entitlement: ent, Duration: time.Hour, RequestedAt: now, ApproveBy: now.Add(time.Hour)}
	before, _ := e.World.Policy(resource)
	act := activationFor("erin@example.com", "prod-payments-api", "roles/run.developer", now, time.Hour)
	if err := c.Grant(t.Context(), []jit.Activation{act}, jit.Confirmation{Requester: "erin@example.com"}); jit.KindOf(err) != jit.KindInternal {
		t.Errorf("a grant resting on a requester: %v, want an internal error", err)
	}
	decide := func(conf jit.Confirmation, d jit.Decision) error {
		_, err := c.Decide(t.Context(), req, conf, func(jit.RequestRecord) (jit.Decision, error) { return d, nil })
		return err
	}
	if err := decide(jit.Confirmation{Requester: "dave@example.com"}, jit.Decision{Withdraw: "dave@example.com"}); jit.KindOf(err) != jit.KindDenied {
		t.Errorf("a withdrawal by someone else: %v, want denied", err)
	}
	for name, d := range map[string]jit.Decision{
		"reject":  {Reject: "erin@example.com"},
		"approve": {Approve: "erin@example.com", Grant: &act},
		"both":    {Withdraw: "erin@example.com", Reject: "erin@example.com"},
		"other":   {Withdraw: "dave@example.com"},
	} {
		if err := decide(jit.Confirmation{Requester: "erin@example.com"}, d); jit.KindOf(err) != jit.KindInternal {
			t.Errorf("%s resting on the requester: %v, want an internal error", name, err)
		}
	}
	if after, _ := e.World.Policy(resource); after.Etag != before.Etag {
		t.Fatalf("a refused decision wrote the policy")
	}

	if err := decide(jit.Confirmation{Requester: "erin@example.com"}, jit.Decision{Withdraw: "erin@example.com"}); err != nil {
		t.Fatalf("withdrawal: %v", err)
	}
	rec, err := c.RequestRecord(t.Context(), req)
	if err != nil || !rec.Withdrawn || rec.RejectedBy != "" || !rec.Decided() {
		t.Errorf("RequestRecord = %+v, %v", rec, err)
	}
	after, _ := e.World.Policy(resource)
	found := false
	for _, b := range after.Bindings {
		if b.Condition != nil && condition.IsRecord(b.Condition.Title, b.Condition.Expression) {
			found = b.Condition.Description == "request mpa-withdrawn until "+req.ApproveBy.Format(time.RFC3339)+"; rejected by erin@example.com"
		}
	}
	if !found {
		t.Errorf("no record binding for the withdrawal in %+v", after.Bindings)
	}
}
