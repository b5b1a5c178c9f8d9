package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/outbox"
)

const auditLog = "projects/jitaccess-app/logs/jitaccess-audit"

// hangUpDuringWrite sends a request as user and cancels it as soon as the
// emulator has received the setIamPolicy call, as a client that
// disconnects mid-request would.
func hangUpDuringWrite(t *testing.T, h *apptest.Harness, user, method, path string, body any) {
	t.Helper()
	const setIamPolicy = "cloudresourcemanager.projects.setIamPolicy"
	before := h.Emulator.World.Faults.Calls(setIamPolicy)
	// Slow writes give the client time to go away mid-write.
	h.Emulator.World.Faults.Set(setIamPolicy, emulator.Fault{Latency: 300 * time.Millisecond})
	var r *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	} else {
		r = bytes.NewReader(nil)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, h.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Jitaccess", "1")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-goog-iap-jwt-assertion", h.Assertion(t, user))
	go func() {
		for h.Emulator.World.Faults.Calls(setIamPolicy) == before {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	resp, err := h.Server.Client().Do(req)
	if err == nil {
		_ = resp.Body.Close()
		t.Logf("the response came before the client hung up: %d", resp.StatusCode)
	}
}

// waitForAudit waits (up to a generous deadline, for a noisy machine)
// until an audit entry matching ok is in the emulator's Cloud Logging.
func waitForAudit(t *testing.T, h *apptest.Harness, ok func(labels map[string]string) bool) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for {
		for _, e := range h.Emulator.Logging.Entries(auditLog) {
			if ok(e.GetLabels()) {
				return true
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// grantedWith matches the audit entry of a successful activation (self or
// approved) with the given justification.
func grantedWith(justification string) func(map[string]string) bool {
	return func(l map[string]string) bool {
		_, failed := l["error"]
		return l["event"] == "api.activateRole" && l["justification"] == justification && !failed
	}
}

func activationBindingOf(t *testing.T, h *apptest.Harness, project, member, role string) bool {
	t.Helper()
	p, _ := h.Emulator.World.Policy("projects/" + project)
	for _, b := range p.Bindings {
		if b.Condition != nil && b.Role == role && len(b.Members) == 1 && b.Members[0] == member {
			if _, ok := condition.ParseActivation(b.Condition.Title, b.Condition.Expression); ok {
				return true
			}
		}
	}
	return false
}

// waitForBinding waits until the activation binding is in the policy.
func waitForBinding(t *testing.T, h *apptest.Harness, project, member, role string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for !activationBindingOf(t, h, project, member, role) {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return true
}

// TestAGrantIsAuditedWhenTheClientHangsUp: a client that disconnects while
// its self-activation is being written keeps the role; the audit trail
// must say so (the audit record used to run on the cancelled request
// context, so it was never written).
func TestAGrantIsAuditedWhenTheClientHangsUp(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	hangUpDuringWrite(t, h, "dave@example.com", http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate", map[string]any{
		"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "INC-77 hang up", "activationTimeout": 30,
	})
	// The write is detached from the request: it lands.
	if !waitForBinding(t, h, "prod-payments-db", "user:dave@example.com", "roles/cloudsql.client") {
		t.Fatal("the self-activation's binding was not written")
	}
	if !waitForAudit(t, h, grantedWith("INC-77 hang up")) {
		t.Errorf("the binding exists, but there is no audit entry of the self-activation: %v", h.Emulator.Logging.Entries(auditLog))
	}
}

// TestAnApprovalIsAuditedAndMailedWhenTheReviewerHangsUp: the same for an
// approval, and the beneficiary still gets the approval email.
func TestAnApprovalIsAuditedAndMailedWhenTheReviewerHangsUp(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	r := h.Do(t, "erin@example.com", http.MethodPost, "/api/projects/prod-payments-api/roles/request", map[string]any{
		"entitlementId": "prod-payments-api:roles/run.developer", "justification": "CHG-77 hang up",
		"peers": []string{"dave@example.com"}, "activationTimeout": 30,
	})
	if r.Status != 200 {
		t.Fatalf("request = %d %s", r.Status, r.Body)
	}
	u, _ := url.Parse(linkPattern.FindString(h.Outbox.Messages()[0].Text))
	hangUpDuringWrite(t, h, "dave@example.com", http.MethodPost, "/api/activation-request?activation="+url.QueryEscape(u.Query().Get("activation")), nil)
	if !waitForBinding(t, h, "prod-payments-api", "user:erin@example.com", "roles/run.developer") {
		t.Fatal("the approval's binding was not written")
	}
	if !waitForAudit(t, h, grantedWith("CHG-77 hang up")) {
		t.Errorf("the binding exists, but there is no audit entry of the approval: %v", h.Emulator.Logging.Entries(auditLog))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := h.Outbox.WaitFor(ctx, func(m outbox.Message) bool { return strings.HasPrefix(m.Subject, "Re: ") }); err != nil {
		t.Errorf("no approval email to the beneficiary: %v", err)
	}
}

// TestOutOfRangeNumbersAreRefusedNotWrapped: an activationTimeout whose
// minutes overflow a time.Duration used to wrap round to a short, accepted
// activation; more reviewers than a token can carry used to be a 500.
// Both are 400s that write nothing and send nothing.
func TestOutOfRangeNumbersAreRefusedNotWrapped(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t, apptest.Options{Config: map[string]string{"ACTIVATION_REQUEST_MAX_REVIEWERS": "100"}})
	peers := make([]string, 101)
	for i := range peers {
		peers[i] = "peer" + strconv.Itoa(i) + "@example.com"
	}
	for _, tc := range []struct {
		name, user, path string
		body             map[string]any
		message          string
	}{
		{"self_activate_overflow", "dave@example.com", "/api/projects/prod-payments-db/roles/self-activate", map[string]any{
			"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "INC-1", "activationTimeout": 307445736,
		}, "The activation duration must be no longer than 120 minutes"},
		{"self_activate_max_int", "dave@example.com", "/api/projects/prod-payments-db/roles/self-activate", map[string]any{
			"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "INC-1", "activationTimeout": int64(math.MaxInt64),
		}, "The activation duration must be no longer than 120 minutes"},
		{"request_overflow", "erin@example.com", "/api/projects/prod-payments-api/roles/request", map[string]any{
			"entitlementId": "prod-payments-api:roles/run.developer", "justification": "CHG-1", "peers": []string{"dave@example.com"}, "activationTimeout": 307445736,
		}, "The activation duration must be no longer than 120 minutes"},
		{"too_many_reviewers", "erin@example.com", "/api/projects/prod-payments-api/roles/request", map[string]any{
			"entitlementId": "prod-payments-api:roles/run.developer", "justification": "CHG-1", "peers": peers, "activationTimeout": 30,
		}, "The number of reviewers exceeds the allowed maximum of 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.Emulator.World.TotalPolicyWrites()
			r := h.Do(t, tc.user, http.MethodPost, tc.path, tc.body)
			if r.Status != http.StatusBadRequest || r.Message(t) != tc.message {
				t.Errorf("got %d %q, want 400 %q", r.Status, r.Body, tc.message)
			}
			if after := h.Emulator.World.TotalPolicyWrites(); after != before {
				t.Errorf("%d IAM writes", after-before)
			}
		})
	}
	if n := len(h.Outbox.Messages()); n != 0 {
		t.Errorf("%d emails sent", n)
	}
}

// TestTimeBoundEligibilityIsRefusedAtDiscovery: an eligible binding whose
// resource condition reads request.time ("eligible until a date") used to
// be offered, and each activation wrote a binding the app never
// recognised again. It is now refused with a warning that says why, and
// activating it writes nothing.
func TestTimeBoundEligibilityIsRefusedAtDiscovery(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	const resource = "projects/dev-playground"
	p, _ := h.Emulator.World.Policy(resource)
	p.Version = 3
	p.Bindings = append(p.Bindings, emulator.Binding{Role: "roles/storage.admin", Members: []string{"user:heidi@example.com"}, Condition: &emulator.Expr{
		Title: "Eligible until the end of the project", Expression: `has({}.jitAccessConstraint) && request.time < timestamp("2030-01-01T00:00:00Z")`,
	}})
	if _, apiErr := h.Emulator.World.SetIamPolicy(resource, p); apiErr != nil {
		t.Fatal(apiErr)
	}
	r := h.Do(t, "heidi@example.com", http.MethodGet, "/api/projects/dev-playground/roles", nil)
	if r.Status != 200 || strings.Contains(string(r.Body), `"dev-playground:roles/storage.admin`) ||
		!strings.Contains(string(r.Body), "roles/storage.admin on dev-playground cannot be activated: its eligible binding's condition reads request.time") {
		t.Errorf("roles = %d %s", r.Status, r.Body)
	}
	before := h.Emulator.World.TotalPolicyWrites()
	r = h.Do(t, "heidi@example.com", http.MethodPost, "/api/projects/dev-playground/roles/self-activate", map[string]any{
		"entitlementIds": []string{"dev-playground:roles/storage.admin"}, "justification": "INC-5", "activationTimeout": 30,
	})
	if r.Status != http.StatusForbidden || h.Emulator.World.TotalPolicyWrites() != before {
		t.Errorf("self-activate = %d %s, %d writes", r.Status, r.Body, h.Emulator.World.TotalPolicyWrites()-before)
	}
}
