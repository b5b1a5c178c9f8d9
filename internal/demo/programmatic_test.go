package demo

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/internal/emulated"
	"github.com/jitaccess/jitaccess/internal/emulator"
)

func apiRequest(t *testing.T, d *Demo, header, value string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/api/policy", nil)
	req.Header.Set("X-JITACCESS", "1")
	if header != "" {
		req.Header.Set(header, value)
	}
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, req)
	return rec
}

// TestSimulatorAcceptsIDTokensAsIAPDoes: programmatic clients send an ID
// token for IAP's OAuth client; the simulator verifies it and acts as its
// user, and refuses bad ones rather than falling back to the cookie.
func TestSimulatorAcceptsIDTokensAsIAPDoes(t *testing.T) {
	t.Parallel()
	d, err := Run(t.Context(), Options{Addr: "127.0.0.1:0", Seed: mustSeed(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	good, _ := d.Emulator.OAuth.MintIDToken("dave@example.com", emulated.IAPClientID)
	foreign, _ := d.Emulator.OAuth.MintIDToken("dave@example.com", "another-app.apps.googleusercontent.com")
	stranger, _ := d.Emulator.OAuth.MintIDToken("mallory@evil.example", emulated.IAPClientID)
	iapAssertion, _ := d.Emulator.IAP.Mint(emulator.IAPClaims{Email: "dave@example.com", Audience: emulated.Audience})
	tests := []struct {
		name, header, value string
		status              int
		body                string
	}{
		{"bearer", "Authorization", "Bearer " + good, 200, `"email":"dave@example.com"`},
		{"proxy_authorization", "Proxy-Authorization", "Bearer " + good, 200, `"email":"dave@example.com"`},
		{"other_audience", "Authorization", "Bearer " + foreign, 401, "Invalid IAP credentials"},
		{"not_a_demo_user", "Authorization", "Bearer " + stranger, 401, "is not a user of the demo"},
		{"tampered", "Authorization", "Bearer " + good[:len(good)-3] + "AAA", 401, "Invalid IAP credentials"},
		{"iap_assertion_is_not_an_id_token", "Authorization", "Bearer " + iapAssertion, 401, "Invalid IAP credentials"},
		{"garbage", "Authorization", "Bearer x", 401, "Invalid IAP credentials"},
	}
	for _, tt := range tests {
		rec := apiRequest(t, d, tt.header, tt.value)
		if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.body) {
			t.Errorf("%s: %d %s", tt.name, rec.Code, rec.Body)
		}
	}
}

func TestDemoServesMetrics(t *testing.T) {
	t.Parallel()
	d, err := Run(t.Context(), Options{Addr: "127.0.0.1:0", Seed: mustSeed(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	apiRequest(t, d, HeaderUser, "dave@example.com")
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/_demo/metrics", nil)
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `jitaccess_http_request_duration_seconds_count{code="200",method="GET",route="/api/policy"} 1`) {
		t.Errorf("/_demo/metrics = %d\n%s", rec.Code, rec.Body)
	}
}
