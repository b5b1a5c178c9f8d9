package app_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
)

// lifecycleConfig makes the security group administrators and auditors.
var lifecycleConfig = map[string]string{
	"ADMINISTRATOR_GROUP": "security@example.com",
	"AUDITOR_GROUP":       "security@example.com",
}

func startLifecycle(t *testing.T, clock *emutest.Clock) *apptest.Harness {
	t.Helper()
	// The default deadlines (apptest's patient ones): a healthy read on a
	// loaded machine can take longer than a short one. The tests of a
	// failing read wait out BACKEND_READ_TIMEOUT, beside the others.
	opts := apptest.Options{Config: map[string]string{}}
	for k, v := range lifecycleConfig {
		opts.Config[k] = v
	}
	if clock != nil {
		opts.Clock = clock.Now
	}
	h := apptest.Start(t, opts)
	// The Asset index lags by far more than the test takes: whatever My
	// access shows must come from the live policies.
	h.Emulator.World.SetIndexDelay(time.Hour)
	return h
}

func selfActivate(t *testing.T, h *apptest.Harness, user, project, role string, minutes int, extra map[string]any) apptest.Response {
	t.Helper()
	body := map[string]any{"entitlementIds": []string{project + ":" + role}, "justification": "INC-7 " + user, "activationTimeout": minutes}
	for k, v := range extra {
		body[k] = v
	}
	return h.Do(t, user, http.MethodPost, "/api/projects/"+project+"/roles/self-activate", body)
}

func activations(t *testing.T, h *apptest.Harness, user, query string) []map[string]any {
	t.Helper()
	r := h.Do(t, user, http.MethodGet, "/api/activations"+query, nil)
	if r.Status != 200 {
		t.Fatalf("GET /api/activations%s as %s = %d %s", query, user, r.Status, r.Body)
	}
	var out []map[string]any
	for _, a := range r.JSON(t)["activations"].([]any) {
		out = append(out, a.(map[string]any))
	}
	return out
}

func findActivation(acts []map[string]any, resource, role string) map[string]any {
	for _, a := range acts {
		if a["resource"] == resource && a["role"] == role {
			return a
		}
	}
	return nil
}

func TestMyAccessShowsAWriteMadeAMomentAgoDespiteTheAssetIndex(t *testing.T) {
	t.Parallel()
	h := startLifecycle(t, nil)
	spec := loadOpenAPI(t)
	if r := selfActivate(t, h, "dave@example.com", "prod-payments-db", "roles/cloudsql.client", 30, nil); r.Status != 200 {
		t.Fatalf("self-activate = %d %s", r.Status, r.Body)
	}
	r := h.Do(t, "dave@example.com", http.MethodGet, "/api/activations", nil)
	spec.check(t, http.MethodGet, "/api/activations", r)
	acts := activations(t, h, "dave@example.com", "")
	a := findActivation(acts, "projects/prod-payments-db", "roles/cloudsql.client")
	if a == nil {
		t.Fatalf("dave's activation is missing from %v", acts)
	}
	if a["status"] != "ACTIVE" || a["justification"] != "INC-7 dave@example.com" || a["beneficiary"] != "dave@example.com" ||
		a["approvedBy"] != nil || a["remainingSeconds"].(float64) > 1800 || a["remainingSeconds"].(float64) < 1700 ||
		!strings.HasPrefix(a["id"].(string), "g1.") {
		t.Errorf("activation = %v", a)
	}
	start, _ := time.Parse(time.RFC3339, a["start"].(string))
	end, _ := time.Parse(time.RFC3339, a["end"].(string))
	if end.Sub(start) != 30*time.Minute {
		t.Errorf("window %v..%v", start, end)
	}
	// Someone else's, and an administrator's administrator-only views.
	if acts := activations(t, h, "erin@example.com", ""); findActivation(acts, "projects/prod-payments-db", "roles/cloudsql.client") != nil {
		t.Errorf("erin sees dave's activation: %v", acts)
	}
	if r := h.Do(t, "erin@example.com", http.MethodGet, "/api/activations?user=dave@example.com", nil); r.Status != 403 ||
		r.Message(t) != "Only administrators can list other users' activations" {
		t.Errorf("erin listing dave's = %d %s", r.Status, r.Body)
	}
	if acts := activations(t, h, "frank@example.com", "?user=dave@example.com"); findActivation(acts, "projects/prod-payments-db", "roles/cloudsql.client") == nil {
		t.Errorf("the administrator does not see dave's activation: %v", acts)
	}
	all := activations(t, h, "heidi@example.com", "?all=true")
	if findActivation(all, "projects/prod-payments-db", "roles/cloudsql.client") == nil {
		t.Errorf("?all=true misses dave's activation: %v", all)
	}
	// The expired binding of an earlier deployment is not listed.
	if findActivation(all, "projects/prod-web-frontend", "roles/logging.viewer") != nil {
		t.Errorf("an expired activation is listed: %v", all)
	}
}

