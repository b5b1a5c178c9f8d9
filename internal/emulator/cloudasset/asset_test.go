package cloudasset

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	asset "cloud.google.com/go/asset/apiv1"
	"cloud.google.com/go/asset/apiv1/assetpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/jitaccess/jitaccess/internal/emulator/fault"
	"github.com/jitaccess/jitaccess/internal/emulator/seed"
	"github.com/jitaccess/jitaccess/internal/emulator/world"
)

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

func newDemoWorld(t *testing.T, clock func() time.Time) *world.World {
	t.Helper()
	f, err := os.Open("../../../testdata/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := seed.LoadSeed(f)
	if err != nil {
		t.Fatal(err)
	}
	w := world.New(clock)
	if err := s.Apply(w); err != nil {
		t.Fatal(err)
	}
	return w
}

// newTestAssetClient serves w's Cloud Asset API on loopback and returns the
// real client library connected to it.
func newTestAssetClient(t *testing.T, w *world.World) *asset.Client {
	t.Helper()
	srv, err := New(w)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	assetpb.RegisterAssetServiceServer(gs, srv)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	c, err := asset.NewClient(t.Context(),
		option.WithEndpoint(lis.Addr().String()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

const demoOrg = "organizations/123456789012"

func analyze(t *testing.T, c *asset.Client, q *assetpb.IamPolicyAnalysisQuery) []*assetpb.IamPolicyAnalysisResult {
	t.Helper()
	resp, err := c.AnalyzeIamPolicy(t.Context(), &assetpb.AnalyzeIamPolicyRequest{AnalysisQuery: q})
	if err != nil {
		t.Fatalf("AnalyzeIamPolicy: %v", err)
	}
	return resp.GetMainAnalysis().GetAnalysisResults()
}

func TestAnalyzeIamPolicyProjectsOfUserThroughNestedGroupsAndFolders(t *testing.T) {
	t.Parallel()
	c := newTestAssetClient(t, newDemoWorld(t, nil))
	results := analyze(t, c, &assetpb.IamPolicyAnalysisQuery{
		Scope:            demoOrg,
		IdentitySelector: &assetpb.IamPolicyAnalysisQuery_IdentitySelector{Identity: "user:erin@example.com"},
		AccessSelector:   &assetpb.IamPolicyAnalysisQuery_AccessSelector{Permissions: []string{"resourcemanager.projects.get"}},
		Options:          &assetpb.IamPolicyAnalysisQuery_Options{ExpandResources: true},
		ConditionContext: &assetpb.IamPolicyAnalysisQuery_ConditionContext{TimeContext: &assetpb.IamPolicyAnalysisQuery_ConditionContext_AccessTime{AccessTime: timestamppb.Now()}},
	})
	projects := map[string]bool{}
	for _, r := range results {
		for _, acl := range r.GetAccessControlLists() {
			for _, res := range acl.GetResources() {
				if p, ok := cutPrefix(res.GetFullResourceName(), crmPrefix+"projects/"); ok {
					projects[p] = true
				}
			}
		}
	}
	var got []string
	for p := range projects {
		got = append(got, p)
	}
	sort.Strings(got)
	// erin is in payments-devs, which is nested in developers; the
	// organization grants roles/browser to the whole domain.
	want := []string{"dev-playground", "jitaccess-app", "prod-data-warehouse", "prod-payments-api", "prod-payments-db", "prod-web-frontend", "security-tools", "shared-ci-cd", "shared-networking", "staging-payments-api", "staging-web-frontend"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("projects (-want +got):\n%s", diff)
	}
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}

type bindingVerdict struct {
	Attached, Role string
	Eval           string
}

func verdicts(results []*assetpb.IamPolicyAnalysisResult) []bindingVerdict {
	var out []bindingVerdict
	for _, r := range results {
		v := bindingVerdict{Attached: r.GetAttachedResourceFullName(), Role: r.GetIamBinding().GetRole()}
		for _, acl := range r.GetAccessControlLists() {
			if ce := acl.GetConditionEvaluation(); ce != nil {
				v.Eval = ce.GetEvaluationValue().String()
			}
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Attached+out[i].Role < out[j].Attached+out[j].Role })
	return out
}

func TestAnalyzeIamPolicyInheritedEligibilityIsConditional(t *testing.T) {
	t.Parallel()
	w := newDemoWorld(t, nil)
	c := newTestAssetClient(t, w)
	results := analyze(t, c, &assetpb.IamPolicyAnalysisQuery{
		Scope:            demoOrg,
		ResourceSelector: &assetpb.IamPolicyAnalysisQuery_ResourceSelector{FullResourceName: crmPrefix + "projects/prod-payments-api"},
		IdentitySelector: &assetpb.IamPolicyAnalysisQuery_IdentitySelector{Identity: "user:alice@example.com"},
		ConditionContext: &assetpb.IamPolicyAnalysisQuery_ConditionContext{TimeContext: &assetpb.IamPolicyAnalysisQuery_ConditionContext_AccessTime{AccessTime: timestamppb.Now()}},
	})
	want := []bindingVerdict{
		{crmPrefix + "folders/1001", "roles/compute.admin", "CONDITIONAL"},
		{crmPrefix + "folders/1001", "roles/logging.viewer", "CONDITIONAL"},
		{crmPrefix + "folders/1001", "roles/viewer", ""},
		{crmPrefix + "folders/1004", "roles/cloudsql.admin", "CONDITIONAL"},
		{crmPrefix + demoOrg, "roles/browser", ""},
	}
	if diff := cmp.Diff(want, verdicts(results)); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	for _, r := range results {
		for _, acl := range r.GetAccessControlLists() {
			if got := acl.GetResources()[0].GetFullResourceName(); got != crmPrefix+"projects/prod-payments-api" {
				t.Errorf("ACL resource = %q, want the selected project", got)
			}
		}
	}
}

func TestAnalyzeIamPolicyEvaluatesActivationWindows(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	w := newDemoWorld(t, clock.Now)
	c := newTestAssetClient(t, w)
	p, apiErr := w.GetIamPolicy("projects/prod-web-frontend", 3)
	if apiErr != nil {
		t.Fatal(apiErr)
	}
	p.Bindings = append(p.Bindings, world.Binding{Role: "roles/logging.viewer", Members: []string{"user:bob@example.com"}, Condition: &world.Expr{
		Title:      "JIT access activation",
		Expression: `(request.time >= timestamp("2026-11-25T11:30:00Z") && request.time < timestamp("2026-11-25T12:30:00Z"))`,
	}}, world.Binding{Role: "roles/compute.instanceAdmin.v1", Members: []string{"user:bob@example.com"}, Condition: &world.Expr{
		Title:      "JIT access activation",
		Expression: `((request.time >= timestamp("2026-11-25T11:30:00Z") && request.time < timestamp("2026-11-25T12:30:00Z"))) && (resource.name.startsWith("projects/prod-web-frontend/zones/europe-west1-b/instances/"))`,
	}})
	if _, apiErr := w.SetIamPolicy("projects/prod-web-frontend", p); apiErr != nil {
		t.Fatal(apiErr)
	}
	results := analyze(t, c, &assetpb.IamPolicyAnalysisQuery{
		Scope:            "projects/prod-web-frontend",
		ResourceSelector: &assetpb.IamPolicyAnalysisQuery_ResourceSelector{FullResourceName: crmPrefix + "projects/prod-web-frontend"},
		IdentitySelector: &assetpb.IamPolicyAnalysisQuery_IdentitySelector{Identity: "user:bob@example.com"},
		ConditionContext: &assetpb.IamPolicyAnalysisQuery_ConditionContext{TimeContext: &assetpb.IamPolicyAnalysisQuery_ConditionContext_AccessTime{AccessTime: timestamppb.New(clock.Now())}},
	})
	got := map[string][]string{}
	for _, v := range verdicts(results) {
		got[v.Role] = append(got[v.Role], v.Eval)
	}
	for _, s := range got {
		sort.Strings(s)
	}
	want := map[string][]string{
		// the eligible binding, and the active activation with a resource condition
		"roles/compute.instanceAdmin.v1": {"CONDITIONAL", "CONDITIONAL"},
		// the activation from 2025 has expired; today's is active
		"roles/logging.viewer":    {"FALSE", "TRUE"},
		"roles/monitoring.viewer": {""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verdicts by role (-want +got):\n%s", diff)
	}
}

func TestAnalyzeIamPolicyPeersExpandNestedGroups(t *testing.T) {
	t.Parallel()
	c := newTestAssetClient(t, newDemoWorld(t, nil))
	results := analyze(t, c, &assetpb.IamPolicyAnalysisQuery{
		Scope:            demoOrg,
		ResourceSelector: &assetpb.IamPolicyAnalysisQuery_ResourceSelector{FullResourceName: crmPrefix + "projects/shared-networking"},
		AccessSelector:   &assetpb.IamPolicyAnalysisQuery_AccessSelector{Roles: []string{"roles/compute.networkAdmin"}},
		Options:          &assetpb.IamPolicyAnalysisQuery_Options{ExpandGroups: true},
	})
	if len(results) != 1 {
		t.Fatalf("got %d results, want 1", len(results))
	}
	var got []string
	for _, id := range results[0].GetIdentityList().GetIdentities() {
		got = append(got, id.GetName())
	}
	sort.Strings(got)
	want := []string{"group:dba@example.com", "group:platform-team@example.com", "group:sre@example.com", "user:alice@example.com", "user:bob@example.com", "user:carol@example.com"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("identities (-want +got):\n%s", diff)
	}
}

func TestAssetSeesWritesAfterIndexDelay(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	w := newDemoWorld(t, clock.Now)
	w.SetIndexDelay(2 * time.Minute)
	c := newTestAssetClient(t, w)
	p, _ := w.GetIamPolicy("projects/dev-playground", 3)
	p.Bindings = append(p.Bindings, world.Binding{Role: "roles/viewer", Members: []string{"user:grace@example.com"}})
	if _, err := w.SetIamPolicy("projects/dev-playground", p); err != nil {
		t.Fatal(err)
	}
	query := &assetpb.IamPolicyAnalysisQuery{
		Scope:            demoOrg,
		ResourceSelector: &assetpb.IamPolicyAnalysisQuery_ResourceSelector{FullResourceName: crmPrefix + "projects/dev-playground"},
		IdentitySelector: &assetpb.IamPolicyAnalysisQuery_IdentitySelector{Identity: "user:grace@example.com"},
		AccessSelector:   &assetpb.IamPolicyAnalysisQuery_AccessSelector{Roles: []string{"roles/viewer"}},
	}
	if n := len(analyze(t, c, query)); n != 0 {
		t.Fatalf("before the index delay: %d results, want 0", n)
	}
	clock.Advance(2 * time.Minute)
	if n := len(analyze(t, c, query)); n != 1 {
		t.Fatalf("after the index delay: %d results, want 1", n)
	}
}

func TestBatchGetEffectiveIamPoliciesListsAncestorsWithinScope(t *testing.T) {
	t.Parallel()
	c := newTestAssetClient(t, newDemoWorld(t, nil))
	for _, tc := range []struct {
		scope string
		want  []string
	}{
		{demoOrg, []string{"projects/prod-payments-api", "folders/1004", "folders/1001", demoOrg}},
		{"folders/1001", []string{"projects/prod-payments-api", "folders/1004", "folders/1001"}},
	} {
		resp, err := c.BatchGetEffectiveIamPolicies(t.Context(), &assetpb.BatchGetEffectiveIamPoliciesRequest{
			Scope: tc.scope, Names: []string{crmPrefix + "projects/prod-payments-api"},
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range resp.GetPolicyResults()[0].GetPolicies() {
			got = append(got, p.GetAttachedResource()[len(crmPrefix):])
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("scope %s (-want +got):\n%s", tc.scope, diff)
		}
	}
	_, err := c.BatchGetEffectiveIamPolicies(t.Context(), &assetpb.BatchGetEffectiveIamPoliciesRequest{
		Scope: demoOrg, Names: []string{crmPrefix + "projects/no-such-project"},
	})
	if status.Code(err) != codes.NotFound {
		t.Errorf("unknown project: %v, want NotFound", err)
	}
}

func TestSearchAllResourcesPagesThroughProjects(t *testing.T) {
	t.Parallel()
	c := newTestAssetClient(t, newDemoWorld(t, nil))
	it := c.SearchAllResources(t.Context(), &assetpb.SearchAllResourcesRequest{
		Scope: demoOrg, Query: "state:ACTIVE", AssetTypes: []string{assetTypeProject}, PageSize: 4,
	})
	var got []string
	for {
		r, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.GetName())
	}
	if len(got) != 11 || !slices.Contains(got, crmPrefix+"projects/prod-payments-api") {
		t.Errorf("got %d projects %v, want the 11 demo projects", len(got), got)
	}
	it = c.SearchAllResources(t.Context(), &assetpb.SearchAllResourcesRequest{Scope: demoOrg, Query: "owner:bob"})
	if _, err := it.Next(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("unsupported query: %v, want InvalidArgument", err)
	}
}

func TestSearchAllIamPoliciesFindsMember(t *testing.T) {
	t.Parallel()
	c := newTestAssetClient(t, newDemoWorld(t, nil))
	it := c.SearchAllIamPolicies(t.Context(), &assetpb.SearchAllIamPoliciesRequest{Scope: demoOrg, Query: "policy:grace@example.com"})
	var got []string
	for {
		r, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.GetResource())
	}
	if diff := cmp.Diff([]string{crmPrefix + "projects/prod-data-warehouse"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestAssetFaultsSurfaceAsGRPCStatus(t *testing.T) {
	t.Parallel()
	w := newDemoWorld(t, nil)
	c := newTestAssetClient(t, w)
	w.Faults.Set("cloudasset.AnalyzeIamPolicy", fault.Fault{Code: 429, Count: 1})
	q := &assetpb.IamPolicyAnalysisQuery{Scope: demoOrg, IdentitySelector: &assetpb.IamPolicyAnalysisQuery_IdentitySelector{Identity: "user:bob@example.com"}}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := c.AnalyzeIamPolicy(ctx, &assetpb.AnalyzeIamPolicyRequest{AnalysisQuery: q})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("with fault: %v, want ResourceExhausted", err)
	}
	if _, err := c.AnalyzeIamPolicy(ctx, &assetpb.AnalyzeIamPolicyRequest{AnalysisQuery: q}); err != nil {
		t.Fatalf("after the fault was used up: %v", err)
	}
}
