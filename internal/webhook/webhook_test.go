package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jitaccess/jitaccess/internal/jit"
	"github.com/jitaccess/jitaccess/internal/notify"
)

var testKey = []byte("0123456789abcdef-test-key")

func testNotification() notify.Notification {
	start := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	return notify.Notification{
		Kind: notify.RequestActivation, Beneficiary: "alice@example.com", Reviewers: []jit.UserID{"bob@example.com"},
		Project: "prod-db", Roles: []string{"roles/cloudsql.admin"}, Start: start, End: start.Add(time.Hour),
		RequestExpiry: start.Add(time.Hour), Justification: "INC-1 <https://evil.example|click> *now*",
		BaseURL: "https://jit.example.com/", ActionURL: "https://jit.example.com/?activation=tok",
	}
}

// receiver is a loopback webhook receiver that answers with the statuses
// given, then 200, and keeps what it received.
type receiver struct {
	t        *testing.T
	mu       sync.Mutex
	statuses []int
	got      []received
	srv      *httptest.Server
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{t: t, statuses: statuses}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Header.Clone(), b})
		status := http.StatusOK
		if len(r.statuses) > 0 {
			status, r.statuses = r.statuses[0], r.statuses[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// results collects OnResult outcomes.
type results chan string

func (c results) next(t *testing.T) string {
	t.Helper()
	select {
	case o := <-c:
		return o
	case <-t.Context().Done():
		t.Fatal("no delivery outcome before the test's deadline")
		return ""
	}
}

func testOptions(c results) Options {
	return Options{Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, MaxAttempts: 4, OnResult: func(o string) { c <- o }}
}

func TestCloudEventsAreSignedAndFollowTheSpec(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	done := make(results, 10)
	ce := NewCloudEvents(rcv.srv.URL+"/hook", testKey, "https://jit.example.com/", testOptions(done))
	t.Cleanup(ce.Close)
	n := testNotification()
	if err := ce.Send(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	if o := done.next(t); o != "sent" {
		t.Fatalf("outcome %q", o)
	}
	got := rcv.received()[0]
	if err := Verify(got.header.Get(SignatureHeader), got.body, testKey, time.Now(), ReplayWindow); err != nil {
		t.Errorf("Verify: %v (header %q)", err, got.header.Get(SignatureHeader))
	}
	if ct := got.header.Get("Content-Type"); ct != "application/cloudevents+json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	var ev Event
	if err := json.Unmarshal(got.body, &ev); err != nil {
		t.Fatal(err)
	}
	data, _ := notify.Payload(n)
	want := Event{SpecVersion: "1.0", ID: ev.ID, Source: "https://jit.example.com/", Type: "io.github.jitaccess.RequestActivation",
		Subject: "projects/prod-db", Time: ev.Time, DataContentType: "application/json", Data: data}
	if diff := cmp.Diff(want, ev); diff != "" || len(ev.ID) != 32 {
		t.Errorf("event (-want +got):\n%s", diff)
	}
	if _, err := time.Parse(time.RFC3339Nano, ev.Time); err != nil {
		t.Errorf("time %q: %v", ev.Time, err)
	}
}

// TestRetriesWithBackoffThenSucceeds: 503, 429 and 500 are retried, each
// attempt signed afresh with the same event id.
func TestRetriesWithBackoffThenSucceeds(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, 503, 429, 500)
	done := make(results, 10)
	ce := NewCloudEvents(rcv.srv.URL, testKey, "https://jit.example.com/", testOptions(done))
	t.Cleanup(ce.Close)
	if err := ce.Send(t.Context(), testNotification()); err != nil {
		t.Fatal(err)
	}
	if o := done.next(t); o != "sent" {
		t.Fatalf("outcome %q", o)
	}
	got := rcv.received()
	if len(got) != 4 {
		t.Fatalf("%d attempts, want 4", len(got))
	}
	var firstID string
	for i, g := range got {
		if err := Verify(g.header.Get(SignatureHeader), g.body, testKey, time.Now(), ReplayWindow); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
		var ev Event
		_ = json.Unmarshal(g.body, &ev)
		if i == 0 {
			firstID = ev.ID
		} else if ev.ID != firstID {
			t.Errorf("attempt %d has id %q, want %q: receivers dedupe on it", i+1, ev.ID, firstID)
		}
	}
}

func TestGivesUpAfterMaxAttemptsAndOnPermanentRefusal(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		statuses []int
		attempts int
	}{
		{"always_503", []int{503, 503, 503, 503, 503}, 4},
		{"bad_request_is_final", []int{400}, 1},
		{"redirect_is_not_followed", []int{302}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rcv := newReceiver(t, tt.statuses...)
			done := make(results, 10)
			ce := NewCloudEvents(rcv.srv.URL, testKey, "https://jit.example.com/", testOptions(done))
			t.Cleanup(ce.Close)
			_ = ce.Send(t.Context(), testNotification())
			if o := done.next(t); o != "failed" {
				t.Fatalf("outcome %q", o)
			}
			if got := len(rcv.received()); got != tt.attempts {
				t.Errorf("%d attempts, want %d", got, tt.attempts)
			}
		})
	}
}

