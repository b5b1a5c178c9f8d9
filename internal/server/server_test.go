package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/jitaccess/jitaccess/internal/activation"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jitaccess/jitaccess/internal/cloudlog"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// testVerifier accepts the assertions it knows. The real verifier is
// internal/iap; the server only depends on the AssertionVerifier contract.
type testVerifier map[string]jit.Principal

// Assertions the testVerifier understands.
const (
	aliceAssertion       = "assertion-for-alice"
	unavailableAssertion = "assertion-while-keys-unavailable"
)

var errBadSignature = errors.New("iap: signature does not verify")

func (v testVerifier) Verify(_ context.Context, assertion string) (jit.Principal, error) {
	if assertion == unavailableAssertion {
		return jit.Principal{}, jit.E("iap.Verify", jit.KindUnavailable, "", errors.New("fetching IAP keys: timeout"))
	}
	p, ok := v[assertion]
	if !ok {
		return jit.Principal{}, errBadSignature
	}
	return p, nil
}

func newTestVerifier() testVerifier {
	return testVerifier{aliceAssertion: {
		Email: "alice@example.com", Subject: "accounts.google.com:1", DeviceID: "dev-1", AccessLevels: []string{"corp"},
	}}
}

// syncBuffer lets the server log while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines decodes the JSON log lines written so far.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(b.buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func testUI() fstest.MapFS {
	return fstest.MapFS{
		"index.html":      {Data: []byte("<!doctype html><title>JIT</title>")},
		"app.js":          {Data: []byte("console.log('hi')")},
		"app.css":         {Data: []byte("body{}")},
		"img/logo.svg":    {Data: []byte("<svg/>")},
		"favicon.ico":     {Data: []byte{0, 0, 1, 0}},
		"fonts/x.woff2":   {Data: []byte("w")},
		"img/index.bin":   {Data: []byte{1}},
		"img/empty/.keep": {Data: nil},
	}
}

func testPolicy() jit.Policy {
	return jit.Policy{MaxDuration: 120 * time.Minute, MaxRoles: 10, MinReviewers: 1, MaxReviewers: 10, JustificationHint: "Bug or case number"}
}

