package app_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
)

// startSchedules is startLifecycle with the default backend timeouts:
// nothing here is about a slow Google, and a busy machine signs slowly.
func startSchedules(t *testing.T, clock *emutest.Clock) *apptest.Harness {
	t.Helper()
	h := apptest.Start(t, apptest.Options{Config: maps.Clone(lifecycleConfig), Clock: clock.Now})
	// The Asset index lags by far more than the test takes: eligibility
	// and My access come from the live policies.
	h.Emulator.World.SetIndexDelay(time.Hour)
	return h
}

// scheduledOf returns the scheduled (not yet started) activation bindings
// of member for role on resource.
func scheduledOf(t *testing.T, w *emulator.World, resource, member, role string) []emulator.Binding {
	t.Helper()
	var out []emulator.Binding
	for _, b := range emutest.Activations(t, w, resource) {
		if b.Members[0] != member || b.Role != role {
			continue
		}
		if strings.Contains(b.Condition.Expression, `request.time >= timestamp("`) {
			start, _, _ := strings.Cut(strings.SplitN(b.Condition.Expression, `timestamp("`, 2)[1], `"`)
			if s, err := time.Parse(time.RFC3339, start); err == nil && s.After(w.Now()) {
				out = append(out, b)
			}
		}
	}
	return out
}

// TestOneScheduledWindowPerRoleAndMember: before, one user queued 19
// non-overlapping two-hour windows up to 7 days ahead in one sitting.
// Now a member holds at most one scheduled window of a role (PAM refuses
// overlapping schedules; we refuse a second one): a second is refused
// with the first named, a window that overlaps the scheduled one replaces
// it, access now stays possible, and an approval that would add a second
// scheduled window is refused the same way.
func TestOneScheduledWindowPerRoleAndMember(t *testing.T) {
	t.Parallel()
	clock := emutest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := startSchedules(t, clock)
	const resource, member, role = "projects/prod-payments-db", "user:dave@example.com", "roles/cloudsql.client"
	at := func(d time.Duration) map[string]any {
		return map[string]any{"startTime": clock.Now().Add(d).Format(time.RFC3339)}
	}
	if r := selfActivate(t, h, "dave@example.com", "prod-payments-db", role, 120, at(24*time.Hour)); r.Status != 200 {
		t.Fatalf("first scheduled window = %d %s", r.Status, r.Body)
	}
	writes := h.Emulator.World.TotalPolicyWrites()
	for _, d := range []time.Duration{48 * time.Hour, 3 * time.Hour, 6*24*time.Hour + 22*time.Hour} {
		r := selfActivate(t, h, "dave@example.com", "prod-payments-db", role, 120, at(d))
		want := "dave@example.com already has a scheduled activation of roles/cloudsql.client on projects/prod-payments-db, from " +
			clock.Now().Add(24*time.Hour).Format(time.RFC3339)
		if r.Status != 409 || !strings.Contains(r.Message(t), want) {
			t.Errorf("a second scheduled window %v ahead = %d %s", d, r.Status, r.Body)
		}
	}
	if n := h.Emulator.World.TotalPolicyWrites() - writes; n != 0 {
		t.Errorf("%d writes by refused schedules", n)
	}
	// Overlapping the scheduled window replaces it.
	if r := selfActivate(t, h, "dave@example.com", "prod-payments-db", role, 120, at(25*time.Hour)); r.Status != 200 {
		t.Errorf("an overlapping window = %d %s", r.Status, r.Body)
	}
	if s := scheduledOf(t, h.Emulator.World, resource, member, role); len(s) != 1 ||
		!strings.Contains(s[0].Condition.Expression, clock.Now().Add(25*time.Hour).Format(time.RFC3339)) {
		t.Errorf("scheduled windows after the overlapping one = %+v", s)
	}
	// Access now beside the scheduled window.
	if r := selfActivate(t, h, "dave@example.com", "prod-payments-db", role, 30, nil); r.Status != 200 {
		t.Errorf("access now = %d %s", r.Status, r.Body)
	}
	// Another member, or another role, is not affected.
	if r := selfActivate(t, h, "erin@example.com", "prod-payments-db", role, 30, at(48*time.Hour)); r.Status != 200 {
		t.Errorf("erin's scheduled window = %d %s", r.Status, r.Body)
	}

	// Approvals: erin's first scheduled request is approved, the second
	// (another window) is refused at approval and grants nothing.
	first := requestAndGetToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "dave@example.com", at(24*time.Hour))
	second := requestAndGetToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "dave@example.com", at(72*time.Hour))
	if r := h.Do(t, "dave@example.com", http.MethodPost, requestPath(first), nil); r.Status != 200 {
		t.Fatalf("approving the first = %d %s", r.Status, r.Body)
	}
	r := h.Do(t, "dave@example.com", http.MethodPost, requestPath(second), nil)
	if r.Status != 409 || !strings.Contains(r.Message(t), "erin@example.com already has a scheduled activation of roles/run.developer") ||
		!strings.HasSuffix(r.Message(t), "end (cancel) it in My access first.") {
		t.Errorf("approving the second = %d %s", r.Status, r.Body)
	}
	if s := scheduledOf(t, h.Emulator.World, "projects/prod-payments-api", "user:erin@example.com", "roles/run.developer"); len(s) != 1 {
		t.Errorf("erin's scheduled run.developer windows = %+v", s)
	}
}

