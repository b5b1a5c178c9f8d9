package iamcredentials

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/iamcredentials/v1"
	"google.golang.org/api/option"

	"github.com/jitaccess/jitaccess/internal/emulator/fault"
	"github.com/jitaccess/jitaccess/internal/emulator/wire/wiretest"
	"github.com/jitaccess/jitaccess/internal/emulator/world"
)

const (
	credsSA    = "signer@app-project.iam.gserviceaccount.com"
	credsOther = "other@app-project.iam.gserviceaccount.com"
)

var credsNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newTestCredentials serves an IAMCredentials with two service accounts on
// httptest and returns it with a real client pointed at it.
func newTestCredentials(t *testing.T) (*world.World, *Service, *httptest.Server, *iamcredentials.Service) {
	t.Helper()
	w := world.New(func() time.Time { return credsNow })
	w.AddServiceAccount(world.ServiceAccount{Email: credsSA})
	w.AddServiceAccount(world.ServiceAccount{Email: credsOther})
	c := New(w)
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	svc, err := iamcredentials.NewService(t.Context(), option.WithEndpoint(srv.URL+"/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	return w, c, srv, svc
}

func mustSignJwt(t *testing.T, svc *iamcredentials.Service, email, payload string) *iamcredentials.SignJwtResponse {
	t.Helper()
	resp, err := svc.Projects.ServiceAccounts.SignJwt("projects/-/serviceAccounts/"+email,
		&iamcredentials.SignJwtRequest{Payload: payload}).Context(t.Context()).Do()
	if err != nil {
		t.Fatalf("signJwt: %v", err)
	}
	return resp
}

// mustGetJSON GETs a URL and decodes its JSON body, returning the response.
// mustGetJSON fetches url into v and returns the response headers.
func mustGetJSON(t *testing.T, url string, v any) http.Header {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s = %d %s", url, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.Header
}

type testJWKSet struct {
	Keys []struct {
		Kty, Alg, Use, Kid, N, E string
	} `json:"keys"`
}

func (s testJWKSet) key(t *testing.T, kid string) *rsa.PublicKey {
	t.Helper()
	for _, k := range s.Keys {
		if k.Kid != kid {
			continue
		}
		if k.Kty != "RSA" || k.Alg != "RS256" || k.Use != "sig" {
			t.Errorf("key %s = %+v", kid, k)
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil {
			t.Fatalf("key %s is not base64url: %v %v", kid, err1, err2)
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	t.Fatalf("no key %s in %+v", kid, s)
	return nil
}

// splitJWT returns the decoded header, the payload, the signing input and
// the signature.
func splitJWT(t *testing.T, jwt string) (header map[string]string, payload string, input string, sig []byte) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("%q has %d parts", jwt, len(parts))
	}
	h, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(h, &header); err != nil {
		t.Fatal(err)
	}
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if sig, err = base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		t.Fatal(err)
	}
	return header, string(p), parts[0] + "." + parts[1], sig
}

func TestSignJwtVerifiesWithThePublishedKeys(t *testing.T) {
	t.Parallel()
	_, _, srv, svc := newTestCredentials(t)
	payload := fmt.Sprintf(`{"iss":%q,"aud":"x","exp":%d,"nested":{"a":[1,2]}}`, credsSA, credsNow.Add(time.Hour).Unix())
	resp := mustSignJwt(t, svc, credsSA, payload)

	header, gotPayload, input, sig := splitJWT(t, resp.SignedJwt)
	if diff := cmp.Diff(map[string]string{"alg": "RS256", "kid": resp.KeyId, "typ": "JWT"}, header); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	if len(resp.KeyId) != 40 {
		t.Errorf("keyId %q is not 40 hex digits like Google's", resp.KeyId)
	}
	if gotPayload != payload {
		t.Errorf("signed payload = %s, want it exactly as given: %s", gotPayload, payload)
	}
	sum := sha256.Sum256([]byte(input))

	var set testJWKSet
	hdr := mustGetJSON(t, srv.URL+"/service_accounts/v1/metadata/jwk/"+credsSA, &set)
	if cc := hdr.Get("Cache-Control"); !strings.Contains(cc, "max-age=3600") {
		t.Errorf("Cache-Control = %q, want a max-age", cc)
	}
	if err := rsa.VerifyPKCS1v15(set.key(t, resp.KeyId), crypto.SHA256, sum[:], sig); err != nil {
		t.Errorf("signature does not verify with the JWK: %v", err)
	}

	var certs map[string]string
	_ = mustGetJSON(t, srv.URL+"/service_accounts/v1/metadata/x509/"+credsSA, &certs)
	block, _ := pem.Decode([]byte(certs[resp.KeyId]))
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("x509 endpoint = %v, want a PEM certificate under %s", certs, resp.KeyId)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, sum[:], sig); err != nil {
		t.Errorf("signature does not verify with the certificate: %v", err)
	}
	if !cert.NotBefore.Before(credsNow) || !cert.NotAfter.After(credsNow) {
		t.Errorf("certificate valid %v..%v, not now (%v)", cert.NotBefore, cert.NotAfter, credsNow)
	}
}

func TestSignJwtKeysArePerAccountAndStable(t *testing.T) {
	t.Parallel()
	_, _, _, svc := newTestCredentials(t)
	a1 := mustSignJwt(t, svc, credsSA, `{}`)
	a2 := mustSignJwt(t, svc, strings.ToUpper(credsSA), `{"x":1}`)
	b := mustSignJwt(t, svc, credsOther, `{}`)
	if a1.KeyId != a2.KeyId {
		t.Errorf("one account signed with keys %s and %s", a1.KeyId, a2.KeyId)
	}
	if a1.KeyId == b.KeyId {
		t.Errorf("two accounts share key %s", a1.KeyId)
	}
}

func TestRotateKeyKeepsOldKeysPublished(t *testing.T) {
	t.Parallel()
	_, c, srv, svc := newTestCredentials(t)
	before := mustSignJwt(t, svc, credsSA, `{}`)
	id, err := c.RotateKey(credsSA)
	if err != nil {
		t.Fatal(err)
	}
	after := mustSignJwt(t, svc, credsSA, `{}`)
	if after.KeyId != id || id == before.KeyId {
		t.Errorf("after rotation signed with %s, want the new key %s (old %s)", after.KeyId, id, before.KeyId)
	}
	var set testJWKSet
	_ = mustGetJSON(t, srv.URL+"/service_accounts/v1/metadata/jwk/"+credsSA, &set)
	for _, r := range []*iamcredentials.SignJwtResponse{before, after} {
		_, _, input, sig := splitJWT(t, r.SignedJwt)
		sum := sha256.Sum256([]byte(input))
		if err := rsa.VerifyPKCS1v15(set.key(t, r.KeyId), crypto.SHA256, sum[:], sig); err != nil {
			t.Errorf("token signed with %s: %v", r.KeyId, err)
		}
	}
	for range keptKeys {
		if _, err := c.RotateKey(credsSA); err != nil {
			t.Fatal(err)
		}
	}
	set = testJWKSet{}
	_ = mustGetJSON(t, srv.URL+"/service_accounts/v1/metadata/jwk/"+credsSA, &set)
	if len(set.Keys) != keptKeys {
		t.Errorf("%d keys published after many rotations, want the last %d", len(set.Keys), keptKeys)
	}
	if _, err := c.RotateKey("nobody@app-project.iam.gserviceaccount.com"); err == nil {
		t.Error("RotateKey of an unknown account succeeded")
	}
}

func TestSignJwtRefusesAsGoogleDoes(t *testing.T) {
	t.Parallel()
	_, _, _, svc := newTestCredentials(t)
	exp := func(d time.Duration) string { return fmt.Sprintf(`{"exp":%d}`, credsNow.Add(d).Unix()) }
	for _, tc := range []struct {
		name, account, payload string
		delegates              []string
		code                   int
		status                 string
	}{
		{"unknown_account", "projects/-/serviceAccounts/nobody@app-project.iam.gserviceaccount.com", `{}`, nil, 403, "PERMISSION_DENIED"},
		{"named_project", "projects/app-project/serviceAccounts/" + credsSA, `{}`, nil, 400, "INVALID_ARGUMENT"},
		{"bad_delegate", "projects/-/serviceAccounts/" + credsSA, `{}`, []string{credsOther}, 400, "INVALID_ARGUMENT"},
		{"empty_payload", "projects/-/serviceAccounts/" + credsSA, ``, nil, 400, "INVALID_ARGUMENT"},
		{"payload_not_json", "projects/-/serviceAccounts/" + credsSA, `{"a":`, nil, 400, "INVALID_ARGUMENT"},
		{"payload_array", "projects/-/serviceAccounts/" + credsSA, `[1,2]`, nil, 400, "INVALID_ARGUMENT"},
		{"payload_null", "projects/-/serviceAccounts/" + credsSA, `null`, nil, 400, "INVALID_ARGUMENT"},
		{"exp_past", "projects/-/serviceAccounts/" + credsSA, exp(-time.Minute), nil, 400, "INVALID_ARGUMENT"},
		{"exp_beyond_12h", "projects/-/serviceAccounts/" + credsSA, exp(12*time.Hour + time.Second), nil, 400, "INVALID_ARGUMENT"},
		{"exp_fraction", "projects/-/serviceAccounts/" + credsSA, fmt.Sprintf(`{"exp":%d.5}`, credsNow.Unix()+60), nil, 400, "INVALID_ARGUMENT"},
		{"exp_string", "projects/-/serviceAccounts/" + credsSA, `{"exp":"soon"}`, nil, 400, "INVALID_ARGUMENT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := svc.Projects.ServiceAccounts.SignJwt(tc.account,
				&iamcredentials.SignJwtRequest{Payload: tc.payload, Delegates: tc.delegates}).Context(t.Context()).Do()
			_ = wiretest.MustAPIError(t, err, tc.code, tc.status)
		})
	}
	// The limits themselves are allowed.
	mustSignJwt(t, svc, credsSA, exp(12*time.Hour))
	mustSignJwt(t, svc, credsSA, exp(0))
	r, err := svc.Projects.ServiceAccounts.SignJwt("projects/-/serviceAccounts/"+credsSA, &iamcredentials.SignJwtRequest{
		Payload: `{}`, Delegates: []string{"projects/-/serviceAccounts/" + credsOther},
	}).Context(t.Context()).Do()
	if err != nil || r.SignedJwt == "" {
		t.Errorf("signJwt with a delegate: %v", err)
	}
}

