package reliabilitytest

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/emulator"
)

var linkPattern = regexp.MustCompile(`https?://[^\s"<>]+\?activation=[^\s"<>]+`)

// step is an API call that a fault may break.
type step func(t *testing.T, h *apptest.Harness) apptest.Response

func selfActivate(t *testing.T, h *apptest.Harness) apptest.Response {
	return h.Do(t, "dave@example.com", http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate", map[string]any{
		"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "INC-1", "activationTimeout": 30,
	})
}

func requestApproval(t *testing.T, h *apptest.Harness) apptest.Response {
	return h.Do(t, "erin@example.com", http.MethodPost, "/api/projects/prod-payments-api/roles/request", map[string]any{
		"entitlementId": "prod-payments-api:roles/run.developer", "justification": "CHG-1", "peers": []string{"dave@example.com"}, "activationTimeout": 30,
	})
}

func listRoles(t *testing.T, h *apptest.Harness) apptest.Response {
	return h.Do(t, "alice@example.com", http.MethodGet, "/api/projects/prod-payments-api/roles", nil)
}

// TestEveryDependencyFailing breaks one Google method at a time, in each
// way it can break, and checks the answer, that nothing was half-written,
// and that the same call succeeds once the fault is gone.
func TestEveryDependencyFailing(t *testing.T) {
	t.Parallel()
	type fault struct {
		name   string
		fault  emulator.Fault
		status int
	}
	kinds := []fault{
		{"unavailable", emulator.Fault{Code: 503}, http.StatusBadGateway},
		{"internal", emulator.Fault{Code: 500}, http.StatusBadGateway},
		{"quota", emulator.Fault{Code: 429}, http.StatusTooManyRequests},
		{"slow", emulator.Fault{Latency: 4 * time.Second}, http.StatusServiceUnavailable},
	}
	methods := []struct {
		method string
		call   step
		// some failures are retried inside the budget and surface as 503
		statusFor func(kind string, want int) int
	}{
		{"cloudasset.AnalyzeIamPolicy", listRoles, assetStatus},
		{"cloudresourcemanager.projects.getIamPolicy", selfActivate, iamStatus},
		{"cloudresourcemanager.projects.setIamPolicy", selfActivate, iamStatus},
		{"iamcredentials.signJwt", requestApproval, nil},
		{"logging.WriteLogEntries", selfActivate, auditStatus},
	}
	for _, m := range methods {
		for _, k := range kinds {
			t.Run(m.method+"/"+k.name, func(t *testing.T) {
				t.Parallel()
				h := apptest.Start(t, apptest.Options{Config: map[string]string{
					"BACKEND_READ_TIMEOUT": "1", "BACKEND_WRITE_TIMEOUT": "1",
				}})
				w := h.Emulator.World
				want := k.status
				if m.statusFor != nil {
					want = m.statusFor(k.name, k.status)
				}
				w.Faults.Set(m.method, k.fault)
				etag := func() string { p, _ := w.Policy("projects/prod-payments-db"); return p.Etag }
				before := etag()
				r := m.call(t, h)
				if r.Status != want {
					t.Errorf("with the fault: %d %s, want %d", r.Status, r.Body, want)
				}
				if r.Status != 200 && r.Message(t) == "" {
					t.Errorf("no message in %s", r.Body)
				}
				// A write that timed out on our side may still land at
				// Google's; every other failure must leave the policy as it was.
				if r.Status != 200 && k.name != "slow" && etag() != before {
					t.Errorf("the policy changed although the call failed")
				}
				w.Faults.Clear()
				if r := m.call(t, h); r.Status != 200 {
					t.Errorf("after the fault cleared: %d %s", r.Status, r.Body)
				}
			})
		}
	}
}

// iamStatus: Resource Manager errors are retried within the budget; a
// fault that outlasts it is reported as what it last was.
func iamStatus(kind string, want int) int {
	if kind == "slow" {
		return http.StatusServiceUnavailable
	}
	return want
}

// assetStatus: the Cloud Asset client library itself retries UNAVAILABLE
// until the deadline, which then surfaces as a timeout.
func assetStatus(kind string, want int) int {
	if kind == "unavailable" {
		return http.StatusServiceUnavailable
	}
	return want
}

// auditStatus: the audit record is written after the grant, so a failing
// Cloud Logging does not undo access; the call succeeds, the failure is
// logged, and IAM's own Admin Activity audit log still records the
// setIamPolicy call with the justification as its request reason.
func auditStatus(string, int) int { return http.StatusOK }

// TestNotificationFailureAfterGrantIsAWarning: the original answered 403
// although access had been granted; jitaccess says what happened.
func TestNotificationFailureAfterGrantIsAWarning(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	r := requestApproval(t, h)
	if r.Status != 200 {
		t.Fatalf("request = %d %s", r.Status, r.Body)
	}
	u, _ := url.Parse(linkPattern.FindString(h.Outbox.Messages()[0].Text))
	path := "/api/activation-request?activation=" + url.QueryEscape(u.Query().Get("activation"))
	_ = h.Outbox.Close() // the mail server goes away before the approval email
	r = h.Do(t, "dave@example.com", http.MethodPost, path, nil)
	if r.Status != 200 {
		t.Fatalf("approval with the mail server down = %d %s", r.Status, r.Body)
	}
	warnings, _ := r.JSON(t)["warnings"].([]any)
	if len(warnings) != 1 {
		t.Errorf("warnings = %v, want one about the email", warnings)
	}
}
