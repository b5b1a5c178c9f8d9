package iap_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/iap"
	"github.com/jitaccess/jitaccess/internal/jit"
)

const audience = "/projects/123/apps/jitaccess-app"

// RedirectTo returns a client that sends every request to base, so that
// idtoken, which fetches IAP's keys from gstatic.com, reaches the
// emulator's key instead. Only the host changes; the path is Google's.
func redirectTo(base string) *http.Client {
	u, _ := url.Parse(base)
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host = u.Scheme, u.Host
		return http.DefaultTransport.RoundTrip(r)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func newTestIAP(t testing.TB) (*emulator.IAP, *iap.Verifier) {
	t.Helper()
	key, err := emulator.NewIAP(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.StripPrefix("", key))
	t.Cleanup(srv.Close)
	v, err := iap.NewVerifier(t.Context(), audience, iap.WithHTTPClient(redirectTo(srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	return key, v
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func validClaims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": iap.Issuer, "aud": audience, "sub": "accounts.google.com:42", "email": "Alice@Example.com",
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"google": map[string]any{"device_id": "dev-1", "access_levels": []string{"accessPolicies/1/accessLevels/corp"}},
	}
}

func TestVerifyValidAssertion(t *testing.T) {
	t.Parallel()
	key, v := newTestIAP(t)
	tok, err := key.Mint(emulator.IAPClaims{Email: "alice@example.com", Subject: "accounts.google.com:42", Audience: audience,
		DeviceID: "dev-1", AccessLevels: []string{"accessPolicies/1/accessLevels/corp"}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := jit.Principal{Email: "alice@example.com", Subject: "accounts.google.com:42", DeviceID: "dev-1", AccessLevels: []string{"accessPolicies/1/accessLevels/corp"}}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestVerifyRejectsHostileAssertions(t *testing.T) {
	t.Parallel()
	key, v := newTestIAP(t)
	other, _ := emulator.NewIAP(nil)
	es256 := map[string]any{"alg": "ES256", "typ": "JWT", "kid": key.KeyID()}
	mint := func(t *testing.T, header, claims map[string]any) string {
		tok, err := key.MintRaw(header, claims)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	with := func(k string, val any) map[string]any {
		c := validClaims()
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	now := time.Now()
	for _, tc := range []struct {
		name  string
		token func(t *testing.T) string
	}{
		{"empty", func(*testing.T) string { return "" }},
		{"garbage", func(*testing.T) string { return "not a jwt" }},
		{"oversize", func(*testing.T) string { return strings.Repeat("a", 9000) }},
		{"expired", func(t *testing.T) string {
			return mint(t, es256, with("exp", now.Add(-time.Hour).Unix()))
		}},
		{"not_yet_valid", func(t *testing.T) string {
			c := validClaims()
			c["iat"], c["exp"] = now.Add(time.Hour).Unix(), now.Add(time.Hour+5*time.Minute).Unix()
			return mint(t, es256, c)
		}},
		{"too_long_lived", func(t *testing.T) string { return mint(t, es256, with("exp", now.Add(48*time.Hour).Unix())) }},
		{"wrong_audience", func(t *testing.T) string { return mint(t, es256, with("aud", "/projects/999/apps/other")) }},
		{"audience_list", func(t *testing.T) string { return mint(t, es256, with("aud", []string{audience})) }},
		{"wrong_issuer", func(t *testing.T) string { return mint(t, es256, with("iss", "https://accounts.google.com")) }},
		{"missing_email", func(t *testing.T) string { return mint(t, es256, with("email", nil)) }},
		{"bad_email", func(t *testing.T) string {
			return mint(t, es256, with("email", "alice@example.com\r\nBcc: x@evil.test"))
		}},
		{"missing_sub", func(t *testing.T) string { return mint(t, es256, with("sub", nil)) }},
		{"bad_access_level", func(t *testing.T) string {
			return mint(t, es256, with("google", map[string]any{"access_levels": []string{"../../x"}}))
		}},
		{"alg_none", func(t *testing.T) string {
			return b64(map[string]any{"alg": "none", "kid": key.KeyID()}) + "." + b64(validClaims()) + "."
		}},
		{"hs256_with_public_key", func(t *testing.T) string {
			in := b64(map[string]any{"alg": "HS256", "kid": key.KeyID()}) + "." + b64(validClaims())
			m := hmac.New(sha256.New, key.JWKS())
			m.Write([]byte(in))
			return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
		}},
		{"rs256_header", func(t *testing.T) string {
			return mint(t, map[string]any{"alg": "RS256", "kid": key.KeyID()}, validClaims())
		}},
		{"short_signature", func(t *testing.T) string {
			tok := mint(t, es256, validClaims())
			return tok[:strings.LastIndex(tok, ".")+1] + base64.RawURLEncoding.EncodeToString([]byte("short"))
		}},
		{"long_signature", func(t *testing.T) string {
			tok := mint(t, es256, validClaims())
			return tok + "AAAA"
		}},
		{"other_key_same_kid", func(t *testing.T) string {
			tok, _ := other.MintRaw(es256, validClaims())
			return tok
		}},
		{"unknown_kid", func(t *testing.T) string {
			return mint(t, map[string]any{"alg": "ES256", "kid": "nope"}, validClaims())
		}},
		{"tampered_payload", func(t *testing.T) string {
			tok := mint(t, es256, validClaims())
			parts := strings.Split(tok, ".")
			c := validClaims()
			c["email"] = "mallory@example.com"
			return parts[0] + "." + b64(c) + "." + parts[2]
		}},
		{"four_parts", func(t *testing.T) string { return mint(t, es256, validClaims()) + ".x" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := v.Verify(t.Context(), tc.token(t))
			if jit.KindOf(err) != jit.KindUnauthenticated || jit.MessageOf(err) != "Invalid IAP assertion" {
				t.Errorf("Verify = %v (kind %v), want an invalid-assertion error", err, jit.KindOf(err))
			}
		})
	}
}

func TestVerifyWithoutAudienceStillChecksTheRest(t *testing.T) {
	t.Parallel()
	key, _ := newTestIAP(t)
	srv := httptest.NewServer(key)
	t.Cleanup(srv.Close)
	v, err := iap.NewVerifier(t.Context(), "", iap.WithHTTPClient(redirectTo(srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := key.Mint(emulator.IAPClaims{Email: "bob@example.com", Audience: "/projects/1/apps/anything"})
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Errorf("audience check disabled: %v", err)
	}
	tok, _ = key.MintRaw(map[string]any{"alg": "ES256", "kid": key.KeyID()}, map[string]any{"iss": "x", "aud": "a", "email": "bob@example.com", "sub": "s", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()})
	if _, err := v.Verify(t.Context(), tok); err == nil {
		t.Error("wrong issuer accepted with the audience check disabled")
	}
}

func TestKeysUnreachableIsUnavailable(t *testing.T) {
	t.Parallel()
	key, _ := newTestIAP(t)
	srv := httptest.NewServer(key)
	srv.Close()
	v, err := iap.NewVerifier(t.Context(), audience, iap.WithHTTPClient(redirectTo(srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := key.Mint(emulator.IAPClaims{Email: "bob@example.com", Audience: audience})
	if _, err := v.Verify(t.Context(), tok); jit.KindOf(err) != jit.KindUnavailable {
		t.Errorf("Verify with the key endpoint down: %v (kind %v), want KindUnavailable", err, jit.KindOf(err))
	}
}

func TestAudiences(t *testing.T) {
	t.Parallel()
	if a, err := iap.AppEngineAudience("123", "my-app"); err != nil || a != "/projects/123/apps/my-app" {
		t.Errorf("AppEngineAudience = %q, %v", a, err)
	}
	if a, err := iap.CloudRunAudience("123", "456"); err != nil || a != "/projects/123/global/backendServices/456" {
		t.Errorf("CloudRunAudience = %q, %v", a, err)
	}
	if _, err := iap.CloudRunAudience("123", "../x"); err == nil {
		t.Error("CloudRunAudience accepted a non-numeric id")
	}
}

func FuzzVerify(f *testing.F) {
	key, v := newTestIAP(f)
	good, _ := key.Mint(emulator.IAPClaims{Email: "alice@example.com", Audience: audience})
	f.Add(good)
	f.Add("eyJhbGciOiJFUzI1NiJ9.e30.AAAA")
	f.Add("..")
	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(t.Context(), token)
		if err == nil && p.Email == "" {
			t.Errorf("accepted %q without an email", token)
		}
	})
}

// TestKeyFetchIsBounded: when IAP's key endpoint hangs, verification gives
// up after the key fetch timeout with KindUnavailable, instead of holding
// the request for as long as the endpoint takes (here 20 s, after which it
// would answer with valid keys).
func TestKeyFetchIsBounded(t *testing.T) {
	t.Parallel()
	key, err := emulator.NewIAP(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(20 * time.Second):
		}
		key.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	v, err := iap.NewVerifier(t.Context(), audience, iap.WithHTTPClient(redirectTo(srv.URL)), iap.WithKeyFetchTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := key.Mint(emulator.IAPClaims{Email: "alice@example.com", Audience: audience})
	_, err = v.Verify(t.Context(), tok)
	if jit.KindOf(err) != jit.KindUnavailable {
		t.Errorf("Verify with a hanging key endpoint = %v (kind %v), want KindUnavailable", err, jit.KindOf(err))
	}
}

// TestCloudRunServiceAudience: IAP enabled directly on a Cloud Run service
// mints /projects/NUMBER/locations/REGION/services/SERVICE; a verifier for
// that audience accepts it and refuses the other formats.
func TestCloudRunServiceAudience(t *testing.T) {
	t.Parallel()
	aud, err := iap.CloudRunServiceAudience("424242424242", "europe-west1", "jitaccess")
	if err != nil || aud != "/projects/424242424242/locations/europe-west1/services/jitaccess" {
		t.Fatalf("CloudRunServiceAudience = %q, %v", aud, err)
	}
	for _, bad := range [][3]string{{"abc", "europe-west1", "jitaccess"}, {"1", "Europe/West", "jitaccess"}, {"1", "europe-west1", "../x"}} {
		if _, err := iap.CloudRunServiceAudience(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("CloudRunServiceAudience(%q) succeeded", bad)
		}
	}
	key, err := emulator.NewIAP(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(key)
	t.Cleanup(srv.Close)
	v, err := iap.NewVerifier(t.Context(), aud, iap.WithHTTPClient(redirectTo(srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	good, _ := key.Mint(emulator.IAPClaims{Email: "alice@example.com", Audience: aud})
	if _, err := v.Verify(t.Context(), good); err != nil {
		t.Errorf("Verify(Cloud Run service audience) = %v", err)
	}
	other, _ := key.Mint(emulator.IAPClaims{Email: "alice@example.com", Audience: "/projects/424242424242/locations/europe-west1/services/other-app"})
	if _, err := v.Verify(t.Context(), other); jit.KindOf(err) != jit.KindUnauthenticated {
		t.Errorf("Verify(another service's assertion) = %v", err)
	}
}

// TestHostedDomain: with WithHostedDomain, only assertions whose hd claim
// is that domain (in any letter case) pass.
func TestHostedDomain(t *testing.T) {
	t.Parallel()
	key, err := emulator.NewIAP(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(key)
	t.Cleanup(srv.Close)
	v, err := iap.NewVerifier(t.Context(), audience, iap.WithHTTPClient(redirectTo(srv.URL)), iap.WithHostedDomain("Example.com"))
	if err != nil {
		t.Fatal(err)
	}
	for hd, ok := range map[string]bool{"example.com": true, "EXAMPLE.com": true, "evil.example": false, "example.com.evil": false} {
		tok, _ := key.Mint(emulator.IAPClaims{Email: "alice@example.com", Audience: audience, Hd: hd})
		_, err := v.Verify(t.Context(), tok)
		if (err == nil) != ok {
			t.Errorf("hd %q: Verify = %v, want ok=%v", hd, err, ok)
		}
	}
}
