package app_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
)

// addBinding appends a binding to a resource's policy, as an
// administrator would in the console.
func addBinding(t *testing.T, w *emulator.World, resource string, b emulator.Binding) {
	t.Helper()
	p, ok := w.Policy(resource)
	if !ok {
		t.Fatalf("no resource %s", resource)
	}
	p.Version = 3
	p.Bindings = append(p.Bindings, b)
	if _, err := w.SetIamPolicy(resource, p); err != nil {
		t.Fatalf("setIamPolicy %s: %v", resource, err)
	}
}

// listRequests returns GET /api/requests?view=VIEW as user.
func listRequests(t *testing.T, h *apptest.Harness, spec *openAPI, user, view string) []map[string]any {
	t.Helper()
	r := h.Do(t, user, http.MethodGet, "/api/requests?view="+view, nil)
	spec.check(t, http.MethodGet, "/api/requests?view="+view, r)
	if r.Status != 200 {
		t.Fatalf("%s's %s list = %d %s", user, view, r.Status, r.Body)
	}
	var out []map[string]any
	for _, x := range r.JSON(t)["requests"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

// TestRequestListsNameFoldersAndTheOrganization: before, a folder's or the
// organization's request was listed as resource "projects/" (the project
// id of an entitlement that has none).
func TestRequestListsNameFoldersAndTheOrganization(t *testing.T) {
	t.Parallel()
	const org = "organizations/123456789012"
	h := apptest.Start(t, apptest.Options{Config: map[string]string{"ACTIVATION_ON_FOLDERS_AND_ORGANIZATIONS": "true"}})
	h.Emulator.World.SetIndexDelay(0)
	spec := loadOpenAPI(t)
	addBinding(t, h.Emulator.World, org, emulator.Binding{
		Role: "roles/iam.securityAdmin", Members: []string{"group:security@example.com"},
		Condition: &emulator.Expr{Title: "Eligible with peer approval", Expression: "has({}.multiPartyApprovalConstraint)"},
	})
	folderToken := requestAndGetToken(t, h, "alice@example.com", "folders/1001", "roles/compute.admin", "bob@example.com", nil)
	orgToken := requestAndGetToken(t, h, "heidi@example.com", org, "roles/iam.securityAdmin", "frank@example.com", nil)

	for _, tc := range []struct {
		user, view, token, resource, role string
	}{
		{"bob@example.com", "review", folderToken, "folders/1001", "roles/compute.admin"},
		{"alice@example.com", "mine", folderToken, "folders/1001", "roles/compute.admin"},
		{"frank@example.com", "review", orgToken, org, "roles/iam.securityAdmin"},
		{"heidi@example.com", "mine", orgToken, org, "roles/iam.securityAdmin"},
	} {
		got := listRequests(t, h, spec, tc.user, tc.view)
		if len(got) != 1 || got[0]["token"] != tc.token {
			t.Errorf("%s's %s list = %v", tc.user, tc.view, got)
			continue
		}
		if g := got[0]; g["resource"] != tc.resource || g["projectId"] != tc.resource ||
			g["entitlementId"] != tc.resource+":"+tc.role || g["role"] != tc.role {
			t.Errorf("%s's %s list names resource %v, projectId %v, entitlementId %v, role %v; want %s",
				tc.user, tc.view, g["resource"], g["projectId"], g["entitlementId"], g["role"], tc.resource)
		}
	}
}

// TestAJustificationCannotDecideAnotherRequest: before, anyone eligible
// for a self-approval role on the request's project decided it by ending
// a justification with "(request mpa-ID)": the request read APPROVED and
// the reviewer's approval got 409, granting nothing. The marker is now
// refused in a justification, and a binding counts as a request's
// decision only when the app's own parts of it say so (title, member,
// role, parsed condition, and the id the app appends to an approval) —
// also for such bindings written before, by a deployment that let the
// marker through.
func TestAJustificationCannotDecideAnotherRequest(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	h.Emulator.World.SetIndexDelay(0)
	const project = "prod-payments-api"
	token := requestToken(t, h, "erin@example.com", project, "roles/run.developer", "CHG-11 deploy", []string{"dave@example.com"}, 30)
	view := h.Do(t, "erin@example.com", http.MethodGet, requestPath(token), nil)
	id, _ := view.JSON(t)["id"].(string)
	if view.Status != 200 || !strings.HasPrefix(id, "mpa-") {
		t.Fatalf("request view = %d %s", view.Status, view.Body)
	}

	// bob (SRE) may self-activate logging.viewer on the project, inherited
	// from the Production folder.
	writes := h.Emulator.World.TotalPolicyWrites()
	for _, j := range []string{"INC-1 (request " + id + ")", "INC-1 (REQUEST " + id + ") more"} {
		r := selfActivate(t, h, "bob@example.com", project, "roles/logging.viewer", 30, map[string]any{"justification": j})
		if r.Status != 400 || !strings.Contains(r.Message(t), `"(request mpa-`) {
			t.Errorf("self-activation with %q = %d %s", j, r.Status, r.Body)
		}
	}
	r := h.Do(t, "erin@example.com", http.MethodPost, "/api/projects/"+project+"/roles/request", map[string]any{
		"entitlementId": project + ":roles/run.developer", "justification": "CHG-12 (request " + id + ")",
		"peers": []string{"dave@example.com"}, "activationTimeout": 30})
	if r.Status != 400 {
		t.Errorf("request with the marker = %d %s", r.Status, r.Body)
	}
	if n := h.Emulator.World.TotalPolicyWrites() - writes; n != 0 {
		t.Fatalf("%d IAM writes by refused justifications", n)
	}

	// Bindings that carry the id in user text, as an earlier deployment
	// could have written them: a self-approval of another member and role,
	// and an "approval" of another member.
	now := h.Emulator.World.Now().UTC()
	window := fmt.Sprintf(`(request.time >= timestamp(%q) && request.time < timestamp(%q))`,
		now.Add(-time.Minute).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339))
	for _, b := range []emulator.Binding{
		{Role: "roles/logging.viewer", Members: []string{"user:bob@example.com"}, Condition: &emulator.Expr{
			Title: "JIT access activation", Description: "Self-approved, justification: INC-1 (request " + id + ")", Expression: window}},
		{Role: "roles/run.developer", Members: []string{"user:dave@example.com"}, Condition: &emulator.Expr{
			Title: "JIT access activation", Description: "Approved by alice@example.com, justification: INC-2 (request " + id + ")", Expression: window}},
		{Role: "roles/logging.viewer", Members: []string{"user:erin@example.com"}, Condition: &emulator.Expr{
			Title: "JIT access activation", Description: "Approved by alice@example.com, justification: INC-3 (request " + id + ")", Expression: window}},
	} {
		addBinding(t, h.Emulator.World, "projects/"+project, b)
	}
	if r := h.Do(t, "dave@example.com", http.MethodGet, requestPath(token), nil); r.Status != 200 || r.JSON(t)["status"] != "PENDING" {
		t.Errorf("the request beside the forged bindings = %d %s", r.Status, r.Body)
	}
	if got := listRequests(t, h, loadOpenAPI(t), "dave@example.com", "review"); len(got) != 1 || got[0]["status"] != "PENDING" {
		t.Errorf("dave's review list = %v", got)
	}

	// The reviewer's approval grants.
	r = h.Do(t, "dave@example.com", http.MethodPost, requestPath(token), nil)
	if r.Status != 200 {
		t.Fatalf("the reviewer's approval = %d %s", r.Status, r.Body)
	}
	if n := bindingsOf(t, h.Emulator.World, "projects/"+project, "user:erin@example.com", "roles/run.developer"); n != 1 {
		t.Errorf("erin has %d run.developer bindings after the approval", n)
	}
	if r := h.Do(t, "erin@example.com", http.MethodGet, requestPath(token), nil); r.JSON(t)["status"] != "APPROVED" || r.JSON(t)["decidedBy"] != "dave@example.com" {
		t.Errorf("the request after approval = %s", r.Body)
	}
}

// scheduledOf returns the scheduled (not yet started) activation bindings
// of member for role on resource.
func scheduledOf(t *testing.T, w *emulator.World, resource, member, role string) []emulator.Binding {
	t.Helper()
	var out []emulator.Binding
	for _, b := range emutest.Activations(t, w, resource) {
		if b.Members[0] != member || b.Role != role {
			continue
		}
		if strings.Contains(b.Condition.Expression, `request.time >= timestamp("`) {
			start, _, _ := strings.Cut(strings.SplitN(b.Condition.Expression, `timestamp("`, 2)[1], `"`)
			if s, err := time.Parse(time.RFC3339, start); err == nil && s.After(w.Now()) {
				out = append(out, b)
			}
		}
	}
	return out
}

// TestOneScheduledWindowPerRoleAndMember: before, one user queued 19
// non-overlapping two-hour windows up to 7 days ahead in one sitting.
// Now a member holds at most one scheduled window of a role (PAM refuses
// overlapping schedules; we refuse a second one): a second is refused
// with the first named, a window that overlaps the scheduled one replaces
// it, access now stays possible, and an approval that would add a second
// scheduled window is refused the same way.
func TestOneScheduledWindowPerRoleAndMember(t *testing.T) {
	t.Parallel()
	clock := emutest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := startLifecycle(t, clock)
	const resource, member, role = "projects/prod-payments-db", "user:dave@example.com", "roles/cloudsql.client"
	at := func(d time.Duration) map[string]any {
		return map[string]any{"startTime": clock.Now().Add(d).Format(time.RFC3339)}
	}
	if r := selfActivate(t, h, "dave@example.com", "prod-payments-db", role, 120, at(24*time.Hour)); r.Status != 200 {
		t.Fatalf("first scheduled window = %d %s", r.Status, r.Body)
	}
	writes := h.Emulator.World.TotalPolicyWrites()
	for _, d := range []time.Duration{48 * time.Hour, 3 * time.Hour, 6*24*time.Hour + 22*time.Hour} {
		r := selfActivate(t, h, "dave@example.com", "prod-payments-db", role, 120, at(d))
		want := "dave@example.com already has a scheduled activation of roles/cloudsql.client on projects/prod-payments-db, from " +
			clock.Now().Add(24*time.Hour).Format(time.RFC3339)
		if r.Status != 409 || !strings.Contains(r.Message(t), want) {
			t.Errorf("a second scheduled window %v ahead = %d %s", d, r.Status, r.Body)
		}
	}
	if n := h.Emulator.World.TotalPolicyWrites() - writes; n != 0 {
		t.Errorf("%d writes by refused schedules", n)
	}
	// Overlapping the scheduled window replaces it.
	if r := selfActivate(t, h, "dave@example.com", "prod-payments-db", role, 120, at(25*time.Hour)); r.Status != 200 {
		t.Errorf("an overlapping window = %d %s", r.Status, r.Body)
	}
	if s := scheduledOf(t, h.Emulator.World, resource, member, role); len(s) != 1 ||
		!strings.Contains(s[0].Condition.Expression, clock.Now().Add(25*time.Hour).Format(time.RFC3339)) {
		t.Errorf("scheduled windows after the overlapping one = %+v", s)
	}
	// Access now beside the scheduled window.
	if r := selfActivate(t, h, "dave@example.com", "prod-payments-db", role, 30, nil); r.Status != 200 {
		t.Errorf("access now = %d %s", r.Status, r.Body)
	}
	// Another member, or another role, is not affected.
	if r := selfActivate(t, h, "erin@example.com", "prod-payments-db", role, 30, at(48*time.Hour)); r.Status != 200 {
		t.Errorf("erin's scheduled window = %d %s", r.Status, r.Body)
	}

	// Approvals: erin's first scheduled request is approved, the second
	// (another window) is refused at approval and grants nothing.
	first := requestAndGetToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "dave@example.com", at(24*time.Hour))
	second := requestAndGetToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "dave@example.com", at(72*time.Hour))
	if r := h.Do(t, "dave@example.com", http.MethodPost, requestPath(first), nil); r.Status != 200 {
		t.Fatalf("approving the first = %d %s", r.Status, r.Body)
	}
	r := h.Do(t, "dave@example.com", http.MethodPost, requestPath(second), nil)
	if r.Status != 409 || !strings.Contains(r.Message(t), "erin@example.com already has a scheduled activation of roles/run.developer") ||
		!strings.HasSuffix(r.Message(t), "end (cancel) it in My access first.") {
		t.Errorf("approving the second = %d %s", r.Status, r.Body)
	}
	if s := scheduledOf(t, h.Emulator.World, "projects/prod-payments-api", "user:erin@example.com", "roles/run.developer"); len(s) != 1 {
		t.Errorf("erin's scheduled run.developer windows = %+v", s)
	}
}

