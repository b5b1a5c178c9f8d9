// Package apptest runs the whole app for tests: the emulator with the
// demo world, an SMTP outbox, and the production wiring (app.Build)
// pointed at both, behind a loopback HTTP server. Requests carry real IAP
// assertions minted with the emulator's key.
package apptest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/app"
	"github.com/jitaccess/jitaccess/internal/config"
	"github.com/jitaccess/jitaccess/internal/emulated"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/outbox"
)

// Harness is a running app.
type Harness struct {
	Emulator *emulator.Emulator
	Outbox   *outbox.Server
	Server   *httptest.Server
	URL      string
	// App is the wired app, for its metrics.
	App *app.App
}

// Options change the harness.
type Options struct {
	// Config overrides environment variables of emulated.Config.
	Config map[string]string
	Clock  func() time.Time
	// Env changes the Environment, for dependencies the emulator does not
	// serve (Pub/Sub).
	Env func(*app.Environment)
	// Setup changes the emulated world before the app is built (secrets
	// it reads at start-up, for one).
	Setup func(*emulator.World)
	// LazyKey leaves the service account without a signing key until the
	// first signJwt or key fetch, as the emulator does by itself. Start
	// otherwise makes it, as it exists at Google long before the app
	// starts: made by the first signJwt, an RSA key generation under the
	// race detector on a loaded machine outlasts a short deadline (the
	// readiness probe's 5 s). For tests that start many harnesses that
	// never sign, where the key would be most of their CPU.
	LazyKey bool
}

// PatientTimeouts are the app's deadlines for Google calls and email in
// the harness, where a test sets no others. The production defaults (5 s
// to connect and to write, which also bound signJwt and an email) are
// missed by healthy calls on a loaded machine under the race detector: the
// emulator's first signJwt generates an RSA key, several seconds of CPU
// there, and an email's STARTTLS takes as long. A test of a deadline sets
// its own, short one; BACKEND_READ_TIMEOUT keeps its default (20 s), which
// a read of the emulator does not miss, and which tests of retried reads
// wait out.
func PatientTimeouts() map[string]string {
	return map[string]string{"BACKEND_CONNECT_TIMEOUT": "30", "BACKEND_WRITE_TIMEOUT": "30"}
}

// Start starts a harness that stops when t ends.
func Start(t testing.TB, opts ...Options) *Harness {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	e := emutest.Start(t, emutest.Options{Clock: o.Clock})
	if o.Setup != nil {
		o.Setup(e.World)
	}
	if !o.LazyKey {
		if _, err := e.Credentials.RotateKey(emulated.ServiceAccount); err != nil {
			t.Fatalf("signing key: %v", err)
		}
	}
	ob, err := outbox.Start(t.Context(), "127.0.0.1:0", outbox.Options{Username: emulated.SMTPUser, Password: emulated.SMTPPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Close() })
	h := &Harness{Emulator: e, Outbox: ob}
	// The server's URL is needed for EXTERNAL_URL before the app exists.
	handler := http.NotFoundHandler()
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(h.Server.Close)
	h.URL = h.Server.URL
	vars := PatientTimeouts()
	for k, v := range o.Config {
		vars[k] = v
	}
	cfg, err := config.Load(emulated.Config(ob.Addr(), h.URL, vars))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	env := emulated.Environment(e, ob.TLSConfig(), nil, o.Clock)
	if o.Env != nil {
		o.Env(&env)
	}
	a, err := app.Build(t.Context(), cfg, env)
	if err != nil {
		t.Fatalf("app.Build: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	handler = a.Handler
	h.App = a
	return h
}

// Assertion mints an IAP assertion for email with the app's audience.
func (h *Harness) Assertion(t testing.TB, email string) string {
	t.Helper()
	tok, err := h.Emulator.IAP.Mint(emulator.IAPClaims{
		Email: email, Audience: emulated.Audience, DeviceID: "device-" + email,
		AccessLevels: []string{"accessPolicies/100/accessLevels/corp"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Response is a decoded response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic value.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %q", r.Status, r.Body)
	}
	return m
}

// Message is the error message of a response.
func (r Response) Message(t testing.TB) string {
	t.Helper()
	m, _ := r.JSON(t)["message"].(string)
	return m
}

// Do sends an API request as user (no IAP header when user is "") with
// the X-JITACCESS header; body is JSON-encoded unless it is a string or
// nil.
func (h *Harness) Do(t testing.TB, user, method, path string, body any) Response {
	t.Helper()
	headers := http.Header{"X-Jitaccess": {"1"}}
	if user != "" {
		headers.Set("x-goog-iap-jwt-assertion", h.Assertion(t, user))
	}
	return h.DoRaw(t, method, path, headers, body)
}

// DoRaw sends a request with exactly the given headers.
func (h *Harness) DoRaw(t testing.TB, method, path string, headers http.Header, body any) Response {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewBufferString(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, h.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header[k] = v
	}
	resp, err := h.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}
