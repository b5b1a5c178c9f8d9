package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	crm "google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/option"

	"github.com/jitaccess/jitaccess/internal/emulator/wire/wiretest"
)

const (
	condProject   = "projects/prod-data-warehouse" // has conditional bindings
	plainProject  = "projects/dev-playground"      // has none
	demoOrg       = "organizations/123456789012"
	emptyProject  = "projects/staging-web-frontend"
	prodFolder    = "folders/1001"
	nonProdFolder = "folders/1002"
)

func projectIDs(ps []*crm.Project) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.ProjectId)
	}
	slices.Sort(out)
	return out
}

func TestProjectsGet(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestCRM(t, e)
	p, _ := e.World.Project("prod-payments-api")
	for _, name := range []string{"projects/prod-payments-api", p.Name()} {
		got, err := s.Projects.Get(name).Context(t.Context()).Do()
		if err != nil {
			t.Fatalf("get %s: %v", name, err)
		}
		if got.Name != p.Name() || got.ProjectId != "prod-payments-api" || got.Parent != "folders/1004" ||
			got.State != "ACTIVE" || got.DisplayName != "Payments API (prod)" || got.Labels["team"] != "payments" {
			t.Errorf("get %s = %+v", name, got)
		}
	}
	_, err := s.Projects.Get("projects/no-such-project").Context(t.Context()).Do()
	_ = wiretest.MustAPIError(t, err, http.StatusForbidden, "PERMISSION_DENIED")
}

