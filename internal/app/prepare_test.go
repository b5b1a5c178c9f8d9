package app_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/api/option"

	"github.com/jitaccess/jitaccess/internal/app"
	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/outbox"
)

// gateFallback bounds how long signGate holds an answer when the session
// it waits for never comes: long enough never to decide a passing run on
// a loaded machine, short enough to fail a broken one.
const gateFallback = 30 * time.Second

// signGate holds the emulator's answer to every signJwt call until the
// outbox has a session that is set up (TLS, AUTH) and still open, and
// remembers what the outbox had seen then. Whatever the app does with the
// token can only happen after that.
type signGate struct {
	next   http.RoundTripper
	outbox atomic.Pointer[outbox.Server]

	mu   sync.Mutex
	seen []gateSight
}

type gateSight struct {
	conn outbox.Connection
	err  error // the fallback's, when no session came
}

func (g *signGate) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := g.next.RoundTrip(r)
	if !strings.HasSuffix(r.URL.Path, ":signJwt") {
		return resp, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), gateFallback)
	defer cancel()
	c, waitErr := g.outbox.Load().WaitForConnection(ctx, func(c outbox.Connection) bool { return c.Authenticated && !c.Closed })
	g.mu.Lock()
	g.seen = append(g.seen, gateSight{conn: c, err: waitErr})
	g.mu.Unlock()
	return resp, err
}

func (g *signGate) sights() []gateSight {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.seen)
}

// startGated starts the app with its IAM Credentials calls through a
// signGate.
func startGated(t *testing.T) (*apptest.Harness, *signGate) {
	t.Helper()
	g := &signGate{next: http.DefaultTransport}
	h := apptest.Start(t, apptest.Options{
		Config: map[string]string{"AUDIT_LOG": "cloud-logging"},
		Env: func(env *app.Environment) {
			env.IAMCredentials = append(slices.Clone(env.IAMCredentials), option.WithHTTPClient(&http.Client{Transport: g}))
		},
	})
	g.outbox.Store(h.Outbox)
	return h, g
}

const mpaRequestPath = "/api/projects/prod-payments-api/roles/request"

func requestBody() map[string]any {
	return map[string]any{
		"entitlementId": "prod-payments-api:roles/run.developer", "justification": "CHG-7 hotfix deploy",
		"peers": []string{"dave@example.com"}, "activationTimeout": 45,
	}
}

// waitAllClosed waits until the outbox has seen every connection end.
func waitAllClosed(t *testing.T, ob *outbox.Server) []outbox.Connection {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), gateFallback)
	defer cancel()
	for _, c := range ob.Connections() {
		if _, err := ob.WaitForConnection(ctx, func(x outbox.Connection) bool { return x.ID == c.ID && x.Closed }); err != nil {
			t.Fatalf("connection %d never closed: %v", c.ID, err)
		}
	}
	return ob.Connections()
}

// TestRequestEmailSessionIsSetUpWhileSigning: the SMTP session of a
// request's email is connected, encrypted and authenticated while the
// token is being signed; only the message follows the signature. The
// signJwt answer is held until the outbox sees that session, so the order
// is proven without timing anything: session ready → token → MAIL, DATA.
func TestRequestEmailSessionIsSetUpWhileSigning(t *testing.T) {
	t.Parallel()
	h, gate := startGated(t)
	r := h.Do(t, "erin@example.com", http.MethodPost, mpaRequestPath, requestBody())
	if r.Status != 200 {
		t.Fatalf("request = %d %s", r.Status, r.Body)
	}
	sights := gate.sights()
	if len(sights) != 1 {
		t.Fatalf("%d signJwt calls, want 1", len(sights))
	}
	s := sights[0]
	if s.err != nil {
		t.Fatalf("the token was signed before any SMTP session was set up: %v", s.err)
	}
	if !s.conn.TLS || s.conn.Mails != 0 || s.conn.Messages != 0 {
		t.Errorf("session when the token was signed = %+v, want it encrypted, authenticated and without MAIL FROM", s.conn)
	}
	conns := waitAllClosed(t, h.Outbox)
	if len(conns) != 1 || conns[0].ID != s.conn.ID || conns[0].Mails != 1 || conns[0].Messages != 1 {
		t.Errorf("connections = %+v, want the prepared one to carry the one message", conns)
	}
	msgs := h.Outbox.Messages()
	if len(msgs) != 1 || !slices.Contains(msgs[0].To, "dave@example.com") || !strings.Contains(msgs[0].Text, "?activation=") {
		t.Errorf("messages = %+v, want the approval link to dave", msgs)
	}
}

