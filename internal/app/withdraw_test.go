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
	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/outbox"
)

func withdrawPath(token string) string {
	return "/api/activation-request/withdraw?activation=" + strings.TrimPrefix(requestPath(token), "/api/activation-request?activation=")
}

// TestWithdrawAPendingRequest: only the requester withdraws; the reviewers
// are told by email and Pub/Sub; the request then reads WITHDRAWN for
// everyone, and can be approved, rejected or withdrawn no more, even once
// its record binding is gone (the audit log still says so).
func TestWithdrawAPendingRequest(t *testing.T) {
	t.Parallel()
	h, ps := withPubSub(t)
	spec := loadOpenAPI(t)
	token := requestToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "CHG-31 hotfix", []string{"dave@example.com"}, 30)
	const resource = "projects/prod-payments-api"

	for _, tc := range []struct {
		name, user string
		status     int
		message    string
	}{
		{"by_the_reviewer", "dave@example.com", 403, "Only the requester can withdraw this request"},
		{"by_a_stranger", "grace@example.com", 403, "Only the requester can withdraw this request"},
		{"without_a_token", "erin@example.com", 400, "An activation token is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := withdrawPath(token)
			if tc.name == "without_a_token" {
				path = "/api/activation-request/withdraw"
			}
			r := h.Do(t, tc.user, http.MethodPost, path, nil)
			if r.Status != tc.status || r.Message(t) != tc.message {
				t.Errorf("got %d %s, want %d %q", r.Status, r.Body, tc.status, tc.message)
			}
		})
	}
	if r := h.Do(t, "erin@example.com", http.MethodPost, withdrawPath(token), map[string]any{"reason": "x"}); r.Status != 400 {
		t.Errorf("a body with fields = %d %s", r.Status, r.Body)
	}
	if n := h.Emulator.World.TotalPolicyWrites(); n != 0 {
		t.Fatalf("%d IAM writes by refused withdrawals", n)
	}

	r := h.Do(t, "erin@example.com", http.MethodPost, withdrawPath(token), nil)
	spec.check(t, http.MethodPost, withdrawPath(token), r)
	body := r.JSON(t)
	if r.Status != 200 || body["status"] != "WITHDRAWN" || body["decidedBy"] != "erin@example.com" ||
		body["entitlements"].([]any)[0].(map[string]any)["status"] != "INACTIVE" {
		t.Fatalf("withdraw = %d %s", r.Status, r.Body)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	mail, err := h.Outbox.WaitFor(ctx, func(m outbox.Message) bool {
		return slices.Contains(m.To, "dave@example.com") && strings.HasPrefix(m.Subject, "Re: ")
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(mail.Text, "erin@example.com withdrew their request to access the Google Cloud project prod-payments-api") ||
		!slices.Contains(mail.CC, "erin@example.com") {
		t.Errorf("withdrawal email to %v cc %v:\n%s", mail.To, mail.CC, mail.Text)
	}
	if got := published(t, ps, "ActivationWithdrawn"); len(got) != 1 || got[0]["beneficiary"] != "erin@example.com" ||
		!slices.Equal(got[0]["reviewers"].([]any), []any{"dave@example.com"}) {
		t.Errorf("Pub/Sub ActivationWithdrawn = %v", got)
	}
	audited := 0
	for _, e := range h.Emulator.Logging.Entries(auditLog) {
		if l := e.GetLabels(); l["event"] == "api.withdrawRequest" && e.GetSeverity() == ltype.LogSeverity_INFO {
			audited++
			if l["user"] != "erin@example.com" || !strings.HasPrefix(l["activation_id"], "mpa-") || l["project"] != "prod-payments-api" {
				t.Errorf("audit labels = %v", l)
			}
		}
	}
	if audited != 1 {
		t.Errorf("%d api.withdrawRequest entries, want 1", audited)
	}

	checkDecided := func(t *testing.T) {
		t.Helper()
		writes := h.Emulator.World.PolicyWrites(resource)
		const msg = "This request has been withdrawn by its requester"
		if r := h.Do(t, "dave@example.com", http.MethodPost, requestPath(token), nil); r.Status != 409 || r.Message(t) != msg {
			t.Errorf("approval after the withdrawal = %d %s", r.Status, r.Body)
		}
		if r := h.Do(t, "dave@example.com", http.MethodPost, strings.Replace(withdrawPath(token), "withdraw", "reject", 1), nil); r.Status != 409 {
			t.Errorf("rejection after the withdrawal = %d %s", r.Status, r.Body)
		}
		if r := h.Do(t, "erin@example.com", http.MethodPost, withdrawPath(token), nil); r.Status != 409 || r.Message(t) != msg {
			t.Errorf("second withdrawal = %d %s", r.Status, r.Body)
		}
		if n := h.Emulator.World.PolicyWrites(resource) - writes; n != 0 {
			t.Errorf("%d IAM writes after the withdrawal", n)
		}
		if n := bindingsOf(t, h.Emulator.World, resource, "user:erin@example.com", "roles/run.developer"); n != 0 {
			t.Errorf("%d activation bindings for a withdrawn request", n)
		}
		for _, user := range []string{"dave@example.com", "erin@example.com"} {
			r := h.Do(t, user, http.MethodGet, requestPath(token), nil)
			spec.check(t, http.MethodGet, requestPath(token), r)
			if b := r.JSON(t); b["status"] != "WITHDRAWN" {
				t.Errorf("%s's view = %s", user, r.Body)
			}
		}
	}
	checkDecided(t)
	r = h.Do(t, "erin@example.com", http.MethodGet, "/api/requests?view=mine", nil)
	spec.check(t, http.MethodGet, "/api/requests?view=mine", r)
	if reqs := r.JSON(t)["requests"].([]any); len(reqs) != 1 || reqs[0].(map[string]any)["status"] != "WITHDRAWN" {
		t.Errorf("erin's requests = %s", r.Body)
	}
	if reqs := h.Do(t, "dave@example.com", http.MethodGet, "/api/requests?view=review", nil).JSON(t)["requests"].([]any); len(reqs) != 0 {
		t.Errorf("dave still has %d requests to review", len(reqs))
	}

	// An administrator removes the record binding: the audit log still
	// says the request was withdrawn.
	p, _ := h.Emulator.World.Policy(resource)
	p.Bindings = slices.DeleteFunc(p.Bindings, func(b emulator.Binding) bool {
		return b.Condition != nil && condition.IsRecord(b.Condition.Title, b.Condition.Expression)
	})
	if _, err := h.Emulator.World.SetIamPolicy(resource, p); err != nil {
		t.Fatal(err)
	}
	t.Run("without_the_record", checkDecided)
}

// TestWithdrawAfterOneOfTwoApprovals: a quorum request with one approval
// so far is withdrawn; the second approval is refused and nothing is
// granted.
func TestWithdrawAfterOneOfTwoApprovals(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	token := requestToken(t, h, "frank@example.com", scProject, scRole, "INC-32 triage", scApprovers, 30)
	if b := h.Do(t, "alice@example.com", http.MethodPost, requestPath(token), nil).JSON(t); b["status"] != "PENDING" {
		t.Fatalf("first approval = %v", b)
	}
	if r := h.Do(t, "frank@example.com", http.MethodPost, withdrawPath(token), nil); r.Status != 200 || r.JSON(t)["status"] != "WITHDRAWN" {
		t.Fatalf("withdraw = %d %s", r.Status, r.Body)
	}
	if r := h.Do(t, "carol@example.com", http.MethodPost, requestPath(token), nil); r.Status != 409 {
		t.Errorf("second approval after the withdrawal = %d %s", r.Status, r.Body)
	}
	if n := bindingsOf(t, h.Emulator.World, "projects/"+scProject, "user:frank@example.com", scRole); n != 0 {
		t.Errorf("%d bindings after a withdrawal", n)
	}
	if b := h.Do(t, "alice@example.com", http.MethodGet, requestPath(token), nil).JSON(t); b["status"] != "WITHDRAWN" || len(b["approvals"].([]any)) != 1 {
		t.Errorf("alice's view = %v", b)
	}
}

// TestAnApprovedRequestCannotBeWithdrawn: once approved, the request is
// decided: withdrawing is refused (ending the access is /api/activations/end).
func TestAnApprovedRequestCannotBeWithdrawn(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	token := requestToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "CHG-33", []string{"dave@example.com"}, 30)
	if r := h.Do(t, "dave@example.com", http.MethodPost, requestPath(token), nil); r.Status != 200 {
		t.Fatalf("approve = %d %s", r.Status, r.Body)
	}
	if r := h.Do(t, "erin@example.com", http.MethodPost, withdrawPath(token), nil); r.Status != 409 || !strings.HasPrefix(r.Message(t), "This request has already been approved by dave@example.com") {
		t.Errorf("withdrawing an approved request = %d %s", r.Status, r.Body)
	}
	if n := bindingsOf(t, h.Emulator.World, "projects/prod-payments-api", "user:erin@example.com", "roles/run.developer"); n != 1 {
		t.Errorf("%d bindings, want the approved one", n)
	}
}
