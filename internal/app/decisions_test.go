package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/emulator"
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
