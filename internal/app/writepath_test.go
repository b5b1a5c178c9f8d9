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
)

// The write path's promise (DESIGN.md §10, docs/security.md): whatever a
// cache or the Cloud Asset index still says, a write confirms what it
// rests on in the live policies of its scope and their ancestors. Each
// scenario below is an administrator's change that a stale read does not
// show yet; each runs with both catalogs, once with the cache on (long
// TTL, warmed before the change) and once with the cache off while the
// Asset index lags IAM. Every one of them must be refused with a 403 and
// write nothing.

// staleReads are the two ways a read can be stale.
var staleReads = []struct {
	name   string
	config map[string]string
	lag    time.Duration
}{
	{"cached", map[string]string{"CATALOG_CACHE_TTL": "600"}, 0},
	{"index_lag", map[string]string{"CATALOG_CACHE_TTL": "0"}, time.Hour},
}

// staleRead names the catalog and the kind of stale read of a run.
type staleRead struct{ catalog, kind string }

// forEachStaleRead runs test against each catalog and kind of stale read.
func forEachStaleRead(t *testing.T, test func(t *testing.T, h *apptest.Harness, run staleRead)) {
	t.Helper()
	for _, catalog := range []string{"PolicyAnalyzer", "AssetInventory"} {
		for _, stale := range staleReads {
			t.Run(catalog+"/"+stale.name, func(t *testing.T) {
				t.Parallel()
				config := map[string]string{
					"RESOURCE_CATALOG": catalog, "RESOURCE_CUSTOMER_ID": "C0example1",
					"ACTIVATION_ON_FOLDERS_AND_ORGANIZATIONS": "true",
				}
				for k, v := range stale.config {
					config[k] = v
				}
				h := apptest.Start(t, apptest.Options{Config: config})
				h.Emulator.World.SetIndexDelay(stale.lag)
				test(t, h, staleRead{catalog, stale.name})
			})
		}
	}
}

// changePolicy applies an administrator's change to resource's live
// policy.
func changePolicy(t *testing.T, w *emulator.World, resource string, change func(p *emulator.Policy)) {
	t.Helper()
	p, ok := w.Policy(resource)
	if !ok {
		t.Fatalf("no policy for %s", resource)
	}
	change(&p)
	p.Bindings = slices.DeleteFunc(p.Bindings, func(b emulator.Binding) bool { return len(b.Members) == 0 })
	p.Version = 3
	if _, err := w.SetIamPolicy(resource, p); err != nil {
		t.Fatal(err)
	}
}

// dropEligible removes member (every member when empty) from the bindings
// of role on resource whose condition contains marker.
func dropEligible(t *testing.T, w *emulator.World, resource, role, marker, member string) {
	t.Helper()
	changePolicy(t, w, resource, func(p *emulator.Policy) {
		for i, b := range p.Bindings {
			if b.Role == role && b.Condition != nil && strings.Contains(b.Condition.Expression, marker) {
				p.Bindings[i].Members = slices.DeleteFunc(slices.Clone(b.Members), func(m string) bool { return member == "" || m == member })
			}
		}
	})
}

// refused checks that the call was refused with a 403 and wrote nothing.
func refused(t *testing.T, h *apptest.Harness, what string, call func() apptest.Response) {
	t.Helper()
	writes := h.Emulator.World.TotalPolicyWrites()
	r := call()
	if r.Status != http.StatusForbidden {
		t.Errorf("%s = %d %s, want 403", what, r.Status, r.Body)
	}
	if n := h.Emulator.World.TotalPolicyWrites() - writes; n != 0 {
		t.Errorf("%s: %d policy writes, want none", what, n)
	}
}

// stillShows checks that a read still shows what the administrator
// removed: otherwise the scenario proves nothing.
func stillShows(t *testing.T, h *apptest.Harness, user, path, want string) {
	t.Helper()
	if r := h.Do(t, user, http.MethodGet, path, nil); r.Status != 200 || !strings.Contains(string(r.Body), want) {
		t.Fatalf("GET %s no longer shows %s (%d %s); the scenario proves nothing", path, want, r.Status, r.Body)
	}
}

func approvePath(token string) string {
	return "/api/activation-request?activation=" + url.QueryEscape(token)
}

// 1. A folder's eligible binding is removed: self-activation on the folder
// and the approval of a folder request are refused.
func TestWritePathFolderEligibilityRemoved(t *testing.T) {
	t.Parallel()
	forEachStaleRead(t, func(t *testing.T, h *apptest.Harness, run staleRead) {
		w := h.Emulator.World
		const roles = "/api/folders/1001/roles"
		stillShows(t, h, "alice@example.com", roles, "folders/1001:roles/logging.viewer")
		token := requestAndGetToken(t, h, "alice@example.com", "folders/1001", "roles/compute.admin", "bob@example.com", nil)
		if r := h.Do(t, "bob@example.com", http.MethodGet, approvePath(token), nil); r.Status != 200 {
			t.Fatalf("bob views the request = %d %s", r.Status, r.Body)
		}

		dropEligible(t, w, "folders/1001", "roles/logging.viewer", "jitAccessConstraint", "")
		dropEligible(t, w, "folders/1001", "roles/compute.admin", "multiPartyApprovalConstraint", "")
		if run != (staleRead{"PolicyAnalyzer", "cached"}) {
			// Policy Analyzer's answers about a folder are not cached.
			stillShows(t, h, "alice@example.com", roles, "folders/1001:roles/logging.viewer")
		}

		refused(t, h, "self-activation on the folder", func() apptest.Response {
			return h.Do(t, "alice@example.com", http.MethodPost, roles+"/self-activate", map[string]any{
				"entitlementIds": []string{"folders/1001:roles/logging.viewer"}, "justification": "INC-1", "activationTimeout": 30})
		})
		refused(t, h, "approval on the folder", func() apptest.Response {
			return h.Do(t, "bob@example.com", http.MethodPost, approvePath(token), nil)
		})
	})
}