// TestAStuckReceiverNeverBlocksTheSender: Send returns at once whatever
// the receiver does; past the queue's bound, messages are dropped.
func TestAStuckReceiverNeverBlocksTheSender(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 10)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	t.Cleanup(srv.Close)
	done := make(results, 10)
	opts := testOptions(done)
	opts.QueueSize = 1
	ce := NewCloudEvents(srv.URL, testKey, "x", opts)
	t.Cleanup(ce.Close)
	t.Cleanup(func() { close(release) }) // before Close waits for the queue
	_ = ce.Send(t.Context(), testNotification())
	<-arrived                                    // the worker is stuck on the first
	_ = ce.Send(t.Context(), testNotification()) // queued
	_ = ce.Send(t.Context(), testNotification()) // no room
	if o := done.next(t); o != "dropped" {
		t.Errorf("outcome %q, want dropped", o)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"specversion":"1.0"}`)
	now := time.Unix(1767225600, 0)
	good := Sign(testKey, body, now)
	tests := []struct {
		name   string
		header string
		body   []byte
		key    []byte
		now    time.Time
		want   error
	}{
		{"good", good, body, testKey, now, nil},
		{"within_window", good, body, testKey, now.Add(4 * time.Minute), nil},
		{"stale", good, body, testKey, now.Add(6 * time.Minute), ErrStale},
		{"from_the_future", good, body, testKey, now.Add(-6 * time.Minute), ErrStale},
		{"tampered_body", good, []byte(`{"specversion":"2.0"}`), testKey, now, ErrBadSignature},
		{"wrong_key", good, body, []byte("another key of 16+ bytes"), now, ErrBadSignature},
		{"changed_timestamp", strings.Replace(good, "t=1767225600", "t=1767225601", 1), body, testKey, now, ErrBadSignature},
		{"rotation_second_matches", "t=1767225600,v1=" + strings.Repeat("00", 32) + "," + good[strings.Index(good, "v1="):], body, testKey, now, nil},
		{"no_signature", "t=1767225600", body, testKey, now, ErrMalformed},
		{"garbage", "hello", body, testKey, now, ErrMalformed},
		{"bad_hex", "t=1,v1=zz", body, testKey, now, ErrMalformed},
	}
	for _, tt := range tests {
		if err := Verify(tt.header, tt.body, tt.key, tt.now, ReplayWindow); err != tt.want { //nolint:errorlint // sentinel values, returned as they are
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}
	if want := "t=1767225600,v1="; !strings.HasPrefix(good, want) || len(good) != len(want)+64 {
		t.Errorf("Sign = %q", good)
	}
}

func TestChatMessages(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	done := make(results, 10)
	chat := NewChat(rcv.srv.URL+"/v1/spaces/AAA/messages?key=k&token=t", time.UTC, testOptions(done))
	t.Cleanup(chat.Close)
	n := testNotification()
	_ = chat.Send(t.Context(), notify.NewActivationSelfApproved([]jit.Activation{{Beneficiary: "alice@example.com"}}))
	_ = chat.Send(t.Context(), n)
	if o := done.next(t); o != "sent" {
		t.Fatalf("outcome %q", o)
	}
	got := rcv.received()
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1: self-activations are not posted", len(got))
	}
	var msg map[string]string
	if err := json.Unmarshal(got[0].body, &msg); err != nil {
		t.Fatal(err)
	}
	want := "*alice@example.com* asks for `roles/cloudsql.admin` on project `prod-db` for 1h0m0s.\n" +
		"Justification: INC-1  https[:]//evil[.]example click   now \n" +
		"Reviewers: bob@example.com\nOpen until 2026-01-01 11:00 UTC\n" +
		"<https://jit.example.com/?activation=tok|Review the request>"
	if diff := cmp.Diff(want, msg["text"]); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}

	approved, ok := ChatText(notify.NewActivationApproved(jit.Activation{
		Beneficiary: "alice@example.com", Entitlement: jit.Entitlement{Project: "prod-db", Role: "roles/cloudsql.admin"},
		Justification: "INC-1", End: n.End,
	}, "bob@example.com", nil, "https://jit.example.com/"), time.UTC)
	wantApproved := "*bob@example.com* approved the request of *alice@example.com* for `roles/cloudsql.admin` on project `prod-db`, active until 2026-01-01 11:00 UTC.\n" +
		"Justification: INC-1\n<https://jit.example.com/|Open JIT Access>"
	if diff := cmp.Diff(wantApproved, approved); !ok || diff != "" {
		t.Errorf("approved text (-want +got):\n%s", diff)
	}

	req := jit.ActivationRequest{Beneficiary: "alice@example.com", Reviewers: []jit.UserID{"bob@example.com", "carol@example.com"},
		Entitlement: jit.Entitlement{Project: "prod-db", Role: "roles/cloudsql.admin"}, Justification: "INC-1"}
	rejected, ok := ChatText(notify.NewActivationRejected(req, "bob@example.com", "use *staging*", "https://jit.example.com/"), time.UTC)
	wantRejected := "*bob@example.com* rejected the request of *alice@example.com* for `roles/cloudsql.admin` on project `prod-db`.\n" +
		"Reason: use  staging \nJustification: INC-1\n<https://jit.example.com/|Open JIT Access>"
	if diff := cmp.Diff(wantRejected, rejected); !ok || diff != "" {
		t.Errorf("rejected text (-want +got):\n%s", diff)
	}
	added, ok := ChatText(notify.NewActivationApprovalAdded(req, "bob@example.com", nil, 2, "https://jit.example.com/", "https://jit.example.com/?activation=tok"), time.UTC)
	wantAdded := "*bob@example.com* approved the request of *alice@example.com* for `roles/cloudsql.admin` on project `prod-db`: 1 of 2 approvals (by bob@example.com).\n" +
		"Still to approve: carol@example.com\nJustification: INC-1\n<https://jit.example.com/?activation=tok|Review the request>"
	if diff := cmp.Diff(wantAdded, added); !ok || diff != "" {
		t.Errorf("approval-added text (-want +got):\n%s", diff)
	}
}

// TestFailuresDoNotLogTheReceiverURL: a Chat URL's key and token stay out
// of the error that is logged.
func TestFailuresDoNotLogTheReceiverURL(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/v1/spaces/AAA/messages?key=SECRETKEY&token=SECRETTOKEN"
	srv.Close() // a dead receiver: connection refused
	q := newQueue("chat", Options{MaxAttempts: 1})
	t.Cleanup(q.close)
	_, err := q.post(message{id: "x", request: func(ctx context.Context, _ time.Time) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	}})
	if err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("post to a dead receiver: %v", err)
	}
}

// TestCloseGivesALastAttemptWithoutWaiting: a message waiting out its
// backoff gets at most one more attempt at Close, which then returns.
func TestCloseGivesALastAttemptWithoutWaiting(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	done := make(results, 10)
	ce := NewCloudEvents(srv.URL, testKey, "x", Options{Backoff: time.Hour, MaxBackoff: time.Hour, MaxAttempts: 100, DrainTimeout: time.Hour,
		OnResult: func(o string) { done <- o }})
	_ = ce.Send(t.Context(), testNotification())
	<-arrived
	ce.Close()
	if o := done.next(t); o != "failed" {
		t.Errorf("outcome %q", o)
	}
	// The first attempt may still be failing when Close comes; then it is
	// the last one.
	if n := len(arrived); n > 1 {
		t.Errorf("%d attempts at Close, want at most 1", n)
	}
}

// FuzzVerify: a receiver parses the header from anyone; Verify must not
// panic, and accepts only what Sign made with the key.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1767225600, 0)
	body := []byte(`{"specversion":"1.0"}`)
	f.Add(Sign(testKey, body, now), body)
	f.Add("t=1767225600,v1=zz", body)
	f.Add("t=,v1=", []byte{})
	f.Add(",,,=,t=1,t=2,v1=00", body)
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := Verify(header, body, testKey, now, ReplayWindow)
		if err == nil && header != Sign(testKey, body, now) && !strings.Contains(header, "v1=") {
			t.Errorf("Verify accepted %q without a v1", header)
		}
	})
}

// TestChatShowsNoLinkFromPeopleInput: Google Chat turns a plain URL, and
// text that looks like a domain name, into a live link by itself. A
// justification or a rejection reason must not put a link in the app's
// message, which readers trust: what the receiver gets has no scheme
// separator and no dotted name from those values, whatever separators
// they use; the app's own links are still links.
func TestChatShowsNoLinkFromPeopleInput(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	done := make(results, 10)
	chat := NewChat(rcv.srv.URL+"/v1/spaces/AAA/messages?key=k&token=t", time.UTC, testOptions(done))
	t.Cleanup(chat.Close)
	hostile := "INC-1 see https://evil.example/login and www.evil.example, ftp://1.2.3.4/x, evil。example．com｡org or mail a@evil.example"
	req := jit.ActivationRequest{Beneficiary: "alice@example.com", Reviewers: []jit.UserID{"bob@example.com"},
		Entitlement: jit.Entitlement{Project: "prod-db", Role: "roles/cloudsql.admin"}, Justification: hostile}
	for _, n := range []notify.Notification{
		notify.NewRequestActivation(req, time.Time{}, time.Time{}, "https://jit.example.com/", "https://jit.example.com/?activation=tok"),
		notify.NewActivationRejected(req, "bob@example.com", "no: use https://staging.example/ instead", "https://jit.example.com/"),
	} {
		if err := chat.Send(t.Context(), n); err != nil {
			t.Fatal(err)
		}
		if o := done.next(t); o != "sent" {
			t.Fatalf("outcome %q", o)
		}
	}
	got := rcv.received()
	if len(got) != 2 {
		t.Fatalf("%d messages, want 2", len(got))
	}
	linkish := regexp.MustCompile(`(?i)[a-z0-9-]+[.。．｡][a-z0-9-]+|://`)
	for i, r := range got {
		var msg map[string]string
		if err := json.Unmarshal(r.body, &msg); err != nil {
			t.Fatal(err)
		}
		text := msg["text"]
		for line := range strings.Lines(text) {
			value, ok := strings.CutPrefix(line, "Justification: ")
			if !ok {
				value, ok = strings.CutPrefix(line, "Reason: ")
			}
			if ok && linkish.MatchString(value) {
				t.Errorf("message %d: %q could become a link: %q", i, strings.TrimSpace(line), linkish.FindString(value))
			}
		}
		if !strings.Contains(text, "https[:]//evil[.]example/login") {
			t.Errorf("message %d does not show the URL as text:\n%s", i, text)
		}
		if !strings.Contains(text, "|Open JIT Access>") && !strings.Contains(text, "<https://jit.example.com/?activation=tok|Review the request>") {
			t.Errorf("message %d lost the app's own link:\n%s", i, text)
		}
	}
}