// TestFailedSigningSendsNoEmail: when signJwt fails, the prepared session
// is given up (no MAIL FROM, no message, no connection left open), the
// request fails with the signing error, and it is audited as failed, as
// before the email's session was prepared.
func TestFailedSigningSendsNoEmail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		gated bool // the failure comes after the session is ready
	}{
		{name: "after_the_session_is_ready", gated: true},
		{name: "while_the_session_is_set_up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var h *apptest.Harness
			if tc.gated {
				h, _ = startGated(t)
			} else {
				h = apptest.Start(t, apptest.Options{Config: map[string]string{"AUDIT_LOG": "cloud-logging"}})
			}
			h.Emulator.World.Faults.Set("iamcredentials.signJwt", emulator.Fault{Code: 503})
			r := h.Do(t, "erin@example.com", http.MethodPost, mpaRequestPath, requestBody())
			if r.Status != 502 || r.Message(t) != "Requesting access failed: Signing the approval request failed, try again" {
				t.Fatalf("request with signJwt down = %d %s", r.Status, r.Body)
			}
			conns := waitAllClosed(t, h.Outbox)
			for _, c := range conns {
				if c.Mails != 0 || c.Messages != 0 {
					t.Errorf("connection %+v sent mail, want none", c)
				}
			}
			if tc.gated && (len(conns) != 1 || !conns[0].Authenticated) {
				t.Errorf("connections = %+v, want the one prepared session", conns)
			}
			if n := len(h.Outbox.Messages()); n != 0 {
				t.Errorf("%d emails for a request that was not signed", n)
			}
			var events []string
			for _, e := range h.Emulator.Logging.Entries("projects/jitaccess-app/logs/jitaccess-audit") {
				events = append(events, e.GetLabels()["event"]+" "+e.GetSeverity().String())
			}
			if !slices.Contains(events, "api.requestRole ERROR") || slices.Contains(events, "api.requestRole INFO") {
				t.Errorf("audit events = %v, want the request recorded as failed", events)
			}
		})
	}
}

// TestRequestWhoseEmailFailsFails: a session that cannot be set up (the
// mail server refuses the app's password) fails the request once the
// token is signed, as a failed email always did, and it is audited as
// failed; the connection is not left open.
func TestRequestWhoseEmailFailsFails(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t, apptest.Options{Config: map[string]string{"AUDIT_LOG": "cloud-logging", "SMTP_PASSWORD": "wrong"}})
	r := h.Do(t, "erin@example.com", http.MethodPost, mpaRequestPath, requestBody())
	if r.Status < 500 || r.Message(t) != "Notifying the reviewers failed: Sending the notification email failed" {
		t.Fatalf("request with the email refused = %d %s", r.Status, r.Body)
	}
	for _, c := range waitAllClosed(t, h.Outbox) {
		if c.Authenticated || c.Mails != 0 {
			t.Errorf("connection %+v, want it refused before MAIL FROM", c)
		}
	}
	if n := len(h.Outbox.Messages()); n != 0 {
		t.Errorf("%d emails, want none", n)
	}
	var events []string
	for _, e := range h.Emulator.Logging.Entries("projects/jitaccess-app/logs/jitaccess-audit") {
		events = append(events, e.GetLabels()["event"]+" "+e.GetSeverity().String())
	}
	if !slices.Contains(events, "api.requestRole ERROR") || slices.Contains(events, "api.requestRole INFO") {
		t.Errorf("audit events = %v, want the request recorded as failed", events)
	}
}