func TestMyAccessShowsWhoApproved(t *testing.T) {
	t.Parallel()
	h := startLifecycle(t, nil)
	token := requestAndGetToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "dave@example.com", nil)
	if r := h.Do(t, "dave@example.com", http.MethodPost, "/api/activation-request?activation="+url.QueryEscape(token), nil); r.Status != 200 {
		t.Fatalf("approve = %d %s", r.Status, r.Body)
	}
	a := findActivation(activations(t, h, "erin@example.com", ""), "projects/prod-payments-api", "roles/run.developer")
	if a == nil || a["approvedBy"] != "dave@example.com" || a["justification"] != "CHG-7 hotfix" || a["status"] != "ACTIVE" {
		t.Errorf("approved activation = %v", a)
	}
}

func requestAndGetToken(t *testing.T, h *apptest.Harness, user, project, role, peer string, extra map[string]any) string {
	t.Helper()
	before := len(h.Outbox.Messages())
	body := map[string]any{"entitlementId": project + ":" + role, "justification": "CHG-7 hotfix", "peers": []string{peer}, "activationTimeout": 30}
	for k, v := range extra {
		body[k] = v
	}
	base := "/api/projects/" + project
	if strings.Contains(project, "/") { // folders/F or organizations/O
		base = "/api/" + project
	}
	r := h.Do(t, user, http.MethodPost, base+"/roles/request", body)
	if r.Status != 200 {
		t.Fatalf("request = %d %s", r.Status, r.Body)
	}
	msgs := h.Outbox.Messages()
	if len(msgs) <= before {
		t.Fatal("no request email")
	}
	u, err := url.Parse(linkPattern.FindString(msgs[len(msgs)-1].Text))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("activation")
}