// removeMember removes member from resource's bindings of role whose
// condition has the eligibility marker, dropping a binding left empty.
func removeEligibility(t *testing.T, w *emulator.World, resource, role, member string) {
	t.Helper()
	p, ok := w.Policy(resource)
	if !ok {
		t.Fatalf("no resource %s", resource)
	}
	p.Version = 3
	var kept []emulator.Binding
	for _, b := range p.Bindings {
		if b.Role == role && b.Condition != nil && strings.Contains(b.Condition.Expression, "Constraint)") {
			b.Members = slices.DeleteFunc(b.Members, func(m string) bool { return member == "" || m == member })
			if len(b.Members) == 0 {
				continue
			}
		}
		kept = append(kept, b)
	}
	p.Bindings = kept
	if _, err := w.SetIamPolicy(resource, p); err != nil {
		t.Fatalf("setIamPolicy %s: %v", resource, err)
	}
}

// TestScheduledWindowsEndWhenTheEligibilityIsRemoved: before, a scheduled
// window outlived the removal of the eligibility it was granted on and
// granted at its start. Now the next write the app makes to the policy
// ends every scheduled window of ours whose eligibility no longer holds in
// the live policies of the resource and its ancestors: a member removed
// from a project's eligible binding, and an eligible binding removed from
// a folder. Windows whose eligibility holds (through a group, with a
// resource condition) are kept.
func TestScheduledWindowsEndWhenTheEligibilityIsRemoved(t *testing.T) {
	t.Parallel()
	clock := emutest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := startSchedules(t, clock)
	w := h.Emulator.World
	tomorrow := map[string]any{"startTime": clock.Now().Add(24 * time.Hour).Format(time.RFC3339)}
	for _, s := range []struct{ user, project, role string }{
		{"dave@example.com", "prod-payments-db", "roles/cloudsql.client"},            // direct, on the project
		{"bob@example.com", "prod-payments-api", "roles/logging.viewer"},             // through sre, on folders/1001
		{"alice@example.com", "prod-web-frontend", "roles/compute.instanceAdmin.v1"}, // through sre, with a resource condition
	} {
		body := map[string]any{"entitlementIds": []string{entitlementID(t, h, s.user, s.project, s.role)}, "justification": "INC-8", "activationTimeout": 60}
		maps.Copy(body, tomorrow)
		if r := h.Do(t, s.user, http.MethodPost, "/api/projects/"+s.project+"/roles/self-activate", body); r.Status != 200 {
			t.Fatalf("%s's scheduled %s = %d %s", s.user, s.role, r.Status, r.Body)
		}
	}

	// The administrator removes dave from the project's eligible binding,
	// and the folder's eligible logging.viewer binding.
	removeEligibility(t, w, "projects/prod-payments-db", "roles/cloudsql.client", "user:dave@example.com")
	removeEligibility(t, w, "folders/1001", "roles/logging.viewer", "")

	// The next write to each policy, by someone else, ends the window.
	if r := selfActivate(t, h, "erin@example.com", "prod-payments-db", "roles/cloudsql.client", 30, nil); r.Status != 200 {
		t.Fatalf("erin's activation = %d %s", r.Status, r.Body)
	}
	if s := scheduledOf(t, w, "projects/prod-payments-db", "user:dave@example.com", "roles/cloudsql.client"); len(s) != 0 {
		t.Errorf("dave's scheduled window survived the removal of his eligibility: %+v", s)
	}
	if n := bindingsOf(t, w, "projects/prod-payments-db", "user:erin@example.com", "roles/cloudsql.client"); n != 1 {
		t.Errorf("erin has %d bindings", n)
	}
	token := requestToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "CHG-5 deploy", []string{"dave@example.com"}, 30)
	if r := h.Do(t, "dave@example.com", http.MethodPost, requestPath(token), nil); r.Status != 200 {
		t.Fatalf("approval on prod-payments-api = %d %s", r.Status, r.Body)
	}
	if s := scheduledOf(t, w, "projects/prod-payments-api", "user:bob@example.com", "roles/logging.viewer"); len(s) != 0 {
		t.Errorf("bob's scheduled window survived the removal of the folder's eligible binding: %+v", s)
	}

	// alice's eligibility holds: bob's write to the same policy keeps it.
	if r := h.Do(t, "bob@example.com", http.MethodPost, "/api/projects/prod-web-frontend/roles/self-activate", map[string]any{
		"entitlementIds": []string{entitlementID(t, h, "bob@example.com", "prod-web-frontend", "roles/compute.instanceAdmin.v1")},
		"justification":  "INC-9", "activationTimeout": 30}); r.Status != 200 {
		t.Fatalf("bob's activation = %d %s", r.Status, r.Body)
	}
	if s := scheduledOf(t, w, "projects/prod-web-frontend", "user:alice@example.com", "roles/compute.instanceAdmin.v1"); len(s) != 1 {
		t.Errorf("alice's scheduled window, still eligible, = %+v", s)
	}
	if a := activations(t, h, "dave@example.com", ""); len(a) != 0 {
		t.Errorf("dave's access after the removal = %v", a)
	}
}

// entitlementID is the id of user's entitlement of role on project, as
// the roles list gives it (with its resource condition).
func entitlementID(t *testing.T, h *apptest.Harness, user, project, role string) string {
	t.Helper()
	r := h.Do(t, user, http.MethodGet, "/api/projects/"+project+"/roles", nil)
	if r.Status != 200 {
		t.Fatalf("%s's roles on %s = %d %s", user, project, r.Status, r.Body)
	}
	var body struct {
		Entitlements []struct{ ID, Name string } `json:"entitlements"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	for _, x := range body.Entitlements {
		if x.Name == role {
			return x.ID
		}
	}
	t.Fatalf("%s has no %s on %s: %s", user, role, project, r.Body)
	return ""
}
