package app_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	ltype "google.golang.org/genproto/googleapis/logging/type"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/outbox"
)

// TestApproveWithComment: a reviewer approves with a comment; it is in the
// answer and the request's page, the audit entry's comment label, the
// history, the approval's email and its Pub/Sub message, and never in the
// binding. A bad comment is refused before anything is written.
func TestApproveWithComment(t *testing.T) {
	t.Parallel()
	h, ps := withPubSub(t)
	spec := loadOpenAPI(t)
	const comment = "Checked with the on-call lead"
	token := requestToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "CHG-21 hotfix", []string{"dave@example.com"}, 30)

	for _, tc := range []struct {
		name, comment, message string
	}{
		{"too_long", strings.Repeat("x", 201), "The comment is too long (at most 200 characters)"},
		{"with_a_line_break", "ok\nBcc: x@evil.example", "The comment contains characters that are not allowed"},
		{"with_a_bidi_override", "ok \u202egnp.exe", "The comment contains characters that are not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.Do(t, "dave@example.com", http.MethodPost, requestPath(token), map[string]any{"comment": tc.comment})
			if r.Status != 400 || r.Message(t) != tc.message {
				t.Errorf("got %d %s, want 400 %q", r.Status, r.Body, tc.message)
			}
		})
	}
	if r := h.Do(t, "dave@example.com", http.MethodPost, requestPath(token), map[string]any{"note": "x"}); r.Status != 400 {
		t.Errorf("an unknown field = %d %s", r.Status, r.Body)
	}
	if n := h.Emulator.World.TotalPolicyWrites(); n != 0 {
		t.Fatalf("%d IAM writes by refused approvals", n)
	}

	r := h.Do(t, "dave@example.com", http.MethodPost, requestPath(token), map[string]any{"comment": "  " + comment + " "})
	spec.check(t, http.MethodPost, requestPath(token), r)
	body := r.JSON(t)
	if r.Status != 200 || body["status"] != "APPROVED" {
		t.Fatalf("approve = %d %s", r.Status, r.Body)
	}
	if a := body["approvals"].([]any); len(a) != 1 || a[0].(map[string]any)["comment"] != comment {
		t.Errorf("approvals in the answer = %v", a)
	}
	// The requester's page reads the comment back from the audit log.
	r = h.Do(t, "erin@example.com", http.MethodGet, requestPath(token), nil)
	spec.check(t, http.MethodGet, requestPath(token), r)
	if a := r.JSON(t)["approvals"].([]any); len(a) != 1 || a[0].(map[string]any)["comment"] != comment {
		t.Errorf("approvals on the request's page = %s", r.Body)
	}
	var labelled int
	for _, e := range h.Emulator.Logging.Entries(auditLog) {
		if l := e.GetLabels(); l["event"] == "api.activateRole" && e.GetSeverity() == ltype.LogSeverity_INFO {
			if l["comment"] != comment {
				t.Errorf("audit entry's comment = %q", l["comment"])
			}
			labelled++
		}
	}
	if labelled != 1 {
		t.Errorf("%d approval audit entries, want 1", labelled)
	}
	for _, e := range h.Emulator.Logging.Entries(auditLog) {
		if l := e.GetLabels(); l["event"] == "api.activateRole" && e.GetSeverity() != ltype.LogSeverity_INFO && l["comment"] != "" {
			t.Errorf("a refused approval logged its comment %q", l["comment"])
		}
	}
	for _, b := range bindingsFor(t, h, "projects/prod-payments-api", "user:erin@example.com") {
		if strings.Contains(b, comment) {
			t.Errorf("the binding carries the comment: %q", b)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	mail, err := h.Outbox.WaitFor(ctx, func(m outbox.Message) bool {
		return slices.Contains(m.To, "erin@example.com") && strings.HasPrefix(m.Subject, "Re: ")
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(mail.Text, "Comment: "+comment) || !strings.Contains(mail.HTML, "<b>Comment:</b> "+comment) {
		t.Errorf("approval email:\n%s", mail.Text)
	}
	if got := published(t, ps, "ActivationApproved"); len(got) != 1 || got[0]["comment"] != comment {
		t.Errorf("Pub/Sub ActivationApproved = %v", got)
	}
	r = h.Do(t, "dave@example.com", http.MethodGet, "/api/history", nil)
	spec.check(t, http.MethodGet, "/api/history", r)
	found := false
	for _, e := range r.JSON(t)["entries"].([]any) {
		if e := e.(map[string]any); e["event"] == "api.activateRole" && e["comment"] == comment {
			found = true
		}
	}
	if !found {
		t.Errorf("history has no approval with the comment: %s", r.Body)
	}
}

// TestApprovalCommentRequired: ACTIVATION_APPROVAL_COMMENT=required
// refuses an approval without a comment (also one from the original's UI,
// which sends no body) and says so in /api/policy.
func TestApprovalCommentRequired(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t, apptest.Options{Config: map[string]string{"ACTIVATION_APPROVAL_COMMENT": "required"}})
	if p := h.Do(t, "dave@example.com", http.MethodGet, "/api/policy", nil).JSON(t); p["approvalComment"] != "required" {
		t.Errorf("policy = %v", p)
	}
	token := requestToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "CHG-22 hotfix", []string{"dave@example.com"}, 30)
	for _, body := range []any{nil, map[string]any{"comment": "   "}} {
		r := h.Do(t, "dave@example.com", http.MethodPost, requestPath(token), body)
		if r.Status != 400 || r.Message(t) != "Add a comment to your approval: this deployment requires one" {
			t.Errorf("approval with %v = %d %s", body, r.Status, r.Body)
		}
	}
	if n := h.Emulator.World.TotalPolicyWrites(); n != 0 {
		t.Fatalf("%d IAM writes by approvals without a comment", n)
	}
	if r := h.Do(t, "dave@example.com", http.MethodPost, requestPath(token), map[string]any{"comment": "Fine by me"}); r.Status != 200 || r.JSON(t)["status"] != "APPROVED" {
		t.Errorf("approval with a comment = %d %s", r.Status, r.Body)
	}
}

// bindingsFor returns the condition descriptions of member's conditional
// bindings on resource.
func bindingsFor(t *testing.T, h *apptest.Harness, resource, member string) []string {
	t.Helper()
	p, _ := h.Emulator.World.Policy(resource)
	var out []string
	for _, b := range p.Bindings {
		if b.Condition != nil && slices.Contains(b.Members, member) {
			out = append(out, b.Condition.Description)
		}
	}
	return out
}