func TestEndRemovesOnlyThatBindingOnceAndAdministratorsRevoke(t *testing.T) {
	t.Parallel()
	h := startLifecycle(t, nil)
	spec := loadOpenAPI(t)
	const resource = "projects/prod-payments-db"
	for _, u := range []string{"dave@example.com", "erin@example.com"} {
		if r := selfActivate(t, h, u, "prod-payments-db", "roles/cloudsql.client", 60, nil); r.Status != 200 {
			t.Fatalf("self-activate %s = %d %s", u, r.Status, r.Body)
		}
	}
	others := emutest.Others(t, h.Emulator.World, resource)
	daves := findActivation(activations(t, h, "dave@example.com", ""), resource, "roles/cloudsql.client")
	erins := findActivation(activations(t, h, "erin@example.com", ""), resource, "roles/cloudsql.client")

	// Not someone else's, unless an administrator.
	writes := h.Emulator.World.TotalPolicyWrites()
	r := h.Do(t, "erin@example.com", http.MethodPost, "/api/activations/end", map[string]any{"id": daves["id"]})
	spec.check(t, http.MethodPost, "/api/activations/end", r)
	if r.Status != 403 || r.Message(t) != "You can only end your own activations" || h.Emulator.World.TotalPolicyWrites() != writes {
		t.Errorf("erin ending dave's = %d %s", r.Status, r.Body)
	}
	for _, bad := range []any{"", "nonsense", "g1.AAAA", strings.Repeat("g", 30000)} {
		if r := h.Do(t, "dave@example.com", http.MethodPost, "/api/activations/end", map[string]any{"id": bad}); r.Status != 400 {
			t.Errorf("end %.20q = %d %s", bad, r.Status, r.Body)
		}
	}

	r = h.Do(t, "dave@example.com", http.MethodPost, "/api/activations/end", map[string]any{"id": daves["id"]})
	spec.check(t, http.MethodPost, "/api/activations/end", r)
	if body := r.JSON(t); r.Status != 200 || body["status"] != "ENDED" || !strings.Contains(body["notice"].(string), "7") {
		t.Fatalf("end = %d %s", r.Status, r.Body)
	}
	acts := emutest.Activations(t, h.Emulator.World, resource)
	if len(acts) != 1 || acts[0].Members[0] != "user:erin@example.com" {
		t.Errorf("after ending dave's: %+v", acts)
	}
	if after := emutest.Others(t, h.Emulator.World, resource); strings.Join(after, "\n") != strings.Join(others, "\n") {
		t.Errorf("other bindings changed")
	}
	writes = h.Emulator.World.TotalPolicyWrites()
	r = h.Do(t, "dave@example.com", http.MethodPost, "/api/activations/end", map[string]any{"id": daves["id"]})
	if r.Status != 404 || !strings.Contains(r.Message(t), "already ended") || h.Emulator.World.TotalPolicyWrites() != writes {
		t.Errorf("ending twice = %d %s", r.Status, r.Body)
	}
	if a := findActivation(activations(t, h, "dave@example.com", ""), resource, "roles/cloudsql.client"); a != nil {
		t.Errorf("ended activation still listed: %v", a)
	}

	// frank is in the administrator group.
	if r := h.Do(t, "frank@example.com", http.MethodPost, "/api/activations/end", map[string]any{"id": erins["id"]}); r.Status != 200 {
		t.Errorf("administrator revoking = %d %s", r.Status, r.Body)
	}
	if acts := emutest.Activations(t, h.Emulator.World, resource); len(acts) != 0 {
		t.Errorf("after the revocation: %+v", acts)
	}
	events := map[string]string{}
	// The audit trail goes to the platform's stdout log by default.
	for _, e := range h.Emulator.Logging.Entries("projects/jitaccess-app/logs/stdout") {
		events[e.GetLabels()["event"]+"/"+e.GetLabels()["user"]] = e.GetLabels()["beneficiary"]
	}
	if events["api.endActivation/dave@example.com"] != "dave@example.com" || events["api.revokeActivation/frank@example.com"] != "erin@example.com" ||
		events["api.endActivation/erin@example.com"] != "dave@example.com" {
		t.Errorf("audit events = %v", events)
	}
}

func TestExtendReplacesTheBindingInOneWrite(t *testing.T) {
	t.Parallel()
	clock := emutest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := startLifecycle(t, clock)
	spec := loadOpenAPI(t)
	const resource = "projects/prod-payments-db"
	if r := selfActivate(t, h, "dave@example.com", "prod-payments-db", "roles/cloudsql.client", 30, nil); r.Status != 200 {
		t.Fatalf("self-activate = %d %s", r.Status, r.Body)
	}
	a := findActivation(activations(t, h, "dave@example.com", ""), resource, "roles/cloudsql.client")
	clock.Advance(20 * time.Minute)
	writes := h.Emulator.World.TotalPolicyWrites()
	for _, tc := range []struct {
		user    string
		minutes int
		status  int
		message string
	}{
		{"erin@example.com", 60, 403, "You can only extend your own activations"},
		{"dave@example.com", 121, 400, "The activation duration must be no longer than 120 minutes"},
		{"dave@example.com", 5, 400, "The activation already lasts until"},
		{"dave@example.com", 0, 400, "The duration must be positive"},
	} {
		r := h.Do(t, tc.user, http.MethodPost, "/api/activations/extend", map[string]any{"id": a["id"], "activationTimeout": tc.minutes})
		if r.Status != tc.status || !strings.HasPrefix(r.Message(t), tc.message) {
			t.Errorf("extend %d as %s = %d %s", tc.minutes, tc.user, r.Status, r.Body)
		}
	}
	if n := h.Emulator.World.TotalPolicyWrites() - writes; n != 0 {
		t.Errorf("%d writes by refused extensions", n)
	}
	r := h.Do(t, "dave@example.com", http.MethodPost, "/api/activations/extend", map[string]any{"id": a["id"], "activationTimeout": 60})
	spec.check(t, http.MethodPost, "/api/activations/extend", r)
	if r.Status != 200 {
		t.Fatalf("extend = %d %s", r.Status, r.Body)
	}
	ext := r.JSON(t)
	if ext["start"] != a["start"] || ext["id"] == a["id"] || ext["status"] != "ACTIVE" {
		t.Errorf("extended = %v, was %v", ext, a)
	}
	end, _ := time.Parse(time.RFC3339, ext["end"].(string))
	if want := clock.Now().Add(time.Hour); !end.Equal(want) {
		t.Errorf("new end %v, want %v", end, want)
	}
	if n := h.Emulator.World.TotalPolicyWrites() - writes; n != 1 {
		t.Errorf("%d writes, want exactly one", n)
	}
	bindings := emutest.Activations(t, h.Emulator.World, resource)
	if len(bindings) != 1 || !strings.Contains(bindings[0].Condition.Expression, ext["end"].(string)) ||
		bindings[0].Condition.Description != "Self-approved, justification: INC-7 dave@example.com" {
		t.Errorf("bindings after extending: %+v", bindings)
	}
	// The old id is gone.
	if r := h.Do(t, "dave@example.com", http.MethodPost, "/api/activations/extend", map[string]any{"id": a["id"], "activationTimeout": 90}); r.Status != 404 {
		t.Errorf("extending the replaced binding = %d %s", r.Status, r.Body)
	}
}

