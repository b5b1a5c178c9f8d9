package reliabilitytest

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/audit"
	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/emulated"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/jit"
)

var linkPattern = regexp.MustCompile(`https?://[^\s"<>]+\?activation=[^\s"<>]+`)

// timedOut matches the app's messages for a call that outlived its deadline.
var timedOut = regexp.MustCompile(`timed out|did not answer in time`)

// healthy makes a call of a case's preparation, while nothing is broken.
// The deadlines of a case that waits one out are short (backendTimeout) so
// that it ends soon, and on a machine loaded many times over a healthy
// emulator and outbox can answer later than that; the app then answers
// 503, "try again" (a time-out, or an email that could not be sent in
// time), which says nothing about the fault under test, and the call is
// made again, a few times at most.
func healthy(t *testing.T, h *apptest.Harness, call step) apptest.Response {
	t.Helper()
	return again(t, h, call, func(r apptest.Response) bool { return r.Status == http.StatusServiceUnavailable })
}

// recovered makes a case's call once its fault is gone: again only after
// a time-out, since any other failure may be one the fault left behind.
func recovered(t *testing.T, h *apptest.Harness, call step) apptest.Response {
	t.Helper()
	return again(t, h, call, func(r apptest.Response) bool {
		return r.Status == http.StatusServiceUnavailable && timedOut.MatchString(messageOf(r))
	})
}

func again(t *testing.T, h *apptest.Harness, call step, retry func(apptest.Response) bool) apptest.Response {
	t.Helper()
	for attempt := 1; ; attempt++ {
		r := call(t, h)
		if attempt == 5 || !retry(r) {
			return r
		}
		t.Logf("a healthy call answered 503 (a loaded machine), made again: %s", r.Body)
	}
}

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

// selfActivateInherited activates a role whose eligible binding is on a
// folder (developers@ on Non-production): the folder's live policy
// confirms it inside the write.
func selfActivateInherited(t *testing.T, h *apptest.Harness) apptest.Response {
	return h.Do(t, "dave@example.com", http.MethodPost, "/api/projects/staging-web-frontend/roles/self-activate", map[string]any{
		"entitlementIds": []string{"staging-web-frontend:roles/editor"}, "justification": "INC-1", "activationTimeout": 30,
	})
}

// selfActivateOnFolder and selfActivateOnOrganization activate at the
// node's own level (ACTIVATION_ON_FOLDERS_AND_ORGANIZATIONS).
func selfActivateOnFolder(t *testing.T, h *apptest.Harness) apptest.Response {
	return h.Do(t, "alice@example.com", http.MethodPost, "/api/folders/1001/roles/self-activate", map[string]any{
		"entitlementIds": []string{"folders/1001:roles/logging.viewer"}, "justification": "INC-1", "activationTimeout": 30,
	})
}