// newTestServer builds a server with test defaults changed by mutate; the
// buffer receives its logs.
func newTestServer(t *testing.T, mutate func(*Options)) (*Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	opts := Options{
		Logger:       slog.New(cloudlog.NewHandler(logs, &cloudlog.HandlerOptions{Level: slog.LevelDebug})),
		Verifier:     newTestVerifier(),
		UI:           testUI(),
		Policy:       testPolicy(),
		Version:      "1.2.3",
		TraceProject: "my-project",
		// The real use cases without adapters: these tests stop at the
		// middleware or at validation, before any adapter is needed.
		UseCases: activation.New(nil, nil, nil, nil, nil, activation.Options{Policy: testPolicy()}),
	}
	if mutate != nil {
		mutate(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, logs
}

// apiRequest is a request that passes the XSRF and IAP checks as alice.
func apiRequest(t *testing.T, method, target string, body io.Reader) *http.Request {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), method, target, body)
	r.Header.Set(headerXSRF, "1")
	r.Header.Set(headerIAPAssertion, aliceAssertion)
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func decodeBody(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	return m
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	withHeaders := func(r *http.Request, kv ...string) *http.Request {
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				r.Header.Del(kv[i])
			} else {
				r.Header.Set(kv[i], kv[i+1])
			}
		}
		return r
	}
	tests := []struct {
		name   string
		req    *http.Request
		status int
		body   map[string]any
	}{
		{"alive", httptest.NewRequestWithContext(t.Context(), "GET", "/health/alive", nil), 200,
			map[string]any{"healthy": true, "details": map[string]any{}}},
		{"ready_without_checks", httptest.NewRequestWithContext(t.Context(), "GET", "/health/ready", nil), 200,
			map[string]any{"healthy": true, "details": map[string]any{}}},
		{"policy", apiRequest(t, "GET", "/api/policy", nil), 200, map[string]any{
			"justificationHint":        "Bug or case number",
			"signedInUser":             map[string]any{"email": "alice@example.com"},
			"applicationVersion":       "1.2.3",
			"defaultActivationTimeout": 60.0,
			"maxActivationTimeout":     120.0,
			"maxRoles":                 10.0,
			"minReviewers":             1.0,
			"maxReviewers":             10.0,
			"approvalComment":          "optional",
		}},
		{"xsrf_missing", withHeaders(apiRequest(t, "GET", "/api/policy", nil), headerXSRF, ""), 400,
			map[string]any{"message": "Missing header: X-JITACCESS"}},
		{"xsrf_wrong_value", withHeaders(apiRequest(t, "GET", "/api/policy", nil), headerXSRF, "true"), 400,
			map[string]any{"message": "Missing header: X-JITACCESS"}},
		{"xsrf_checked_on_unknown_api_path", withHeaders(apiRequest(t, "GET", "/api/nope", nil), headerXSRF, ""), 400,
			map[string]any{"message": "Missing header: X-JITACCESS"}},
		{"iap_missing", withHeaders(apiRequest(t, "GET", "/api/policy", nil), headerIAPAssertion, ""), 403,
			map[string]any{"message": "Identity-Aware Proxy must be enabled for this application"}},
		{"iap_invalid", withHeaders(apiRequest(t, "GET", "/api/policy", nil), headerIAPAssertion, "forged"), 403,
			map[string]any{"message": "Invalid IAP assertion"}},
		{"iap_keys_unavailable", withHeaders(apiRequest(t, "GET", "/api/policy", nil), headerIAPAssertion, unavailableAssertion), 503,
			map[string]any{"message": "The service is temporarily unavailable, try again later"}},
		{"iap_checked_on_unknown_api_path", withHeaders(apiRequest(t, "GET", "/api/nope", nil), headerIAPAssertion, ""), 403,
			map[string]any{"message": "Identity-Aware Proxy must be enabled for this application"}},
		{"unknown_api_path", apiRequest(t, "GET", "/api/nope", nil), 404, map[string]any{"message": "Not found"}},
		{"unknown_path", httptest.NewRequestWithContext(t.Context(), "GET", "/nope", nil), 404, map[string]any{"message": "Not found"}},
		{"api_wrong_method", apiRequest(t, "DELETE", "/api/policy", nil), 405, map[string]any{"message": "Method not allowed"}},
		{"health_wrong_method", httptest.NewRequestWithContext(t.Context(), "DELETE", "/health/alive", nil), 405, map[string]any{"message": "Method not allowed"}},
		{"cross_origin_post", withHeaders(apiRequest(t, "POST", "/api/policy", strings.NewReader("{}")), "Sec-Fetch-Site", "cross-site"), 403,
			map[string]any{"message": "Cross-origin requests are not allowed"}},
		{"cross_origin_old_browser", withHeaders(apiRequest(t, "POST", "/api/policy", strings.NewReader("{}")), "Origin", "https://evil.example"), 403,
			map[string]any{"message": "Cross-origin requests are not allowed"}},
	}
	s, _ := newTestServer(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := serve(s, tt.req)
			if w.Code != tt.status {
				t.Errorf("status = %d, want %d (body %s)", w.Code, tt.status, w.Body)
			}
			if diff := cmp.Diff(tt.body, decodeBody(t, w)); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOutdatedClient(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, nil)
	for _, target := range []string{"/api/", "/api"} {
		w := serve(s, apiRequest(t, "GET", target, nil))
		msg, _ := decodeBody(t, w)["message"].(string)
		want := regexp.MustCompile(`^You're viewing an outdated version of the application, <a href='/\?_=[A-Z2-7]{26}'>please refresh your browser</a>$`)
		if w.Code != 404 || !want.MatchString(msg) {
			t.Errorf("GET %s = %d %q", target, w.Code, msg)
		}
	}
}

func TestMethodNotAllowedListsAllowedMethods(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, nil)
	for target, want := range map[string][]string{
		"/api/policy":   {"GET", "HEAD"},
		"/health/ready": {"GET", "HEAD"},
	} {
		r := apiRequest(t, "PUT", target, nil)
		w := serve(s, r)
		if diff := cmp.Diff(want, w.Header().Values("Allow")); w.Code != 405 || diff != "" {
			t.Errorf("PUT %s = %d, Allow mismatch (-want +got):\n%s", target, w.Code, diff)
		}
	}
}