func TestExtendingAnApprovedRoleNeedsANewApproval(t *testing.T) {
	t.Parallel()
	h := startLifecycle(t, nil)
	token := requestAndGetToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "dave@example.com", nil)
	if r := h.Do(t, "dave@example.com", http.MethodPost, "/api/activation-request?activation="+url.QueryEscape(token), nil); r.Status != 200 {
		t.Fatalf("approve = %d %s", r.Status, r.Body)
	}
	a := findActivation(activations(t, h, "erin@example.com", ""), "projects/prod-payments-api", "roles/run.developer")
	writes := h.Emulator.World.TotalPolicyWrites()
	r := h.Do(t, "erin@example.com", http.MethodPost, "/api/activations/extend", map[string]any{"id": a["id"], "activationTimeout": 90})
	if r.Status != 403 || !strings.Contains(r.Message(t), "needs a peer's approval") || h.Emulator.World.TotalPolicyWrites() != writes {
		t.Errorf("extending an approved role = %d %s", r.Status, r.Body)
	}
}

func TestConcurrentEndAndExtendLeaveOneOutcome(t *testing.T) {
	t.Parallel()
	h := startLifecycle(t, nil)
	const resource = "projects/prod-payments-db"
	for range 5 {
		if r := selfActivate(t, h, "dave@example.com", "prod-payments-db", "roles/cloudsql.client", 30, nil); r.Status != 200 {
			t.Fatalf("self-activate = %d %s", r.Status, r.Body)
		}
		a := findActivation(activations(t, h, "dave@example.com", ""), resource, "roles/cloudsql.client")
		var wg sync.WaitGroup
		var end, extend apptest.Response
		wg.Go(func() {
			end = h.Do(t, "dave@example.com", http.MethodPost, "/api/activations/end", map[string]any{"id": a["id"]})
		})
		wg.Go(func() {
			extend = h.Do(t, "dave@example.com", http.MethodPost, "/api/activations/extend", map[string]any{"id": a["id"], "activationTimeout": 90})
		})
		wg.Wait()
		bindings := emutest.Activations(t, h.Emulator.World, resource)
		switch {
		case end.Status == 200 && extend.Status == 404:
			if len(bindings) != 0 {
				t.Errorf("ended first, yet %d bindings", len(bindings))
			}
		case extend.Status == 200 && end.Status == 404:
			if len(bindings) != 1 || !strings.Contains(bindings[0].Condition.Expression, extend.JSON(t)["end"].(string)) {
				t.Errorf("extended first, yet bindings %+v", bindings)
			}
			// Clean up for the next round.
			if r := h.Do(t, "dave@example.com", http.MethodPost, "/api/activations/end", map[string]any{"id": extend.JSON(t)["id"]}); r.Status != 200 {
				t.Fatalf("end = %d %s", r.Status, r.Body)
			}
		default:
			t.Fatalf("end %d %s, extend %d %s: want exactly one to succeed", end.Status, end.Body, extend.Status, extend.Body)
		}
	}
}

