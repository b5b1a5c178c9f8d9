package main

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// countingTransport fails and counts every request: nothing may be sent.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	c.n.Add(1)
	return nil, errors.New("no request may leave the test")
}

func writeCredentials(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credentials.json")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCredentialsRefuseCleartextTokenEndpoints: a credentials file whose
// token endpoint is plain http on another host would have jitctl post the
// refresh token and client secret (or a service account's signed
// assertion) in clear text to it. It is refused, naming the field, before
// anything is sent; loopback stays allowed (make run, the emulator).
func TestCredentialsRefuseCleartextTokenEndpoints(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		file  string
		field string
	}{
		"authorized_user_http":           {`{"type":"authorized_user","client_id":"c","client_secret":"s3cret","refresh_token":"1//rt","token_uri":"http://oauth2.example.com/token"}`, "token_uri"},
		"authorized_user_ftp":            {`{"type":"authorized_user","client_id":"c","client_secret":"s3cret","refresh_token":"1//rt","token_uri":"ftp://oauth2.example.com/token"}`, "token_uri"},
		"authorized_user_relative":       {`{"type":"authorized_user","client_id":"c","client_secret":"s3cret","refresh_token":"1//rt","token_uri":"/token"}`, "token_uri"},
		"authorized_user_lookalike_host": {`{"type":"authorized_user","client_id":"c","client_secret":"s3cret","refresh_token":"1//rt","token_uri":"http://127.0.0.1.example.com/token"}`, "token_uri"},
		"service_account_http":           {`{"type":"service_account","client_email":"sa@p.iam.gserviceaccount.com","private_key":"x","token_uri":"http://oauth2.example.com/token"}`, "token_uri"},
		"impersonated_source_http": {`{"type":"impersonated_service_account","service_account_impersonation_url":"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken",
			"source_credentials":{"type":"authorized_user","client_id":"c","client_secret":"s3cret","refresh_token":"1//rt","token_uri":"http://oauth2.example.com/token"}}`, "source_credentials.token_uri"},
		"external_account_http": {`{"type":"external_account","audience":"//iam.googleapis.com/x","subject_token_type":"urn:ietf:params:oauth:token-type:jwt","token_url":"http://sts.example.com/v1/token","credential_source":{"file":"/dev/null"}}`, "token_url"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			transport := &countingTransport{}
			s := settings{audience: "123-iap.apps.googleusercontent.com", credentials: writeCredentials(t, tt.file), onGCE: func() bool { return false }}
			ts, err := newTokenSource(s, func(string) string { return "" }, &http.Client{Transport: transport})
			if err == nil {
				_, err = ts(t.Context())
			}
			var auth *authError
			if !errors.As(err, &auth) || !strings.Contains(err.Error(), tt.field) || !strings.Contains(err.Error(), "https") {
				t.Errorf("error = %v, want an authError naming %s and https", err, tt.field)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error shows the client secret: %v", err)
			}
			if n := transport.n.Load(); n != 0 {
				t.Errorf("%d requests sent", n)
			}
		})
	}
}

// TestCredentialsAllowLoopbackAndHTTPS: https anywhere and http on
// loopback reach the token endpoint.
func TestCredentialsAllowLoopbackAndHTTPS(t *testing.T) {
	t.Parallel()
	for _, uri := range []string{"https://oauth2.googleapis.com/token", "http://127.0.0.1:8080/token", "http://localhost:8080/token", "http://[::1]:8080/token", ""} {
		t.Run(uri, func(t *testing.T) {
			t.Parallel()
			transport := &countingTransport{}
			s := settings{audience: "123-iap.apps.googleusercontent.com", onGCE: func() bool { return false },
				credentials: writeCredentials(t, `{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"1//rt","token_uri":"`+uri+`"}`)}
			ts, err := newTokenSource(s, func(string) string { return "" }, &http.Client{Transport: transport})
			if err != nil {
				t.Fatal(err)
			}
			_, err = ts(t.Context())
			var unreachable *unreachableError
			if !errors.As(err, &unreachable) || transport.n.Load() != 1 {
				t.Errorf("error = %v after %d requests, want the one request the transport refused", err, transport.n.Load())
			}
		})
	}
}

// TestCleartextTokenEndpointExitsWithAuthError: through the command line,
// exit 3 with the reason.
func TestCleartextTokenEndpointExitsWithAuthError(t *testing.T) {
	t.Parallel()
	path := writeCredentials(t, `{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"1//rt","token_uri":"http://oauth2.example.com/token"}`)
	env := map[string]string{"JITCTL_URL": "https://jit.example.com", "JITCTL_AUDIENCE": "123-iap.apps.googleusercontent.com", "JITCTL_CREDENTIALS": path, "HOME": t.TempDir()}
	jitctl(t, func(k string) string { return env[k] }, "projects").want(t, exitAuth, "", `token_uri "http://oauth2.example.com/token" is not https`)
}
