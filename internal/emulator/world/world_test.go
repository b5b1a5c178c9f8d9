package world

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func newTinyWorld(t *testing.T) *World {
	t.Helper()
	w := New(nil)
	w.AddOrganization(Organization{Name: "organizations/1", DisplayName: "example.com"})
	w.AddFolder(Folder{Name: "folders/2", Parent: "organizations/1"})
	w.AddFolder(Folder{Name: "folders/3", Parent: "folders/2"})
	w.AddProject(Project{ID: "proj-one", Number: 42, Parent: "folders/3"})
	return w
}

func condBinding(role, member, expr string) Binding {
	return Binding{Role: role, Members: []string{member}, Condition: &Expr{Title: "t", Expression: expr}}
}

func TestAncestorsAndLookup(t *testing.T) {
	t.Parallel()
	w := newTinyWorld(t)
	for _, name := range []string{"projects/proj-one", "projects/42"} {
		got, ok := w.Ancestors(name)
		if !ok {
			t.Fatalf("Ancestors(%s) not found", name)
		}
		want := []string{"projects/proj-one", "folders/3", "folders/2", "organizations/1"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Ancestors(%s) (-want +got):\n%s", name, diff)
		}
	}
	if _, ok := w.Ancestors("projects/nope"); ok {
		t.Error("Ancestors of a missing project")
	}
	if p, ok := w.Project("projects/42"); !ok || p.ID != "proj-one" || p.State != "ACTIVE" || p.CreateTime.IsZero() {
		t.Errorf("Project by number = %+v, %v", p, ok)
	}
}

func TestInitialPolicyHasStableEtag(t *testing.T) {
	t.Parallel()
	w := newTinyWorld(t)
	a, err := w.GetIamPolicy("projects/proj-one", 3)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := w.GetIamPolicy("projects/42", 1)
	if a.Etag == "" || a.Etag != b.Etag || a.Version != 1 || len(a.Bindings) != 0 {
		t.Errorf("initial policies %+v, %+v", a, b)
	}
	if _, err := w.GetIamPolicy("projects/nope", 3); err == nil || err.HTTPCode != http.StatusForbidden {
		t.Errorf("missing project = %v", err)
	}
}