func TestIAMCredentialsHTTPErrors(t *testing.T) {
	t.Parallel()
	_, _, srv, _ := newTestCredentials(t)
	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		status                   string
	}{
		{"signJwt_get", http.MethodGet, "/v1/projects/-/serviceAccounts/" + credsSA + ":signJwt", "", 405, ""},
		{"signJwt_malformed_body", http.MethodPost, "/v1/projects/-/serviceAccounts/" + credsSA + ":signJwt", `{"payload":`, 400, "INVALID_ARGUMENT"},
		{"signJwt_payload_not_string", http.MethodPost, "/v1/projects/-/serviceAccounts/" + credsSA + ":signJwt", `{"payload":{"a":1}}`, 400, "INVALID_ARGUMENT"},
		{"signJwt_oversize", http.MethodPost, "/v1/projects/-/serviceAccounts/" + credsSA + ":signJwt", `{"payload":"` + strings.Repeat("a", maxSignJwtBody) + `"}`, 400, "INVALID_ARGUMENT"},
		{"signJwt_bad_name", http.MethodPost, "/v1/projects/-/serviceAccounts:signJwt", `{}`, 400, "INVALID_ARGUMENT"},
		{"jwk_post", http.MethodPost, "/service_accounts/v1/metadata/jwk/" + credsSA, "", 405, ""},
		{"jwk_unknown_account", http.MethodGet, "/service_accounts/v1/metadata/jwk/nobody@app-project.iam.gserviceaccount.com", "", 404, "NOT_FOUND"},
		{"x509_unknown_account", http.MethodGet, "/service_accounts/v1/metadata/x509/nobody@app-project.iam.gserviceaccount.com", "", 404, "NOT_FOUND"},
		{"jwk_no_account", http.MethodGet, "/service_accounts/v1/metadata/jwk/", "", 404, "NOT_FOUND"},
		{"raw_not_modelled", http.MethodGet, "/service_accounts/v1/metadata/raw/" + credsSA, "", 404, "NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			var body struct {
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
					Status  string `json:"status"`
				} `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("body is not Google's JSON error: %v", err)
			}
			if resp.StatusCode != tc.code || body.Error.Code != tc.code || (tc.status != "" && body.Error.Status != tc.status) || body.Error.Message == "" {
				t.Errorf("%s %s = %d %+v, want %d %s", tc.method, tc.path, resp.StatusCode, body.Error, tc.code, tc.status)
			}
			if tc.code == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
		})
	}
}

func TestSignJwtFaultsAreInjectedAndCounted(t *testing.T) {
	t.Parallel()
	w, _, srv, svc := newTestCredentials(t)
	w.Faults.Set("iamcredentials.signJwt", fault.Fault{Code: http.StatusTooManyRequests, Count: 1})
	_, err := svc.Projects.ServiceAccounts.SignJwt("projects/-/serviceAccounts/"+credsSA,
		&iamcredentials.SignJwtRequest{Payload: `{}`}).Context(t.Context()).Do()
	_ = wiretest.MustAPIError(t, err, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED")
	mustSignJwt(t, svc, credsSA, `{}`) // recovered after Count errors

	w.Faults.Set("iamcredentials.publicKeys", fault.Fault{Code: http.StatusServiceUnavailable})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/service_accounts/v1/metadata/jwk/"+credsSA, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("key fetch with a fault = %d, want 503", resp.StatusCode)
	}
	if got := [2]int{w.Faults.Calls("iamcredentials.signJwt"), w.Faults.Calls("iamcredentials.publicKeys")}; got != [2]int{2, 1} {
		t.Errorf("calls (signJwt, publicKeys) = %v, want [2 1]", got)
	}
}

func FuzzSignJwtPayload(f *testing.F) {
	w := world.New(func() time.Time { return credsNow })
	w.AddServiceAccount(world.ServiceAccount{Email: credsSA})
	c := New(w)
	f.Add(`{}`)
	f.Add(`{"exp":1772370000}`)
	f.Add(`{"exp":1e400}`)
	f.Add(`{"exp":-9223372036854775808}`)
	f.Fuzz(func(t *testing.T, payload string) {
		body, err := json.Marshal(map[string]string{"payload": payload})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/projects/-/serviceAccounts/"+credsSA+":signJwt", strings.NewReader(string(body)))
		c.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("payload %q: status %d %s", payload, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK {
			var r struct{ SignedJwt string }
			if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || strings.Count(r.SignedJwt, ".") != 2 {
				t.Fatalf("payload %q: response %s", payload, rec.Body)
			}
		}
	})
}
