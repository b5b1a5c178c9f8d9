package app_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
)

// roleItem returns the roles answer's entitlement with id, or fails.
func roleItem(t *testing.T, h *apptest.Harness, spec *openAPI, user, project, id string) map[string]any {
	t.Helper()
	path := "/api/projects/" + project + "/roles"
	r := h.Do(t, user, http.MethodGet, path, nil)
	spec.check(t, http.MethodGet, path, r)
	if r.Status != 200 {
		t.Fatalf("roles of %s on %s = %d %s", user, project, r.Status, r.Body)
	}
	for _, e := range r.JSON(t)["entitlements"].([]any) {
		if e := e.(map[string]any); e["id"] == id {
			return e
		}
	}
	t.Fatalf("roles of %s on %s have no %s: %s", user, project, id, r.Body)
	return nil
}

// TestApprovalPolicyIsShownBeforeAsking: the roles and peers answers say
// how many approvals a request needs and whether the people listed are
// dedicated approvers or peers; JIT roles carry neither field (the
// original's UI sees nothing new there).
func TestApprovalPolicyIsShownBeforeAsking(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	spec := loadOpenAPI(t)

	sc := roleItem(t, h, spec, "frank@example.com", scProject, scProject+":"+scRole)
	if sc["approvalsRequired"] != 2.0 || sc["approverType"] != "DEDICATED" {
		t.Errorf("securitycenter.admin = %v, want 2 approvals of DEDICATED approvers", sc)
	}
	peersPath := "/api/projects/" + scProject + "/peers?id=" + url.QueryEscape(scProject+":"+scRole)
	r := h.Do(t, "frank@example.com", http.MethodGet, peersPath, nil)
	spec.check(t, http.MethodGet, peersPath, r)
	if b := r.JSON(t); r.Status != 200 || b["approvalsRequired"] != 2.0 || b["approverType"] != "DEDICATED" || len(b["peers"].([]any)) != 3 {
		t.Errorf("peers of securitycenter.admin = %d %s", r.Status, r.Body)
	}

	run := roleItem(t, h, spec, "erin@example.com", "prod-payments-api", "prod-payments-api:roles/run.developer")
	if run["approvalsRequired"] != 1.0 || run["approverType"] != "PEER" {
		t.Errorf("run.developer = %v, want 1 approval of a PEER", run)
	}
	peersPath = "/api/projects/prod-payments-api/peers?id=" + url.QueryEscape("prod-payments-api:roles/run.developer")
	r = h.Do(t, "erin@example.com", http.MethodGet, peersPath, nil)
	spec.check(t, http.MethodGet, peersPath, r)
	if r.Status != 200 || string(r.Body) != `{"peers":[{"email":"dave@example.com"}],"approvalsRequired":1,"approverType":"PEER"}`+"\n" {
		t.Errorf("peers of run.developer = %d %s", r.Status, r.Body)
	}

	jit := roleItem(t, h, spec, "dave@example.com", "prod-payments-db", "prod-payments-db:roles/cloudsql.client")
	if _, ok := jit["approvalsRequired"]; ok || jit["activationType"] != "JIT" || jit["approverType"] != nil {
		t.Errorf("a JIT role carries approval fields: %v", jit)
	}
}

// TestDeploymentWideQuorumIsShown: ACTIVATION_REQUEST_APPROVALS applies to
// what the roles and peers answers say of a role without a declared
// quorum, as it does to the request, with either catalog.
func TestDeploymentWideQuorumIsShown(t *testing.T) {
	t.Parallel()
	for _, catalog := range []string{"PolicyAnalyzer", "AssetInventory"} {
		t.Run(catalog, func(t *testing.T) {
			t.Parallel()
			h := apptest.Start(t, apptest.Options{Config: map[string]string{
				"ACTIVATION_REQUEST_APPROVALS": "2", "RESOURCE_CATALOG": catalog, "RESOURCE_CUSTOMER_ID": "C0example1",
			}})
			spec := loadOpenAPI(t)
			const project, role = "prod-payments-api", "roles/run.developer"
			if e := roleItem(t, h, spec, "erin@example.com", project, project+":"+role); e["approvalsRequired"] != 2.0 || e["approverType"] != "PEER" {
				t.Errorf("roles: %v, want 2 approvals of PEERs", e)
			}
			r := h.Do(t, "erin@example.com", http.MethodGet, "/api/projects/"+project+"/peers?id="+url.QueryEscape(project+":"+role), nil)
			if b := r.JSON(t); b["approvalsRequired"] != 2.0 || b["approverType"] != "PEER" {
				t.Errorf("peers: %s", r.Body)
			}
			if e := roleItem(t, h, spec, "frank@example.com", scProject, scProject+":"+scRole); e["approvalsRequired"] != 2.0 || e["approverType"] != "DEDICATED" {
				t.Errorf("securitycenter.admin: %v, want 2 approvals of DEDICATED approvers", e)
			}
		})
	}
}