// TestChatAndCloudEventsOfScheduledAndFolderRequests: a scheduled
// approval says when the access starts, a folder is called a folder in
// Chat, and a folder event's CloudEvents subject is the folder's name,
// not "projects/folders/…", in what the receivers get.
func TestChatAndCloudEventsOfScheduledAndFolderRequests(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	done := make(results, 10)
	chat := NewChat(rcv.srv.URL+"/v1/spaces/AAA/messages?key=k&token=t", time.UTC, testOptions(done))
	t.Cleanup(chat.Close)
	ce := NewCloudEvents(rcv.srv.URL+"/hook", testKey, "https://jit.example.com/", testOptions(done))
	t.Cleanup(ce.Close)
	asked := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	req := jit.ActivationRequest{ID: "mpa-1", Beneficiary: "alice@example.com", Reviewers: []jit.UserID{"bob@example.com"},
		Entitlement: jit.Entitlement{Node: "folders/1001", Role: "roles/browser"}, Justification: "CHG-1", Duration: time.Hour,
		RequestedAt: asked, StartAt: asked.Add(6 * time.Hour)}
	n, ok := notify.FromEvent(jit.Event{Kind: jit.EventApproved, Actor: jit.Principal{Email: "bob@example.com"}, Request: &req,
		Activations: []jit.Activation{{ID: "mpa-1", Beneficiary: "alice@example.com", Entitlement: req.Entitlement, Start: req.StartAt, End: req.StartAt.Add(time.Hour)}}})
	if !ok {
		t.Fatal("no notification")
	}
	for _, c := range []notify.Channel{chat, ce} {
		if err := c.Send(t.Context(), n); err != nil {
			t.Fatal(err)
		}
		if o := done.next(t); o != "sent" {
			t.Fatalf("outcome %q", o)
		}
	}
	var text map[string]string
	var ev Event
	for _, r := range rcv.received() {
		if strings.HasPrefix(r.header.Get("Content-Type"), "application/cloudevents+json") {
			if err := json.Unmarshal(r.body, &ev); err != nil {
				t.Fatal(err)
			}
		} else if err := json.Unmarshal(r.body, &text); err != nil {
			t.Fatal(err)
		}
	}
	want := "*bob@example.com* approved the request of *alice@example.com* for `roles/browser` on folder `folders/1001`, active from 2026-01-01 15:00 UTC until 2026-01-01 16:00 UTC."
	if !strings.HasPrefix(text["text"], want) {
		t.Errorf("Chat text = %q, want it to start %q", text["text"], want)
	}
	if ev.Subject != "folders/1001" {
		t.Errorf("CloudEvents subject = %q, want folders/1001", ev.Subject)
	}
}
