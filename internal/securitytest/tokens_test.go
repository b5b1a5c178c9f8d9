package securitytest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/iamcredentials/v1"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/approval"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
)

var linkPattern = regexp.MustCompile(`https?://[^\s"<>]+\?activation=[^\s"<>]+`)

// realToken requests approval as erin from dave and returns the token
// from the email.
func realToken(t *testing.T, h *apptest.Harness) string {
	t.Helper()
	if r := h.Do(t, erin, http.MethodPost, "/api/projects/prod-payments-api/roles/request", requestBody([]string{dave}, "CHG-1")); r.Status != 200 {
		t.Fatalf("request = %d %s", r.Status, r.Body)
	}
	msgs := h.Outbox.Messages()
	u, err := url.Parse(linkPattern.FindString(msgs[len(msgs)-1].Text))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("activation")
}

func TestApprovalTokensCannotBeTamperedWithOrReplayed(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	token := realToken(t, h)
	jwt, err := approval.Deobfuscate(token)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(jwt, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	tamper := func(key string, value any) string {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		c[key] = value
		b, _ := json.Marshal(c)
		return approval.Obfuscate(parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2])
	}
	approve := func(user, tok string) apptest.Response {
		return h.Do(t, user, http.MethodPost, "/api/activation-request?activation="+url.QueryEscape(tok), nil)
	}
	for _, tc := range []struct {
		name, user, token string
		status            int
	}{
		{"reviewers_swapped_to_self", "heidi@example.com", tamper("reviewers", []string{"heidi@example.com"}), 403},
		{"beneficiary_swapped", dave, tamper("beneficiary", "heidi@example.com"), 403},
		{"role_swapped", dave, tamper("entitlement", "prod-payments-api:roles/owner"), 403},
		{"duration_stretched", dave, tamper("duration", 86400*30), 403},
		{"deadline_extended", dave, tamper("exp", claims["exp"].(float64)+86400), 403},
		{"signature_of_another_token", dave, approval.Obfuscate(parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))), 403},
		{"replayed_by_non_reviewer", "grace@example.com", token, 403},
		{"replayed_by_beneficiary", erin, token, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.Emulator.World.TotalPolicyWrites()
			if r := approve(tc.user, tc.token); r.Status != tc.status {
				t.Errorf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if after := h.Emulator.World.TotalPolicyWrites(); after != before {
				t.Errorf("%d IAM writes", after-before)
			}
		})
	}
	// The genuine token still works for the genuine reviewer.
	if r := approve(dave, token); r.Status != 200 {
		t.Errorf("genuine approval = %d %s", r.Status, r.Body)
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	responses := map[string]apptest.Response{
		"ui":         h.DoRaw(t, http.MethodGet, "/", nil, nil),
		"script":     h.DoRaw(t, http.MethodGet, "/app.js", nil, nil),
		"api_ok":     h.Do(t, dave, http.MethodGet, "/api/policy", nil),
		"api_no_iap": h.Do(t, "", http.MethodGet, "/api/policy", nil),
		"api_400":    h.Do(t, dave, http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate", "{"),
		"not_found":  h.DoRaw(t, http.MethodGet, "/nope", nil, nil),
		"cross_site_403": h.DoRaw(t, http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate",
			http.Header{"X-Jitaccess": {"1"}, "X-Goog-Iap-Jwt-Assertion": {h.Assertion(t, dave)}, "Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}, "{}"),
		"api_403":    h.Do(t, "grace@example.com", http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate", activateBody([]string{dbRole}, "INC-1", 30)),
		"method_405": h.Do(t, dave, http.MethodDelete, "/api/policy", nil),
		"health":     h.DoRaw(t, http.MethodGet, "/health/alive", nil, nil),
	}
	for name, r := range responses {
		csp := r.Header.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", name, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP %q allows inline code", name, csp)
		}
		for header, want := range map[string]string{
			"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
		} {
			if got := r.Header.Get(header); got != want {
				t.Errorf("%s: %s = %q, want %q", name, header, got, want)
			}
		}
		if !strings.Contains(r.Header.Get("Strict-Transport-Security"), "max-age=") {
			t.Errorf("%s: no HSTS", name)
		}
		if c := r.Header.Values("Set-Cookie"); len(c) > 0 {
			t.Errorf("%s sets cookies: %v", name, c)
		}
	}
}

// TestForeignExpiredAndReplayedTokens: a token with the right claims
// signed by another service account (another jitaccess, or anyone with
// signJwt somewhere), a token past its approve-by deadline, and a token
// replayed after its approval all leave exactly one binding at most.
func TestForeignExpiredAndReplayedTokens(t *testing.T) {
	t.Parallel()
	clock := emutest.NewClock(time.Now())
	h := apptest.Start(t, apptest.Options{Clock: clock.Now})
	w := h.Emulator.World
	token := realToken(t, h)
	jwt, err := approval.Deobfuscate(token)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[1])
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	creds, err := iamcredentials.NewService(t.Context(), h.Emulator.HTTPClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	signAs := func(sa string, mutate func(map[string]any)) string {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		mutate(c)
		b, _ := json.Marshal(c)
		resp, err := creds.Projects.ServiceAccounts.SignJwt("projects/-/serviceAccounts/"+sa, &iamcredentials.SignJwtRequest{Payload: string(b)}).Context(t.Context()).Do()
		if err != nil {
			t.Fatalf("signJwt as %s: %v", sa, err)
		}
		return approval.Obfuscate(resp.SignedJwt)
	}
	const foreign = "other-jitaccess@attacker-project.iam.gserviceaccount.com"
	w.AddServiceAccount(emulator.ServiceAccount{Email: foreign})
	approve := func(user, tok string) apptest.Response {
		return h.Do(t, user, http.MethodPost, "/api/activation-request?activation="+url.QueryEscape(tok), nil)
	}
	bindings := func() int {
		n := 0
		for _, b := range emutest.Activations(t, w, "projects/prod-payments-api") {
			if b.Members[0] == "user:"+erin {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		name, user, token string
	}{
		{"foreign_signer_same_claims", dave, signAs(foreign, func(map[string]any) {})},
		{"foreign_signer_naming_a_stranger", "grace@example.com", signAs(foreign, func(c map[string]any) { c["reviewers"] = []string{"grace@example.com"} })},
		{"foreign_signer_own_issuer", dave, signAs(foreign, func(c map[string]any) { c["iss"], c["aud"] = foreign, foreign })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := approve(tc.user, tc.token); r.Status != http.StatusForbidden || r.Message(t) == "" {
				t.Errorf("status %d, want 403 with a message: %s", r.Status, r.Body)
			}
			if n := w.TotalPolicyWrites(); n != 0 {
				t.Errorf("%d IAM writes", n)
			}
		})
	}

	// Approved once, then replayed by both reviewers' links and by the
	// requester: still exactly one binding.
	if r := approve(dave, token); r.Status != 200 {
		t.Fatalf("genuine approval = %d %s", r.Status, r.Body)
	}
	approvedWrites := w.TotalPolicyWrites()
	approved := emutest.Activations(t, w, "projects/prod-payments-api")
	for _, user := range []string{dave, dave, erin, "grace@example.com"} {
		r := approve(user, token)
		if user == dave && (r.Status != http.StatusConflict || !strings.HasPrefix(r.Message(t), "This request has already been approved by dave@example.com at ")) {
			t.Errorf("the reviewer reopening the approved link = %d %s, want 409 already approved", r.Status, r.Body)
		}
		if user != dave && r.Status != http.StatusForbidden {
			t.Errorf("replay by %s = %d, want 403", user, r.Status)
		}
	}
	if n := bindings(); n != 1 {
		t.Errorf("%d bindings for erin after replays, want exactly 1", n)
	}
	// A request is decided once: replays write nothing at all.
	if diff := cmp.Diff(approved, emutest.Activations(t, w, "projects/prod-payments-api")); diff != "" {
		t.Errorf("replays changed the activation (-approved +now):\n%s", diff)
	}
	if n := w.TotalPolicyWrites() - approvedWrites; n != 0 {
		t.Errorf("replays wrote the policy %d times, want 0", n)
	}

	// Past the approve-by deadline (ACTIVATION_REQUEST_TIMEOUT, 60 min).
	late := realToken(t, h)
	writes := w.TotalPolicyWrites()
	clock.Advance(61 * time.Minute)
	if r := approve(dave, late); r.Status != http.StatusForbidden || r.Message(t) == "" {
		t.Errorf("expired token: %d %s, want 403 with a message", r.Status, r.Body)
	}
	if n := w.TotalPolicyWrites() - writes; n != 0 {
		t.Errorf("expired token: %d IAM writes", n)
	}
}
