package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
)

// requestToken makes a request through the API and returns its token, read
// from the last approval email.
func requestToken(t *testing.T, h *apptest.Harness, user, project, role, justification string, peers []string, minutes int) string {
	t.Helper()
	before := len(h.Outbox.Messages())
	r := h.Do(t, user, http.MethodPost, "/api/projects/"+project+"/roles/request", map[string]any{
		"entitlementId": project + ":" + role, "justification": justification, "peers": peers, "activationTimeout": minutes,
	})
	if r.Status != 200 {
		t.Fatalf("request = %d %s", r.Status, r.Body)
	}
	msgs := h.Outbox.Messages()
	if len(msgs) <= before {
		t.Fatal("no approval email")
	}
	u, err := url.Parse(linkPattern.FindString(msgs[len(msgs)-1].Text))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("activation")
}

func requestPath(token string) string {
	return "/api/activation-request?activation=" + url.QueryEscape(token)
}

// bindingsOf counts the activation bindings (active or expired) of member
// for role on resource.
func bindingsOf(t *testing.T, w *emulator.World, resource, member, role string) int {
	t.Helper()
	n := 0
	for _, b := range emutest.Activations(t, w, resource) {
		if b.Members[0] == member && b.Role == role {
			n++
		}
	}
	return n
}

// TestRequestIsApprovedOnlyOnce: before, the reviewer could open the link
// again after the window ended and approve again, writing a new window
// each time (a 30-minute request gave about 88 minutes of access). Now a
// second approval is refused after the window, after the expired binding
// was due for a sweep, and after the binding is gone altogether (the audit
// log still says it was approved); the approval page says by whom and when.
func TestRequestIsApprovedOnlyOnce(t *testing.T) {
	t.Parallel()
	clock := emutest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := apptest.Start(t, apptest.Options{Clock: clock.Now})
	w := h.Emulator.World
	const resource, member, role = "projects/prod-payments-api", "user:erin@example.com", "roles/run.developer"
	token := requestToken(t, h, "erin@example.com", "prod-payments-api", role, "CHG-7 hotfix", []string{"dave@example.com"}, 30)
	approvedAt := clock.Now()
	if r := h.Do(t, "dave@example.com", http.MethodPost, requestPath(token), nil); r.Status != 200 {
		t.Fatalf("approve = %d %s", r.Status, r.Body)
	}
	wantMsg := "This request has already been approved by dave@example.com at " + approvedAt.Format(time.RFC3339)

	// The window (30 minutes) ends; the token (60 minutes) still lives.
	clock.Advance(31 * time.Minute)
	// Another write on the project sweeps what has expired.
	if r := h.Do(t, "dave@example.com", http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate", map[string]any{
		"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "INC-1", "activationTimeout": 5,
	}); r.Status != 200 {
		t.Fatalf("self-activate = %d %s", r.Status, r.Body)
	}
	writes := w.TotalPolicyWrites()
	r := h.Do(t, "dave@example.com", http.MethodPost, requestPath(token), nil)
	if r.Status != http.StatusConflict || r.Message(t) != wantMsg {
		t.Errorf("approval after the window = %d %q, want 409 %q", r.Status, r.Message(t), wantMsg)
	}
	if n := w.TotalPolicyWrites() - writes; n != 0 {
		t.Errorf("%d IAM writes by the second approval", n)
	}
	if n := bindingsOf(t, w, resource, member, role); n != 1 {
		t.Errorf("%d bindings for erin, want the one approved", n)
	}
	body := h.Do(t, "erin@example.com", http.MethodGet, requestPath(token), nil).JSON(t)
	if body["status"] != "APPROVED" || body["decidedBy"] != "dave@example.com" || body["decidedAt"] != approvedAt.Format(time.RFC3339) {
		t.Errorf("request view = %v", body)
	}

	// Gone from IAM (an administrator removed it): the audit log says it
	// was approved.
	p, _ := w.Policy(resource)
	var kept []emulator.Binding
	for _, b := range p.Bindings {
		if len(b.Members) != 1 || b.Members[0] != member || b.Role != role || b.Condition == nil || !strings.Contains(b.Condition.Description, "(request mpa-") {
			kept = append(kept, b)
		}
	}
	p.Bindings = kept
	if _, err := w.SetIamPolicy(resource, p); err != nil {
		t.Fatal(err)
	}
	r = h.Do(t, "dave@example.com", http.MethodPost, requestPath(token), nil)
	if r.Status != http.StatusConflict || r.Message(t) != wantMsg {
		t.Errorf("approval after the binding was removed = %d %q, want 409 %q", r.Status, r.Message(t), wantMsg)
	}
	if n := bindingsOf(t, w, resource, member, role); n != 0 {
		t.Errorf("%d bindings for erin after the refused approval", n)
	}
}

