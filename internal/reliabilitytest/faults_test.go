package reliabilitytest

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
)

var linkPattern = regexp.MustCompile(`https?://[^\s"<>]+\?activation=[^\s"<>]+`)

// step is an API call that a fault may break.
type step func(t *testing.T, h *apptest.Harness) apptest.Response

// prepare runs before the fault is installed and returns the call to
// break; most calls need no preparation.
type prepare func(t *testing.T, h *apptest.Harness) step

func ready(s step) prepare { return func(*testing.T, *apptest.Harness) step { return s } }

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

func listProjects(t *testing.T, h *apptest.Harness) apptest.Response {
	return h.Do(t, "alice@example.com", http.MethodGet, "/api/projects", nil)
}

// approveRequest requests approval while everything works, and returns
// the reviewer's approval as the call to break.
func approveRequest(t *testing.T, h *apptest.Harness) step {
	if r := requestApproval(t, h); r.Status != 200 {
		t.Fatalf("request = %d %s", r.Status, r.Body)
	}
	u, err := url.Parse(linkPattern.FindString(h.Outbox.Messages()[0].Text))
	if err != nil {
		t.Fatal(err)
	}
	path := "/api/activation-request?activation=" + url.QueryEscape(u.Query().Get("activation"))
	return func(t *testing.T, h *apptest.Harness) apptest.Response {
		return h.Do(t, "dave@example.com", http.MethodPost, path, nil)
	}
}

const setIamPolicy = "cloudresourcemanager.projects.setIamPolicy"

// faultKind is one way a Google API breaks, with the status the kind
// table (internal/server/errors.go) gives it.
type faultKind struct {
	name   string
	fault  emulator.Fault
	status int
}

var faultKinds = []faultKind{
	{"unavailable", emulator.Fault{Code: 503}, http.StatusBadGateway},
	{"internal", emulator.Fault{Code: 500}, http.StatusBadGateway},
	{"quota", emulator.Fault{Code: 429}, http.StatusTooManyRequests},
	// Slower than BACKEND_*_TIMEOUT (1 s here): the deadline ends the
	// wait, and the answer says to try again.
	{"slow", emulator.Fault{Latency: 4 * time.Second}, http.StatusServiceUnavailable},
}

// dependency is one Google method, the API call that needs it, and how
// the app is configured to reach it.
type dependency struct {
	method  string
	call    prepare
	config  map[string]string
	setup   func(w *emulator.World)
	statusF func(kind string, want int) int // nil: the kind table's status
	// later is how long to wait before the retry; a failed key fetch is
	// remembered for a minute so that forged key ids cannot make every
	// request fetch (internal/approval), so that retry needs the clock
	// moved on.
	later time.Duration
}

var assetInventory = map[string]string{"RESOURCE_CATALOG": "AssetInventory", "RESOURCE_CUSTOMER_ID": "C0example1"}

const smtpSecret = "projects/jitaccess-app/secrets/smtp-password"

func dependencies() []dependency {
	return []dependency{
		{method: "cloudasset.AnalyzeIamPolicy", call: ready(listRoles), statusF: assetStatus},
		{method: "cloudasset.BatchGetEffectiveIamPolicies", call: ready(listRoles), config: assetInventory, statusF: assetStatus},
		{method: "cloudresourcemanager.projects.search", call: ready(listProjects), config: assetInventory},
		{method: "directory.*", call: ready(listRoles), config: assetInventory},
		{method: "cloudidentity.*", call: ready(listRoles), config: map[string]string{
			"RESOURCE_CATALOG": "AssetInventory", "GROUP_MEMBERSHIP": "transitive"}},
		{method: "cloudresourcemanager.projects.getIamPolicy", call: ready(selfActivate)},
		// A 500 to a write is an answer, if an unclear one: the call is
		// over, so the app reads the policy back, finds nothing applied,
		// and says 502 as the kind table does.
		{method: setIamPolicy, call: ready(selfActivate)},
		{method: "iamcredentials.signJwt", call: ready(requestApproval)},
		{method: "iamcredentials.publicKeys", call: approveRequest, later: time.Minute + time.Second},
		{method: "logging.WriteLogEntries", call: ready(selfActivate), config: map[string]string{"AUDIT_LOG": "cloud-logging"}, statusF: auditStatus},
		{method: "secretmanager.AccessSecretVersion", call: ready(requestApproval),
			config:  map[string]string{"SMTP_SECRET": smtpSecret + "/versions/latest", "SMTP_PASSWORD": ""},
			setup:   func(w *emulator.World) { w.AddSecret(smtpSecret, []byte("demo-only-password")) },
			statusF: secretStatus},
	}
}

