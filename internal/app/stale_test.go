package app_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/outbox"
)

// revoke removes member from role's bindings on resource, as an
// administrator would, while Cloud Asset keeps showing the old policy.
func revoke(t *testing.T, w *emulator.World, resource, role, member string) {
	t.Helper()
	p, _ := w.Policy(resource)
	for i, b := range p.Bindings {
		if b.Role == role && b.Condition != nil && strings.Contains(b.Condition.Expression, "Constraint") {
			p.Bindings[i].Members = slices.DeleteFunc(slices.Clone(b.Members), func(m string) bool { return m == member })
		}
	}
	p.Bindings = slices.DeleteFunc(p.Bindings, func(b emulator.Binding) bool { return len(b.Members) == 0 })
	if _, err := w.SetIamPolicy(resource, p); err != nil {
		t.Fatal(err)
	}
}

// TestStaleReadsNeverGrant: the roles page (cached) and Cloud Asset (an
// index minutes behind) still show an eligibility an administrator just
// removed; self-activation and approval confirm it in the live policy and
// refuse, writing nothing.
func TestStaleReadsNeverGrant(t *testing.T) {
	t.Parallel()
	for _, catalog := range []string{"PolicyAnalyzer", "AssetInventory"} {
		t.Run(catalog, func(t *testing.T) {
			t.Parallel()
			h := apptest.Start(t, apptest.Options{Config: map[string]string{
				"RESOURCE_CATALOG": catalog, "RESOURCE_CUSTOMER_ID": "C0example1", "CATALOG_CACHE_TTL": "600",
			}})
			w := h.Emulator.World
			w.SetIndexDelay(time.Hour)

			// Self-activation.
			const dbPath = "/api/projects/prod-payments-db/roles"
			if r := h.Do(t, "dave@example.com", http.MethodGet, dbPath, nil); r.Status != 200 || !strings.Contains(string(r.Body), "roles/cloudsql.client") {
				t.Fatalf("roles = %d %s", r.Status, r.Body)
			}
			revoke(t, w, "projects/prod-payments-db", "roles/cloudsql.client", "user:dave@example.com")
			if r := h.Do(t, "dave@example.com", http.MethodGet, dbPath, nil); !strings.Contains(string(r.Body), "roles/cloudsql.client") {
				t.Fatalf("the cached roles page no longer shows the removed eligibility; the test proves nothing: %s", r.Body)
			}
			writes := w.TotalPolicyWrites()
			r := h.Do(t, "dave@example.com", http.MethodPost, dbPath+"/self-activate", map[string]any{
				"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "INC-1", "activationTimeout": 30,
			})
			if r.Status != http.StatusForbidden {
				t.Errorf("self-activation of a removed eligibility = %d %s, want 403", r.Status, r.Body)
			}
			if n := w.TotalPolicyWrites() - writes; n != 0 {
				t.Errorf("%d policy writes", n)
			}

			// Approval: the beneficiary loses the eligibility after the
			// reviewer opened the request.
			r = h.Do(t, "erin@example.com", http.MethodPost, "/api/projects/prod-payments-api/roles/request", map[string]any{
				"entitlementId": "prod-payments-api:roles/run.developer", "justification": "CHG-1",
				"peers": []string{"dave@example.com"}, "activationTimeout": 30,
			})
			if r.Status != 200 {
				t.Fatalf("request = %d %s", r.Status, r.Body)
			}
			token := approvalToken(t, h, "dave@example.com")
			path := "/api/activation-request?activation=" + token
			if r := h.Do(t, "dave@example.com", http.MethodGet, path, nil); r.Status != 200 {
				t.Fatalf("view = %d %s", r.Status, r.Body)
			}
			revoke(t, w, "projects/prod-payments-api", "roles/run.developer", "group:payments-devs@example.com")
			writes = w.TotalPolicyWrites()
			if r := h.Do(t, "dave@example.com", http.MethodPost, path, nil); r.Status != http.StatusForbidden {
				t.Errorf("approval for a beneficiary whose eligibility was removed = %d %s, want 403", r.Status, r.Body)
			}
			if n := w.TotalPolicyWrites() - writes; n != 0 {
				t.Errorf("%d policy writes", n)
			}
		})
	}
}

// approvalToken waits for the approval email to reviewer and returns the
// token of its link.
func approvalToken(t *testing.T, h *apptest.Harness, reviewer string) string {
	t.Helper()
	ctx := t.Context() // wait for the event; go test -timeout ends a hang
	m, err := h.Outbox.WaitFor(ctx, func(m outbox.Message) bool { return slices.Contains(m.To, reviewer) })
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(linkPattern.FindString(m.Text))
	if err != nil {
		t.Fatal(err)
	}
	return url.QueryEscape(u.Query().Get("activation"))
}