// TestSecondReviewerCannotApproveAgain: any one reviewer decides; the
// other's approval later is refused with who approved, and writes nothing.
func TestSecondReviewerCannotApproveAgain(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	token := requestToken(t, h, "alice@example.com", "shared-networking", "roles/compute.networkAdmin", "CHG-9 firewall",
		[]string{"bob@example.com", "carol@example.com"}, 30)
	if r := h.Do(t, "bob@example.com", http.MethodPost, requestPath(token), nil); r.Status != 200 {
		t.Fatalf("bob's approval = %d %s", r.Status, r.Body)
	}
	writes := h.Emulator.World.TotalPolicyWrites()
	r := h.Do(t, "carol@example.com", http.MethodPost, requestPath(token), nil)
	if r.Status != http.StatusConflict || !strings.HasPrefix(r.Message(t), "This request has already been approved by bob@example.com at ") {
		t.Errorf("carol's approval = %d %s", r.Status, r.Body)
	}
	if n := h.Emulator.World.TotalPolicyWrites() - writes; n != 0 {
		t.Errorf("%d IAM writes by the second reviewer", n)
	}
	// carol sees it approved by bob; the original's UI sees ACTIVE.
	body := h.Do(t, "carol@example.com", http.MethodGet, requestPath(token), nil).JSON(t)
	ent := body["entitlements"].([]any)[0].(map[string]any)
	if body["status"] != "APPROVED" || body["decidedBy"] != "bob@example.com" || ent["status"] != "ACTIVE" {
		t.Errorf("request view = %v", body)
	}
}

// TestRenewalIsNotShownAsApproved: a request whose beneficiary still holds
// an earlier activation of the same role read as already approved (the
// state came from any active activation of the role), so no UI offered to
// approve the renewal. The state now comes from the binding written for
// this request only.
func TestRenewalIsNotShownAsApproved(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	first := requestToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "CHG-1 deploy", []string{"dave@example.com"}, 30)
	if r := h.Do(t, "dave@example.com", http.MethodPost, requestPath(first), nil); r.Status != 200 {
		t.Fatalf("first approval = %d %s", r.Status, r.Body)
	}
	renewal := requestToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "CHG-2 deploy", []string{"dave@example.com"}, 30)
	body := h.Do(t, "dave@example.com", http.MethodGet, requestPath(renewal), nil).JSON(t)
	ent := body["entitlements"].([]any)[0].(map[string]any)
	if body["status"] != "PENDING" || ent["status"] != "ACTIVATION_PENDING" || len(body["approvals"].([]any)) != 0 {
		t.Fatalf("renewal view = %v", body)
	}
	if r := h.Do(t, "dave@example.com", http.MethodPost, requestPath(renewal), nil); r.Status != 200 {
		t.Errorf("approving the renewal = %d %s", r.Status, r.Body)
	}
	// The first request stays approved, the renewal now too.
	for name, tok := range map[string]string{"first": first, "renewal": renewal} {
		if b := h.Do(t, "erin@example.com", http.MethodGet, requestPath(tok), nil).JSON(t); b["status"] != "APPROVED" {
			t.Errorf("%s = %v", name, b)
		}
	}
}