// TestEveryDependencyFailing breaks one Google method at a time, in each
// way it can break, and checks the answer and its message, that nothing
// was half-written (a failure between getIamPolicy and setIamPolicy
// leaves the policy as it was), that the process still serves, and that
// the same call succeeds once the fault is gone.
func TestEveryDependencyFailing(t *testing.T) {
	t.Parallel()
	var survived atomic.Int64
	deps := dependencies()
	t.Run("all", func(t *testing.T) {
		for _, d := range deps {
			for _, k := range faultKinds {
				t.Run(d.method+"/"+k.name, func(t *testing.T) {
					t.Parallel()
					cfg := map[string]string{"BACKEND_READ_TIMEOUT": "1", "BACKEND_WRITE_TIMEOUT": "1"}
					for key, v := range d.config {
						cfg[key] = v
					}
					clock := emutest.NewClock(time.Now())
					h := apptest.Start(t, apptest.Options{Config: cfg, Clock: clock.Now})
					w := h.Emulator.World
					if d.setup != nil {
						d.setup(w)
					}
					call := d.call(t, h)
					want := k.status
					if d.statusF != nil {
						want = d.statusF(k.name, k.status)
					}
					policies := map[string]emulator.Policy{}
					for _, p := range []string{"projects/prod-payments-db", "projects/prod-payments-api"} {
						policies[p], _ = w.Policy(p)
					}
					writes := w.TotalPolicyWrites()
					w.Faults.Set(d.method, k.fault)
					began := time.Now()
					r := call(t, h)
					elapsed := time.Since(began)
					if r.Status != want {
						t.Errorf("with the fault: %d %s, want %d", r.Status, r.Body, want)
					}
					// A setIamPolicy slower than every deadline may still be
					// applied by Google after the app stopped waiting: then
					// the app cannot say "not granted", and says that it
					// could not confirm the update instead (true either way).
					unconfirmed := strings.Contains(r.Message(t), "did not confirm the IAM policy update")
					if unconfirmed && (d.method != "cloudresourcemanager.projects.setIamPolicy" || k.name != "slow") {
						t.Errorf("an unconfirmed update where the answer was not lost: %s", r.Body)
					}
					if r.Status != 200 && !unconfirmed {
						if r.Message(t) == "" {
							t.Errorf("no message in %s", r.Body)
						}
						// The bindings, not the etag: when Google's answer to a
						// write is lost, the app writes the policy back unchanged
						// to fence off the late write (internal/iam), which
						// changes the etag and grants nothing.
						for name, before := range policies {
							if after, _ := w.Policy(name); !reflect.DeepEqual(after.Bindings, before.Bindings) {
								t.Errorf("%s changed although the call failed", name)
							}
						}
						if n := w.TotalPolicyWrites() - writes; n != 0 && d.method != setIamPolicy {
							t.Errorf("%d policy writes although the call failed", n)
						}
					}
					if r := h.DoRaw(t, http.MethodGet, "/health/alive", nil, nil); r.Status != 200 {
						t.Errorf("the process stopped serving: /health/alive = %d", r.Status)
					}
					w.Faults.Clear()
					clock.Advance(d.later)
					if r := call(t, h); r.Status != 200 {
						t.Errorf("after the fault cleared: %d %s", r.Status, r.Body)
					} else if !t.Failed() {
						survived.Add(1)
					}
					t.Logf("%s %s: %d %q after %v", d.method, k.name, r.Status, messageOf(r), elapsed.Round(time.Millisecond))
				})
			}
		}
	})
	t.Logf("faults survived: %d of %d (%d methods × %d kinds)", survived.Load(), len(deps)*len(faultKinds), len(deps), len(faultKinds))
}

func messageOf(r apptest.Response) string {
	var m struct {
		Message string `json:"message"`
	}
	_ = jsonUnmarshal(r.Body, &m)
	return m.Message
}

// assetStatus: the Cloud Asset client library itself retries UNAVAILABLE
// until the deadline, which then surfaces as a timeout.
func assetStatus(kind string, want int) int {
	if kind == "unavailable" {
		return http.StatusServiceUnavailable
	}
	return want
}

// secretStatus: the SMTP password is read when the first email goes out;
// whatever Secret Manager's failure, nobody can be notified, so the
// request fails as unavailable and the secret is asked for again next
// time (internal/notify).
func secretStatus(string, int) int { return http.StatusServiceUnavailable }

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
	approve := approveRequest(t, h)
	_ = h.Outbox.Close() // the mail server goes away before the approval email
	r := approve(t, h)
	if r.Status != 200 {
		t.Fatalf("approval with the mail server down = %d %s", r.Status, r.Body)
	}
	warnings, _ := r.JSON(t)["warnings"].([]any)
	if len(warnings) != 1 {
		t.Errorf("warnings = %v, want one about the email", warnings)
	}
	_ = fmt.Sprint(warnings)
}
