package demo

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/internal/emulator"
)

func TestLocalPathPreventsOpenRedirects(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/":                      "/",
		"/?projectId=p":          "/?projectId=p",
		"//evil.example":         "/",
		"/\\evil.example":        "/",
		"https://evil.example/":  "/",
		"":                       "/",
		"/x\r\nLocation: //evil": "/",
		"/%09/evil.example":      "/", // a browser drops the tab: //evil.example
		"/\t/evil.example":       "/",
		"/%2F/evil.example":      "/",
		"/%5Cevil.example":       "/",
		"/%0a/evil.example":      "/",
		"/ /evil.example":        "/",
		"/?activation=a%2Bb":     "/?activation=a%2Bb",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSignInDoesNotRedirectOffSite: the sign-in form's next= (the value a
// link can set) never sends the browser to another site.
func TestSignInDoesNotRedirectOffSite(t *testing.T) {
	t.Parallel()
	d, err := Run(t.Context(), Options{Addr: "127.0.0.1:0", Seed: mustSeed(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	for _, next := range []string{"/%09/evil.example", "/\t/evil.example", "/%2F%2Fevil.example"} {
		form := url.Values{"email": {"alice@example.com"}, "next": {next}}
		rec := serve(t, d, http.MethodPost, "/_demo/signin", form.Encode(), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
		if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || loc != "/" {
			t.Errorf("next=%q: %d, Location %q, want 303 to /", next, rec.Code, loc)
		}
	}
}

// TestSimulatorReplacesClientAssertions: like IAP, the simulator never
// passes on an assertion the client made up; without a demo user the API
// is refused.
func TestSimulatorReplacesClientAssertions(t *testing.T) {
	t.Parallel()
	d, err := Run(t.Context(), Options{Addr: "127.0.0.1:0", Seed: mustSeed(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	forged, err := d.Emulator.IAP.Mint(emulator.IAPClaims{Email: "heidi@example.com", Audience: "/projects/424242424242/global/backendServices/7777777777"})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/api/policy", nil)
	req.Header.Set("X-JITACCESS", "1")
	req.Header.Set("X-Goog-Iap-Jwt-Assertion", forged)
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "Sign in to the demo") {
		t.Errorf("API call with a client-made assertion and no demo user = %d %s", rec.Code, rec.Body)
	}

	req = httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/api/policy", nil)
	req.Header.Set("X-JITACCESS", "1")
	req.Header.Set(HeaderUser, "mallory@evil.example")
	rec = httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("unknown demo user = %d", rec.Code)
	}

	req = httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/api/policy", nil)
	req.Header.Set("X-JITACCESS", "1")
	req.Header.Set(HeaderUser, "grace@example.com")
	req.Header.Set("X-Goog-Iap-Jwt-Assertion", forged)
	rec = httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"email":"grace@example.com"`) {
		t.Errorf("demo user grace with a forged heidi assertion = %d %s", rec.Code, rec.Body)
	}
}
