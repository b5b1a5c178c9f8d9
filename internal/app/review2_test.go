package app_test

import (
	"net/http"
	"testing"

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
