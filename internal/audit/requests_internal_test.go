package audit

import (
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// The events of a request map to entries and back: what the request lists
// and the decided-once check read is what was written.
func TestRequestEventsRoundTrip(t *testing.T) {
	t.Parallel()
	req := &jit.ActivationRequest{ID: "mpa-abc", Beneficiary: "erin@example.com", Reviewers: []jit.UserID{"dave@example.com", "frank@example.com"},
		Entitlement: jit.Entitlement{Project: "p-123456", Role: "roles/x"}, Justification: "CHG-1", Duration: time.Hour, Required: 2}
	act := jit.Activation{ID: req.ID, Beneficiary: req.Beneficiary, Entitlement: req.Entitlement, Approver: "dave@example.com",
		Justification: req.Justification, Start: time.Unix(0, 0), End: time.Unix(3600, 0)}
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		e         jit.Event
		event     string
		wantKind  jit.EventKind
		wantActor jit.UserID
	}{
		{jit.Event{Kind: jit.EventRequested, Actor: jit.Principal{Email: "erin@example.com"}, Request: req, Token: "tok"}, "api.requestRole", jit.EventRequested, "erin@example.com"},
		{jit.Event{Kind: jit.EventApprovalRecorded, Actor: jit.Principal{Email: "dave@example.com"}, Request: req, Activations: []jit.Activation{act},
			Approvals: []jit.Approval{{By: "dave@example.com"}}, Required: 2}, "api.approveRequest", jit.EventApprovalRecorded, "dave@example.com"},
		{jit.Event{Kind: jit.EventApproved, Actor: jit.Principal{Email: "dave@example.com"}, Request: req, Activations: []jit.Activation{act}}, "api.activateRole", jit.EventApproved, "dave@example.com"},
		{jit.Event{Kind: jit.EventRejected, Actor: jit.Principal{Email: "frank@example.com"}, Request: req, Reason: "not now"}, "api.rejectRequest", jit.EventRejected, "frank@example.com"},
	} {
		entry := FromEvent(tc.e)
		entry.Time, entry.Severity = at, "Info"
		if entry.Event != tc.event || entry.Labels["activation_id"] != "mpa-abc" {
			t.Errorf("%s: entry %s %v", tc.e.Kind, entry.Event, entry.Labels)
		}
		ev, ok := requestEvent(entry)
		if !ok || ev.Kind != tc.wantKind || ev.Actor != tc.wantActor || ev.RequestID != "mpa-abc" || !ev.Time.Equal(at) {
			t.Errorf("%s: read back as %+v %v", tc.e.Kind, ev, ok)
		}
		if tc.e.Kind == jit.EventRequested && ev.Token != "tok" {
			t.Errorf("the request's token was not kept: %+v", ev)
		}
		if tc.e.Kind == jit.EventRejected && (ev.Reason != "not now" || entry.Labels["reason"] != "not now") {
			t.Errorf("the reason was not kept: %+v", ev)
		}
	}
	// A refusal is no decision.
	failed := FromEvent(jit.Event{Kind: jit.EventRejectFailed, Actor: jit.Principal{Email: "x@example.com"}, Request: req, Err: jit.Denied("op", "no")})
	if _, ok := requestEvent(failed); ok || failed.Severity != SeverityError {
		t.Errorf("a failed rejection reads as a decision: %+v", failed)
	}
	// A self-activation (no approver) is no approval of a request.
	self := FromEvent(jit.Event{Kind: jit.EventSelfActivated, Actor: jit.Principal{Email: "erin@example.com"}, Activations: []jit.Activation{{ID: "mpa-abc", Entitlement: req.Entitlement}}})
	if _, ok := requestEvent(self); ok {
		t.Error("a self-activation reads as an approval")
	}
}

// FuzzParsePageToken: a history page token comes back from the client.
// Whatever it is, parsing does not panic, and what it accepts has a time
// bound and a printable Cloud Logging token of bounded length, and
// survives a round trip.
func FuzzParsePageToken(f *testing.F) {
	f.Add(pageToken{Until: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Page: "MTA"}.String())
	f.Add("h1.")
	f.Add("h1.e30")
	f.Add("not-a-token")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePageToken(s)
		if err != nil {
			return
		}
		if p.Until.IsZero() || p.Page == "" || len(p.Page) > maxLoggingPageToken {
			t.Fatalf("accepted %q as %+v", s, p)
		}
		back, err := parsePageToken(p.String())
		if err != nil || !back.Until.Equal(p.Until) || back.Page != p.Page {
			t.Fatalf("round trip of %+v: %+v, %v", p, back, err)
		}
	})
}
