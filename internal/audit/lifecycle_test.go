package audit_test

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/logging"

	"github.com/jitaccess/jitaccess/internal/audit"

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

// TestHistoryKeepsReasonsWhole: the history shows a rejection's reason,
// and a failure's cause whole, although the cause (and the entitlement
// before it in the message) contains ": ".
func TestHistoryKeepsReasonsWhole(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	trail, history := newCloudTrail(t, e)
	bob := jit.Principal{Email: "bob@example.com"}
	refusal := "roles/run.developer needs a peer's approval, and so does extending it: request the role again and have a reviewer approve the new request"
	cond := act
	cond.Entitlement.ResourceCondition = `resource.name.startsWith("projects/_/buckets/b")`
	req := &jit.ActivationRequest{ID: "mpa-9", Beneficiary: "alice@example.com", Reviewers: []jit.UserID{"bob@example.com"},
		Duration: time.Hour, Justification: "INC-9", Entitlement: jit.Entitlement{Project: "prod-payments-api", Role: "roles/run.developer"}}
	for _, ev := range []jit.Event{
		{Kind: jit.EventExtendFailed, Actor: alice, Activations: []jit.Activation{cond}, Err: jit.E("activation.Extend", jit.KindDenied, refusal, nil)},
		{Kind: jit.EventRejected, Actor: bob, Request: req, Reason: "not now: use staging"},
	} {
		if err := trail.Record(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	got, _, err := history.History(t.Context(), jit.HistoryQuery{User: "alice@example.com"})
	if err != nil || len(got) != 2 {
		t.Fatalf("History = %+v, %v", got, err)
	}
	reasons := map[string]string{}
	for _, h := range got {
		reasons[h.Event] = h.Reason
	}
	if reasons["api.extendActivation"] != refusal {
		t.Errorf("extend refusal reason = %q, want %q", reasons["api.extendActivation"], refusal)
	}
	if reasons["api.rejectRequest"] != "not now: use staging" {
		t.Errorf("rejection reason = %q", reasons["api.rejectRequest"])
	}
}

// TestHistoryPagingDoesNotRepeatEntriesWrittenMeanwhile: while someone
// pages newest first, new entries arrive; the next page continues where
// the last one ended instead of showing its entries again. A page token
// that was tampered with is refused, not passed on.
func TestHistoryPagingDoesNotRepeatEntriesWrittenMeanwhile(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	client, err := logging.NewClient(t.Context(), "projects/"+appProject, e.GRPCClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	t0 := time.Now().UTC().Truncate(time.Second)
	var at time.Time
	trail := audit.NewTrail(audit.NewCloudLogger(client, nil, time.Second), func() time.Time { return at })
	history := audit.NewHistory(mustAdmin(t, e), appProject)
	record := func(i int) {
		t.Helper()
		a := act
		a.ID, a.Justification = fmt.Sprintf("jit-%d", i), fmt.Sprintf("INC-%d", i)
		at = t0.Add(time.Duration(i) * time.Second)
		if err := trail.Record(t.Context(), jit.Event{Kind: jit.EventSelfActivated, Actor: alice, Activations: []jit.Activation{a}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		record(i)
	}
	q := jit.HistoryQuery{User: "alice@example.com", PageSize: 2, Now: t0.Add(10 * time.Second)}
	first, next, err := history.History(t.Context(), q)
	if err != nil || len(first) != 2 || next == "" {
		t.Fatalf("first page = %+v, %q, %v", first, next, err)
	}
	for i := 20; i < 23; i++ { // newer than the first page's query
		record(i)
	}
	q.PageToken, q.Now = next, t0.Add(30*time.Second)
	second, last, err := history.History(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range append(first, second...) {
		ids = append(ids, h.ActivationID)
	}
	if want := []string{"jit-3", "jit-2", "jit-1", "jit-0"}; !slices.Equal(ids, want) || last != "" {
		t.Errorf("pages = %v (next %q), want %v and no further page", ids, last, want)
	}

	for _, bad := range []string{
		next + "x", strings.Replace(next, "h1.", "h2.", 1), "h1." + base64.RawURLEncoding.EncodeToString([]byte(`{"until":"2026-01-01T00:00:00Z","page":"MQ","admin":true}`)),
		"h1." + base64.RawURLEncoding.EncodeToString([]byte(`{"until":"yesterday","page":"MQ"}`)),
		"h1." + base64.RawURLEncoding.EncodeToString([]byte(`{"until":"2026-01-01T00:00:00Z","page":"a\" OR labels.user:\"x"}`)),
	} {
		q.PageToken = bad
		if _, _, err := history.History(t.Context(), q); jit.KindOf(err) != jit.KindInvalid {
			t.Errorf("page token %q: %v (kind %v), want KindInvalid", bad, err, jit.KindOf(err))
		}
	}
}