// 2. A dedicated approver is removed from the approver binding: their
// approval is refused and does not count toward the quorum.
func TestWritePathRemovedApproverCannotApprove(t *testing.T) {
	t.Parallel()
	forEachStaleRead(t, func(t *testing.T, h *apptest.Harness, _ staleRead) {
		token := requestAndGetToken(t, h, "frank@example.com", "security-tools", "roles/securitycenter.admin", "alice@example.com",
			map[string]any{"peers": []string{"alice@example.com", "carol@example.com"}})
		if r := h.Do(t, "alice@example.com", http.MethodGet, approvePath(token), nil); r.Status != 200 {
			t.Fatalf("alice views the request = %d %s", r.Status, r.Body)
		}
		dropEligible(t, h.Emulator.World, "projects/security-tools", "roles/securitycenter.admin", "multiPartyApprovalConstraint.approver", "user:alice@example.com")
		refused(t, h, "approval by a removed approver", func() apptest.Response {
			return h.Do(t, "alice@example.com", http.MethodPost, approvePath(token), nil)
		})
		// carol's approval is the first, not the second: the request
		// stays pending.
		r := h.Do(t, "carol@example.com", http.MethodPost, approvePath(token), nil)
		if r.Status != 200 || strings.Contains(string(r.Body), `"status":"APPROVED"`) {
			t.Errorf("carol's approval = %d %s, want 200 and still pending", r.Status, r.Body)
		}
	})
}

// 3. An administrator declares dedicated approvers on a role: a peer may
// no longer approve it.
func TestWritePathNewApproverDeclarationBindsAtOnce(t *testing.T) {
	t.Parallel()
	forEachStaleRead(t, func(t *testing.T, h *apptest.Harness, _ staleRead) {
		token := requestAndGetToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "dave@example.com", nil)
		if r := h.Do(t, "dave@example.com", http.MethodGet, approvePath(token), nil); r.Status != 200 {
			t.Fatalf("dave views the request = %d %s", r.Status, r.Body)
		}
		changePolicy(t, h.Emulator.World, "projects/prod-payments-api", func(p *emulator.Policy) {
			p.Bindings = append(p.Bindings, emulator.Binding{Role: "roles/run.developer", Members: []string{"user:carol@example.com"},
				Condition: &emulator.Expr{Title: "Approvers", Expression: "has({}.multiPartyApprovalConstraint.approver)"}})
		})
		refused(t, h, "approval by a peer after approvers were declared", func() apptest.Response {
			return h.Do(t, "dave@example.com", http.MethodPost, approvePath(token), nil)
		})
	})
}

// 4. An eligibility is removed: extending an activation of it is refused
// as a new activation is.
func TestWritePathExtendAfterEligibilityRemoved(t *testing.T) {
	t.Parallel()
	forEachStaleRead(t, func(t *testing.T, h *apptest.Harness, _ staleRead) {
		const roles = "/api/projects/prod-payments-db/roles"
		r := h.Do(t, "dave@example.com", http.MethodPost, roles+"/self-activate", map[string]any{
			"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "INC-1", "activationTimeout": 30})
		if r.Status != 200 {
			t.Fatalf("self-activation = %d %s", r.Status, r.Body)
		}
		stillShows(t, h, "dave@example.com", roles, "prod-payments-db:roles/cloudsql.client")
		a := findActivation(activations(t, h, "dave@example.com", ""), "projects/prod-payments-db", "roles/cloudsql.client")
		if a == nil {
			t.Fatal("My access misses the activation")
		}
		dropEligible(t, h.Emulator.World, "projects/prod-payments-db", "roles/cloudsql.client", "jitAccessConstraint", "user:dave@example.com")
		stillShows(t, h, "dave@example.com", roles, "prod-payments-db:roles/cloudsql.client")
		refused(t, h, "extend", func() apptest.Response {
			return h.Do(t, "dave@example.com", http.MethodPost, "/api/activations/extend", map[string]any{"id": a["id"], "activationTimeout": 60})
		})
	})
}

// 5. A reviewer loses their eligibility: their rejection (a veto) is
// refused.
func TestWritePathRejectionByFormerPeer(t *testing.T) {
	t.Parallel()
	forEachStaleRead(t, func(t *testing.T, h *apptest.Harness, _ staleRead) {
		token := requestAndGetToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "dave@example.com", nil)
		if r := h.Do(t, "dave@example.com", http.MethodGet, approvePath(token), nil); r.Status != 200 {
			t.Fatalf("dave views the request = %d %s", r.Status, r.Body)
		}
		dropEligible(t, h.Emulator.World, "projects/prod-payments-api", "roles/run.developer", "multiPartyApprovalConstraint", "user:dave@example.com")
		refused(t, h, "rejection by a former peer", func() apptest.Response {
			return h.Do(t, "dave@example.com", http.MethodPost, strings.Replace(approvePath(token), "/api/activation-request?", "/api/activation-request/reject?", 1),
				map[string]any{"reason": "no"})
		})
	})
}