func TestScheduledActivationIsWrittenAsAFutureWindowAndCanBeCancelled(t *testing.T) {
	t.Parallel()
	clock := emutest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := startLifecycle(t, clock)
	spec := loadOpenAPI(t)
	const resource = "projects/prod-payments-db"
	now := clock.Now()
	writes := h.Emulator.World.TotalPolicyWrites()
	for _, tc := range []struct {
		start   string
		message string
	}{
		{now.Add(-time.Hour).Format(time.RFC3339), "The start time is in the past"},
		{now.Add(8 * 24 * time.Hour).Format(time.RFC3339), "The start time must be at most 7 days ahead"},
		{"tomorrow", "startTime must be an RFC 3339 time such as 2026-01-31T09:00:00Z"},
	} {
		r := selfActivate(t, h, "dave@example.com", "prod-payments-db", "roles/cloudsql.client", 30, map[string]any{"startTime": tc.start})
		if r.Status != 400 || r.Message(t) != tc.message {
			t.Errorf("startTime %s = %d %s", tc.start, r.Status, r.Body)
		}
	}
	if n := h.Emulator.World.TotalPolicyWrites() - writes; n != 0 {
		t.Errorf("%d writes by refused schedules", n)
	}
	start := now.Add(24 * time.Hour)
	r := selfActivate(t, h, "dave@example.com", "prod-payments-db", "roles/cloudsql.client", 30, map[string]any{"startTime": start.Format(time.RFC3339)})
	spec.check(t, http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate", r)
	if r.Status != 200 {
		t.Fatalf("scheduled self-activation = %d %s", r.Status, r.Body)
	}
	// Access now, scheduled access tomorrow: both are kept.
	if r := selfActivate(t, h, "dave@example.com", "prod-payments-db", "roles/cloudsql.client", 30, nil); r.Status != 200 {
		t.Fatalf("self-activation now = %d %s", r.Status, r.Body)
	}
	if n := len(emutest.Activations(t, h.Emulator.World, resource)); n != 2 {
		t.Errorf("%d bindings, want today's and tomorrow's", n)
	}
	var scheduled map[string]any
	for _, a := range activations(t, h, "dave@example.com", "") {
		if a["status"] == "SCHEDULED" {
			scheduled = a
		}
	}
	if scheduled == nil || scheduled["start"] != start.Format(time.RFC3339) || scheduled["remainingSeconds"] != 1800.0 {
		t.Fatalf("scheduled activation = %v", scheduled)
	}
	if r := h.Do(t, "dave@example.com", http.MethodPost, "/api/activations/end", map[string]any{"id": scheduled["id"]}); r.Status != 200 {
		t.Errorf("cancelling = %d %s", r.Status, r.Body)
	}
	if acts := emutest.Activations(t, h.Emulator.World, resource); len(acts) != 1 {
		t.Errorf("after cancelling: %+v", acts)
	}

	// A scheduled request: approved now, the window still starts later.
	token := requestAndGetToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "dave@example.com",
		map[string]any{"startTime": start.Format(time.RFC3339)})
	if r := h.Do(t, "dave@example.com", http.MethodPost, "/api/activation-request?activation="+url.QueryEscape(token), nil); r.Status != 200 {
		t.Fatalf("approve = %d %s", r.Status, r.Body)
	}
	a := findActivation(activations(t, h, "erin@example.com", ""), "projects/prod-payments-api", "roles/run.developer")
	if a == nil || a["status"] != "SCHEDULED" || a["start"] != start.Format(time.RFC3339) || a["approvedBy"] != "dave@example.com" {
		t.Errorf("scheduled approved activation = %v", a)
	}
}