func TestReady(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		details map[string]bool
		status  int
		healthy bool
	}{
		{"all_ok", map[string]bool{"IAPKeys": true, "Catalog": true}, 200, true},
		{"one_failing", map[string]bool{"IAPKeys": true, "Catalog": false}, 503, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, logs := newTestServer(t, func(o *Options) {
				o.Ready = func(context.Context) map[string]bool { return tt.details }
			})
			w := serve(s, httptest.NewRequestWithContext(t.Context(), "GET", "/health/ready", nil))
			want := map[string]any{"healthy": tt.healthy, "details": map[string]any{}}
			for k, v := range tt.details {
				want["details"].(map[string]any)[k] = v
			}
			if diff := cmp.Diff(want, decodeBody(t, w)); w.Code != tt.status || diff != "" {
				t.Errorf("status %d (want %d), body mismatch (-want +got):\n%s", w.Code, tt.status, diff)
			}
			warned := false
			for _, l := range logs.lines(t) {
				if labels, _ := l[cloudlog.KeyLabels].(map[string]any); labels["event"] == "api.checkHealth" {
					warned = l["severity"] == "WARNING"
				}
			}
			if warned != !tt.healthy {
				t.Errorf("api.checkHealth warning logged = %v, want %v", warned, !tt.healthy)
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, nil)
	want := map[string]string{
		"Content-Security-Policy":    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
		"X-Content-Type-Options":     "nosniff",
		"Referrer-Policy":            "no-referrer",
		"Strict-Transport-Security":  "max-age=31536000; includeSubDomains",
		"Cache-Control":              "no-cache",
		"Cross-Origin-Opener-Policy": "same-origin",
	}
	for _, r := range []*http.Request{
		httptest.NewRequestWithContext(t.Context(), "GET", "/", nil),
		httptest.NewRequestWithContext(t.Context(), "GET", "/health/alive", nil),
		apiRequest(t, "GET", "/api/policy", nil),
		httptest.NewRequestWithContext(t.Context(), "GET", "/api/policy", nil), // rejected by the XSRF check
		httptest.NewRequestWithContext(t.Context(), "GET", "/missing", nil),
	} {
		w := serve(s, r)
		got := map[string]string{}
		for k := range want {
			got[k] = w.Header().Get(k)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s %s: headers mismatch (-want +got):\n%s", r.Method, r.URL, diff)
		}
		if w.Header().Get(headerRequestID) == "" {
			t.Errorf("%s %s: no %s", r.Method, r.URL, headerRequestID)
		}
	}
}

func TestStaticUI(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, nil)
	tests := []struct {
		method, target string
		status         int
		contentType    string
		body           string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", "<!doctype html><title>JIT</title>"},
		{"GET", "/?activation=abc", 200, "text/html; charset=utf-8", "<!doctype html><title>JIT</title>"},
		{"GET", "/app.js", 200, "text/javascript; charset=utf-8", "console.log('hi')"},
		{"GET", "/app.css", 200, "text/css; charset=utf-8", "body{}"},
		{"GET", "/img/logo.svg", 200, "image/svg+xml", "<svg/>"},
		{"GET", "/favicon.ico", 200, "image/x-icon", "\x00\x00\x01\x00"},
		{"GET", "/fonts/x.woff2", 200, "font/woff2", "w"},
		{"GET", "/img/index.bin", 200, "application/octet-stream", "\x01"},
		{"HEAD", "/app.js", 200, "text/javascript; charset=utf-8", ""},
		{"GET", "/img/", 404, "application/json", `{"message":"Not found"}` + "\n"},
		{"GET", "/img", 404, "application/json", `{"message":"Not found"}` + "\n"},
		{"GET", "/../index.html", 200, "text/html; charset=utf-8", "<!doctype html><title>JIT</title>"},
		{"POST", "/app.js", 405, "application/json", `{"message":"Method not allowed"}` + "\n"},
	}
	for _, tt := range tests {
		w := serve(s, httptest.NewRequestWithContext(t.Context(), tt.method, tt.target, nil))
		if w.Code != tt.status || w.Header().Get("Content-Type") != tt.contentType || w.Body.String() != tt.body {
			t.Errorf("%s %s = %d %q %q; want %d %q %q", tt.method, tt.target,
				w.Code, w.Header().Get("Content-Type"), w.Body, tt.status, tt.contentType, tt.body)
		}
	}

	// GetHead routes HEAD to GET handlers (net/http, unlike the recorder,
	// drops the body).
	if w := serve(s, httptest.NewRequestWithContext(t.Context(), "HEAD", "/health/alive", nil)); w.Code != 200 {
		t.Errorf("HEAD /health/alive = %d, want 200", w.Code)
	}

	first := serve(s, httptest.NewRequestWithContext(t.Context(), "GET", "/app.js", nil))
	etag := first.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	r := httptest.NewRequestWithContext(t.Context(), "GET", "/app.js", nil)
	r.Header.Set("If-None-Match", etag)
	if w := serve(s, r); w.Code != http.StatusNotModified {
		t.Errorf("revalidation with ETag = %d, want 304", w.Code)
	}
}