func TestProjectsSearch(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestCRM(t, e)
	tests := []struct {
		name, query string
		want        []string
	}{
		{"parent", "parent:folders/1002", []string{"dev-playground", "staging-payments-api", "staging-web-frontend"}},
		{"parent_type_and_id", "parent.type:folder parent.id:1004", []string{"prod-payments-api", "prod-payments-db"}},
		{"id", "id:shared-ci-cd", []string{"shared-ci-cd"}},
		{"name_wildcard", "name:Payments*", []string{"prod-payments-db", "prod-payments-api", "staging-payments-api"}},
		{"name_quoted_case_insensitive", `name:"web frontend*"`, []string{"prod-web-frontend", "staging-web-frontend"}},
		{"label_and_state", "labels.env:prod AND state:ACTIVE", []string{"prod-data-warehouse", "prod-payments-api", "prod-payments-db", "prod-web-frontend"}},
		{"and_of_terms", "labels.team:payments parent:folders/1002", []string{"staging-payments-api"}},
		{"organization_parent", "parent:organizations/123456789012", []string{"security-tools"}},
		{"no_match", "id:nothing-here", nil},
		{"or", "id:shared-ci-cd OR id:security-tools", []string{"security-tools", "shared-ci-cd"}},
		{"and_binds_tighter_than_or", "labels.team:payments AND parent:folders/1002 OR id:shared-ci-cd", []string{"shared-ci-cd", "staging-payments-api"}},
		{"label_exists", "labels.team:* AND labels.env:staging", []string{"staging-payments-api", "staging-web-frontend"}},
		{"labels_name_or_value", "labels:payments AND parent:folders/1002", []string{"staging-payments-api"}},
		{"case_insensitive_field_and_value", "STATE:active AND ID:SHARED-CI-CD", []string{"shared-ci-cd"}},
		{"exact_operator", "projectId=shared-ci-cd", []string{"shared-ci-cd"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []*crm.Project
			err := s.Projects.Search().Query(tc.query).PageSize(2).Pages(t.Context(), func(r *crm.SearchProjectsResponse) error {
				got = append(got, r.Projects...)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if diff := cmp.Diff(want, projectIDs(got), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("search %q (-want +got):\n%s", tc.query, diff)
			}
		})
	}
	all, err := s.Projects.Search().Context(t.Context()).Do()
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Projects) != len(e.World.Projects()) || all.NextPageToken != "" {
		t.Errorf("search without query = %d projects (next %q), want all %d", len(all.Projects), all.NextPageToken, len(e.World.Projects()))
	}
}

func TestSearchRejectsUnsupportedQueries(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestCRM(t, e)
	for _, q := range []string{"OR id:a", "id:a OR", "id:a AND AND id:b", "NOT id:a", "-id:a", "(id:a)", "owner:alice", "justtext", `name:"unterminated`} {
		_, err := s.Projects.Search().Query(q).Context(t.Context()).Do()
		gerr := wiretest.MustAPIError(t, err, http.StatusBadRequest, "INVALID_ARGUMENT")
		if !strings.Contains(gerr.Message, "query") && !strings.Contains(gerr.Message, "Unsupported") {
			t.Errorf("query %q: message %q does not explain the query problem", q, gerr.Message)
		}
	}
	_, err := s.Projects.Search().PageToken("not-a-token").Context(t.Context()).Do()
	_ = wiretest.MustAPIError(t, err, http.StatusBadRequest, "INVALID_ARGUMENT")
}

func TestProjectsList(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestCRM(t, e)
	var got []*crm.Project
	err := s.Projects.List().Parent(prodFolder).PageSize(1).Pages(t.Context(), func(r *crm.ListProjectsResponse) error {
		got = append(got, r.Projects...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Direct children only: the payments projects are in folders/1004.
	if diff := cmp.Diff([]string{"prod-data-warehouse", "prod-web-frontend"}, projectIDs(got)); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}
	_, err = s.Projects.List().Context(t.Context()).Do()
	_ = wiretest.MustAPIError(t, err, http.StatusBadRequest, "INVALID_ARGUMENT")
}

func TestFoldersAndOrganizations(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestCRM(t, e)
	ctx := t.Context()

	f, err := s.Folders.Get("folders/1004").Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	if f.DisplayName != "Payments" || f.Parent != prodFolder || f.State != "ACTIVE" {
		t.Errorf("folder = %+v", f)
	}
	list, err := s.Folders.List().Parent(demoOrg).Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range list.Folders {
		names = append(names, f.Name)
	}
	if diff := cmp.Diff([]string{"folders/1001", "folders/1002", "folders/1003"}, names); diff != "" {
		t.Errorf("folders of the organization (-want +got):\n%s", diff)
	}
	search, err := s.Folders.Search().Query("displayName:Pay*").Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	if len(search.Folders) != 1 || search.Folders[0].Name != "folders/1004" {
		t.Errorf("folder search = %+v", search.Folders)
	}
	_, err = s.Folders.Get("folders/999").Context(ctx).Do()
	_ = wiretest.MustAPIError(t, err, http.StatusForbidden, "PERMISSION_DENIED")

	o, err := s.Organizations.Get(demoOrg).Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	if o.DisplayName != "example.com" || o.DirectoryCustomerId != "C0example1" {
		t.Errorf("organization = %+v", o)
	}
	orgs, err := s.Organizations.Search().Query("domain:example.com").Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	if len(orgs.Organizations) != 1 || orgs.Organizations[0].Name != demoOrg {
		t.Errorf("organization search = %+v", orgs.Organizations)
	}
}

func getPolicy(t *testing.T, s *crm.Service, resource string, version int64) *crm.Policy {
	t.Helper()
	req := &crm.GetIamPolicyRequest{Options: &crm.GetPolicyOptions{RequestedPolicyVersion: version}}
	var (
		p   *crm.Policy
		err error
	)
	switch {
	case strings.HasPrefix(resource, "folders/"):
		p, err = s.Folders.GetIamPolicy(resource, req).Context(t.Context()).Do()
	case strings.HasPrefix(resource, "organizations/"):
		p, err = s.Organizations.GetIamPolicy(resource, req).Context(t.Context()).Do()
	default:
		p, err = s.Projects.GetIamPolicy(resource, req).Context(t.Context()).Do()
	}
	if err != nil {
		t.Fatalf("getIamPolicy %s v%d: %v", resource, version, err)
	}
	return p
}

func TestGetIamPolicyVersions(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestCRM(t, e)

	v3 := getPolicy(t, s, condProject, 3)
	if v3.Version != 3 {
		t.Errorf("v3 read of a conditional policy has version %d", v3.Version)
	}
	conditional := 0
	for _, b := range v3.Bindings {
		if b.Condition != nil {
			conditional++
		}
		if strings.Contains(b.Role, "_withcond_") {
			t.Errorf("v3 read has placeholder role %s", b.Role)
		}
	}
	if conditional == 0 {
		t.Fatal("v3 read lost the conditions")
	}

	v1 := getPolicy(t, s, condProject, 1)
	if v1.Version != 1 || v1.Etag != v3.Etag {
		t.Errorf("v1 read: version %d etag %q, want 1 and %q", v1.Version, v1.Etag, v3.Etag)
	}
	placeholders := 0
	for _, b := range v1.Bindings {
		if b.Condition != nil {
			t.Errorf("v1 read has a condition on %s", b.Role)
		}
		if strings.Contains(b.Role, "_withcond_") {
			placeholders++
		}
	}
	if placeholders != conditional {
		t.Errorf("v1 read has %d _withcond_ roles, want %d", placeholders, conditional)
	}

	// A careless read-modify-write at version 1 must fail, not drop conditions.
	_, err := s.Projects.SetIamPolicy(condProject, &crm.SetIamPolicyRequest{Policy: v1}).Context(t.Context()).Do()
	_ = wiretest.MustAPIError(t, err, http.StatusBadRequest, "INVALID_ARGUMENT")
	if n := e.World.PolicyWrites(condProject); n != 0 {
		t.Errorf("the failed write was stored (%d writes)", n)
	}

	plain := getPolicy(t, s, plainProject, 3)
	if plain.Version != 1 {
		t.Errorf("v3 read of an unconditional policy has version %d, want 1", plain.Version)
	}
	_, err = s.Projects.GetIamPolicy(plainProject, &crm.GetIamPolicyRequest{Options: &crm.GetPolicyOptions{RequestedPolicyVersion: 2}}).Context(t.Context()).Do()
	_ = wiretest.MustAPIError(t, err, http.StatusBadRequest, "INVALID_ARGUMENT")
	_, err = s.Projects.GetIamPolicy("projects/no-such-project", &crm.GetIamPolicyRequest{}).Context(t.Context()).Do()
	_ = wiretest.MustAPIError(t, err, http.StatusForbidden, "PERMISSION_DENIED")
}

func activation(member, role string, n int) *crm.Binding {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Hour)
	return &crm.Binding{
		Role:    role,
		Members: []string{member},
		Condition: &crm.Expr{
			Title:      "JIT access activation",
			Expression: fmt.Sprintf("(request.time >= timestamp(%q) && request.time < timestamp(%q))", start.Format(time.RFC3339), start.Add(time.Hour).Format(time.RFC3339)),
		},
	}
}

func TestSetIamPolicyOnEveryResourceType(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestCRM(t, e)
	for _, resource := range []string{demoOrg, nonProdFolder, condProject} {
		t.Run(resource, func(t *testing.T) {
			before := getPolicy(t, s, resource, 3)
			before.Version = 3
			before.Bindings = append(before.Bindings, activation("user:alice@example.com", "roles/viewer", 0))
			req := &crm.SetIamPolicyRequest{Policy: before, UpdateMask: "bindings,etag"}
			var (
				got *crm.Policy
				err error
			)
			switch {
			case strings.HasPrefix(resource, "organizations/"):
				got, err = s.Organizations.SetIamPolicy(resource, req).Context(t.Context()).Do()
			case strings.HasPrefix(resource, "folders/"):
				got, err = s.Folders.SetIamPolicy(resource, req).Context(t.Context()).Do()
			default:
				got, err = s.Projects.SetIamPolicy(resource, req).Context(t.Context()).Do()
			}
			if err != nil {
				t.Fatalf("setIamPolicy: %v", err)
			}
			if got.Etag == "" || got.Etag == before.Etag || got.Version != 3 {
				t.Errorf("set returned etag %q (before %q), version %d", got.Etag, before.Etag, got.Version)
			}
			after := getPolicy(t, s, resource, 3)
			if after.Etag != got.Etag || len(after.Bindings) != len(before.Bindings) {
				t.Errorf("read after write: etag %q, %d bindings; want %q, %d", after.Etag, len(after.Bindings), got.Etag, len(before.Bindings))
			}
			if n := e.World.PolicyWrites(resource); n != 1 {
				t.Errorf("PolicyWrites = %d, want 1", n)
			}
		})
	}
}

func TestSetIamPolicyStaleEtagIsAborted(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestCRM(t, e)
	stale := getPolicy(t, s, condProject, 3)
	fresh := getPolicy(t, s, condProject, 3)
	fresh.Bindings = append(fresh.Bindings, activation("user:alice@example.com", "roles/viewer", 1))
	if _, err := s.Projects.SetIamPolicy(condProject, &crm.SetIamPolicyRequest{Policy: fresh}).Context(t.Context()).Do(); err != nil {
		t.Fatal(err)
	}
	stale.Bindings = append(stale.Bindings, activation("user:bob@example.com", "roles/viewer", 1))
	_, err := s.Projects.SetIamPolicy(condProject, &crm.SetIamPolicyRequest{Policy: stale}).Context(t.Context()).Do()
	_ = wiretest.MustAPIError(t, err, http.StatusConflict, "ABORTED")
	if n := e.World.PolicyWrites(condProject); n != 1 {
		t.Errorf("PolicyWrites = %d, want 1", n)
	}
}

// TestConcurrentWritersLoseNoUpdate has 50 writers each add their own
// binding with read-modify-write, retrying on 409: every write must land
// or conflict, and the final policy must hold all 50 bindings.
func TestConcurrentWritersLoseNoUpdate(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	// Enough idle connections for every writer, so the test measures
	// conflicts, not TCP set-up.
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(transport.CloseIdleConnections)
	s, err := crm.NewService(t.Context(), append(e.HTTPClientOptions(), option.WithHTTPClient(&http.Client{Transport: transport}))...)
	if err != nil {
		t.Fatal(err)
	}
	const writers = 50
	var conflicts atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			member := fmt.Sprintf("user:writer-%02d@example.com", i)
			for attempt := 0; ; attempt++ {
				if attempt > 500 {
					errs <- fmt.Errorf("%s: gave up after %d conflicts", member, attempt)
					return
				}
				p, err := s.Projects.GetIamPolicy(condProject, &crm.GetIamPolicyRequest{Options: &crm.GetPolicyOptions{RequestedPolicyVersion: 3}}).Context(t.Context()).Do()
				if err != nil {
					errs <- err
					return
				}
				p.Version = 3
				p.Bindings = append(p.Bindings, activation(member, "roles/viewer", i))
				_, err = s.Projects.SetIamPolicy(condProject, &crm.SetIamPolicyRequest{Policy: p, UpdateMask: "bindings,etag"}).Context(t.Context()).Do()
				if err == nil {
					return
				}
				var code int
				if gerr := asGoogleError(err); gerr != nil {
					code = gerr.Code
				}
				if code != http.StatusConflict {
					errs <- fmt.Errorf("%s: want success or 409, got %w", member, err)
					return
				}
				conflicts.Add(1)
				// Jittered backoff, as a real client does.
				time.Sleep(time.Duration(rand.IntN(1+min(attempt, 10))) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	final := getPolicy(t, s, condProject, 3)
	found := map[string]bool{}
	for _, b := range final.Bindings {
		for _, m := range b.Members {
			if strings.HasPrefix(m, "user:writer-") {
				found[m] = true
			}
		}
	}
	if len(found) != writers {
		t.Errorf("final policy has %d of %d writers' bindings: a lost update", len(found), writers)
	}
	if n := e.World.PolicyWrites(condProject); n != writers {
		t.Errorf("PolicyWrites = %d, want %d", n, writers)
	}
	t.Logf("%d writers, %d conflicts retried", writers, conflicts.Load())
}

func TestSetIamPolicyLimitsAndValidation(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestCRM(t, e)
	tests := []struct {
		name    string
		mutate  func(p *crm.Policy)
		message string
	}{
		{"too_many_principals", func(p *crm.Policy) {
			members := make([]string, 0, 1501)
			for i := range 1501 {
				members = append(members, fmt.Sprintf("user:u%04d@example.com", i))
			}
			p.Bindings = []*crm.Binding{{Role: "roles/viewer", Members: members}}
		}, "1501"},
		{"too_many_conditional_bindings_for_role_and_principal", func(p *crm.Policy) {
			for i := range 21 {
				p.Bindings = append(p.Bindings, activation("user:alice@example.com", "roles/viewer", i))
			}
		}, "at most 20"},
		{"malformed_condition", func(p *crm.Policy) {
			b := activation("user:alice@example.com", "roles/viewer", 0)
			b.Condition.Expression = "request.time < timestamp("
			p.Bindings = append(p.Bindings, b)
		}, "invalid"},
		{"condition_without_title", func(p *crm.Policy) {
			b := activation("user:alice@example.com", "roles/viewer", 0)
			b.Condition.Title = ""
			p.Bindings = append(p.Bindings, b)
		}, "title"},
		{"conditional_binding_at_version_1", func(p *crm.Policy) {
			p.Version = 1
			p.Bindings = append(p.Bindings, activation("user:alice@example.com", "roles/viewer", 0))
		}, "version 3"},
		{"bad_member", func(p *crm.Policy) {
			p.Bindings = append(p.Bindings, &crm.Binding{Role: "roles/viewer", Members: []string{"alice@example.com"}})
		}, "principal"},
		{"bad_role", func(p *crm.Policy) {
			p.Bindings = append(p.Bindings, &crm.Binding{Role: "viewer", Members: []string{"user:alice@example.com"}})
		}, "Role"},
		{"bad_update_mask", nil, "update mask"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := getPolicy(t, s, plainProject, 3)
			p.Version = 3
			mask := "bindings,etag"
			if tc.mutate != nil {
				tc.mutate(p)
			} else {
				mask = "bindings,owner"
			}
			_, err := s.Projects.SetIamPolicy(plainProject, &crm.SetIamPolicyRequest{Policy: p, UpdateMask: mask}).Context(t.Context()).Do()
			gerr := wiretest.MustAPIError(t, err, http.StatusBadRequest, "INVALID_ARGUMENT")
			if !strings.Contains(gerr.Message, tc.message) {
				t.Errorf("message %q does not mention %q", gerr.Message, tc.message)
			}
		})
	}
	t.Cleanup(func() {
		if n := e.World.PolicyWrites(plainProject); n != 0 {
			t.Errorf("rejected writes were stored: %d", n)
		}
	})
}

func TestAuditConfigsPreservedAcrossWrites(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestCRM(t, e)
	ctx := t.Context()
	p := getPolicy(t, s, plainProject, 3)
	p.AuditConfigs = []*crm.AuditConfig{{Service: "allServices", AuditLogConfigs: []*crm.AuditLogConfig{{LogType: "DATA_READ", ExemptedMembers: []string{"user:bob@example.com"}}}}}
	if _, err := s.Projects.SetIamPolicy(plainProject, &crm.SetIamPolicyRequest{Policy: p, UpdateMask: "bindings,etag,auditConfigs"}).Context(ctx).Do(); err != nil {
		t.Fatal(err)
	}
	for _, mask := range []string{"bindings,etag", ""} {
		p := getPolicy(t, s, plainProject, 3)
		p.AuditConfigs = nil // a client that drops them
		p.Bindings = append(p.Bindings, &crm.Binding{Role: "roles/viewer", Members: []string{"user:carol@example.com"}})
		if _, err := s.Projects.SetIamPolicy(plainProject, &crm.SetIamPolicyRequest{Policy: p, UpdateMask: mask}).Context(ctx).Do(); err != nil {
			t.Fatalf("mask %q: %v", mask, err)
		}
		got := getPolicy(t, s, plainProject, 3)
		if len(got.AuditConfigs) != 1 || got.AuditConfigs[0].Service != "allServices" ||
			got.AuditConfigs[0].AuditLogConfigs[0].ExemptedMembers[0] != "user:bob@example.com" {
			t.Errorf("mask %q: auditConfigs = %+v", mask, got.AuditConfigs)
		}
	}
	// With auditConfigs in the mask, they can be removed.
	p = getPolicy(t, s, plainProject, 3)
	p.AuditConfigs = nil
	if _, err := s.Projects.SetIamPolicy(plainProject, &crm.SetIamPolicyRequest{Policy: p, UpdateMask: "auditConfigs"}).Context(ctx).Do(); err != nil {
		t.Fatal(err)
	}
	if got := getPolicy(t, s, plainProject, 3); len(got.AuditConfigs) != 0 {
		t.Errorf("auditConfigs not removed: %+v", got.AuditConfigs)
	}
}

func TestFaultsOnResourceManager(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestCRM(t, e)
	e.World.Faults.Set("cloudresourcemanager.projects.getIamPolicy", Fault{Code: http.StatusServiceUnavailable, Count: 2})
	req := &crm.GetIamPolicyRequest{Options: &crm.GetPolicyOptions{RequestedPolicyVersion: 3}}
	for range 2 {
		_, err := s.Projects.GetIamPolicy(plainProject, req).Context(t.Context()).Do()
		_ = wiretest.MustAPIError(t, err, http.StatusServiceUnavailable, "UNAVAILABLE")
	}
	if _, err := s.Projects.GetIamPolicy(plainProject, req).Context(t.Context()).Do(); err != nil {
		t.Errorf("after the count of faults: %v", err)
	}
	if n := e.World.Faults.Calls("cloudresourcemanager.projects.getIamPolicy"); n != 3 {
		t.Errorf("Calls = %d, want 3", n)
	}

	// Latency longer than the client's deadline: the client gives up.
	e.World.Faults.Set("cloudresourcemanager.projects.get", Fault{Latency: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := s.Projects.Get(plainProject).Context(ctx).Do()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("get with latency = %v, want deadline exceeded", err)
	}
	// Other methods are unaffected.
	if _, err := s.Folders.Get(prodFolder).Context(t.Context()).Do(); err != nil {
		t.Errorf("folders.get: %v", err)
	}

	// A call with a body that a latency holds ends when its client gives
	// up, and is counted as abandoned.
	const held = "cloudresourcemanager.projects.setIamPolicy"
	e.World.Faults.Set(held, Fault{Latency: time.Hour})
	ctx, cancel = context.WithCancel(t.Context())
	go func() {
		for e.World.Faults.Held(held) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err = s.Projects.SetIamPolicy(plainProject, &crm.SetIamPolicyRequest{Policy: &crm.Policy{}}).Context(ctx).Do()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("setIamPolicy given up = %v, want canceled", err)
	}
	for e.World.Faults.Held(held) > 0 {
		time.Sleep(time.Millisecond)
	}
	if n := e.World.Faults.Abandoned(held); n != 1 {
		t.Errorf("Abandoned = %d, want 1", n)
	}
}

func TestMalformedRequestBodies(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	base := e.Endpoints().ResourceManager
	tests := []struct{ name, path, body string }{
		{"not_json", "v3/" + plainProject + ":setIamPolicy", "{policy:"},
		{"unknown_field", "v3/" + plainProject + ":setIamPolicy", `{"policy":{"bindings":[]},"owner":"me"}`},
		{"no_policy", "v3/" + plainProject + ":setIamPolicy", `{}`},
		{"trailing_data", "v3/" + plainProject + ":getIamPolicy", `{} {}`},
		{"wrong_type", "v3/" + plainProject + ":getIamPolicy", `{"options":{"requestedPolicyVersion":"three"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error struct {
					Code    int    `json:"code"`
					Status  string `json:"status"`
					Message string `json:"message"`
				} `json:"error"`
			}
			raw, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("body %q: %v", raw, err)
			}
			if resp.StatusCode != http.StatusBadRequest || body.Error.Status != "INVALID_ARGUMENT" || body.Error.Code != 400 {
				t.Errorf("%s = %d %s", tc.body, resp.StatusCode, raw)
			}
		})
	}
}
