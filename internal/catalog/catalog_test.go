package catalog_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	asset "cloud.google.com/go/asset/apiv1"
	"github.com/google/go-cmp/cmp"
	admin "google.golang.org/api/admin/directory/v1"
	"google.golang.org/api/cloudidentity/v1"
	"google.golang.org/api/cloudresourcemanager/v3"

	"github.com/jitaccess/jitaccess/internal/catalog"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/iam"
	"github.com/jitaccess/jitaccess/internal/jit"
)

const demoScope = "organizations/123456789012"

// backend is the catalog interface both implementations satisfy.
type backend interface {
	Projects(ctx context.Context, user jit.UserID) ([]jit.ProjectID, error)
	Entitlements(ctx context.Context, user jit.UserID, project jit.ProjectID) ([]jit.EligibleEntitlement, []string, error)
	Holders(ctx context.Context, ent jit.Entitlement, typ jit.ActivationType) ([]jit.UserID, error)
}

type clients struct {
	asset    *asset.Client
	crm      *cloudresourcemanager.Service
	identity *cloudidentity.Service
}

func newClients(t *testing.T, e *emulator.Emulator) clients {
	t.Helper()
	a, err := asset.NewClient(t.Context(), e.GRPCClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	crm, err := cloudresourcemanager.NewService(t.Context(), e.HTTPClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	ci, err := cloudidentity.NewService(t.Context(), e.HTTPClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	return clients{asset: a, crm: crm, identity: ci}
}

func backends(t *testing.T, e *emulator.Emulator) map[string]backend {
	t.Helper()
	c := newClients(t, e)
	opts := catalog.Options{Scope: demoScope}
	return map[string]backend{
		"PolicyAnalyzer": catalog.NewPolicyAnalyzer(c.asset, c.crm, opts),
		"AssetInventory": catalog.NewAssetInventory(c.asset, c.crm, c.identity, opts),
	}
}

type ent struct {
	Role, Condition string
	Type            jit.ActivationType
	Status          jit.Status
}

func summarise(in []jit.EligibleEntitlement) []ent {
	out := make([]ent, 0, len(in))
	for _, e := range in {
		out = append(out, ent{e.Role, e.ResourceCondition, e.Type, e.Status})
	}
	return out
}

func TestEntitlementsThroughGroupsNestedGroupsFoldersAndOrganization(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	const instances = `resource.name.startsWith("projects/prod-web-frontend/zones/europe-west1-b/instances/")`
	cases := []struct {
		name    string
		user    jit.UserID
		project jit.ProjectID
		want    []ent
	}{
		{"folder_and_nested_folder", "alice@example.com", "prod-payments-api", []ent{
			{"roles/compute.admin", "", jit.MPA, jit.StatusInactive},
			{"roles/logging.viewer", "", jit.JIT, jit.StatusInactive},
			{"roles/cloudsql.admin", "", jit.MPA, jit.StatusInactive},
		}},
		{"nested_group", "erin@example.com", "prod-payments-api", []ent{{"roles/run.developer", "", jit.MPA, jit.StatusInactive}}},
		{"group_nested_in_group", "carol@example.com", "shared-networking", []ent{{"roles/compute.networkAdmin", "", jit.MPA, jit.StatusInactive}}},
		{"organization", "frank@example.com", "dev-playground", []ent{{"roles/iam.securityReviewer", "", jit.JIT, jit.StatusInactive}}},
		{"resource_condition", "bob@example.com", "prod-web-frontend", []ent{
			{"roles/compute.instanceAdmin.v1", instances, jit.JIT, jit.StatusInactive},
			{"roles/logging.viewer", "", jit.JIT, jit.StatusInactive},
			{"roles/compute.admin", "", jit.MPA, jit.StatusInactive},
		}},
		{"nothing", "grace@example.com", "shared-ci-cd", []ent{}},
	}
	for name, b := range backends(t, e) {
		for _, tc := range cases {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				got, _, err := b.Entitlements(t.Context(), tc.user, tc.project)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(sortEnts(tc.want), sortEnts(summarise(got))); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	}
}

func sortEnts(in []ent) []ent {
	out := append([]ent{}, in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Role+out[j].Condition < out[i].Role+out[i].Condition {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestBothCatalogsAgreeOnTheDemoWorld compares every user on every project.
func TestBothCatalogsAgreeOnTheDemoWorld(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	bs := backends(t, e)
	pa, ai := bs["PolicyAnalyzer"], bs["AssetInventory"]
	compared := 0
	for _, u := range e.World.Users() {
		for _, p := range e.World.Projects() {
			user, project := jit.UserID(u.Email), jit.ProjectID(p.ID)
			a, _, err := pa.Entitlements(t.Context(), user, project)
			if err != nil {
				t.Fatal(err)
			}
			b, _, err := ai.Entitlements(t.Context(), user, project)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(sortEnts(summarise(a)), sortEnts(summarise(b))); diff != "" {
				t.Errorf("%s on %s: PolicyAnalyzer vs AssetInventory (-pa +ai):\n%s", user, project, diff)
			}
			for _, x := range a {
				h1, err := pa.Holders(t.Context(), x.Entitlement, x.Type)
				if err != nil {
					t.Fatal(err)
				}
				h2, err := ai.Holders(t.Context(), x.Entitlement, x.Type)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(h1, h2); diff != "" {
					t.Errorf("holders of %s: (-pa +ai):\n%s", x.ID(), diff)
				}
			}
			compared++
		}
	}
	t.Logf("compared %d user/project pairs", compared)
}

func TestHoldersExpandNestedGroupsAndMatchResourceConditions(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	for name, b := range backends(t, e) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := b.Holders(t.Context(), jit.Entitlement{Project: "shared-networking", Role: "roles/compute.networkAdmin"}, jit.MPA)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]jit.UserID{"alice@example.com", "bob@example.com", "carol@example.com"}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// The bucket-scoped binding is a different entitlement from an
			// unconditional one with the same role.
			got, err = b.Holders(t.Context(), jit.Entitlement{Project: "prod-data-warehouse", Role: "roles/storage.objectAdmin"}, jit.MPA)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 0 {
				t.Errorf("holders of the unconditional entitlement: %v, want none", got)
			}
		})
	}
}

func TestProjects(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	c := newClients(t, e)
	pa := catalog.NewPolicyAnalyzer(c.asset, c.crm, catalog.Options{Scope: demoScope})
	got, err := pa.Projects(t.Context(), "erin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := []jit.ProjectID{"dev-playground", "prod-payments-api", "prod-payments-db", "shared-ci-cd", "staging-payments-api", "staging-web-frontend"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PolicyAnalyzer projects of erin (-want +got):\n%s", diff)
	}
	// AssetInventory's default query, state:ACTIVE, goes to Resource
	// Manager projects.search as in 1.8.1: every active project the
	// service account can see, not only those in RESOURCE_SCOPE.
	ai := catalog.NewAssetInventory(c.asset, c.crm, c.identity, catalog.Options{Scope: "folders/1002"})
	got, err = ai.Projects(t.Context(), "erin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	var active []jit.ProjectID
	for _, p := range e.World.Projects() {
		if p.State == "ACTIVE" {
			active = append(active, jit.ProjectID(p.ID))
		}
	}
	slices.Sort(active)
	if diff := cmp.Diff(active, got); diff != "" {
		t.Errorf("AssetInventory projects with state:ACTIVE (-want +got):\n%s", diff)
	}
}

// TestProjectsQueryIsResourceManagerSearch: AVAILABLE_PROJECTS_QUERY is
// Resource Manager's projects.search grammar (the original's
// ResourceManagerClient.searchProjectIds), for both catalogs.
func TestProjectsQueryIsResourceManagerSearch(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	e.World.Faults.Set("cloudasset.SearchAllResources", emulator.Fault{Code: 500}) // never asked
	c := newClients(t, e)
	for _, tc := range []struct {
		query string
		want  []jit.ProjectID
	}{
		{"parent:folders/1002", []jit.ProjectID{"dev-playground", "staging-payments-api", "staging-web-frontend"}},
		{"labels.team:payments AND parent:folders/1002 OR id:shared-ci-cd", []jit.ProjectID{"shared-ci-cd", "staging-payments-api"}},
	} {
		for name, b := range map[string]backend{
			"PolicyAnalyzer": catalog.NewPolicyAnalyzer(c.asset, c.crm, catalog.Options{Scope: demoScope, ProjectsQuery: tc.query}),
			"AssetInventory": catalog.NewAssetInventory(c.asset, c.crm, c.identity, catalog.Options{Scope: demoScope, ProjectsQuery: tc.query}),
		} {
			got, err := b.Projects(t.Context(), "erin@example.com")
			if err != nil {
				t.Fatalf("%s %q: %v", name, tc.query, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s %q (-want +got):\n%s", name, tc.query, diff)
			}
		}
	}
	bad := catalog.NewPolicyAnalyzer(c.asset, c.crm, catalog.Options{Scope: demoScope, ProjectsQuery: "owner:alice"})
	_, err := bad.Projects(t.Context(), "erin@example.com")
	if jit.KindOf(err) != jit.KindUnavailable || !strings.HasPrefix(jit.MessageOf(err), "AVAILABLE_PROJECTS_QUERY is not a query Resource Manager accepts") {
		t.Errorf("bad query: %v (%v)", err, jit.KindOf(err))
	}
}

// TestActivationIsActiveAtOnceDespiteTheAssetIndexDelay: the status comes
// from the project's policy, not from the lagging Asset index.
func TestActivationIsActiveAtOnceDespiteTheAssetIndexDelay(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	e.World.SetIndexDelay(10 * time.Minute)
	c := newClients(t, e)
	start := time.Now().UTC().Truncate(time.Second)
	err := iam.New(c.crm, iam.Options{Unconfirmed: true}).Grant(t.Context(), []jit.Activation{{
		ID: "jit-x", Type: jit.JIT, Beneficiary: "dave@example.com", Justification: "INC-2",
		Entitlement: jit.Entitlement{Project: "prod-payments-db", Role: "roles/cloudsql.client"},
		Start:       start, End: start.Add(time.Hour),
	}}, jit.Confirmation{})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range backends(t, e) {
		got, _, err := b.Entitlements(t.Context(), "dave@example.com", "prod-payments-db")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Status != jit.StatusActive || !got[0].ValidUntil.Equal(start.Add(time.Hour)) {
			t.Errorf("%s: %+v, want one ACTIVE entitlement valid until %v", name, got, start.Add(time.Hour))
		}
	}
}

// TestDirectGroupMembershipAsTheOriginal: with the Directory API
// (GROUP_MEMBERSHIP=direct, the default), a binding on a group applies to
// its direct members only, as in 1.8.1; Cloud Identity's transitive
// search (GROUP_MEMBERSHIP=transitive) also counts nested groups. carol is
// in dba@, which is in platform-team@, which holds networkAdmin.
func TestDirectGroupMembershipAsTheOriginal(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	c := newClients(t, e)
	dir, err := admin.NewService(t.Context(), e.HTTPClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	e.World.Faults.Set("cloudidentity.*", emulator.Fault{Code: 500}) // the direct catalog never asks
	direct := catalog.NewAssetInventory(c.asset, c.crm, nil, catalog.Options{Scope: demoScope, Directory: dir, CustomerID: "C0example1"})
	transitive := catalog.NewAssetInventory(c.asset, c.crm, c.identity, catalog.Options{Scope: demoScope})

	got, _, err := direct.Entitlements(t.Context(), "carol@example.com", "shared-networking")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("direct: carol on shared-networking = %+v, want nothing (platform-team@ holds it only through dba@)", summarise(got))
	}
	networkAdmin := jit.Entitlement{Project: "shared-networking", Role: "roles/compute.networkAdmin"}
	holders, err := direct.Holders(t.Context(), networkAdmin, jit.MPA)
	if err != nil || len(holders) != 0 {
		t.Errorf("direct: holders = %v, %v; want none (platform-team@ has only groups as direct members)", holders, err)
	}
	// A direct member still counts: alice is in sre@, which holds
	// compute.admin on the payments folder.
	got, _, err = direct.Entitlements(t.Context(), "alice@example.com", "prod-payments-api")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 {
		t.Error("direct: alice has no entitlement on prod-payments-api through sre@")
	}

	e.World.Faults.Clear()
	got, _, err = transitive.Entitlements(t.Context(), "carol@example.com", "shared-networking")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ent{{"roles/compute.networkAdmin", "", jit.MPA, jit.StatusInactive}}, summarise(got)); diff != "" {
		t.Errorf("transitive: carol (-want +got):\n%s", diff)
	}

	bad := catalog.NewAssetInventory(c.asset, c.crm, nil, catalog.Options{Scope: demoScope, Directory: dir, CustomerID: "C0nobody"})
	_, _, err = bad.Entitlements(t.Context(), "carol@example.com", "shared-networking")
	if jit.KindOf(err) != jit.KindUnavailable || !strings.Contains(jit.MessageOf(err), "The customer ID 'C0nobody' is invalid") {
		t.Errorf("unknown customer: %v (%v)", err, jit.KindOf(err))
	}
}

func TestWidened(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr           string
		policyAnalyzer bool
		want           string
	}{
		{"has({}.jitAccessConstraint)", true, ""},
		{"(has({}.jitAccessConstraint))", false, catalog.WidenedMarker},
		{`(has({}.multiPartyApprovalConstraint) && resource.type == "x")`, false, catalog.WidenedMarker},
		{`has({}.jitAccessConstraint) && resource.type == "x"`, true, catalog.WidenedResourceCondition},
		{`has({}.jitAccessConstraint) && resource.type == "x"`, false, ""},
		{"request.time < timestamp('2030-01-01T00:00:00Z')", true, ""},
	} {
		if got := catalog.Widened(tc.expr, tc.policyAnalyzer); got != tc.want {
			t.Errorf("Widened(%q, %v) = %q, want %q", tc.expr, tc.policyAnalyzer, got, tc.want)
		}
	}
}

// TestWidenedEligibilityIsReportedAndLogged: the report lists, before a
// switch, what becomes eligible; discovery logs each such binding once.
func TestWidenedEligibilityIsReportedAndLogged(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	p, _ := e.World.Policy("projects/shared-ci-cd")
	p.Bindings = append(p.Bindings, emulator.Binding{Role: "roles/viewer", Members: []string{"user:grace@example.com"},
		Condition: &emulator.Expr{Title: "eligible", Expression: "(has({}.jitAccessConstraint))"}})
	if _, err := e.World.SetIamPolicy("projects/shared-ci-cd", p); err != nil {
		t.Fatal(err)
	}
	c := newClients(t, e)
	summary := func(ws []catalog.WidenedBinding) []string {
		var out []string
		for _, w := range ws {
			out = append(out, w.Resource+" "+w.Role+" "+w.Reason)
		}
		return out
	}
	got, err := catalog.CompatReport(t.Context(), c.asset, demoScope, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"//cloudresourcemanager.googleapis.com/projects/shared-ci-cd roles/viewer " + catalog.WidenedMarker}
	if diff := cmp.Diff(want, summary(got)); diff != "" {
		t.Errorf("AssetInventory report (-want +got):\n%s", diff)
	}
	got, err = catalog.CompatReport(t.Context(), c.asset, demoScope, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 2 || !slices.ContainsFunc(got, func(w catalog.WidenedBinding) bool { return w.Reason == catalog.WidenedResourceCondition }) {
		t.Errorf("PolicyAnalyzer report = %v, want the marker and the resource-conditioned bindings", summary(got))
	}

	var logs bytes.Buffer
	pa := catalog.NewPolicyAnalyzer(c.asset, c.crm, catalog.Options{Scope: demoScope, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	for range 2 {
		if _, _, err := pa.Entitlements(t.Context(), "grace@example.com", "shared-ci-cd"); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(logs.String(), "catalog.eligibilityWidened"); n != 1 || !strings.Contains(logs.String(), "roles/viewer") {
		t.Errorf("%d widened-eligibility lines, want 1:\n%s", n, logs.String())
	}
}