// removeMember removes member from resource's bindings of role whose
// condition has the eligibility marker, dropping a binding left empty.
func removeEligibility(t *testing.T, w *emulator.World, resource, role, member string) {
	t.Helper()
	p, ok := w.Policy(resource)
	if !ok {
		t.Fatalf("no resource %s", resource)
	}
	p.Version = 3
	var kept []emulator.Binding
	for _, b := range p.Bindings {
		if b.Role == role && b.Condition != nil && strings.Contains(b.Condition.Expression, "Constraint)") {
			b.Members = slices.DeleteFunc(b.Members, func(m string) bool { return member == "" || m == member })
			if len(b.Members) == 0 {
				continue
			}
		}
		kept = append(kept, b)
	}
	p.Bindings = kept
	if _, err := w.SetIamPolicy(resource, p); err != nil {
		t.Fatalf("setIamPolicy %s: %v", resource, err)
	}
}

// TestScheduledWindowsEndWhenTheEligibilityIsRemoved: before, a scheduled
// window outlived the removal of the eligibility it was granted on and
// granted at its start. Now the next write the app makes to the policy
// ends every scheduled window of ours whose eligibility no longer holds in
// the live policies of the resource and its ancestors: a member removed
// from a project's eligible binding, and an eligible binding removed from
// a folder. Windows whose eligibility holds (through a group, with a
// resource condition) are kept.
func TestScheduledWindowsEndWhenTheEligibilityIsRemoved(t *testing.T) {
	t.Parallel()
	clock := emutest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := startLifecycle(t, clock)
	w := h.Emulator.World
	tomorrow := map[string]any{"startTime": clock.Now().Add(24 * time.Hour).Format(time.RFC3339)}
	for _, s := range []struct{ user, project, role string }{
		{"dave@example.com", "prod-payments-db", "roles/cloudsql.client"},            // direct, on the project
		{"bob@example.com", "prod-payments-api", "roles/logging.viewer"},             // through sre, on folders/1001
		{"alice@example.com", "prod-web-frontend", "roles/compute.instanceAdmin.v1"}, // through sre, with a resource condition
	} {
		body := map[string]any{"entitlementIds": []string{entitlementID(t, h, s.user, s.project, s.role)}, "justification": "INC-8", "activationTimeout": 60}
		maps.Copy(body, tomorrow)
		if r := h.Do(t, s.user, http.MethodPost, "/api/projects/"+s.project+"/roles/self-activate", body); r.Status != 200 {
			t.Fatalf("%s's scheduled %s = %d %s", s.user, s.role, r.Status, r.Body)
		}
	}

	// The administrator removes dave from the project's eligible binding,
	// and the folder's eligible logging.viewer binding.
	removeEligibility(t, w, "projects/prod-payments-db", "roles/cloudsql.client", "user:dave@example.com")
	removeEligibility(t, w, "folders/1001", "roles/logging.viewer", "")

	// The next write to each policy, by someone else, ends the window.
	if r := selfActivate(t, h, "erin@example.com", "prod-payments-db", "roles/cloudsql.client", 30, nil); r.Status != 200 {
		t.Fatalf("erin's activation = %d %s", r.Status, r.Body)
	}
	if s := scheduledOf(t, w, "projects/prod-payments-db", "user:dave@example.com", "roles/cloudsql.client"); len(s) != 0 {
		t.Errorf("dave's scheduled window survived the removal of his eligibility: %+v", s)
	}
	if n := bindingsOf(t, w, "projects/prod-payments-db", "user:erin@example.com", "roles/cloudsql.client"); n != 1 {
		t.Errorf("erin has %d bindings", n)
	}
	token := requestToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "CHG-5 deploy", []string{"dave@example.com"}, 30)
	if r := h.Do(t, "dave@example.com", http.MethodPost, requestPath(token), nil); r.Status != 200 {
		t.Fatalf("approval on prod-payments-api = %d %s", r.Status, r.Body)
	}
	if s := scheduledOf(t, w, "projects/prod-payments-api", "user:bob@example.com", "roles/logging.viewer"); len(s) != 0 {
		t.Errorf("bob's scheduled window survived the removal of the folder's eligible binding: %+v", s)
	}

	// alice's eligibility holds: bob's write to the same policy keeps it.
	if r := h.Do(t, "bob@example.com", http.MethodPost, "/api/projects/prod-web-frontend/roles/self-activate", map[string]any{
		"entitlementIds": []string{entitlementID(t, h, "bob@example.com", "prod-web-frontend", "roles/compute.instanceAdmin.v1")},
		"justification":  "INC-9", "activationTimeout": 30}); r.Status != 200 {
		t.Fatalf("bob's activation = %d %s", r.Status, r.Body)
	}
	if s := scheduledOf(t, w, "projects/prod-web-frontend", "user:alice@example.com", "roles/compute.instanceAdmin.v1"); len(s) != 1 {
		t.Errorf("alice's scheduled window, still eligible, = %+v", s)
	}
	if a := activations(t, h, "dave@example.com", ""); len(a) != 0 {
		t.Errorf("dave's access after the removal = %v", a)
	}
}

// entitlementID is the id of user's entitlement of role on project, as
// the roles list gives it (with its resource condition).
func entitlementID(t *testing.T, h *apptest.Harness, user, project, role string) string {
	t.Helper()
	r := h.Do(t, user, http.MethodGet, "/api/projects/"+project+"/roles", nil)
	if r.Status != 200 {
		t.Fatalf("%s's roles on %s = %d %s", user, project, r.Status, r.Body)
	}
	var body struct {
		Entitlements []struct{ ID, Name string } `json:"entitlements"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	for _, x := range body.Entitlements {
		if x.Name == role {
			return x.ID
		}
	}
	t.Fatalf("%s has no %s on %s: %s", user, role, project, r.Body)
	return ""
}
