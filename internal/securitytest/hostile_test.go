package securitytest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/emulated"
	"github.com/jitaccess/jitaccess/internal/iap"
)

const (
	dbRole  = "prod-payments-db:roles/cloudsql.client"
	mpaRole = "prod-payments-api:roles/run.developer"
	dave    = "dave@example.com"
	erin    = "erin@example.com"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func b64url(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hostileCase is one attack: a request and what the app must answer.
type hostileCase struct {
	name    string
	request func(t *testing.T, h *apptest.Harness) apptest.Response
	status  int
	message string // a substring of the expected message
}

func selfActivate(user string, body any) func(*testing.T, *apptest.Harness) apptest.Response {
	return func(t *testing.T, h *apptest.Harness) apptest.Response {
		return h.Do(t, user, http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate", body)
	}
}

func activateBody(ids []string, justification string, minutes any) map[string]any {
	return map[string]any{"entitlementIds": ids, "justification": justification, "activationTimeout": minutes}
}

func requestApproval(user string, body any) func(*testing.T, *apptest.Harness) apptest.Response {
	return func(t *testing.T, h *apptest.Harness) apptest.Response {
		return h.Do(t, user, http.MethodPost, "/api/projects/prod-payments-api/roles/request", body)
	}
}

func requestBody(peers []string, justification string) map[string]any {
	return map[string]any{"entitlementId": mpaRole, "justification": justification, "peers": peers, "activationTimeout": 30}
}

func withAssertion(assertion func(*testing.T, *apptest.Harness) string) func(*testing.T, *apptest.Harness) apptest.Response {
	return func(t *testing.T, h *apptest.Harness) apptest.Response {
		return h.DoRaw(t, http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate",
			http.Header{"X-Jitaccess": {"1"}, "X-Goog-Iap-Jwt-Assertion": {assertion(t, h)}},
			activateBody([]string{dbRole}, "INC-1", 30))
	}
}

func mint(header, claims map[string]any) func(*testing.T, *apptest.Harness) string {
	return func(t *testing.T, h *apptest.Harness) string {
		tok, err := h.Emulator.IAP.MintRaw(header, claims)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
}

func claims(mutate func(map[string]any)) map[string]any {
	now := time.Now()
	c := map[string]any{"iss": iap.Issuer, "aud": emulated.Audience, "sub": "accounts.google.com:1", "email": dave,
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
	mutate(c)
	return c
}

func es256(h *apptest.Harness) map[string]any {
	return map[string]any{"alg": "ES256", "typ": "JWT", "kid": h.Emulator.IAP.KeyID()}
}

func forged(mutate func(map[string]any)) func(*testing.T, *apptest.Harness) string {
	return func(t *testing.T, h *apptest.Harness) string { return mint(es256(h), claims(mutate))(t, h) }
}

func identityCases() []hostileCase {
	const invalid = "Invalid IAP assertion"
	return []hostileCase{
		{"iap_missing", func(t *testing.T, h *apptest.Harness) apptest.Response {
			return h.Do(t, "", http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate", activateBody([]string{dbRole}, "INC-1", 30))
		}, 403, "Identity-Aware Proxy must be enabled"},
		{"iap_garbage", withAssertion(func(*testing.T, *apptest.Harness) string { return "not-a-jwt" }), 403, invalid},
		{"iap_expired", withAssertion(forged(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), 403, invalid},
		{"iap_not_yet_valid", withAssertion(forged(func(c map[string]any) {
			c["iat"], c["exp"] = time.Now().Add(time.Hour).Unix(), time.Now().Add(70*time.Minute).Unix()
		})), 403, invalid},
		{"iap_wrong_audience", withAssertion(forged(func(c map[string]any) { c["aud"] = "/projects/1/apps/other-app" })), 403, invalid},
		{"iap_wrong_issuer", withAssertion(forged(func(c map[string]any) { c["iss"] = "https://accounts.google.com" })), 403, invalid},
		{"iap_no_email", withAssertion(forged(func(c map[string]any) { delete(c, "email") })), 403, invalid},
		{"iap_email_with_crlf", withAssertion(forged(func(c map[string]any) { c["email"] = "dave@example.com\r\nX: y" })), 403, invalid},
		{"iap_alg_none", withAssertion(func(t *testing.T, h *apptest.Harness) string {
			return b64url(map[string]any{"alg": "none"}) + "." + b64url(claims(func(map[string]any) {})) + "."
		}), 403, invalid},
		{"iap_hs256_with_public_key", withAssertion(func(t *testing.T, h *apptest.Harness) string {
			in := b64url(map[string]any{"alg": "HS256", "kid": h.Emulator.IAP.KeyID()}) + "." + b64url(claims(func(map[string]any) {}))
			m := hmac.New(sha256.New, h.Emulator.IAP.JWKS())
			m.Write([]byte(in))
			return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
		}), 403, invalid},
		{"iap_rs256_header", withAssertion(func(t *testing.T, h *apptest.Harness) string {
			return mint(map[string]any{"alg": "RS256", "kid": h.Emulator.IAP.KeyID()}, claims(func(map[string]any) {}))(t, h)
		}), 403, invalid},
		{"iap_short_signature", withAssertion(func(t *testing.T, h *apptest.Harness) string {
			tok := forged(func(map[string]any) {})(t, h)
			return tok[:strings.LastIndex(tok, ".")+1] + "AAAA"
		}), 403, invalid},
		{"iap_long_signature", withAssertion(func(t *testing.T, h *apptest.Harness) string {
			return forged(func(map[string]any) {})(t, h) + "AAAAAAAA"
		}), 403, invalid},
		{"iap_tampered_email", withAssertion(func(t *testing.T, h *apptest.Harness) string {
			parts := strings.Split(forged(func(map[string]any) {})(t, h), ".")
			return parts[0] + "." + b64url(claims(func(c map[string]any) { c["email"] = "heidi@example.com" })) + "." + parts[2]
		}), 403, invalid},
		{"iap_unknown_key", withAssertion(func(t *testing.T, h *apptest.Harness) string {
			return mint(map[string]any{"alg": "ES256", "kid": "someone-elses"}, claims(func(map[string]any) {}))(t, h)
		}), 403, invalid},
		{"iap_oversize", withAssertion(func(*testing.T, *apptest.Harness) string { return strings.Repeat("a", 10000) }), 403, invalid},
		{"xsrf_missing", func(t *testing.T, h *apptest.Harness) apptest.Response {
			return h.DoRaw(t, http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate",
				http.Header{"X-Goog-Iap-Jwt-Assertion": {h.Assertion(t, dave)}}, activateBody([]string{dbRole}, "INC-1", 30))
		}, 400, "Missing header: X-JITACCESS"},
		{"xsrf_wrong_value", func(t *testing.T, h *apptest.Harness) apptest.Response {
			return h.DoRaw(t, http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate",
				http.Header{"X-Jitaccess": {"true"}, "X-Goog-Iap-Jwt-Assertion": {h.Assertion(t, dave)}}, activateBody([]string{dbRole}, "INC-1", 30))
		}, 400, "Missing header: X-JITACCESS"},
		{"cross_site_post", func(t *testing.T, h *apptest.Harness) apptest.Response {
			return h.DoRaw(t, http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate",
				http.Header{"X-Jitaccess": {"1"}, "X-Goog-Iap-Jwt-Assertion": {h.Assertion(t, dave)}, "Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}},
				activateBody([]string{dbRole}, "INC-1", 30))
		}, 403, ""},
	}
}

func bodyCases() []hostileCase {
	raw := func(body string) func(*testing.T, *apptest.Harness) apptest.Response {
		return selfActivate(dave, body)
	}
	return []hostileCase{
		{"json_malformed", raw(`{"entitlementIds": [`), 400, "not valid JSON"},
		{"json_not_object", raw(`[1,2,3]`), 400, "must be"},
		{"json_wrong_type", raw(`{"entitlementIds": "x", "justification": "INC-1", "activationTimeout": 30}`), 400, "Wrong type for field"},
		{"json_unknown_field", raw(`{"entitlementIds": ["` + dbRole + `"], "justification": "INC-1", "activationTimeout": 30, "beneficiary": "heidi@example.com"}`), 400, "Unknown field"},
		{"json_two_values", raw(`{"entitlementIds": ["` + dbRole + `"], "justification": "INC-1", "activationTimeout": 30} {}`), 400, "single JSON value"},
		{"json_oversize", raw(`{"justification": "` + strings.Repeat("x", 70000) + `"}`), 400, "too large"},
		{"json_empty", raw(``), 400, "empty"},
		{"json_wrong_content_type", func(t *testing.T, h *apptest.Harness) apptest.Response {
			return h.DoRaw(t, http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate",
				http.Header{"X-Jitaccess": {"1"}, "X-Goog-Iap-Jwt-Assertion": {h.Assertion(t, dave)}, "Content-Type": {"text/plain"}}, "{}")
		}, 400, "must be JSON"},
		{"json_float_duration", raw(`{"entitlementIds": ["` + dbRole + `"], "justification": "INC-1", "activationTimeout": 1.5}`), 400, "Wrong type"},
	}
}

func justificationCases() []hostileCase {
	j := func(s string, status int, msg string) hostileCase {
		return hostileCase{"", selfActivate(dave, activateBody([]string{dbRole}, s, 30)), status, msg}
	}
	cases := []hostileCase{
		j("", 400, "Provide a justification"),
		j("   ", 400, "Provide a justification"),
		j("INC-1 "+strings.Repeat("a", 100), 400, "The justification is too long"),
		j("INC-1\r\nforged log line", 400, "characters that are not allowed"),
		j("INC-1\x00", 400, "characters that are not allowed"),
		j("INC-1 \u202egnp.exe", 400, "characters that are not allowed"),
		j("INC-1\u200b", 400, "characters that are not allowed"),
		j(`") || true || ("`, 403, "Justification does not meet criteria"),
		j(`<script>alert(1)</script>`, 403, "Justification does not meet criteria"),
		j(`has({}.jitAccessConstraint)`, 403, "Justification does not meet criteria"),
		j("\xff\xfe", 403, "Justification does not meet criteria"), // JSON decoding turns invalid UTF-8 into U+FFFD
	}
	names := []string{"empty", "blank", "too_long", "crlf", "nul", "bidi_override", "zero_width", "cel_injection", "html_injection", "marker_injection", "invalid_utf8"}
	for i := range cases {
		cases[i].name = "justification_" + names[i]
	}
	return cases
}

func resourceCases() []hostileCase {
	project := func(name, p string, status int) hostileCase {
		return hostileCase{name, func(t *testing.T, h *apptest.Harness) apptest.Response {
			return h.Do(t, dave, http.MethodPost, "/api/projects/"+p+"/roles/self-activate", activateBody([]string{dbRole}, "INC-1", 30))
		}, status, ""}
	}
	ids := func(name string, id []string, status int, msg string) hostileCase {
		return hostileCase{name, selfActivate(dave, activateBody(id, "INC-1", 30)), status, msg}
	}
	return []hostileCase{
		project("project_traversal", "..%2F..%2Fetc", 400),
		project("project_encoded_slash", "prod-payments-db%2Froles", 400),
		project("project_unicode", "pr%C3%B6d-payments-db", 400),
		project("project_too_short", "abc", 400),
		project("project_uppercase", "PROD-PAYMENTS-DB", 400),
		project("project_dot_dot", "..", 400),
		ids("id_no_role", []string{"prod-payments-db"}, 400, "Invalid ProjectRole ID"),
		ids("id_bad_role", []string{"prod-payments-db:owner"}, 400, "Invalid ProjectRole ID"),
		ids("id_role_traversal", []string{"prod-payments-db:roles/../owner"}, 400, "Invalid ProjectRole ID"),
		ids("id_too_many_parts", []string{"prod-payments-db:roles/owner:a:b"}, 400, "Invalid ProjectRole ID"),
		ids("id_condition_not_base64", []string{"prod-payments-db:roles/cloudsql.client:%%%"}, 400, "Invalid ProjectRole ID"),
		ids("id_injected_condition_true", []string{"prod-payments-db:roles/cloudsql.client:" + b64("true")}, 403, "not allowed to activate"),
		ids("id_injected_condition_or_marker", []string{"prod-payments-db:roles/cloudsql.client:" + b64(`true || has({}.jitAccessConstraint)`)}, 403, "not allowed to activate"),
		ids("id_injected_condition_time", []string{"prod-payments-db:roles/cloudsql.client:" + b64(`request.time < timestamp("2099-01-01T00:00:00Z")`)}, 403, "not allowed to activate"),
		ids("id_not_eligible_role", []string{"prod-payments-db:roles/owner"}, 403, "not allowed to activate"),
		ids("id_other_project_only", []string{"prod-payments-api:roles/run.developer"}, 400, "At least one entitlement must be specified"),
		ids("id_too_many", []string{dbRole + "", "prod-payments-db:roles/a", "prod-payments-db:roles/b", "prod-payments-db:roles/c", "prod-payments-db:roles/d", "prod-payments-db:roles/e",
			"prod-payments-db:roles/f", "prod-payments-db:roles/g", "prod-payments-db:roles/h", "prod-payments-db:roles/i", "prod-payments-db:roles/j"}, 400, "exceeds the allowed maximum"),
		ids("id_oversize", []string{"prod-payments-db:roles/cloudsql.client:" + strings.Repeat("A", 5000)}, 400, "Invalid ProjectRole ID"),
		{"duration_zero", selfActivate(dave, activateBody([]string{dbRole}, "INC-1", 0)), 400, "The duration must be positive"},
		{"duration_negative", selfActivate(dave, activateBody([]string{dbRole}, "INC-1", -30)), 400, "The duration must be positive"},
		{"duration_too_long", selfActivate(dave, activateBody([]string{dbRole}, "INC-1", 121)), 400, "no longer than 120 minutes"},
		{"duration_huge", selfActivate(dave, `{"entitlementIds":["`+dbRole+`"],"justification":"INC-1","activationTimeout":1000000000000000000}`), 400, "no longer than 120 minutes"},
		{"duration_overflow", selfActivate(dave, `{"entitlementIds":["`+dbRole+`"],"justification":"INC-1","activationTimeout":99999999999999999999}`), 400, "Wrong type"},
	}
}

func reviewerCases() []hostileCase {
	r := func(name string, user string, peers []string, status int, msg string) hostileCase {
		return hostileCase{name, requestApproval(user, requestBody(peers, "CHG-1")), status, msg}
	}
	return []hostileCase{
		r("reviewer_injection_stranger", erin, []string{"mallory@evil.example"}, 403, "not allowed to approve"),
		r("reviewer_injection_colleague", erin, []string{"heidi@example.com"}, 403, "not allowed to approve"),
		r("reviewer_mixed_with_peer", erin, []string{dave, "mallory@evil.example"}, 403, "mallory@evil.example"),
		r("reviewer_header_injection", erin, []string{"dave@example.com\r\nBcc: mallory@evil.example"}, 400, "not a valid email address"),
		r("reviewer_display_name", erin, []string{"Dave <dave@example.com>"}, 400, "not a valid email address"),
		r("reviewer_self", erin, []string{erin}, 400, "You cannot select yourself"),
		r("reviewer_self_case", erin, []string{"ERIN@EXAMPLE.COM"}, 400, "You cannot select yourself"),
		r("reviewer_none", erin, []string{}, 400, "at least 1 reviewers"),
		r("reviewer_too_many", erin, []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com", "f@example.com",
			"g@example.com", "h@example.com", "i@example.com", "j@example.com", "k@example.com"}, 400, "exceeds the allowed maximum"),
		r("requester_not_eligible", "grace@example.com", []string{dave}, 403, "not allowed to activate"),
		{"peers_of_foreign_role", func(t *testing.T, h *apptest.Harness) apptest.Response {
			return h.Do(t, "grace@example.com", http.MethodGet, "/api/projects/prod-payments-api/peers?id="+url.QueryEscape(mpaRole), nil)
		}, 403, "not allowed to activate"},
	}
}

func tokenCases() []hostileCase {
	approve := func(user string, token func(*testing.T, *apptest.Harness) string) func(*testing.T, *apptest.Harness) apptest.Response {
		return func(t *testing.T, h *apptest.Harness) apptest.Response {
			return h.Do(t, user, http.MethodPost, "/api/activation-request?activation="+url.QueryEscape(token(t, h)), nil)
		}
	}
	fixed := func(s string) func(*testing.T, *apptest.Harness) string {
		return func(*testing.T, *apptest.Harness) string { return s }
	}
	const denied = "Accessing the activation request failed"
	return []hostileCase{
		{"token_missing", approve(dave, fixed("")), 400, "An activation token is required"},
		{"token_garbage", approve(dave, fixed("hello")), 403, denied},
		{"token_bad_characters", approve(dave, fixed("J<script>~~x~y")), 403, denied},
		{"token_alg_none", approve(dave, fixed(b64url(map[string]any{"alg": "none"})+"."+b64url(map[string]any{"beneficiary": dave})+".")), 403, denied},
		{"token_signed_by_iap_key", approve(dave, func(t *testing.T, h *apptest.Harness) string {
			return mint(es256(h), map[string]any{"iss": emulated.ServiceAccount, "aud": emulated.ServiceAccount, "beneficiary": erin})(t, h)
		}), 403, denied},
		{"token_oversize", approve(dave, fixed(strings.Repeat("A", 20000))), 403, denied},
	}
}

// TestHostileInputIsRefusedAndWritesNothing runs the catalogue.
func TestHostileInputIsRefusedAndWritesNothing(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	var all []hostileCase
	for _, group := range [][]hostileCase{identityCases(), bodyCases(), justificationCases(), resourceCases(), reviewerCases(), tokenCases()} {
		all = append(all, group...)
	}
	for _, tc := range all {
		t.Run(tc.name, func(t *testing.T) {
			before := h.Emulator.World.TotalPolicyWrites()
			mails := len(h.Outbox.Messages())
			r := tc.request(t, h)
			if r.Status != tc.status {
				t.Errorf("status %d, want %d (body %s)", r.Status, tc.status, r.Body)
			}
			var body map[string]any
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Errorf("the refusal is not JSON: %q", r.Body)
			}
			if msg, _ := body["message"].(string); !strings.Contains(msg, tc.message) || msg == "" {
				t.Errorf("message %q, want it to contain %q", msg, tc.message)
			}
			if after := h.Emulator.World.TotalPolicyWrites(); after != before {
				t.Errorf("%d IAM writes", after-before)
			}
			if n := len(h.Outbox.Messages()); n != mails {
				t.Errorf("%d emails sent", n-mails)
			}
		})
	}
	t.Logf("hostile inputs tried: %d; unauthorised IAM writes: %d", len(all), h.Emulator.World.TotalPolicyWrites())
}
