package notify_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/jitaccess/jitaccess/internal/jit"
	"github.com/jitaccess/jitaccess/internal/notify"
	"github.com/jitaccess/jitaccess/internal/outbox"
)

func TestRejectionEmailAndPubSub(t *testing.T) {
	t.Parallel()
	r := newRequest()
	n, ok := notify.FromEvent(jit.Event{Kind: jit.EventRejected, Actor: jit.Principal{Email: "bob@example.com"}, Request: &r,
		Reason: "Use <staging> first", BaseURL: "https://jit.example.com/"})
	if !ok || n.Kind != notify.ActivationRejected {
		t.Fatalf("notification = %+v %v", n, ok)
	}
	ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
	m := mustSend(t, ob, newMailer(t, ob, nil), n)
	if m.Subject != "Re: alice@example.com requests access to project prod-payments-api" ||
		!cmp.Equal(m.To, []string{"alice@example.com"}) || !cmp.Equal(m.CC, []string{"bob@example.com", "carol@example.com"}) {
		t.Errorf("subject %q to %v cc %v", m.Subject, m.To, m.CC)
	}
	for _, s := range []string{"bob@example.com rejected the request of alice@example.com", "Reason: Use <staging> first", "https://jit.example.com/"} {
		if !strings.Contains(m.Text, s) {
			t.Errorf("text lacks %q:\n%s", s, m.Text)
		}
	}
	if !strings.Contains(m.HTML, "Use &lt;staging&gt; first") {
		t.Errorf("HTML does not escape the reason:\n%s", m.HTML)
	}
	b, err := notify.Payload(n)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	attrs := got["attributes"].(map[string]any)
	if got["type"] != "ActivationRejected" || attrs["approver"] != "bob@example.com" || attrs["reason"] != "Use <staging> first" ||
		attrs["beneficiary"] != "alice@example.com" || attrs["base_url"] != "https://jit.example.com/" {
		t.Errorf("Pub/Sub message = %s", b)
	}
}

func TestApprovalAddedGoesToTheRemainingReviewers(t *testing.T) {
	t.Parallel()
	r := newRequest()
	r.Required = 2
	n, ok := notify.FromEvent(jit.Event{Kind: jit.EventApprovalRecorded, Actor: jit.Principal{Email: "bob@example.com"}, Request: &r,
		Approvals: []jit.Approval{{By: "bob@example.com"}}, Required: 2, ActionURL: actionURL})
	if !ok || n.Kind != notify.ActivationApprovalAdded || !cmp.Equal(n.To, []jit.UserID{"carol@example.com"}) || !cmp.Equal(n.CC, []jit.UserID{"alice@example.com"}) {
		t.Fatalf("notification = %+v %v", n, ok)
	}
	ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
	m := mustSend(t, ob, newMailer(t, ob, nil), n)
	for _, s := range []string{"Approval added: 1 of 2 approvals", "It has 1 of 2 approvals (by bob@example.com)", "View request: " + actionURL} {
		if !strings.Contains(m.Text, s) {
			t.Errorf("text lacks %q:\n%s", s, m.Text)
		}
	}
	b, _ := notify.Payload(n)
	var got map[string]any
	_ = json.Unmarshal(b, &got)
	attrs := got["attributes"].(map[string]any)
	if got["type"] != "ActivationApprovalAdded" || attrs["approvals_required"] != 2.0 || attrs["action_url"] != actionURL ||
		!cmp.Equal(attrs["approvals"], []any{"bob@example.com"}) {
		t.Errorf("Pub/Sub message = %s", b)
	}
	// Everybody approved (cannot happen without a grant, but the
	// notification must not go to nobody).
	r.Reviewers = []jit.UserID{"bob@example.com"}
	if _, ok := notify.FromEvent(jit.Event{Kind: jit.EventApprovalRecorded, Actor: jit.Principal{Email: "bob@example.com"}, Request: &r, Required: 2}); ok {
		t.Error("an approval-added notification with no recipient")
	}
}

func TestQuorumRequestEmailSaysHowManyMustApprove(t *testing.T) {
	t.Parallel()
	r := newRequest()
	r.Required, r.Dedicated = 2, true
	n, ok := notify.FromEvent(jit.Event{Kind: jit.EventRequested, Actor: jit.Principal{Email: r.Beneficiary}, Request: &r, ActionURL: actionURL})
	if !ok {
		t.Fatal("no notification")
	}
	ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
	m := mustSend(t, ob, newMailer(t, ob, nil), n)
	if !strings.Contains(m.Text, "because you are an approver of this role. 2 of the reviewers must approve the request, and any one can reject it.") {
		t.Errorf("text:\n%s", m.Text)
	}
}
