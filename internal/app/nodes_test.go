package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
)

func TestFolderAndOrganizationRoutesAreOffByDefault(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	for _, path := range []string{"/api/folders", "/api/folders/1001/roles", "/api/organizations/123456789012/roles"} {
		if r := h.Do(t, "alice@example.com", http.MethodGet, path, nil); r.Status != 404 {
			t.Errorf("GET %s = %d %s", path, r.Status, r.Body)
		}
	}
	r := h.Do(t, "alice@example.com", http.MethodPost, "/api/folders/1001/roles/self-activate", map[string]any{
		"entitlementIds": []string{"folders/1001:roles/logging.viewer"}, "justification": "INC-1", "activationTimeout": 30})
	if r.Status != 404 || h.Emulator.World.TotalPolicyWrites() != 0 {
		t.Errorf("self-activate on a folder while off = %d %s", r.Status, r.Body)
	}
}

func TestActivationOnFoldersAndTheOrganization(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t, apptest.Options{Config: map[string]string{"ACTIVATION_ON_FOLDERS_AND_ORGANIZATIONS": "true"}})
	h.Emulator.World.SetIndexDelay(0)
	spec := loadOpenAPI(t)
	get := func(user, path string) apptest.Response {
		r := h.Do(t, user, http.MethodGet, path, nil)
		spec.check(t, http.MethodGet, path, r)
		return r
	}
	if r := get("alice@example.com", "/api/folders"); r.Status != 200 || !strings.Contains(string(r.Body), `"folders/1001"`) {
		t.Errorf("alice's folders = %d %s", r.Status, r.Body)
	}
	r := get("alice@example.com", "/api/folders/1001/roles")
	if r.Status != 200 || !strings.Contains(string(r.Body), `"id":"folders/1001:roles/logging.viewer"`) ||
		!strings.Contains(string(r.Body), `"id":"folders/1001:roles/compute.admin","name":"roles/compute.admin","resourceCondition":null,"activationType":"MPA"`) {
		t.Fatalf("alice's roles on folders/1001 = %d %s", r.Status, r.Body)
	}

	// Self-activation writes the folder's policy, nothing else.
	const path = "/api/folders/1001/roles/self-activate"
	r = h.Do(t, "alice@example.com", http.MethodPost, path, map[string]any{
		"entitlementIds": []string{"folders/1001:roles/logging.viewer"}, "justification": "INC-9 log dive", "activationTimeout": 30})
	spec.check(t, http.MethodPost, path, r)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"projectId":"folders/1001"`) {
		t.Fatalf("self-activate on folders/1001 = %d %s", r.Status, r.Body)
	}
	acts := emutest.Activations(t, h.Emulator.World, "folders/1001")
	if len(acts) != 1 || acts[0].Members[0] != "user:alice@example.com" || acts[0].Role != "roles/logging.viewer" ||
		h.Emulator.World.TotalPolicyWrites() != 1 {
		t.Errorf("folder bindings = %+v (%d writes)", acts, h.Emulator.World.TotalPolicyWrites())
	}
	if r := h.Do(t, "alice@example.com", http.MethodGet, path[:len("/api/folders/1001")]+"/roles", nil); !strings.Contains(string(r.Body), `"status":"ACTIVE"`) {
		t.Errorf("roles after activation = %s", r.Body)
	}
	a := findActivation(activations(t, h, "alice@example.com", ""), "folders/1001", "roles/logging.viewer")
	if a == nil {
		t.Fatal("My access misses the folder activation")
	}
	if r := h.Do(t, "alice@example.com", http.MethodPost, "/api/activations/extend", map[string]any{"id": a["id"], "activationTimeout": 60}); r.Status != 200 {
		t.Errorf("extend on a folder = %d %s", r.Status, r.Body)
	} else if r := h.Do(t, "alice@example.com", http.MethodPost, "/api/activations/end", map[string]any{"id": r.JSON(t)["id"]}); r.Status != 200 {
		t.Errorf("end on a folder = %d %s", r.Status, r.Body)
	}
	if n := len(emutest.Activations(t, h.Emulator.World, "folders/1001")); n != 0 {
		t.Errorf("%d folder bindings after ending", n)
	}

	// Peer approval on a folder: bob (also SRE) approves alice's request.
	token := requestAndGetToken(t, h, "alice@example.com", "folders/1001", "roles/compute.admin", "bob@example.com", nil)
	if r := h.Do(t, "bob@example.com", http.MethodPost, "/api/activation-request?activation="+url.QueryEscape(token), nil); r.Status != 200 {
		t.Fatalf("approve on a folder = %d %s", r.Status, r.Body)
	}
	if r := h.Do(t, "alice@example.com", http.MethodGet, "/api/activation-request?activation="+url.QueryEscape(token), nil); r.Status != 200 ||
		!strings.Contains(string(r.Body), `"status":"APPROVED"`) {
		t.Errorf("the folder request after approval = %d %s", r.Status, r.Body)
	}
	if acts := emutest.Activations(t, h.Emulator.World, "folders/1001"); len(acts) != 1 || !strings.HasPrefix(acts[0].Condition.Description, "Approved by bob@example.com, justification: CHG-7 hotfix (request mpa-") {
		t.Errorf("approved folder bindings = %+v", acts)
	}

	// The organization itself.
	r = h.Do(t, "heidi@example.com", http.MethodPost, "/api/organizations/123456789012/roles/self-activate", map[string]any{
		"entitlementIds": []string{"organizations/123456789012:roles/iam.securityReviewer"}, "justification": "INC-3 review", "activationTimeout": 60})
	if r.Status != 200 || len(emutest.Activations(t, h.Emulator.World, "organizations/123456789012")) != 1 {
		t.Errorf("self-activate on the organization = %d %s", r.Status, r.Body)
	}

	// Ids of one level never work on another, and eligibility still counts.
	writes := h.Emulator.World.TotalPolicyWrites()
	for _, tc := range []struct {
		user, path, id string
		status         int
	}{
		{"alice@example.com", "/api/projects/prod-web-frontend/roles/self-activate", "folders/1001:roles/logging.viewer", 400},
		{"alice@example.com", "/api/folders/1001/roles/self-activate", "prod-web-frontend:roles/logging.viewer", 400},
		{"alice@example.com", "/api/folders/1002/roles/self-activate", "folders/1001:roles/logging.viewer", 400},
		{"grace@example.com", "/api/folders/1001/roles/self-activate", "folders/1001:roles/logging.viewer", 403},
		{"alice@example.com", "/api/folders/1001/roles/self-activate", "folders/1001:roles/compute.admin", 403},
	} {
		r := h.Do(t, tc.user, http.MethodPost, tc.path, map[string]any{"entitlementIds": []string{tc.id}, "justification": "INC-1", "activationTimeout": 30})
		if r.Status != tc.status {
			t.Errorf("%s %s as %s = %d %s", tc.path, tc.id, tc.user, r.Status, r.Body)
		}
	}
	if n := h.Emulator.World.TotalPolicyWrites() - writes; n != 0 {
		t.Errorf("%d writes by refused requests", n)
	}
}
