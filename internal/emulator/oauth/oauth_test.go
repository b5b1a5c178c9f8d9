package oauth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/idtoken"
)

// rewriteHost sends every request to srv, keeping the path, as idtoken
// fetches Google's keys from www.googleapis.com.
type rewriteHost struct{ srv *httptest.Server }

func (h rewriteHost) RoundTrip(r *http.Request) (*http.Response, error) {
	u, _ := url.Parse(h.srv.URL)
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = u.Scheme, u.Host, u.Host
	return http.DefaultTransport.RoundTrip(r)
}

// TestOAuthTokenEndpoint: a refresh token the emulator issued buys an ID
// token for the audience asked, which Google's own verification code
// accepts with the emulator's keys; anything else gets Google's errors.
func TestOAuthTokenEndpoint(t *testing.T) {
	t.Parallel()
	o := New(func() time.Time { return time.Now() })
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	post := func(form url.Values) (int, map[string]any) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	const aud = "1234-iap.apps.googleusercontent.com"
	refresh := o.IssueRefreshToken("dave@example.com")
	status, body := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {"desktop"}, "audience": {aud}})
	tok, _ := body["id_token"].(string)
	if status != 200 || tok == "" {
		t.Fatalf("exchange = %d %v", status, body)
	}
	v, err := idtoken.NewValidator(t.Context(), idtoken.WithHTTPClient(&http.Client{Transport: rewriteHost{srv}}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Validate(t.Context(), tok, aud)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if p.Issuer != GoogleIssuer || p.Claims["email"] != "dave@example.com" || p.Claims["email_verified"] != true {
		t.Errorf("payload = %+v", p)
	}
	if _, err := v.Validate(t.Context(), tok, "another-audience"); err == nil {
		t.Error("a token for another audience validated")
	}
	for _, tt := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"1//unknown"}, "audience": {aud}}, "invalid_grant"},
		{url.Values{"grant_type": {"password"}}, "unsupported_grant_type"},
	} {
		if status, body := post(tt.form); status != 400 || body["error"] != tt.want {
			t.Errorf("%v = %d %v, want 400 %s", tt.form, status, body, tt.want)
		}
	}
}