func TestNoUI(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, func(o *Options) { o.UI = nil })
	if w := serve(s, httptest.NewRequestWithContext(t.Context(), "GET", "/", nil)); w.Code != 404 {
		t.Errorf("GET / without UI = %d, want 404", w.Code)
	}
}

func TestNewRequiresVerifier(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{}); err == nil {
		t.Error("New without a verifier succeeded")
	}
}

func TestAccessLogAndTrace(t *testing.T) {
	t.Parallel()
	s, logs := newTestServer(t, nil)
	r := apiRequest(t, "GET", "/api/policy?activation=secret-token&x=1", nil)
	r.Header.Set("X-Cloud-Trace-Context", "105445aa7843bc8bf206b12000100000/1;o=1")
	r.Header.Set("User-Agent", "test-agent")
	w := serve(s, r)
	id := w.Header().Get(headerRequestID)

	var access map[string]any
	for _, l := range logs.lines(t) {
		if _, ok := l["httpRequest"]; ok {
			access = l
		}
	}
	if access == nil {
		t.Fatalf("no access log line in %v", logs.lines(t))
	}
	hr := access["httpRequest"].(map[string]any)
	delete(hr, "latency")
	want := map[string]any{
		"requestMethod": "GET", "requestUrl": "/api/policy?activation=REDACTED&x=1", "status": 200.0,
		"responseSize": strings.TrimSpace(w.Header().Get("Content-Length")), "userAgent": "test-agent",
		"remoteIp": "192.0.2.1", "protocol": "HTTP/1.1",
	}
	if diff := cmp.Diff(want, hr); diff != "" {
		t.Errorf("httpRequest mismatch (-want +got):\n%s", diff)
	}
	if got := access[cloudlog.KeyTrace]; got != "projects/my-project/traces/105445aa7843bc8bf206b12000100000" {
		t.Errorf("trace = %v", got)
	}
	labels, _ := access[cloudlog.KeyLabels].(map[string]any)
	if labels["request_id"] != id || id == "" {
		t.Errorf("labels = %v, want request_id %q", labels, id)
	}
	if strings.Contains(logs.buf.String(), "secret-token") {
		t.Error("the activation token reached the logs")
	}
}

func TestPrincipalInContextAndLabels(t *testing.T) {
	t.Parallel()
	s, logs := newTestServer(t, nil)
	serve(s, apiRequest(t, "GET", "/api/policy", nil))
	var found bool
	for _, l := range logs.lines(t) {
		labels, _ := l[cloudlog.KeyLabels].(map[string]any)
		if labels["event"] == "iap.authenticate" {
			found = true
			want := map[string]any{"event": "iap.authenticate", "user": "alice@example.com", "user_id": "accounts.google.com:1",
				"device_id": "dev-1", "device_access_levels": "corp", "request_id": labels["request_id"]}
			if diff := cmp.Diff(want, labels); diff != "" {
				t.Errorf("labels mismatch (-want +got):\n%s", diff)
			}
		}
	}
	if !found {
		t.Error("no iap.authenticate log line")
	}

	if _, err := principal(httptest.NewRequestWithContext(t.Context(), "GET", "/", nil)); jit.KindOf(err) != jit.KindUnauthenticated {
		t.Errorf("principal() without IAP = %v, want KindUnauthenticated", err)
	}
}