func TestHistoryOwnForUsersEveryoneForAuditors(t *testing.T) {
	t.Parallel()
	h := startLifecycle(t, nil)
	spec := loadOpenAPI(t)
	for _, u := range []string{"dave@example.com", "erin@example.com"} {
		if r := selfActivate(t, h, u, "prod-payments-db", "roles/cloudsql.client", 30, nil); r.Status != 200 {
			t.Fatalf("self-activate = %d %s", r.Status, r.Body)
		}
	}
	r := h.Do(t, "dave@example.com", http.MethodGet, "/api/history", nil)
	spec.check(t, http.MethodGet, "/api/history", r)
	if r.Status != 200 {
		t.Fatalf("history = %d %s", r.Status, r.Body)
	}
	for _, e := range r.JSON(t)["entries"].([]any) {
		if m := e.(map[string]any); m["user"] != "dave@example.com" && m["beneficiary"] != "dave@example.com" {
			t.Errorf("dave sees %v", e)
		}
	}
	if !strings.Contains(string(r.Body), `"event":"api.activateRole"`) || !strings.Contains(string(r.Body), `"justification":"INC-7 dave@example.com"`) {
		t.Errorf("dave's history = %s", r.Body)
	}
	if r := h.Do(t, "dave@example.com", http.MethodGet, "/api/history?user=erin@example.com", nil); r.Status != 403 {
		t.Errorf("dave reading erin's history = %d %s", r.Status, r.Body)
	}
	// The auditor filters by user, resource and role, one entry a page.
	path := "/api/history?user=erin@example.com&resource=projects/prod-payments-db&role=roles/cloudsql.client&pageSize=1"
	r = h.Do(t, "heidi@example.com", http.MethodGet, path, nil)
	spec.check(t, http.MethodGet, path, r)
	body := r.JSON(t)
	entries := body["entries"].([]any)
	if r.Status != 200 || len(entries) != 1 || entries[0].(map[string]any)["user"] != "erin@example.com" || body["isAuditor"] != true {
		t.Errorf("auditor's filtered history = %d %s", r.Status, r.Body)
	}
	// Two activations and the reads (kind=all): more than a page.
	all := h.Do(t, "heidi@example.com", http.MethodGet, "/api/history?pageSize=2&kind=all", nil).JSON(t)
	next, _ := all["nextPageToken"].(string)
	if next == "" {
		t.Fatalf("no next page: %v", all)
	}
	page2 := h.Do(t, "heidi@example.com", http.MethodGet, "/api/history?pageSize=2&kind=all&pageToken="+url.QueryEscape(next), nil)
	if page2.Status != 200 || len(page2.JSON(t)["entries"].([]any)) == 0 {
		t.Errorf("page 2 = %d %s", page2.Status, page2.Body)
	}
	for _, bad := range []string{"?from=yesterday", "?resource=../x", "?role=owner", "?pageSize=1000", "?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z"} {
		if r := h.Do(t, "heidi@example.com", http.MethodGet, "/api/history"+bad, nil); r.Status != 400 {
			t.Errorf("history%s = %d %s", bad, r.Status, r.Body)
		}
	}

	// Cloud Logging down: a clear 503 for history, the rest still works.
	h.Emulator.World.Faults.Set("logging.ListLogEntries", emulator.Fault{Code: 503})
	r = h.Do(t, "dave@example.com", http.MethodGet, "/api/history", nil)
	if r.Status != 503 || !strings.Contains(r.Message(t), "Cloud Logging") {
		t.Errorf("history while Cloud Logging is down = %d %s", r.Status, r.Body)
	}
	if r := h.Do(t, "dave@example.com", http.MethodGet, "/api/activations", nil); r.Status != 200 {
		t.Errorf("My access while Cloud Logging's reads fail = %d %s", r.Status, r.Body)
	}
}

// TestFullPolicyIsRefusedWithTheLimitNamed: over HTTP, a self-activation
// that would exceed Google's conditional-binding limit (after sweeping the
// app's expired bindings) is a 409 naming the limit, and nothing is
// written; extending an existing activation on that policy still works,
// since a replacement adds nothing.
func TestFullPolicyIsRefusedWithTheLimitNamed(t *testing.T) {
	t.Parallel()
	h := startLifecycle(t, nil)
	const resource = "projects/prod-payments-db"
	if r := selfActivate(t, h, "dave@example.com", "prod-payments-db", "roles/cloudsql.client", 30, nil); r.Status != 200 {
		t.Fatalf("self-activate = %d %s", r.Status, r.Body)
	}
	p, _ := h.Emulator.World.Policy(resource)
	p.Version = 3
	// erin's eligible binding is conditional too: 1 + 19 = 20.
	for i := range 19 {
		p.Bindings = append(p.Bindings, emulator.Binding{Role: "roles/cloudsql.client", Members: []string{"user:erin@example.com"}, Condition: &emulator.Expr{
			Title: "Admin's temporary grant", Expression: fmt.Sprintf(`request.time < timestamp("2030-01-%02dT00:00:00Z")`, i+1),
		}})
	}
	if _, apiErr := h.Emulator.World.SetIamPolicy(resource, p); apiErr != nil {
		t.Fatal(apiErr)
	}
	writes := h.Emulator.World.TotalPolicyWrites()
	r := selfActivate(t, h, "erin@example.com", "prod-payments-db", "roles/cloudsql.client", 30, nil)
	if r.Status != 409 || !strings.Contains(r.Message(t), "Google Cloud allows at most 20") || h.Emulator.World.TotalPolicyWrites() != writes {
		t.Errorf("self-activation on a full policy = %d %s", r.Status, r.Body)
	}
	a := findActivation(activations(t, h, "dave@example.com", ""), resource, "roles/cloudsql.client")
	if r := h.Do(t, "dave@example.com", http.MethodPost, "/api/activations/extend", map[string]any{"id": a["id"], "activationTimeout": 90}); r.Status != 200 {
		t.Errorf("extending on the full policy = %d %s", r.Status, r.Body)
	}
}

