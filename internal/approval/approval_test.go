package approval_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/iamcredentials/v1"

	"github.com/jitaccess/jitaccess/internal/approval"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/jit"
)

const (
	appSA       = "jitaccess@jitaccess-app.iam.gserviceaccount.com"
	otherSA     = "other@jitaccess-app.iam.gserviceaccount.com"
	keysMethod  = "iamcredentials.publicKeys"
	signMethod  = "iamcredentials.signJwt"
	msgDenied   = "Accessing the activation request failed"
	testTimeout = 30 * time.Second
)

// testEnv is an emulator (the demo world plus a second service account)
// whose clock the test sets, and a Signer for the app's account on it.
type testEnv struct {
	e     *emulator.Emulator
	clock *emutest.Clock
	creds *iamcredentials.Service
	s     *approval.Signer
}

func newTestEnv(t testing.TB, mutate ...func(*approval.Options)) *testEnv {
	t.Helper()
	clock := emutest.NewClock(time.Now().UTC().Truncate(time.Second))
	e := emutest.Start(t, emutest.Options{Clock: clock.Now})
	e.World.AddServiceAccount(emulator.ServiceAccount{Email: otherSA})
	creds, err := iamcredentials.NewService(t.Context(), e.HTTPClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{e: e, clock: clock, creds: creds}
	env.s = env.signer(appSA, mutate...)
	return env
}

// signer returns a Signer for sa on the environment's emulator and clock.
func (env *testEnv) signer(sa jit.UserID, mutate ...func(*approval.Options)) *approval.Signer {
	opts := approval.Options{
		KeysURL: env.e.Endpoints().IAMCredentials + "service_accounts/v1/metadata/jwk/",
		Clock:   env.clock.Now,
		Timeout: testTimeout,
	}
	for _, m := range mutate {
		m(&opts)
	}
	return approval.New(env.creds, sa, opts)
}

func (env *testEnv) keyFetches() int { return env.e.World.Faults.Calls(keysMethod) }

// signRaw signs arbitrary claims as sa through signJwt, bypassing Sign's
// checks, so that tests can produce well-signed tokens with bad claims.
func (env *testEnv) signRaw(t testing.TB, sa string, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := env.creds.Projects.ServiceAccounts.SignJwt("projects/-/serviceAccounts/"+sa,
		&iamcredentials.SignJwtRequest{Payload: string(payload)}).Context(t.Context()).Do()
	if err != nil {
		t.Fatalf("signJwt: %v", err)
	}
	return approval.Obfuscate(resp.SignedJwt)
}

func mustSign(t testing.TB, s *approval.Signer, req jit.ActivationRequest) string {
	t.Helper()
	tok, err := s.Sign(t.Context(), req)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

func mustVerify(t testing.TB, s *approval.Signer, token string) jit.ActivationRequest {
	t.Helper()
	req, err := s.Verify(t.Context(), token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return req
}

func testRequest(now time.Time) jit.ActivationRequest {
	return jit.ActivationRequest{
		ID: "mpa-AAAAAAAAAAAAAAAA", Beneficiary: "alice@example.com",
		Reviewers:     []jit.UserID{"bob@example.com", "carol@example.com"},
		Entitlement:   jit.Entitlement{Project: "prod-payments-api", Role: "roles/run.developer", ResourceCondition: `resource.name == "x"`},
		Justification: "CHG-1", Duration: 90 * time.Minute,
		RequestedAt: now.UTC().Truncate(time.Second), ApproveBy: now.UTC().Truncate(time.Second).Add(time.Hour),
	}
}

// jwtParts splits a token in URL form into its three parts.
func jwtParts(t testing.TB, token string) []string {
	t.Helper()
	jwt, err := approval.Deobfuscate(token)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("%q has %d parts", jwt, len(parts))
	}
	return parts
}

// claimsOf decodes a token's payload.
func claimsOf(t testing.TB, token string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(jwtParts(t, token)[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func wantDenied(t *testing.T, err error) {
	t.Helper()
	if jit.KindOf(err) != jit.KindDenied || jit.MessageOf(err) != msgDenied {
		t.Errorf("Verify = %v (kind %v), want the original's denial", err, jit.KindOf(err))
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	req := testRequest(env.clock.Now())
	tok := mustSign(t, env.s, req)
	if strings.ContainsAny(tok, ".=+/") || strings.HasPrefix(tok, "ey") {
		t.Errorf("token %q is not in its URL form", tok)
	}
	if diff := cmp.Diff(req, mustVerify(t, env.s, tok)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// A plain JWT, as an API client might send, verifies too.
	if _, err := env.s.Verify(t.Context(), strings.Join(jwtParts(t, tok), ".")); err != nil {
		t.Errorf("Verify(plain JWT): %v", err)
	}

	// The claims keep the original's names, so that links issued by either
	// version during a migration stay readable.
	claims := claimsOf(t, tok)
	var names []string
	for k := range claims {
		names = append(names, k)
	}
	slices.Sort(names)
	want := []string{"aud", "beneficiary", "duration", "end", "entitlement", "exp", "iat", "iss", "jti", "justification", "reviewers", "start"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("claim names (-want +got):\n%s", diff)
	}
	if claims["iss"] != appSA || claims["aud"] != appSA || claims["entitlement"] != req.Entitlement.ID() ||
		claims["exp"] != float64(req.ApproveBy.Unix()) || claims["end"].(float64)-claims["start"].(float64) != 5400 {
		t.Errorf("claims = %v", claims)
	}
	var header map[string]string
	h, _ := base64.RawURLEncoding.DecodeString(jwtParts(t, tok)[0])
	if err := json.Unmarshal(h, &header); err != nil || header["alg"] != "RS256" || header["kid"] == "" {
		t.Errorf("header = %s (%v)", h, err)
	}
}

func TestVerifyAcceptsTheOriginalsTokens(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	now := env.clock.Now()
	// 1.8's claims: no duration; the window's length is end - start.
	tok := env.signRaw(t, appSA, map[string]any{
		"jti": "mpa-Gz0hYqX1cP8mB2wE", "iss": appSA, "aud": appSA,
		"beneficiary": "alice@example.com", "reviewers": []string{"bob@example.com"},
		"entitlement": "prod-payments-api:roles/run.developer", "justification": "CHG-2",
		"start": now.Unix(), "end": now.Add(45 * time.Minute).Unix(),
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	got := mustVerify(t, env.s, tok)
	if got.Duration != 45*time.Minute || got.ID != "mpa-Gz0hYqX1cP8mB2wE" || got.Entitlement.Role != "roles/run.developer" {
		t.Errorf("Verify = %+v", got)
	}
}

func TestVerifyRejectsBadTokens(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	now := env.clock.Now()
	good := mustSign(t, env.s, testRequest(now))
	parts := jwtParts(t, good)
	// resign signs the good token's claims, changed, with the right key.
	resign := func(mutate func(map[string]any)) string {
		c := claimsOf(t, good)
		mutate(c)
		return env.signRaw(t, appSA, c)
	}
	// reclaim changes the claims but keeps the old signature.
	reclaim := func(mutate func(map[string]any)) string {
		c := claimsOf(t, good)
		mutate(c)
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return approval.Obfuscate(parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2])
	}
	reheader := func(h string) string { return approval.Obfuscate(b64(h) + "." + parts[1] + "." + parts[2]) }
	sig := func(s []byte) string {
		return approval.Obfuscate(parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(s))
	}
	origSig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	flipped := bytes.Clone(origSig)
	flipped[len(flipped)/2] ^= 1

	for _, tc := range []struct {
		name, token string
	}{
		{"empty", ""},
		{"garbage", "hello"},
		{"bad_characters", good + "<script>"},
		{"oversize", strings.Repeat("A", 20000)},
		{"two_parts", approval.Obfuscate(parts[0] + "." + parts[1])},
		{"four_parts", good + "~" + parts[2]},
		{"header_not_json", reheader("alg=RS256")},
		{"alg_none", approval.Obfuscate(b64(`{"alg":"none"}`) + "." + parts[1] + ".")},
		{"alg_none_with_kid", reheader(`{"alg":"none","kid":"x"}`)},
		{"hs256", reheader(`{"alg":"HS256","kid":"x"}`)},
		{"rs512", reheader(`{"alg":"RS512","kid":"x"}`)},
		{"no_kid", reheader(`{"alg":"RS256"}`)},
		{"typ_not_jwt", reheader(`{"alg":"RS256","kid":"x","typ":"JWE"}`)},
		{"signature_short", sig(origSig[:64])},
		{"signature_flipped", sig(flipped)},
		{"signature_not_base64", approval.Obfuscate(parts[0] + "." + parts[1] + ".!!")},
		{"tampered_reviewers", reclaim(func(m map[string]any) { m["reviewers"] = []string{"mallory@example.com"} })},
		{"tampered_duration", reclaim(func(m map[string]any) { m["duration"] = 999999 })},
		{"tampered_exp", reclaim(func(m map[string]any) { m["exp"] = now.Add(11 * time.Hour).Unix() })},
		{"signed_by_another_account", mustSign(t, env.signer(otherSA), testRequest(now))},
		{"another_accounts_claims", resign(func(m map[string]any) { m["iss"], m["aud"] = otherSA, otherSA })},
		{"wrong_issuer", resign(func(m map[string]any) { m["iss"] = "https://accounts.google.com" })},
		{"wrong_audience", resign(func(m map[string]any) { m["aud"] = "https://example.com" })},
		{"no_audience", resign(func(m map[string]any) { delete(m, "aud") })},
		{"issued_in_the_future", resign(func(m map[string]any) { m["iat"] = now.Add(time.Hour).Unix() })},
		{"no_iat", resign(func(m map[string]any) { delete(m, "iat") })},
		{"expires_before_issued", resign(func(m map[string]any) { m["iat"] = now.Add(2 * time.Hour).Unix(); m["exp"] = now.Add(time.Hour).Unix() })},
		{"not_an_mpa_id", resign(func(m map[string]any) { m["jti"] = "jit-AAAAAAAAAAAAAAAA" })},
		{"id_too_long", resign(func(m map[string]any) { m["jti"] = "mpa-" + strings.Repeat("A", 100) })},
		{"no_reviewers", resign(func(m map[string]any) { m["reviewers"] = []string{} })},
		{"reviewers_not_a_list", resign(func(m map[string]any) { m["reviewers"] = "bob@example.com" })},
		{"too_many_reviewers", resign(func(m map[string]any) {
			r := make([]string, 101)
			for i := range r {
				r[i] = "r" + strings.Repeat("x", i) + "@example.com"
			}
			m["reviewers"] = r
		})},
		{"reviewer_not_an_email", resign(func(m map[string]any) { m["reviewers"] = []string{"bob"} })},
		{"beneficiary_reviews_self", resign(func(m map[string]any) { m["reviewers"] = []string{"alice@example.com"} })},
		{"beneficiary_not_an_email", resign(func(m map[string]any) { m["beneficiary"] = "alice@" })},
		{"bad_entitlement", resign(func(m map[string]any) { m["entitlement"] = "prod-payments-api" })},
		{"justification_not_a_string", resign(func(m map[string]any) { m["justification"] = 42 })},
		{"justification_too_long", resign(func(m map[string]any) { m["justification"] = strings.Repeat("j", 1000) })},
		{"duration_zero", resign(func(m map[string]any) { m["duration"], m["end"] = 0, m["start"] })},
		{"duration_negative", resign(func(m map[string]any) { m["duration"] = -60 })},
		{"duration_disagrees_with_window", resign(func(m map[string]any) { m["duration"] = 60 })},
		{"duration_huge", resign(func(m map[string]any) {
			m["duration"] = int64(1) << 40
			m["end"] = m["start"].(float64) + float64(int64(1)<<40)
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := env.s.Verify(t.Context(), tc.token)
			wantDenied(t, err)
		})
	}
}

func TestVerifyRefusesExpiredRequests(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	req := testRequest(env.clock.Now())
	tok := mustSign(t, env.s, req)
	env.clock.Set(req.ApproveBy.Add(-time.Second))
	mustVerify(t, env.s, tok)
	// No leeway: the approve-by deadline is the app's own, not a clock
	// shared with another party.
	env.clock.Set(req.ApproveBy)
	_, err := env.s.Verify(t.Context(), tok)
	wantDenied(t, err)
	// Inspect, for lists that show it expired, checks all but the deadline.
	if got, err := env.s.Inspect(t.Context(), tok); err != nil || got.ID != req.ID {
		t.Errorf("Inspect of an expired token = %+v, %v", got, err)
	}
	if _, err := env.s.Inspect(t.Context(), tok[:len(tok)-4]+"AAAA"); jit.KindOf(err) != jit.KindDenied {
		t.Errorf("Inspect of a tampered token = %v, want denied", err)
	}
}

// TestExpiryAndKeyMaxAgeInABubble runs the Signer on its default clock,
// time.Now, in a synctest bubble, with the key set the emulator published
// replayed from memory (a bubble must not use the network).
func TestExpiryAndKeyMaxAgeInABubble(t *testing.T) {
	t.Parallel()
	epoch := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) // a bubble's start
	clock := emutest.NewClock(epoch)
	e := emutest.Start(t, emutest.Options{Clock: clock.Now})
	creds, err := iamcredentials.NewService(t.Context(), e.HTTPClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	keysURL := e.Endpoints().IAMCredentials + "service_accounts/v1/metadata/jwk/"
	req := testRequest(epoch)
	req.ApproveBy = epoch.Add(2 * time.Hour)
	tok := mustSign(t, approval.New(creds, appSA, approval.Options{KeysURL: keysURL, Clock: clock.Now}), req)
	keysReq, err := http.NewRequestWithContext(t.Context(), http.MethodGet, keysURL+appSA, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(keysReq)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("keys: %d %v", resp.StatusCode, err)
	}
	cacheControl := resp.Header.Get("Cache-Control")

	synctest.Test(t, func(t *testing.T) {
		var fetches int
		replay := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			fetches++
			return &http.Response{
				StatusCode: http.StatusOK, Request: r,
				Header: http.Header{"Cache-Control": {cacheControl}, "Content-Type": {"application/json"}},
				Body:   io.NopCloser(bytes.NewReader(keys)),
			}, nil
		})
		s := approval.New(creds, appSA, approval.Options{KeysURL: keysURL, HTTPClient: &http.Client{Transport: replay}})
		mustVerify(t, s, tok)
		time.Sleep(59 * time.Minute)
		mustVerify(t, s, tok)
		if fetches != 1 {
			t.Errorf("%d fetches within the keys' max-age (%s), want 1", fetches, cacheControl)
		}
		time.Sleep(2 * time.Minute)
		mustVerify(t, s, tok)
		if fetches != 2 {
			t.Errorf("%d fetches after the keys' max-age, want 2", fetches)
		}
		time.Sleep(time.Hour - time.Minute - time.Second)
		mustVerify(t, s, tok)
		time.Sleep(time.Second)
		_, err := s.Verify(t.Context(), tok)
		wantDenied(t, err)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestKeysAreCached(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	req := testRequest(env.clock.Now())
	req.ApproveBy = req.RequestedAt.Add(3 * time.Hour)
	tok := mustSign(t, env.s, req)
	for range 20 {
		mustVerify(t, env.s, tok)
	}
	if n := env.keyFetches(); n != 1 {
		t.Errorf("the keys were fetched %d times for 20 verifications, want 1", n)
	}
	env.clock.Advance(59 * time.Minute)
	mustVerify(t, env.s, tok)
	env.clock.Advance(2 * time.Minute) // past the emulator's max-age of an hour
	mustVerify(t, env.s, tok)
	mustVerify(t, env.s, tok)
	if n := env.keyFetches(); n != 2 {
		t.Errorf("the keys were fetched %d times across their max-age, want 2", n)
	}
}

func TestConcurrentVerificationsFetchTheKeysOnce(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	tok := mustSign(t, env.s, testRequest(env.clock.Now()))
	s := env.signer(appSA)
	errs := make(chan error, 20)
	for range cap(errs) {
		go func() {
			_, err := s.Verify(t.Context(), tok)
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := env.keyFetches(); n != 1 {
		t.Errorf("%d key fetches for %d concurrent verifications with a cold cache, want 1", n, cap(errs))
	}
}

func TestUnknownKeyIDRefetchesOnce(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	req := testRequest(env.clock.Now())
	old := mustSign(t, env.s, req)
	mustVerify(t, env.s, old)

	// Google rotates keys: a token signed with the new key makes the
	// Signer refetch once (a minute after the last fetch at the earliest),
	// and the old key still verifies older tokens.
	env.clock.Advance(2 * time.Minute)
	if _, err := env.e.Credentials.RotateKey(appSA); err != nil {
		t.Fatal(err)
	}
	rotated := mustSign(t, env.s, req)
	mustVerify(t, env.s, rotated)
	mustVerify(t, env.s, old)
	if n := env.keyFetches(); n != 2 {
		t.Fatalf("%d key fetches after a rotation, want 2", n)
	}

	// Forged key ids cause at most one fetch a minute.
	parts := jwtParts(t, old)
	forged := approval.Obfuscate(b64(`{"alg":"RS256","kid":"0000000000000000000000000000000000000000","typ":"JWT"}`) + "." + parts[1] + "." + parts[2])
	for range 5 {
		_, err := env.s.Verify(t.Context(), forged)
		wantDenied(t, err)
	}
	if n := env.keyFetches(); n != 2 {
		t.Errorf("%d key fetches after forged key ids right after a fetch, want still 2", n)
	}
	env.clock.Advance(2 * time.Minute)
	for range 5 {
		_, err := env.s.Verify(t.Context(), forged)
		wantDenied(t, err)
	}
	if n := env.keyFetches(); n != 3 {
		t.Errorf("%d key fetches after forged key ids a minute later, want 3", n)
	}
	mustVerify(t, env.s, rotated)
}

func TestStaleKeysServeWhileTheKeyEndpointFails(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	req := testRequest(env.clock.Now())
	req.ApproveBy = req.RequestedAt.Add(3 * time.Hour)
	tok := mustSign(t, env.s, req)
	mustVerify(t, env.s, tok)

	env.e.World.Faults.Set(keysMethod, emulator.Fault{Code: http.StatusServiceUnavailable})
	env.clock.Advance(61 * time.Minute)
	mustVerify(t, env.s, tok) // a refetch fails; the known key still verifies
	mustVerify(t, env.s, tok)
	if n := env.keyFetches(); n != 2 {
		t.Errorf("%d key fetches, want 2: one refetch, then none for a minute", n)
	}
	// A key the Signer never saw cannot be verified: that is the outage.
	_, err := env.signer(appSA).Verify(t.Context(), tok)
	if jit.KindOf(err) != jit.KindUpstream {
		t.Errorf("Verify with no keys and a failing endpoint = %v (kind %v), want upstream", err, jit.KindOf(err))
	}
	env.e.World.Faults.Clear()
	env.clock.Advance(2 * time.Minute)
	mustVerify(t, env.s, tok)
	if n := env.keyFetches(); n != 4 {
		t.Errorf("%d key fetches, want 4 once the endpoint recovered", n)
	}
}

func TestKeyFetchFailuresHaveKinds(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	tok := mustSign(t, env.s, testRequest(env.clock.Now()))
	for _, tc := range []struct {
		name  string
		fault emulator.Fault
		kind  jit.Kind
	}{
		{"unavailable", emulator.Fault{Code: http.StatusServiceUnavailable}, jit.KindUpstream},
		{"not_found", emulator.Fault{Code: http.StatusNotFound}, jit.KindUpstream},
		{"quota", emulator.Fault{Code: http.StatusTooManyRequests}, jit.KindTooMany},
		{"slow", emulator.Fault{Latency: time.Minute}, jit.KindUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Sequential: the fault is set on the shared emulator.
			env.e.World.Faults.Set(keysMethod, tc.fault)
			defer env.e.World.Faults.Clear()
			s := env.signer(appSA, func(o *approval.Options) { o.Timeout = 200 * time.Millisecond })
			before := env.keyFetches()
			for range 3 {
				_, err := s.Verify(t.Context(), tok)
				if jit.KindOf(err) != tc.kind {
					t.Errorf("Verify = %v (kind %v), want %v", err, jit.KindOf(err), tc.kind)
				}
			}
			if n := env.keyFetches() - before; n != 1 {
				t.Errorf("%d fetches for 3 verifications against a failing endpoint, want 1", n)
			}
		})
	}
}

func TestSignFailuresHaveKinds(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	for _, tc := range []struct {
		name  string
		fault emulator.Fault
		kind  jit.Kind
	}{
		{"unavailable", emulator.Fault{Code: http.StatusServiceUnavailable}, jit.KindUpstream},
		{"internal", emulator.Fault{Code: http.StatusInternalServerError}, jit.KindUpstream},
		{"quota", emulator.Fault{Code: http.StatusTooManyRequests}, jit.KindTooMany},
		{"permission", emulator.Fault{Code: http.StatusForbidden}, jit.KindUnavailable},
		{"deadline", emulator.Fault{Code: http.StatusGatewayTimeout}, jit.KindUnavailable},
		{"slow", emulator.Fault{Latency: time.Minute}, jit.KindUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env.e.World.Faults.Set(signMethod, tc.fault)
			defer env.e.World.Faults.Clear()
			s := env.signer(appSA, func(o *approval.Options) { o.Timeout = 200 * time.Millisecond })
			_, err := s.Sign(t.Context(), testRequest(env.clock.Now()))
			if jit.KindOf(err) != tc.kind || jit.MessageOf(err) == "" {
				t.Errorf("Sign = %v (kind %v), want %v with a message", err, jit.KindOf(err), tc.kind)
			}
		})
	}
	// An account the world does not have: Google answers 403.
	_, err := env.signer("ghost@jitaccess-app.iam.gserviceaccount.com").Sign(t.Context(), testRequest(env.clock.Now()))
	if jit.KindOf(err) != jit.KindUnavailable {
		t.Errorf("Sign as an unknown account = %v (kind %v), want unavailable", err, jit.KindOf(err))
	}
}

func TestSignRefusesRequestsThatCouldNeverVerify(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	now := env.clock.Now()
	for _, tc := range []struct {
		name   string
		mutate func(*jit.ActivationRequest)
	}{
		{"not_an_mpa_id", func(r *jit.ActivationRequest) { r.ID = "jit-x" }},
		{"no_beneficiary", func(r *jit.ActivationRequest) { r.Beneficiary = "" }},
		{"no_reviewers", func(r *jit.ActivationRequest) { r.Reviewers = nil }},
		{"no_duration", func(r *jit.ActivationRequest) { r.Duration = 0 }},
		{"deadline_before_request", func(r *jit.ActivationRequest) { r.ApproveBy = r.RequestedAt }},
		{"deadline_beyond_signJwt_limit", func(r *jit.ActivationRequest) { r.ApproveBy = now.Add(13 * time.Hour) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := testRequest(now)
			tc.mutate(&req)
			if _, err := env.s.Sign(t.Context(), req); jit.KindOf(err) != jit.KindInternal {
				t.Errorf("Sign = %v (kind %v), want internal", err, jit.KindOf(err))
			}
		})
	}
	t.Cleanup(func() {
		if n := env.e.World.Faults.Calls(signMethod); n != 1 {
			t.Errorf("signJwt was called %d times, want once: for the request at the limit only", n)
		}
	})
	req := testRequest(now)
	req.ApproveBy = now.Add(approval.MaxLifetime)
	if _, err := env.signer(appSA).Sign(t.Context(), req); err != nil {
		t.Errorf("Sign at the 12-hour limit: %v", err)
	}
}

func TestObfuscation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ jwt, want string }{
		{"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "JhbGciOiJSUzI1NiJ9~~JzdWIiOiJ4In0~c2ln"},
		{"eyJh.eyJz.eyJs", "Jh~~Jz~~Js"}, // a signature starting "ey" is fine too
		{"eyJh.eyJz.", "Jh~~Jz~"},
	} {
		got := approval.Obfuscate(tc.jwt)
		if got != tc.want {
			t.Errorf("Obfuscate(%q) = %q, want %q", tc.jwt, got, tc.want)
		}
		back, err := approval.Deobfuscate(got)
		if err != nil || back != tc.jwt {
			t.Errorf("Deobfuscate(%q) = %q, %v, want %q", got, back, err, tc.jwt)
		}
	}
	for _, bad := range []string{"Jh~~Jz~c2ln=", "Jh Jz", "Jh%7E", "Jh/Jz+", "Jh~~Jz~c2ln\x00", "Jé", "Jh.Jz~c2ln", "eyJh~~Jz"} {
		if _, err := approval.Deobfuscate(bad); err == nil {
			t.Errorf("Deobfuscate(%q) accepted characters a token cannot hold", bad)
		}
	}
}

func FuzzObfuscate(f *testing.F) {
	f.Add([]byte(`"alg":"RS256"}`), []byte(`"sub":"x"}`), []byte("sig"))
	f.Add([]byte{}, []byte{0xff}, []byte{})
	f.Fuzz(func(t *testing.T, header, payload, sig []byte) {
		// Real JWTs: a JSON object header and payload, any signature.
		jwt := b64(`{"`+string(header)) + "." + b64(`{`+string(payload)) + "." + base64.RawURLEncoding.EncodeToString(sig)
		back, err := approval.Deobfuscate(approval.Obfuscate(jwt))
		if err != nil || back != jwt {
			t.Errorf("round trip of %q = %q, %v", jwt, back, err)
		}
	})
}

func FuzzDeobfuscate(f *testing.F) {
	f.Add("JhbGciOiJSUzI1NiJ9~~JzdWIiOiJ4In0~c2ln")
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")
	f.Add("~~~")
	f.Fuzz(func(t *testing.T, s string) {
		jwt, err := approval.Deobfuscate(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(jwt, "ey") || strings.Contains(jwt, "~") {
			t.Errorf("Deobfuscate(%q) = %q", s, jwt)
		}
	})
}

func FuzzVerify(f *testing.F) {
	env := newTestEnv(f)
	good := mustSign(f, env.s, testRequest(env.clock.Now()))
	f.Add(good)
	f.Add(strings.Join(jwtParts(f, good), "."))
	f.Add("J~~J~")
	f.Add(approval.Obfuscate(b64(`{"alg":"RS256","kid":"x"}`) + "." + b64(`{}`) + "." + strings.Repeat("A", 342)))
	f.Fuzz(func(t *testing.T, token string) {
		req, err := env.s.Verify(t.Context(), token)
		if err == nil && (req.Beneficiary == "" || len(req.Reviewers) == 0) {
			t.Errorf("accepted %q as %+v", token, req)
		}
		if err != nil && jit.KindOf(err) != jit.KindDenied {
			t.Errorf("Verify(%q) = %v (kind %v), want a denial", token, err, jit.KindOf(err))
		}
	})
}

// BenchmarkVerify measures verification with a warm key cache: the cost of
// every approval page view.
func BenchmarkVerify(b *testing.B) {
	env := newTestEnv(b)
	tok := mustSign(b, env.s, testRequest(env.clock.Now()))
	mustVerify(b, env.s, tok)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := env.s.Verify(b.Context(), tok); err != nil {
			b.Fatal(err)
		}
	}
}