func TestErrorAdapter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status int
		msg    string
		level  string
	}{
		{"invalid", jit.Invalid("op", "Provide a justification"), 400, "Provide a justification", "INFO"},
		{"unauthenticated", jit.E("op", jit.KindUnauthenticated, "", nil), 401, "Authentication is required", "WARNING"},
		{"denied", jit.Denied("op", "You are not allowed"), 403, "You are not allowed", "WARNING"},
		{"not_found", jit.E("op", jit.KindNotFound, "", nil), 404, "Not found", "INFO"},
		{"conflict", jit.E("op", jit.KindConflict, "", nil), 409, "The request conflicts with a concurrent change, try again", "INFO"},
		{"too_many", jit.E("op", jit.KindTooMany, "", nil), 429, "Too many requests, try again later", "WARNING"},
		{"upstream", jit.E("op", jit.KindUpstream, "", errors.New("googleapi: 500 backendError")), 502,
			"A Google Cloud API request failed, see logs for details", "ERROR"},
		{"unavailable", jit.E("op", jit.KindUnavailable, "", nil), 503, "The service is temporarily unavailable, try again later", "ERROR"},
		{"internal_with_message", jit.E("op", jit.KindInternal, "The multi-party approval feature is not available", nil), 500,
			"The multi-party approval feature is not available", "ERROR"},
		{"plain_error_is_internal", errors.New("secret detail: token=abc"), 500, "An internal error occurred, see logs for details", "ERROR"},
		{"wrapped_keeps_kind", errorsJoinWrap(jit.Denied("op", "No")), 403, "No", "WARNING"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, logs := newTestServer(t, nil)
			h := s.handle(func(http.ResponseWriter, *http.Request) error { return tt.err })
			w := serve(h, httptest.NewRequestWithContext(t.Context(), "GET", "/x", nil))
			if diff := cmp.Diff(map[string]any{"message": tt.msg}, decodeBody(t, w)); w.Code != tt.status || diff != "" {
				t.Errorf("status %d (want %d), body mismatch (-want +got):\n%s", w.Code, tt.status, diff)
			}
			lines := logs.lines(t)
			if len(lines) != 1 || lines[0]["severity"] != tt.level || lines[0]["error"] != tt.err.Error() {
				t.Errorf("log = %v, want one %s line with the full error", lines, tt.level)
			}
		})
	}
}

func errorsJoinWrap(err error) error { return errors.Join(errors.New("context"), err) }

func TestErrorAfterWriting(t *testing.T) {
	t.Parallel()
	s, logs := newTestServer(t, nil)
	h := s.handle(func(w http.ResponseWriter, _ *http.Request) error {
		_ = writeJSON(w, 200, map[string]int{"n": 1})
		return errors.New("late failure")
	})
	w := serve(h, httptest.NewRequestWithContext(t.Context(), "GET", "/x", nil))
	if w.Code != 200 || w.Body.String() != `{"n":1}`+"\n" {
		t.Errorf("response = %d %q, want the original 200", w.Code, w.Body)
	}
	if l := logs.lines(t); len(l) != 1 || l[0]["severity"] != "ERROR" {
		t.Errorf("log = %v", l)
	}
}

func TestRecoverPanics(t *testing.T) {
	t.Parallel()
	s, logs := newTestServer(t, nil)
	h := s.recoverPanics(s.requestContext(s.accessLog(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	}))))
	w := serve(h, httptest.NewRequestWithContext(t.Context(), "GET", "/x", nil))
	if diff := cmp.Diff(map[string]any{"message": "An internal error occurred, see logs for details"}, decodeBody(t, w)); w.Code != 500 || diff != "" {
		t.Errorf("status %d, body mismatch (-want +got):\n%s", w.Code, diff)
	}
	var sawPanic, sawAccess bool
	for _, l := range logs.lines(t) {
		if l["message"] == "panic serving request" && l["panic"] == "boom" && strings.Contains(l["stack"].(string), "server_test.go") {
			sawPanic = true
		}
		if hr, ok := l["httpRequest"].(map[string]any); ok && hr["status"] == 500.0 {
			sawAccess = true
		}
	}
	if !sawPanic || !sawAccess {
		t.Errorf("panic logged = %v, access log with 500 = %v", sawPanic, sawAccess)
	}

	// http.ErrAbortHandler keeps net/http's meaning: abort silently.
	abort := s.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler { //nolint:errorlint // sentinel identity is the point
				t.Errorf("recovered %v, want http.ErrAbortHandler re-panicked", p)
			}
		}()
		serve(abort, httptest.NewRequestWithContext(t.Context(), "GET", "/x", nil))
	}()
}

func TestServeShutsDownGracefully(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	srv := NewHTTPServer(ctx, s, slog.New(slog.DiscardHandler))
	ln := mustListen(t)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, srv, ln, 5*time.Second) }()

	req, err := http.NewRequestWithContext(t.Context(), "GET", "http://"+ln.Addr().String()+"/health/alive", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status = %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve() = %v, want nil after cancel", err)
	}
}

func mustListen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