// TestMyAccessWhileTheAssetIndexFails: the index only finds candidates;
// without it the projects where the user is eligible are still read live,
// and the answer says what is missing.
func TestMyAccessWhileTheAssetIndexFails(t *testing.T) {
	t.Parallel()
	h := startLifecycle(t, nil)
	if r := selfActivate(t, h, "dave@example.com", "prod-payments-db", "roles/cloudsql.client", 30, nil); r.Status != 200 {
		t.Fatalf("self-activate = %d %s", r.Status, r.Body)
	}
	// 500, not 503: the client library retries UNAVAILABLE until the
	// app's read deadline, which answers the same 20 s later.
	h.Emulator.World.Faults.Set("cloudasset.SearchAllIamPolicies", emulator.Fault{Code: 500})
	r := h.Do(t, "dave@example.com", http.MethodGet, "/api/activations", nil)
	body := r.JSON(t)
	if r.Status != 200 || findActivation(activations(t, h, "dave@example.com", ""), "projects/prod-payments-db", "roles/cloudsql.client") == nil ||
		!strings.Contains(string(r.Body), "The Cloud Asset index could not be searched") {
		t.Errorf("My access without the index = %d %v", r.Status, body)
	}
	// A project whose policy cannot be read is a warning, not a failure.
	h.Emulator.World.Faults.Clear()
	h.Emulator.World.Faults.Set("cloudresourcemanager.projects.getIamPolicy", emulator.Fault{Code: 403})
	r = h.Do(t, "dave@example.com", http.MethodGet, "/api/activations", nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), "could not be read") {
		t.Errorf("My access with unreadable policies = %d %s", r.Status, r.Body)
	}
}

// TestEndingAnApprovedActivationKeepsTheRequestDecided: the binding of an
// approved request also says the request was decided; ending it closes
// its window instead of deleting it, so the link cannot grant it again.
func TestEndingAnApprovedActivationKeepsTheRequestDecided(t *testing.T) {
	t.Parallel()
	h := startLifecycle(t, nil)
	token := requestAndGetToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "dave@example.com", nil)
	approve := "/api/activation-request?activation=" + url.QueryEscape(token)
	if r := h.Do(t, "dave@example.com", http.MethodPost, approve, nil); r.Status != 200 {
		t.Fatalf("approve = %d %s", r.Status, r.Body)
	}
	a := findActivation(activations(t, h, "erin@example.com", ""), "projects/prod-payments-api", "roles/run.developer")
	if a == nil || a["justification"] != "CHG-7 hotfix" {
		t.Fatalf("approved activation = %v", a)
	}
	if r := h.Do(t, "erin@example.com", http.MethodPost, "/api/activations/end", map[string]any{"id": a["id"]}); r.Status != 200 {
		t.Fatalf("end = %d %s", r.Status, r.Body)
	}
	if a := findActivation(activations(t, h, "erin@example.com", ""), "projects/prod-payments-api", "roles/run.developer"); a != nil {
		t.Errorf("still listed after ending: %v", a)
	}
	writes := h.Emulator.World.TotalPolicyWrites()
	if r := h.Do(t, "dave@example.com", http.MethodPost, approve, nil); r.Status < 400 || r.Status >= 500 {
		t.Errorf("approving the ended request again = %d %s", r.Status, r.Body)
	}
	if n := h.Emulator.World.TotalPolicyWrites() - writes; n != 0 {
		t.Errorf("%d writes by the second approval", n)
	}
	if r := h.Do(t, "erin@example.com", http.MethodPost, "/api/activations/end", map[string]any{"id": a["id"]}); r.Status != 404 {
		t.Errorf("ending twice = %d %s", r.Status, r.Body)
	}
}