func TestSetIamPolicySemantics(t *testing.T) {
	t.Parallel()
	const res = "projects/proj-one"
	cond := condBinding("roles/viewer", "user:a@example.com", `request.time < timestamp("2030-01-01T00:00:00Z")`)
	plain := Binding{Role: "roles/browser", Members: []string{"user:b@example.com"}}
	tests := []struct {
		name     string
		setup    []Policy // written first, blind
		write    func(cur Policy) Policy
		mask     []string
		wantCode int
	}{
		{"blind_write", nil, func(Policy) Policy { return Policy{Bindings: []Binding{plain}} }, nil, 0},
		{"etag_match", nil, func(cur Policy) Policy { cur.Bindings = []Binding{plain}; return cur }, nil, 0},
		{"stale_etag", nil, func(Policy) Policy { return Policy{Etag: "c3RhbGU=", Bindings: []Binding{plain}} }, nil, http.StatusConflict},
		{"conditional_needs_v3", nil, func(cur Policy) Policy { cur.Version = 1; cur.Bindings = []Binding{cond}; return cur }, nil, http.StatusBadRequest},
		{"conditional_v3", nil, func(cur Policy) Policy { cur.Version = 3; cur.Bindings = []Binding{cond}; return cur }, nil, 0},
		{
			"v1_with_etag_over_conditional_policy", []Policy{{Version: 3, Bindings: []Binding{cond}}},
			func(cur Policy) Policy { cur.Version = 1; cur.Bindings = []Binding{plain}; return cur }, nil, http.StatusBadRequest,
		},
		{
			"v1_blind_over_conditional_policy", []Policy{{Version: 3, Bindings: []Binding{cond}}},
			func(Policy) Policy { return Policy{Version: 1, Bindings: []Binding{plain}} }, nil, 0,
		},
		{
			"mask_audit_configs_keeps_conditional_bindings", []Policy{{Version: 3, Bindings: []Binding{cond}}},
			func(cur Policy) Policy { return Policy{Etag: cur.Etag, AuditConfigs: nil} }, []string{"auditConfigs"}, 0,
		},
		{"bad_mask", nil, func(cur Policy) Policy { return cur }, []string{"bindings", "owner"}, http.StatusBadRequest},
		{"bad_version", nil, func(cur Policy) Policy { cur.Version = 2; return cur }, nil, http.StatusBadRequest},
		{"empty_members", nil, func(cur Policy) Policy {
			cur.Bindings = []Binding{{Role: "roles/viewer"}}
			return cur
		}, nil, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newTinyWorld(t)
			for _, p := range tc.setup {
				if _, err := w.SetIamPolicy(res, p); err != nil {
					t.Fatal(err)
				}
			}
			cur, _ := w.Policy(res)
			mask := tc.mask
			if mask == nil {
				mask = []string{"bindings", "etag"}
			}
			got, err := w.SetIamPolicyMask(res, tc.write(cur), mask)
			if tc.wantCode != 0 {
				if err == nil || err.HTTPCode != tc.wantCode {
					t.Fatalf("err = %v, want %d", err, tc.wantCode)
				}
				after, _ := w.Policy(res)
				if diff := cmp.Diff(cur, after); diff != "" {
					t.Errorf("a rejected write changed the policy:\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got.Etag == cur.Etag {
				t.Error("etag did not change")
			}
			if got.HasConditions() != (got.Version == 3) {
				t.Errorf("version %d for a policy with conditions=%v", got.Version, got.HasConditions())
			}
			if after, _ := w.Policy(res); after.Etag != got.Etag {
				t.Errorf("stored etag %q, returned %q", after.Etag, got.Etag)
			}
		})
	}
}

func TestGetIamPolicyV1Placeholders(t *testing.T) {
	t.Parallel()
	w := newTinyWorld(t)
	a := condBinding("roles/viewer", "user:a@example.com", `request.time < timestamp("2030-01-01T00:00:00Z")`)
	b := condBinding("roles/viewer", "user:a@example.com", `request.time < timestamp("2031-01-01T00:00:00Z")`)
	if _, err := w.SetIamPolicy("folders/2", Policy{Version: 3, Bindings: []Binding{a, b}}); err != nil {
		t.Fatal(err)
	}
	v1, err := w.GetIamPolicy("folders/2", 0)
	if err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 || v1.Bindings[0].Role == v1.Bindings[1].Role || v1.Bindings[0].Condition != nil {
		t.Errorf("v1 read = %+v", v1)
	}
	if _, err := w.GetIamPolicy("folders/2", 2); err == nil || err.HTTPCode != http.StatusBadRequest {
		t.Errorf("version 2 = %v", err)
	}
}

func TestIndexedPolicyLagsByIndexDelay(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	w := New(clock.Now)
	w.AddProject(Project{ID: "proj-one", Number: 1, Parent: "organizations/1"})
	w.SetIndexDelay(time.Minute)
	var etags []string
	for i := range 3 {
		p, err := w.SetIamPolicy("projects/proj-one", Policy{Bindings: []Binding{{Role: "roles/viewer", Members: []string{"user:a@example.com"}}}})
		if err != nil {
			t.Fatal(err)
		}
		etags = append(etags, p.Etag)
		if i < 2 {
			clock.Advance(40 * time.Second)
		}
	}
	// Now: writes at 0s, 40s and 80s; Asset sees the world as at 20s.
	got, _ := w.IndexedPolicy("projects/proj-one")
	if got.Etag != etags[0] {
		t.Errorf("indexed etag = %q, want the first write %q", got.Etag, etags[0])
	}
	clock.Advance(time.Minute)
	if got, _ := w.IndexedPolicy("projects/proj-one"); got.Etag != etags[2] {
		t.Errorf("indexed etag after the delay = %q, want %q", got.Etag, etags[2])
	}
	if n := w.PolicyWrites("projects/1"); n != 3 {
		t.Errorf("PolicyWrites = %d, want 3", n)
	}
}

func TestGroupsNestedAndCyclic(t *testing.T) {
	t.Parallel()
	w := New(nil)
	w.AddGroup(Group{Email: "outer@example.com", Members: []string{"group:Inner@example.com", "user:a@example.com"}})
	w.AddGroup(Group{Email: "inner@example.com", Members: []string{"user:B@example.com", "group:outer@example.com", "serviceAccount:s@p.iam.gserviceaccount.com"}})
	w.AddGroup(Group{Email: "other@example.com", Members: []string{"user:c@example.com"}})
	if diff := cmp.Diff([]string{"inner@example.com", "outer@example.com"}, w.GroupsOf("user:b@example.com")); diff != "" {
		t.Errorf("GroupsOf (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"inner@example.com"}, w.DirectGroupsOf("user:B@example.com")); diff != "" {
		t.Errorf("DirectGroupsOf (-want +got):\n%s", diff)
	}
	want := []string{"serviceAccount:s@p.iam.gserviceaccount.com", "user:a@example.com", "user:b@example.com"}
	if diff := cmp.Diff(want, w.ExpandGroup("OUTER@example.com")); diff != "" {
		t.Errorf("ExpandGroup (-want +got):\n%s", diff)
	}
	if g, ok := w.Group("Outer@Example.com"); !ok || g.ID == "" {
		t.Errorf("Group lookup = %+v, %v", g, ok)
	}
}

// fakeClock is a settable clock for index-delay tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
