package app_test

import (
	"net/http"
	"testing"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
)

// TestWritesReadEachPolicyOnce: a self-activation reads the project's
// policy once (its eligibility check and its write share it), and after
// the roles page asks Cloud Asset nothing; with the cache off, one Cloud
// Asset question about the project and still one policy read.
func TestWritesReadEachPolicyOnce(t *testing.T) {
	t.Parallel()
	for _, catalog := range []string{"PolicyAnalyzer", "AssetInventory"} {
		for _, ttl := range []string{"30", "0"} {
			t.Run(catalog+"/ttl_"+ttl, func(t *testing.T) {
				t.Parallel()
				h := apptest.Start(t, apptest.Options{Config: map[string]string{
					"RESOURCE_CATALOG": catalog, "RESOURCE_CUSTOMER_ID": "C0example1", "CATALOG_CACHE_TTL": ttl,
				}})
				f := &h.Emulator.World.Faults
				if r := h.Do(t, "dave@example.com", http.MethodGet, "/api/projects/prod-payments-db/roles", nil); r.Status != 200 {
					t.Fatalf("roles = %d %s", r.Status, r.Body)
				}
				reads := f.Calls("cloudresourcemanager.projects.getIamPolicy")
				asset := f.Calls("cloudasset.AnalyzeIamPolicy") + f.Calls("cloudasset.BatchGetEffectiveIamPolicies")
				r := h.Do(t, "dave@example.com", http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate", map[string]any{
					"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "INC-1", "activationTimeout": 30,
				})
				if r.Status != 200 {
					t.Fatalf("self-activate = %d %s", r.Status, r.Body)
				}
				if n := f.Calls("cloudresourcemanager.projects.getIamPolicy") - reads; n != 1 {
					t.Errorf("%d reads of the project's policy, want 1", n)
				}
				wantAsset := 0
				if ttl == "0" {
					wantAsset = 1
				}
				if n := f.Calls("cloudasset.AnalyzeIamPolicy") + f.Calls("cloudasset.BatchGetEffectiveIamPolicies") - asset; n != wantAsset {
					t.Errorf("%d Cloud Asset calls, want %d", n, wantAsset)
				}
			})
		}
	}
}