func selfActivateOnOrganization(t *testing.T, h *apptest.Harness) apptest.Response {
	return h.Do(t, "frank@example.com", http.MethodPost, "/api/organizations/123456789012/roles/self-activate", map[string]any{
		"entitlementIds": []string{"organizations/123456789012:roles/iam.securityReviewer"}, "justification": "INC-1", "activationTimeout": 30,
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

func listFolders(t *testing.T, h *apptest.Harness) apptest.Response {
	return h.Do(t, "alice@example.com", http.MethodGet, "/api/folders", nil)
}

// myAccess is the caller's own My access page; everyonesAccess an
// administrator's view of every activation (frank is in security@, the
// ADMINISTRATOR_GROUP of the emulated configuration).
func myAccess(t *testing.T, h *apptest.Harness) apptest.Response {
	return h.Do(t, "dave@example.com", http.MethodGet, "/api/activations", nil)
}

func everyonesAccess(t *testing.T, h *apptest.Harness) apptest.Response {
	return h.Do(t, "frank@example.com", http.MethodGet, "/api/activations?all=true", nil)
}

func history(t *testing.T, h *apptest.Harness) apptest.Response {
	return h.Do(t, "erin@example.com", http.MethodGet, "/api/history", nil)
}

// approvalLink requests approval while everything works and returns the
// query of the reviewer's link.
func approvalLink(t *testing.T, h *apptest.Harness) string {
	t.Helper()
	if r := healthy(t, h, requestApproval); r.Status != 200 {
		t.Fatalf("request = %d %s", r.Status, r.Body)
	}
	u, err := url.Parse(linkPattern.FindString(h.Outbox.Messages()[0].Text))
	if err != nil {
		t.Fatal(err)
	}
	return "activation=" + url.QueryEscape(u.Query().Get("activation"))
}

// approveRequest requests approval while everything works, and returns
// the reviewer's approval as the call to break.
func approveRequest(t *testing.T, h *apptest.Harness) step {
	path := "/api/activation-request?" + approvalLink(t, h)
	return func(t *testing.T, h *apptest.Harness) apptest.Response {
		return h.Do(t, "dave@example.com", http.MethodPost, path, nil)
	}
}

func viewRequest(t *testing.T, h *apptest.Harness) step {
	path := "/api/activation-request?" + approvalLink(t, h)
	return func(t *testing.T, h *apptest.Harness) apptest.Response {
		return h.Do(t, "dave@example.com", http.MethodGet, path, nil)
	}
}

func rejectRequest(t *testing.T, h *apptest.Harness) step {
	path := "/api/activation-request/reject?" + approvalLink(t, h)
	return func(t *testing.T, h *apptest.Harness) apptest.Response {
		return h.Do(t, "dave@example.com", http.MethodPost, path, map[string]any{"reason": "not during the freeze"})
	}
}

func listRequests(t *testing.T, h *apptest.Harness) step {
	_ = approvalLink(t, h)
	return func(t *testing.T, h *apptest.Harness) apptest.Response {
		return h.Do(t, "dave@example.com", http.MethodGet, "/api/requests?view=review", nil)
	}
}

// endOwn and endOthers self-activate dave while everything works, and
// return the end of that activation by dave, or by frank (an
// administrator), as the call to break. The id is the binding's, read
// from the emulator: asking the app for it would warm the caches the
// fault should meet.
func endOwn(t *testing.T, h *apptest.Harness) step { return endActivation(t, h, "dave@example.com") }
func endOthers(t *testing.T, h *apptest.Harness) step {
	return endActivation(t, h, "frank@example.com")
}

func endActivation(t *testing.T, h *apptest.Harness, by string) step {
	t.Helper()
	if r := healthy(t, h, selfActivate); r.Status != 200 {
		t.Fatalf("self-activate = %d %s", r.Status, r.Body)
	}
	const resource = "projects/prod-payments-db"
	p, _ := h.Emulator.World.Policy(resource)
	var id string
	for _, b := range p.Bindings {
		if b.Role == "roles/cloudsql.client" && b.Condition != nil && b.Condition.Title == condition.ActivationTitle {
			id = jit.GrantRef{Resource: resource, Role: b.Role, Member: b.Members[0], Expression: b.Condition.Expression}.ID()
		}
	}
	if id == "" {
		t.Fatalf("no activation binding in %+v", p.Bindings)
	}
	return func(t *testing.T, h *apptest.Harness) apptest.Response {
		return h.Do(t, by, http.MethodPost, "/api/activations/end", map[string]any{"id": id})
	}
}

// backendTimeout is BACKEND_READ_TIMEOUT and BACKEND_WRITE_TIMEOUT here,
// in seconds. Nothing below depends on a call finishing within it except
// calls to a healthy emulator on loopback, which take milliseconds: the
// margin is for a machine loaded many times over (the race detector,
// other packages' tests). The longest wait of a case is the IAM
// read-modify-write's budget, a read and two writes.
const backendTimeout = 3

// hang holds a call far longer than any deadline of the app (its longest
// budgets are the read-modify-write's, 3 × backendTimeout, and the compat
// report's, 10 × BACKEND_READ_TIMEOUT there), and shorter than the client
// libraries' own defaults (30 s for Cloud Asset's searches, 60 s for
// Cloud Logging's and Secret Manager's reads), so that only the app's own
// deadline can end the wait: the test checks that every call held was
// abandoned by its caller (Faults.Abandoned), not how long it took.
const hang = 25 * time.Second

// faultKind is one way a Google API breaks, with the status the kind
// table (internal/server/errors.go) gives it.
type faultKind struct {
	name   string
	fault  emulator.Fault
	status int
	// rest is the status where a REST API answers so (0: status).
	rest int
}

var faultKinds = []faultKind{
	{name: "unavailable", fault: emulator.Fault{Code: 503}, status: http.StatusBadGateway},
	{name: "internal", fault: emulator.Fault{Code: 500}, status: http.StatusBadGateway},
	{name: "quota", fault: emulator.Fault{Code: 429}, status: http.StatusTooManyRequests}, // RESOURCE_EXHAUSTED
	// PERMISSION_DENIED: the app's service account lacks a role, which
	// no retry fixes; the answer names what it could not read.
	{name: "denied", fault: emulator.Fault{Code: 403}, status: http.StatusForbidden},
	// DEADLINE_EXCEEDED as Google's own answer (its backend timed out):
	// over gRPC the same code as the app's own deadline, so "timed out";
	// over REST a 504 is a failed upstream like any 5xx.
	{name: "deadline", fault: emulator.Fault{Code: 504}, status: http.StatusServiceUnavailable, rest: http.StatusBadGateway},
	// No answer at all: the app's deadline ends the wait, and the answer
	// says to try again.
	{name: "hang", fault: emulator.Fault{Latency: hang}, status: http.StatusServiceUnavailable},
}

// dependency is one Google method, one API call that needs it, how the
// app is configured to reach it, and what the call answers while the
// method fails.
type dependency struct {
	method string // a fault pattern: one method, or several with wildcards
	op     string // names the call in the subtest's name
	call   prepare
	config map[string]string
	setup  func(w *emulator.World)
	// status is the answer for a fault kind; nil: the kind table's.
	status func(kind string, table int) int
	// again is the answer to the same call once the fault cleared, when
	// the call under the fault succeeded: a decision made on IAM alone
	// is made, and a second one is refused (0: 200).
	again int
	// warns is part of the warning a 200 under the fault must carry:
	// the answer is incomplete, and says so.
	warns string
	// signs: the call or its preparation signs an approval request.
	signs bool
	// later is how long to wait before the retry; a failed key fetch is
	// remembered for a minute so that forged key ids cannot make every
	// request fetch (internal/approval), so that retry needs the clock
	// moved on.
	later time.Duration
}

var assetInventory = map[string]string{"RESOURCE_CATALOG": "AssetInventory", "RESOURCE_CUSTOMER_ID": "C0example1"}

var nodes = map[string]string{"ACTIVATION_ON_FOLDERS_AND_ORGANIZATIONS": "true"}

var nodesAssetInventory = map[string]string{"ACTIVATION_ON_FOLDERS_AND_ORGANIZATIONS": "true",
	"RESOURCE_CATALOG": "AssetInventory", "RESOURCE_CUSTOMER_ID": "C0example1"}

const smtpSecret = "projects/jitaccess-app/secrets/smtp-password"

const (
	setIamPolicy      = "cloudresourcemanager.projects.setIamPolicy"
	listLogEntries    = "logging.ListLogEntries"
	checkMembership   = "cloudidentity.groups.memberships.checkTransitiveMembership"
	searchIamPolicies = "cloudasset.SearchAllIamPolicies"
)

func dependencies() []dependency {
	return []dependency{
		{method: "cloudasset.AnalyzeIamPolicy", op: "roles", call: ready(listRoles), status: assetStatus},
		{method: "cloudasset.BatchGetEffectiveIamPolicies", op: "roles", call: ready(listRoles), config: assetInventory, status: assetStatus},
		{method: "cloudasset.SearchAllResources", op: "folders", call: ready(listFolders), config: nodesAssetInventory, status: assetStatus},
		// The index is a hint for My access (the catalog's projects
		// still cover the user's eligible ones): a warning, not a failure.
		{method: searchIamPolicies, op: "my-access", call: ready(myAccess), status: ok, warns: "Cloud Asset index could not be searched"},
		// Everyone's activations have no other source: a failure.
		{method: searchIamPolicies, op: "everyones-access", call: ready(everyonesAccess), status: assetStatus},
		{method: "cloudresourcemanager.projects.search", op: "projects", call: ready(listProjects), config: assetInventory},
		{method: "directory.*", op: "roles", call: ready(listRoles), config: assetInventory},
		{method: "cloudidentity.*", op: "roles", call: ready(listRoles), config: map[string]string{
			"RESOURCE_CATALOG": "AssetInventory", "GROUP_MEMBERSHIP": "transitive"}},
		// ADMINISTRATOR_GROUP and AUDITOR_GROUP: membership decides what
		// a user may see and end, never what IAM grants; a failed check
		// refuses, it does not guess.
		{method: "cloudidentity.groups.lookup", op: "history", call: ready(history), status: identityStatus},
		{method: checkMembership, op: "history", call: ready(history), status: identityStatus},
		{method: checkMembership, op: "my-access", call: ready(myAccess), status: identityStatus},
		{method: checkMembership, op: "end-others", call: endOthers, status: identityStatus},
		{method: "cloudresourcemanager.projects.getIamPolicy", op: "roles", call: ready(listRoles)},
		{method: "cloudresourcemanager.projects.getIamPolicy", op: "self-activate", call: ready(selfActivate)},
		{method: "cloudresourcemanager.projects.getIamPolicy", op: "end", call: endOwn},
		// A 500 to a write is an answer, if an unclear one: the call is
		// over, so the app reads the policy back, finds nothing applied,
		// and says 502 as the kind table does.
		{method: setIamPolicy, op: "self-activate", call: ready(selfActivate)},
		{method: setIamPolicy, op: "end", call: endOwn},
		{method: setIamPolicy, op: "approve", signs: true, call: approveRequest},
		{method: "cloudresourcemanager.folders.getIamPolicy", op: "self-activate-inherited", call: ready(selfActivateInherited)},
		{method: "cloudresourcemanager.folders.getIamPolicy", op: "self-activate-folder", call: ready(selfActivateOnFolder), config: nodes},
		{method: "cloudresourcemanager.folders.setIamPolicy", op: "self-activate-folder", call: ready(selfActivateOnFolder), config: nodes},
		{method: "cloudresourcemanager.organizations.getIamPolicy", op: "self-activate-organization", call: ready(selfActivateOnOrganization), config: nodes},
		{method: "cloudresourcemanager.organizations.setIamPolicy", op: "self-activate-organization", call: ready(selfActivateOnOrganization), config: nodes},
		{method: "iamcredentials.signJwt", op: "request", signs: true, call: ready(requestApproval), status: signStatus},
		{method: "iamcredentials.publicKeys", op: "approve", signs: true, call: approveRequest, status: keysStatus, later: time.Minute + time.Second},
		// IAP's keys are fetched by the first request and cached, so the
		// call is the instance's first.
		{method: "iap.publicKeys", op: "roles", call: ready(listRoles), status: iapStatus},
		{method: "logging.WriteLogEntries", op: "self-activate", call: ready(selfActivate), config: map[string]string{"AUDIT_LOG": "cloud-logging"}, status: ok},
		// The audit log read back: the request lists and the history
		// have no other source and fail; a request's page and decisions
		// rest on IAM (the binding or record of the request is the
		// serialisation point, and ending an approved activation keeps
		// its binding), so they go ahead, and a second decision is still
		// refused.
		{method: listLogEntries, op: "history", call: ready(history), status: logStatus},
		{method: listLogEntries, op: "requests", signs: true, call: listRequests, status: logStatus},
		{method: listLogEntries, op: "view-request", signs: true, call: viewRequest, status: ok},
		{method: listLogEntries, op: "approve", signs: true, call: approveRequest, status: ok, again: http.StatusConflict},
		{method: listLogEntries, op: "reject", signs: true, call: rejectRequest, status: ok, again: http.StatusConflict},
		{method: "secretmanager.AccessSecretVersion", op: "request", signs: true, call: ready(requestApproval),
			config: map[string]string{"SMTP_SECRET": smtpSecret + "/versions/latest", "SMTP_PASSWORD": ""},
			setup:  func(w *emulator.World) { w.AddSecret(smtpSecret, []byte("demo-only-password")) },
			status: secretStatus},
	}
}

// concurrentCases is how many cases run at once. Most of a case's time is
// spent waiting for a deadline or a retry budget to run out, not on the
// CPU, so more run at once than -parallel (GOMAXPROCS) would allow; the
// margin in backendTimeout absorbs the load.
const concurrentCases = 24

// TestEveryDependencyFailing breaks one Google method at a time, in each
// way it can break, under each API call that needs it, and checks the
// answer and its message, that the call used the method at all, that the
// app's own deadline ended every hanging call, that nothing was
// half-written (a failure between getIamPolicy and setIamPolicy leaves
// the policy as it was), that what was written was audited, that the
// process still serves, and that the same call succeeds once the fault is
// gone.
func TestEveryDependencyFailing(t *testing.T) {
	t.Parallel()
	var survived atomic.Int64
	deps := dependencies()
	type testCase struct {
		d dependency
		k faultKind
	}
	var cases []testCase
	for _, d := range deps {
		for _, k := range faultKinds {
			cases = append(cases, testCase{d, k})
		}
	}
	// The cases that wait out a whole read-modify-write budget start
	// first, so that the short ones fill the gaps instead of leaving a
	// tail of long ones.
	slices.SortStableFunc(cases, func(a, b testCase) int {
		return cmpBool(retriedUntilBudget(b.d.method, b.k), retriedUntilBudget(a.d.method, a.k))
	})
	t.Run("all", func(t *testing.T) {
		slots := make(chan struct{}, concurrentCases)
		var wg sync.WaitGroup
		for _, c := range cases {
			slots <- struct{}{}
			// t.Run from several goroutines: the cases run at once
			// without counting against -parallel (see concurrentCases).
			wg.Go(func() {
				defer func() { <-slots }()
				t.Run(c.d.method+"/"+c.d.op+"/"+c.k.name, func(t *testing.T) {
					for attempt := 1; ; attempt++ {
						passed, inconclusive := breakOne(t, c.d, c.k, attempt == maxAttempts)
						if !inconclusive {
							if passed {
								survived.Add(1)
							}
							break
						}
					}
				})
			})
		}
		wg.Wait()
	})
	t.Logf("faults survived: %d of %d (%d methods and calls × %d kinds)", survived.Load(), len(deps)*len(faultKinds), len(deps), len(faultKinds))
}

// policyResources are the policies a failed call must leave as they were.
var policyResources = []string{
	"projects/prod-payments-db", "projects/prod-payments-api", "projects/staging-web-frontend",
	"folders/1001", "organizations/123456789012",
}

// writeEvents are the audit events of calls that change IAM.
var writeEvents = []string{audit.EventActivateRole, audit.EventApproveRequest, audit.EventRejectRequest,
	audit.EventEndActivation, audit.EventRevokeActivation}

// maxAttempts is how often a case whose outcome says nothing about its
// fault is run, each time on a new harness.
const maxAttempts = 3

// breakOne runs one case and reports whether it passed, or, unless it is
// the last attempt, that it was inconclusive: with a case's short
// deadlines, a healthy call before the broken method can time out on a
// machine loaded many times over, and then the method was never called.
func breakOne(t *testing.T, d dependency, k faultKind, last bool) (passed, inconclusive bool) {
	t.Helper()
	// Short deadlines only where the case waits one out; elsewhere the
	// harness's patient ones, which a healthy call beside the fault does
	// not miss however loaded the machine.
	cfg := map[string]string{}
	if waitsForADeadline(d.method, k) {
		short := strconv.Itoa(backendTimeout)
		cfg = map[string]string{"BACKEND_READ_TIMEOUT": short, "BACKEND_WRITE_TIMEOUT": short, "BACKEND_CONNECT_TIMEOUT": short}
	}
	for key, v := range d.config {
		cfg[key] = v
	}
	clock := emutest.NewClock(time.Now())
	// A key only where something is signed: it is most of this test's CPU.
	h := apptest.Start(t, apptest.Options{Config: cfg, Clock: clock.Now, LazyKey: !d.signs})
	w := h.Emulator.World
	if d.setup != nil {
		d.setup(w)
	}
	call := d.call(t, h)
	want := k.status
	if k.rest != 0 && !grpcMethod(d.method) {
		want = k.rest
	}
	if d.status != nil {
		want = d.status(k.name, want)
	}
	policies := map[string]emulator.Policy{}
	for _, p := range policyResources {
		policies[p], _ = w.Policy(p)
	}
	writes := w.TotalPolicyWrites()
	audited := len(auditEntries(h))
	calls, abandoned := callsTo(w, d.method), w.Faults.Abandoned(d.method)

	w.Faults.Set(d.method, k.fault)
	began := time.Now()
	r := call(t, h)
	elapsed := time.Since(began)
	// A call the app gave up on ends in the emulator a moment later.
	for w.Faults.Held(d.method) > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	calls, abandoned = callsTo(w, d.method)-calls, w.Faults.Abandoned(d.method)-abandoned

	if calls == 0 && !last && r.Status == http.StatusServiceUnavailable && timedOut.MatchString(messageOf(r)) {
		t.Logf("inconclusive, run again: a healthy call before %s timed out (a loaded machine): %s", d.method, r.Body)
		return false, true
	}
	if calls == 0 {
		t.Errorf("the call never reached %s: this case tests nothing", d.method)
	}
	if k.fault.Latency > 0 && abandoned != calls {
		t.Errorf("%d of %d calls to %s waited the hang out: no deadline of the app ended them", calls-abandoned, calls, d.method)
	}
	// A read-modify-write retries until its budget (a read and two
	// writes) runs out. Where the budget ends is a matter of wall-clock
	// time: in a backoff, the last Google answer is reported (502, 429);
	// inside a call, the app's deadline (503, "timed out"); inside a
	// setIamPolicy, the write's outcome is unknown, and the app says that
	// it could not confirm the update (Google may still apply it; here
	// it never does, and nothing is granted). Each is true.
	unconfirmed := r.Status != 200 && strings.Contains(r.Message(t), "did not confirm the IAM policy update")
	if unconfirmed && (!strings.HasSuffix(d.method, ".setIamPolicy") || k.name == "denied") {
		t.Errorf("an unconfirmed update where no answer was lost: %s", r.Body)
	}
	timedOut := retriedUntilBudget(d.method, k) && r.Status == http.StatusServiceUnavailable
	if r.Status != want && !timedOut {
		t.Errorf("with the fault: %d %s, want %d", r.Status, r.Body, want)
	}
	changed := false
	for name, before := range policies {
		// The bindings, not the etag: when Google's answer to a write is
		// lost, the app writes the policy back unchanged to fence off
		// the late write (internal/iam), which changes the etag and
		// grants nothing.
		if after, _ := w.Policy(name); !reflect.DeepEqual(after.Bindings, before.Bindings) {
			changed = true
			if r.Status != 200 {
				t.Errorf("%s changed although the call failed", name)
			}
		}
	}
	if r.Status != 200 {
		if r.Message(t) == "" {
			t.Errorf("no message in %s", r.Body)
		}
		if n := w.TotalPolicyWrites() - writes; n != 0 && !strings.HasSuffix(d.method, ".setIamPolicy") {
			t.Errorf("%d policy writes although the call failed", n)
		}
	} else {
		if d.warns != "" && !strings.Contains(string(r.Body), d.warns) {
			t.Errorf("a 200 without the warning %q: %s", d.warns, r.Body)
		}
		if changed && d.method != "logging.WriteLogEntries" && !auditedWrite(auditEntries(h)[audited:]) {
			t.Errorf("IAM changed under the fault and no audit entry says so")
		}
	}
	if r := h.DoRaw(t, http.MethodGet, "/health/alive", nil, nil); r.Status != 200 {
		t.Errorf("the process stopped serving: /health/alive = %d", r.Status)
	}

	w.Faults.Clear()
	clock.Advance(d.later)
	again := 200
	if r.Status == 200 && d.again != 0 {
		again = d.again
	}
	r2 := recovered(t, h, call)
	if r2.Status != again {
		t.Errorf("after the fault cleared: %d %s, want %d", r2.Status, r2.Body, again)
	}
	t.Logf("%s %s %s: %d %q after %v (%d calls, %d abandoned); then %d", d.method, d.op, k.name, r.Status, messageOf(r),
		elapsed.Round(time.Millisecond), calls, abandoned, r2.Status)
	return !t.Failed(), false
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// grpcMethod reports whether the app reaches method over gRPC.
func grpcMethod(method string) bool {
	for _, api := range []string{"cloudasset.", "logging.", "secretmanager."} {
		if strings.HasPrefix(method, api) {
			return true
		}
	}
	return false
}

// waitsForADeadline reports whether the answer under fault k of method
// may come only when a deadline of the app runs out: a hang; a failure the
// read-modify-write retries until its budget; a gRPC failure the client
// library may retry until the call's deadline (every kind but a refusal:
// which codes each client retries differs, Secret Manager's retries
// RESOURCE_EXHAUSTED, so a superset). IAP's key fetch is bounded by
// BACKEND_CONNECT_TIMEOUT + BACKEND_READ_TIMEOUT and an email by connect +
// write, hence the short connect deadline too.
func waitsForADeadline(method string, k faultKind) bool {
	switch {
	case k.fault.Latency > 0, retriedUntilBudget(method, k):
		return true
	case grpcMethod(method):
		return k.name != "denied"
	}
	return false
}

// retriedUntilBudget reports whether internal/iam retries method's
// failure of kind k until the read-modify-write's budget ends.
func retriedUntilBudget(method string, k faultKind) bool {
	rmw := strings.HasPrefix(method, "cloudresourcemanager.") &&
		(strings.HasSuffix(method, ".getIamPolicy") || strings.HasSuffix(method, ".setIamPolicy"))
	return rmw && k.name != "denied"
}

// callsTo counts the calls to the methods pattern matches.
func callsTo(w *emulator.World, pattern string) int {
	n := 0
	for m, c := range w.Faults.CallCounts() {
		if ok, _ := path.Match(pattern, m); ok {
			n += c
		}
	}
	return n
}

// auditEntries are the audit trail's entries as Cloud Logging holds them,
// read from the emulator (the API may be the one failing).
func auditEntries(h *apptest.Harness) []map[string]string {
	var out []map[string]string
	for _, log := range []string{audit.LogID, audit.AppEngineStdoutLog} {
		for _, e := range h.Emulator.Logging.Entries("projects/" + emulated.ProjectID + "/logs/" + log) {
			l := map[string]string{"severity": e.GetSeverity().String()}
			for k, v := range e.GetLabels() {
				l[k] = v
			}
			out = append(out, l)
		}
	}
	return out
}

func auditedWrite(entries []map[string]string) bool {
	for _, e := range entries {
		for _, ev := range writeEvents {
			if e["event"] == ev && e["severity"] == "INFO" {
				return true
			}
		}
	}
	return false
}

func messageOf(r apptest.Response) string {
	var m struct {
		Message string `json:"message"`
	}
	_ = jsonUnmarshal(r.Body, &m)
	return m.Message
}

// ok: the failure cannot matter to this call's answer.
func ok(string, int) int { return http.StatusOK }

// assetStatus: the Cloud Asset client library itself retries UNAVAILABLE
// until the deadline, which then surfaces as a timeout.
func assetStatus(kind string, want int) int {
	if kind == "unavailable" {
		return http.StatusServiceUnavailable
	}
	return want
}

// identityStatus: a group that cannot be read is "check that it exists
// and that the app may read it", a 503 whatever the cause.
func identityStatus(kind string, want int) int {
	if kind == "denied" {
		return http.StatusServiceUnavailable
	}
	return want
}

// iapStatus: IAP's keys not fetched is 503 whatever the cause: the
// assertion could not be checked, which is not a refusal.
func iapStatus(string, int) int { return http.StatusServiceUnavailable }

// logStatus is the answer of a call that has only the audit log to read:
// the Logging client library retries UNAVAILABLE, INTERNAL and
// DEADLINE_EXCEEDED until the app's deadline ends it, and a refusal is a
// failed upstream whose message names the role the app lacks.
func logStatus(kind string, want int) int {
	switch kind {
	case "unavailable", "internal", "deadline", "hang":
		return http.StatusServiceUnavailable
	case "denied":
		return http.StatusBadGateway
	}
	return want
}

// signStatus: a refusal to sign is a deployment problem whose message
// says which role is missing (internal/approval); a 504 timed out.
func signStatus(kind string, want int) int {
	if kind == "denied" || kind == "deadline" {
		return http.StatusServiceUnavailable
	}
	return want
}

// keysStatus: the service account's public keys are a plain HTTPS
// document; any refusal is a failed upstream.
func keysStatus(kind string, want int) int {
	if kind == "denied" {
		return http.StatusBadGateway
	}
	return want
}

// secretStatus: the SMTP password is read when the first email goes out;
// whatever Secret Manager's failure, nobody can be notified, so the
// request fails as unavailable and the secret is asked for again next
// time (internal/notify).
func secretStatus(string, int) int { return http.StatusServiceUnavailable }

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

// TestApprovalWithTheAuditLogDownAfterTheActivationEnded: with Cloud
// Logging failing, a decision rests on IAM alone. Ending an approved
// activation early keeps its binding (with the window closed), so IAM
// still says the request was decided, and reopening the approval link
// while the log cannot be read grants nothing a second time.
func TestApprovalWithTheAuditLogDownAfterTheActivationEnded(t *testing.T) {
	t.Parallel()
	clock := emutest.NewClock(time.Now())
	h := apptest.Start(t, apptest.Options{Clock: clock.Now, Config: map[string]string{"BACKEND_READ_TIMEOUT": strconv.Itoa(backendTimeout)}})
	w := h.Emulator.World
	approve := approveRequest(t, h)
	if r := healthy(t, h, approve); r.Status != 200 {
		t.Fatalf("approve = %d %s", r.Status, r.Body)
	}
	const resource = "projects/prod-payments-api"
	p, _ := w.Policy(resource)
	var id string
	for _, b := range p.Bindings {
		if b.Role == "roles/run.developer" && b.Condition != nil && b.Condition.Title == condition.ActivationTitle {
			id = jit.GrantRef{Resource: resource, Role: b.Role, Member: b.Members[0], Expression: b.Condition.Expression}.ID()
		}
	}
	end := func(t *testing.T, h *apptest.Harness) apptest.Response {
		return h.Do(t, "erin@example.com", http.MethodPost, "/api/activations/end", map[string]any{"id": id})
	}
	if r := healthy(t, h, end); r.Status != 200 {
		t.Fatalf("end = %d %s", r.Status, r.Body)
	}
	clock.Advance(time.Minute)
	ended, _ := w.Policy(resource)
	writes := w.TotalPolicyWrites()
	w.Faults.Set(listLogEntries, emulator.Fault{Code: 503})
	r := approve(t, h)
	if r.Status != http.StatusConflict || !strings.Contains(r.Message(t), "already been approved") {
		t.Errorf("approving again with the log down = %d %s, want 409 already approved", r.Status, r.Body)
	}
	if after, _ := w.Policy(resource); w.TotalPolicyWrites() != writes || !reflect.DeepEqual(after.Bindings, ended.Bindings) {
		t.Errorf("the second approval wrote: %d policy writes", w.TotalPolicyWrites()-writes)
	}
	if w.Faults.Calls(listLogEntries) == 0 {
		t.Errorf("the approval did not try to read the log")
	}
}

// TestASlowAuditLogDoesNotHoldTheProjectsWrites: an approval looks at the
// request's audit events inside its project's write, which the project's
// other grants wait for. With Cloud Logging hanging, a self-activation on
// the same project must not wait out the log read (BACKEND_READ_TIMEOUT):
// it, and the approval, answer while the log read is still held.
func TestASlowAuditLogDoesNotHoldTheProjectsWrites(t *testing.T) {
	t.Parallel()
	const project = "projects/prod-payments-api"
	h := apptest.Start(t, apptest.Options{Config: map[string]string{"BACKEND_READ_TIMEOUT": "60"}})
	w := h.Emulator.World
	p, _ := w.Policy(project)
	p.Bindings = append(p.Bindings, emulator.Binding{
		Role: "roles/run.viewer", Members: []string{"user:frank@example.com"},
		Condition: &emulator.Expr{Title: "Eligible for JIT access", Expression: "has({}.jitAccessConstraint)"},
	})
	if _, err := w.SetIamPolicy(project, p); err != nil {
		t.Fatal(err)
	}
	approve := approveRequest(t, h)
	w.Faults.Set(listLogEntries, emulator.Fault{Latency: hang})

	approved := make(chan apptest.Response, 1)
	go func() { approved <- approve(t, h) }()
	for w.Faults.Held(listLogEntries) == 0 {
		time.Sleep(time.Millisecond) // the approval has asked for the log and is deciding
	}
	r := h.Do(t, "frank@example.com", http.MethodPost, "/api/projects/prod-payments-api/roles/self-activate", map[string]any{
		"entitlementIds": []string{"prod-payments-api:roles/run.viewer"}, "justification": "INC-1", "activationTimeout": 30,
	})
	if r.Status != http.StatusOK {
		t.Errorf("self-activation beside the approval = %d %s", r.Status, r.Body)
	}
	held := w.Faults.Held(listLogEntries)
	if a := <-approved; a.Status != http.StatusOK {
		t.Errorf("approval with the log hanging = %d %s", a.Status, a.Body)
	}
	if held == 0 {
		t.Errorf("the self-activation answered only once the log read had ended: the project's write waited for the audit log")
	}
}
