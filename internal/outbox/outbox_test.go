package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const (
	testUser     = "jit"
	testPassword = "secret"
)

// rawMessage is a multipart/alternative email as mail clients send it:
// an encoded subject, a quoted-printable text part and a base64 HTML part
// with wrapped lines.
const rawMessage = "From: \"JIT Access\" <jit@example.com>\r\n" +
	"To: bob@example.com, \"Carol\" <carol@example.com>\r\n" +
	"Cc: alice@example.com\r\n" +
	"Subject: =?UTF-8?q?Gr=C3=BC=C3=9Fe_from_alice?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Hello =C3=BC, a long line that is soft=\r\n" +
	" wrapped.\r\n" +
	"--b1\r\n" +
	"Content-Type: text/html; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PHA+SGVsbG8gPGEgaHJlZj0iaHR0cHM6Ly9qaXQuZXhh\r\n" +
	"bXBsZS5jb20vIj5saW5rPC9hPjwvcD4=\r\n" +
	"--b1--\r\n"

func TestParse(t *testing.T) {
	t.Parallel()
	m, err := parse([]byte(rawMessage))
	if err != nil {
		t.Fatal(err)
	}
	m.Headers = nil
	want := Message{
		From:    `"JIT Access" <jit@example.com>`,
		To:      []string{"bob@example.com", "carol@example.com"},
		CC:      []string{"alice@example.com"},
		Subject: "Grüße from alice",
		Text:    "Hello ü, a long line that is soft wrapped.",
		HTML:    `<p>Hello <a href="https://jit.example.com/">link</a></p>`,
	}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("parse (-want +got):\n%s", diff)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(rawMessage))
	f.Add([]byte("Subject: x\r\n\r\nbody"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a--"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := parse(raw)
		if err != nil {
			return
		}
		// Decoding never grows a message beyond what arrived.
		if len(m.Text) > len(raw) || len(m.HTML) > len(raw) {
			t.Errorf("parts larger than the message: %d, %d > %d", len(m.Text), len(m.HTML), len(raw))
		}
	})
}

func startTest(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(t.Context(), "127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// send delivers rawMessage through a real SMTP client with STARTTLS.
func send(s *Server, auth sasl.Client, to ...string) error {
	c, err := smtp.DialStartTLS(s.Addr(), s.TLSConfig())
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer func() { _ = c.Close() }()
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	return c.SendMail("jit@example.com", to, strings.NewReader(rawMessage))
}

func TestSMTPWithSTARTTLSAndAuth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		auth sasl.Client
		want string // in the error; "" for success
	}{
		{name: "good_password", auth: sasl.NewPlainClient("", testUser, testPassword)},
		{name: "wrong_password", auth: sasl.NewPlainClient("", testUser, "wrong"), want: "invalid username or password"},
		{name: "no_auth", want: "authenticate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startTest(t, Options{Username: testUser, Password: testPassword})
			err := send(s, tc.auth, "bob@example.com", "eve@example.com")
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) || len(s.Messages()) != 0 {
					t.Errorf("send = %v with %d messages, want %q and none", err, len(s.Messages()), tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m, err := s.WaitFor(t.Context(), func(Message) bool { return true })
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"bob@example.com", "eve@example.com"}, m.Recipients); diff != "" {
				t.Errorf("envelope recipients (-want +got):\n%s", diff)
			}
			if m.ID != 1 || m.Subject != "Grüße from alice" || m.Received.IsZero() {
				t.Errorf("message = %+v", m)
			}
		})
	}
}

func TestAuthNeedsTLS(t *testing.T) {
	t.Parallel()
	s := startTest(t, Options{Username: testUser, Password: testPassword})
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.Auth(sasl.NewPlainClient("", testUser, testPassword)); err == nil {
		t.Error("the server accepted a password before STARTTLS")
	}
}

