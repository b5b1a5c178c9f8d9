package audit_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// TestHistoryPagesWhatTheUserDidAndWhatWasDoneForThem reads lifecycle and
// approval events back through the real logadmin client from the
// emulator, one page at a time.
func TestHistoryPagesWhatTheUserDidAndWhatWasDoneForThem(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	trail, history := newCloudTrail(t, e)
	bob := jit.Principal{Email: "bob@example.com"}
	frank := jit.Principal{Email: "frank@example.com"}
	folderAct := act
	folderAct.Entitlement = jit.Entitlement{Node: "folders/1001", Role: "roles/logging.viewer"}
	events := []jit.Event{
		{Kind: jit.EventSelfActivated, Actor: alice, Activations: []jit.Activation{act}},
		{Kind: jit.EventApproved, Actor: bob, Request: &jit.ActivationRequest{ID: "mpa-1", Beneficiary: "alice@example.com", Reviewers: []jit.UserID{"bob@example.com"},
			Duration: time.Hour, Entitlement: jit.Entitlement{Project: "prod-payments-api", Role: "roles/run.developer"}}},
		{Kind: jit.EventRevoked, Actor: frank, Activations: []jit.Activation{folderAct}, Detail: map[string]string{"resource": "folders/1001"}},
		{Kind: jit.EventSelfActivated, Actor: bob, Activations: []jit.Activation{{ID: "jit-b", Beneficiary: "bob@example.com", Justification: "INC-2",
			Entitlement: jit.Entitlement{Project: "prod-payments-db", Role: "roles/cloudsql.client"}, Start: start, End: start.Add(time.Hour)}}},
	}
	for _, ev := range events {
		if err := trail.Record(t.Context(), ev); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	var got []jit.HistoryEntry
	token := ""
	for page := 0; ; page++ {
		entries, next, err := history.History(t.Context(), jit.HistoryQuery{User: "alice@example.com", PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) > 1 || page > 5 {
			t.Fatalf("page %d has %d entries", page, len(entries))
		}
		got = append(got, entries...)
		if next == "" {
			break
		}
		token = next
	}
	if len(got) != 3 {
		t.Fatalf("alice's history = %+v, want her activation, bob's approval for her and frank's revocation", got)
	}
	revoked, approved, own := got[0], got[1], got[2]
	if revoked.Event != "api.revokeActivation" || revoked.User != "frank@example.com" || revoked.Beneficiary != "alice@example.com" ||
		revoked.Resource != "folders/1001" || revoked.Role != "roles/logging.viewer" {
		t.Errorf("revocation = %+v", revoked)
	}
	if approved.Event != "api.activateRole" || approved.User != "bob@example.com" || approved.Beneficiary != "alice@example.com" {
		t.Errorf("approval = %+v", approved)
	}
	if own.User != "alice@example.com" || own.Justification != "INC-1" || own.Resource != "projects/prod-payments-db" || !own.Start.Equal(start) {
		t.Errorf("own activation = %+v", own)
	}
	roles, _, err := history.History(t.Context(), jit.HistoryQuery{Role: "roles/cloudsql.client", Resource: "projects/prod-payments-db"})
	if err != nil || len(roles) != 2 {
		t.Errorf("by role and resource = %+v, %v", roles, err)
	}
	if _, _, err := history.History(t.Context(), jit.HistoryQuery{PageToken: "not-a-token"}); jit.KindOf(err) != jit.KindInvalid {
		t.Errorf("a forged page token: %v (kind %v)", err, jit.KindOf(err))
	}
}

// TestHistoryOfSomeoneWithNoHistoryIsEmpty: logadmin reports a first page
// without entries as iterator.Done, which is no failure.
func TestHistoryOfSomeoneWithNoHistoryIsEmpty(t *testing.T) {
	t.Parallel()
	_, history := newCloudTrail(t, emutest.Start(t))
	entries, next, err := history.History(t.Context(), jit.HistoryQuery{User: "nobody@example.com"})
	if err != nil || len(entries) != 0 || next != "" {
		t.Errorf("History = %v, %q, %v; want nothing and no error", entries, next, err)
	}
}

// TestReadingTheLogBackFails: each read says it was a read, a refusal
// names the missing role, and a Cloud Logging that does not answer is
// given up on at the read timeout (the client library alone would retry
// for a minute).
func TestReadingTheLogBackFails(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	_, history := newCloudTrail(t, e)
	history.WithTimeout(100 * time.Millisecond)
	since := time.Now().Add(-time.Hour)
	tests := []struct {
		name  string
		fault emulator.Fault
		kind  jit.Kind
		msg   string
	}{
		{"denied", emulator.Fault{Code: 403}, jit.KindUpstream, "roles/logging.viewer"},
		{"internal_until_the_deadline", emulator.Fault{Code: 500}, jit.KindUnavailable, "The audit log is unavailable"},
		{"hang", emulator.Fault{Latency: time.Hour}, jit.KindUnavailable, "The audit log is unavailable"},
	}
	for _, tt := range tests {
		e.World.Faults.Set("logging.ListLogEntries", tt.fault)
		_, err := history.RequestEvents(t.Context(), "mpa-1", since)
		if jit.KindOf(err) != tt.kind || !strings.Contains(jit.MessageOf(err), tt.msg) || strings.Contains(jit.MessageOf(err), "Writing") {
			t.Errorf("%s: RequestEvents = %v (kind %v), want %v saying %q", tt.name, err, jit.KindOf(err), tt.kind, tt.msg)
		}
		_, _, err = history.History(t.Context(), jit.HistoryQuery{User: "alice@example.com"})
		if jit.KindOf(err) != tt.kind || !strings.Contains(jit.MessageOf(err), "activations are not affected") {
			t.Errorf("%s: History = %v (kind %v)", tt.name, err, jit.KindOf(err))
		}
	}
}
