package approval_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/iamcredentials/v1"

	"github.com/jitaccess/jitaccess/internal/approval"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/jit"
)

const appSA = "jitaccess@jitaccess-app.iam.gserviceaccount.com"

func newTestSigner(t testing.TB, e *emulator.Emulator, sa jit.UserID, now func() time.Time) *approval.Signer {
	t.Helper()
	creds, err := iamcredentials.NewService(t.Context(), e.HTTPClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	return approval.New(creds, sa, approval.Options{
		KeysURL: e.Endpoints().IAMCredentials + "service_accounts/v1/metadata/jwk/",
		Clock:   now,
	})
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

func TestSignVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	s := newTestSigner(t, e, appSA, time.Now)
	req := testRequest(time.Now())
	tok, err := s.Sign(t.Context(), req)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if strings.Contains(tok, ".") || strings.HasPrefix(tok, "ey") {
		t.Errorf("token %q is not obfuscated", tok)
	}
	got, err := s.Verify(t.Context(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if diff := cmp.Diff(req, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestVerifyRejectsBadTokens(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	e.World.AddServiceAccount(emulator.ServiceAccount{Email: "other@jitaccess-app.iam.gserviceaccount.com"})
	c := emutest.NewClock(time.Now())
	s := newTestSigner(t, e, appSA, c.Now)
	other := newTestSigner(t, e, "other@jitaccess-app.iam.gserviceaccount.com", c.Now)
	good, err := s.Sign(t.Context(), testRequest(c.Now()))
	if err != nil {
		t.Fatal(err)
	}
	jwt, _ := approval.Deobfuscate(good)
	parts := strings.Split(jwt, ".")
	reclaim := func(mutate func(map[string]any)) string {
		b, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		mutate(m)
		nb, _ := json.Marshal(m)
		return approval.Obfuscate(parts[0] + "." + base64.RawURLEncoding.EncodeToString(nb) + "." + parts[2])
	}
	foreign, err := other.Sign(t.Context(), testRequest(c.Now()))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, token string
	}{
		{"garbage", "hello"},
		{"bad_characters", good + "<script>"},
		{"tampered_reviewers", reclaim(func(m map[string]any) { m["reviewers"] = []string{"mallory@example.com"} })},
		{"tampered_duration", reclaim(func(m map[string]any) { m["duration"] = 999999 })},
		{"tampered_signature", good[:len(good)-4] + "AAAA"},
		{"alg_none", approval.Obfuscate(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".")},
		{"hs256", approval.Obfuscate(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"x"}`)) + "." + parts[1] + "." + parts[2])},
		{"signed_by_another_account", foreign},
		{"oversize", strings.Repeat("A", 20000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Verify(t.Context(), tc.token)
			if jit.KindOf(err) != jit.KindDenied || jit.MessageOf(err) != "Accessing the activation request failed" {
				t.Errorf("Verify = %v (kind %v), want the original's denial", err, jit.KindOf(err))
			}
		})
	}
	// Expired: the approve-by deadline has passed.
	c.Set(c.Now().Add(61 * time.Minute))
	if _, err := s.Verify(t.Context(), good); jit.KindOf(err) != jit.KindDenied {
		t.Errorf("expired token: %v", err)
	}
}

func TestKeysAreCached(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	s := newTestSigner(t, e, appSA, time.Now)
	tok, err := s.Sign(t.Context(), testRequest(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := s.Verify(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.World.Faults.Calls("iamcredentials.publicKeys"); n != 1 {
		t.Errorf("the keys were fetched %d times for 20 verifications, want 1", n)
	}
}

func TestSignFailuresHaveKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code int
		kind jit.Kind
	}{
		{http.StatusServiceUnavailable, jit.KindUpstream},
		{http.StatusTooManyRequests, jit.KindTooMany},
		{http.StatusForbidden, jit.KindUnavailable},
	} {
		e := emutest.Start(t)
		e.World.Faults.Set("iamcredentials.signJwt", emulator.Fault{Code: tc.code})
		_, err := newTestSigner(t, e, appSA, time.Now).Sign(t.Context(), testRequest(time.Now()))
		if jit.KindOf(err) != tc.kind {
			t.Errorf("signJwt %d: %v (kind %v), want %v", tc.code, err, jit.KindOf(err), tc.kind)
		}
	}
}

func TestObfuscationRoundTrip(t *testing.T) {
	t.Parallel()
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
	got, err := approval.Deobfuscate(approval.Obfuscate(jwt))
	if err != nil || got != jwt {
		t.Errorf("round trip = %q, %v", got, err)
	}
}

func FuzzVerify(f *testing.F) {
	e := emutest.Start(f)
	s := newTestSigner(f, e, appSA, time.Now)
	good, err := s.Sign(f.Context(), testRequest(time.Now()))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("J~~J~")
	f.Fuzz(func(t *testing.T, token string) {
		req, err := s.Verify(t.Context(), token)
		if err == nil && req.Beneficiary == "" {
			t.Errorf("accepted %q without a beneficiary", token)
		}
	})
}

func FuzzDeobfuscate(f *testing.F) {
	f.Add("JhbGciOiJSUzI1NiJ9~~JzdWIiOiJ4In0~c2ln")
	f.Fuzz(func(t *testing.T, s string) {
		jwt, err := approval.Deobfuscate(s)
		if err == nil && !strings.HasPrefix(jwt, "ey") {
			t.Errorf("Deobfuscate(%q) = %q", s, jwt)
		}
	})
}