func TestKeepsTheLatestMessages(t *testing.T) {
	t.Parallel()
	s := startTest(t, Options{MaxMessages: 3})
	for i := range 5 {
		s.store(Message{Subject: fmt.Sprint("m", i)})
	}
	var got []string
	for _, m := range s.Messages() {
		got = append(got, fmt.Sprint(m.ID, m.Subject))
	}
	if diff := cmp.Diff([]string{"3m2", "4m3", "5m4"}, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if _, ok := s.Message(1); ok {
		t.Error("message 1 is still there")
	}
}

func TestWaitFor(t *testing.T) {
	t.Parallel()
	s := startTest(t, Options{})
	done := make(chan Message)
	go func() {
		m, err := s.WaitFor(t.Context(), func(m Message) bool { return m.Subject == "wanted" })
		if err != nil {
			t.Error(err)
		}
		done <- m
	}()
	s.store(Message{Subject: "other"})
	s.store(Message{Subject: "wanted"})
	if m := <-done; m.ID != 2 {
		t.Errorf("WaitFor = %+v, want message 2", m)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.WaitFor(ctx, func(Message) bool { return false }); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitFor with a cancelled context = %v", err)
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	s := startTest(t, Options{})
	s.store(Message{
		From: "jit@example.com", To: []string{"bob@example.com"}, CC: []string{"alice@example.com"},
		Subject: `<script>alert(1)</script>`, Text: "View request: https://jit.example.com/?activation=a&projectId=p",
		HTML: `<!doctype html><html><head><title>x</title></head><body><a href="https://jit.example.com/?activation=a">View request</a><script>alert(2)</script></body></html>`,
	})
	h := s.Handler("/_demo/outbox")
	get := func(path string) *httptest.ResponseRecorder {
		r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	list := get("/_demo/outbox")
	if list.Code != 200 || strings.Contains(list.Body.String(), "<script>alert(1)") ||
		!strings.Contains(list.Body.String(), `&lt;script&gt;alert(1)&lt;/script&gt;`) ||
		!strings.Contains(list.Body.String(), `href="/_demo/outbox/1"`) {
		t.Errorf("list = %d\n%s", list.Code, list.Body)
	}

	page := get("/_demo/outbox/1")
	body := page.Body.String()
	for _, s := range []string{`<iframe`, `sandbox="allow-popups`, `src="/_demo/outbox/1/html"`, "alice@example.com",
		"https://jit.example.com/?activation=a&amp;projectId=p"} {
		if !strings.Contains(body, s) {
			t.Errorf("message page lacks %q:\n%s", s, body)
		}
	}
	if strings.Contains(body, "allow-scripts") || strings.Contains(body, "allow-same-origin") {
		t.Errorf("the frame may run script:\n%s", body)
	}

	html := get("/_demo/outbox/1/html")
	csp := html.Header().Get("Content-Security-Policy")
	if !strings.HasPrefix(csp, "sandbox ") || strings.Contains(csp, "allow-scripts") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("email HTML served with CSP %q, want a sandbox without scripts", csp)
	}
	if !strings.Contains(html.Body.String(), `<head><base target="_top">`) || !strings.Contains(html.Body.String(), `href="https://jit.example.com/?activation=a"`) {
		t.Errorf("email HTML = %s", html.Body)
	}

	var msgs []Message
	if err := json.Unmarshal(get("/_demo/outbox/messages").Body.Bytes(), &msgs); err != nil || len(msgs) != 1 || msgs[0].CC[0] != "alice@example.com" {
		t.Errorf("messages JSON = %+v, %v", msgs, err)
	}

	for _, path := range []string{"/_demo/outbox/2", "/_demo/outbox/x", "/_demo/outbox/1/raw", "/_demo/outbox/-1/html"} {
		if code := get(path).Code; code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, code)
		}
	}
}

func TestTargetTop(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"<html><HEAD><title>t</title></HEAD></html>", `<html><HEAD><base target="_top"><title>t</title></HEAD></html>`},
		{"<p>no head</p>", `<base target="_top"><p>no head</p>`},
	} {
		if got := targetTop(tc.in); got != tc.want {
			t.Errorf("targetTop(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestConcurrentDelivery sends several emails at once through real SMTP
// connections; each arrives once, with its own id.
func TestConcurrentDelivery(t *testing.T) {
	t.Parallel()
	s := startTest(t, Options{Username: testUser, Password: testPassword})
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() { errs <- send(s, sasl.NewPlainClient("", testUser, testPassword), "bob@example.com") }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	ctx := t.Context() // wait for the event; go test -timeout ends a hang
	if _, err := s.WaitFor(ctx, func(m Message) bool { return m.ID == n }); err != nil {
		t.Fatal(err)
	}
	ids := make([]int, 0, n)
	for _, m := range s.Messages() {
		ids = append(ids, m.ID)
	}
	if diff := cmp.Diff([]int{1, 2, 3, 4, 5, 6, 7, 8}, ids, cmpopts.SortSlices(func(a, b int) bool { return a < b })); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
}

// TestConnectionsSayWhatEachClientDid: a delivery over STARTTLS with AUTH,
// and a session set up and closed without sending, each seen to its end.
func TestConnectionsSayWhatEachClientDid(t *testing.T) {
	t.Parallel()
	s := startTest(t, Options{Username: testUser, Password: testPassword})
	if err := send(s, sasl.NewPlainClient("", testUser, testPassword), "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	c, err := smtp.DialStartTLS(s.Addr(), s.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", testUser, testPassword)); err != nil {
		t.Fatal(err)
	}
	open, err := s.WaitForConnection(t.Context(), func(c Connection) bool { return c.ID == 2 && c.Authenticated })
	if err != nil {
		t.Fatal(err)
	}
	if open.Closed || !open.TLS {
		t.Errorf("open session = %+v, want it open, over TLS", open)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitForConnection(t.Context(), func(c Connection) bool { return c.ID == 2 && c.Closed }); err != nil {
		t.Fatal(err)
	}
	want := []Connection{
		{ID: 1, TLS: true, Authenticated: true, Mails: 1, Messages: 1, Closed: true},
		{ID: 2, TLS: true, Authenticated: true, Closed: true},
	}
	if _, err := s.WaitForConnection(t.Context(), func(c Connection) bool { return c.ID == 1 && c.Closed }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, s.Connections()); diff != "" {
		t.Errorf("connections (-want +got):\n%s", diff)
	}
}
