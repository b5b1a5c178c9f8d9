package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/oauth2"
	"google.golang.org/api/idtoken"
)

// googleTokenURL is Google's OAuth 2.0 token endpoint.
const googleTokenURL = "https://oauth2.googleapis.com/token" //nolint:gosec // a URL, not a credential

// authError is a credential problem: exit code exitAuth.
type authError struct{ msg string }

func (e *authError) Error() string { return e.msg }

// tokenSource returns the ID token to send as "Authorization: Bearer",
// found as IAP's programmatic authentication documents it:
//
//  1. --token or JITCTL_TOKEN: a token obtained some other way;
//  2. a credentials file (--credentials, JITCTL_CREDENTIALS,
//     GOOGLE_APPLICATION_CREDENTIALS, or gcloud's application default
//     credentials): a user's refresh token is exchanged at the token
//     endpoint for an ID token whose audience is IAP's OAuth client ID;
//     a service account's key (or impersonation or workload identity
//     federation configuration) goes through google.golang.org/api/idtoken;
//  3. the metadata server, on Google Cloud (CI runners, VMs, Cloud Run).
type tokenSource func(ctx context.Context) (string, error)

func newTokenSource(s settings, env func(string) string, httpClient *http.Client) (tokenSource, error) {
	if s.token != "" {
		return func(context.Context) (string, error) { return s.token, nil }, nil
	}
	if s.audience == "" {
		return nil, &authError{"the IAP OAuth client ID is not set: pass --audience or set JITCTL_AUDIENCE (see docs/operations.md#jitctl)"}
	}
	path := s.credentials
	if path == "" {
		path = env("GOOGLE_APPLICATION_CREDENTIALS")
	}
	if path == "" {
		if p := gcloudADC(env); p != "" {
			if _, err := os.Stat(p); err == nil {
				path = p
			}
		}
	}
	if path == "" {
		if !s.onGCE() {
			return nil, &authError{"no credentials: run `gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS to a service account key, pass --credentials FILE, or pass --token"}
		}
		return func(ctx context.Context) (string, error) {
			ts, err := idtoken.NewTokenSource(ctx, s.audience)
			if err != nil {
				return "", &authError{"ID token from the metadata server: " + err.Error()}
			}
			return idToken(ts.Token())
		}, nil
	}
	data, err := os.ReadFile(path) //nolint:gosec // the user names their own credentials file
	if err != nil {
		return nil, &authError{"reading credentials: " + err.Error()}
	}
	var file struct {
		Type         string `json:"type"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		RefreshToken string `json:"refresh_token"`
		TokenURI     string `json:"token_uri"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return nil, &authError{fmt.Sprintf("credentials %s are not JSON: %v", path, err)}
	}
	if err := checkCredentialEndpoints(path, data); err != nil {
		return nil, err
	}
	switch file.Type {
	case "authorized_user":
		tokenURL := file.TokenURI
		if tokenURL == "" {
			tokenURL = googleTokenURL
		}
		return func(ctx context.Context) (string, error) {
			return exchangeRefreshToken(ctx, httpClient, tokenURL, url.Values{
				"grant_type": {"refresh_token"}, "client_id": {file.ClientID}, "client_secret": {file.ClientSecret},
				"refresh_token": {file.RefreshToken}, "audience": {s.audience},
			})
		}, nil
	case "service_account", "impersonated_service_account", "external_account":
		credType := map[string]idtoken.CredentialsType{
			"service_account": idtoken.ServiceAccount, "impersonated_service_account": idtoken.ImpersonatedServiceAccount,
			"external_account": idtoken.ExternalAccount,
		}[file.Type]
		return func(ctx context.Context) (string, error) {
			ts, err := idtoken.NewTokenSource(ctx, s.audience, idtoken.WithAuthCredentialsJSON(credType, data))
			if err != nil {
				return "", &authError{"ID token for the service account: " + err.Error()}
			}
			return idToken(ts.Token())
		}, nil
	}
	return nil, &authError{fmt.Sprintf("credentials %s have type %q; jitctl needs authorized_user or a service account", path, file.Type)}
}

// checkCredentialEndpoints refuses a credentials file that would have
// jitctl send its secrets in clear text: every endpoint it names, its
// source credentials' too, must be https, or http on loopback (make run,
// the emulator). Whoever wrote the file, or can change it, could
// otherwise read the refresh token off the network.
func checkCredentialEndpoints(path string, data []byte) error {
	var file map[string]json.RawMessage
	if err := json.Unmarshal(data, &file); err != nil {
		return &authError{fmt.Sprintf("credentials %s are not a JSON object: %v", path, err)}
	}
	check := func(prefix string, fields map[string]json.RawMessage) error {
		// The fields naming where the file's secrets are sent: the refresh
		// token and client secret, a service account's signed assertion, a
		// federated subject token, or the access token to impersonate with.
		for _, name := range []string{"token_uri", "token_url", "service_account_impersonation_url"} {
			raw, ok := fields[name]
			if !ok {
				continue
			}
			var endpoint string
			if err := json.Unmarshal(raw, &endpoint); err != nil {
				return &authError{fmt.Sprintf("credentials %s: %s%s is not a string", path, prefix, name)}
			}
			if endpoint != "" && !secureEndpoint(endpoint) {
				return &authError{fmt.Sprintf("credentials %s: %s%s %q is not https; jitctl sends credentials (refresh token, client secret, signed assertions) over plain http only to localhost", path, prefix, name, endpoint)}
			}
		}
		return nil
	}
	if err := check("", file); err != nil {
		return err
	}
	if raw, ok := file["source_credentials"]; ok {
		var source map[string]json.RawMessage
		if err := json.Unmarshal(raw, &source); err != nil {
			return &authError{fmt.Sprintf("credentials %s: source_credentials is not a JSON object", path)}
		}
		return check("source_credentials.", source)
	}
	return nil
}

// secureEndpoint reports whether secrets may be sent to the absolute URL
// raw: https, or http to a loopback host.
func secureEndpoint(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	return u.Scheme == "https" || (u.Scheme == "http" && loopbackHost(u.Hostname()))
}

// loopbackHost reports whether host is this machine only: "localhost" or
// a loopback IP address (not a name that merely starts like one).
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// idToken unwraps idtoken's token: the ID token is its AccessToken.
func idToken(t *oauth2.Token, err error) (string, error) {
	if err != nil {
		return "", &authError{"obtaining an ID token: " + err.Error()}
	}
	if t.AccessToken == "" {
		return "", &authError{"obtaining an ID token: the token source returned none"}
	}
	return t.AccessToken, nil
}

// gcloudADC is where `gcloud auth application-default login` writes.
func gcloudADC(env func(string) string) string {
	if dir := env("CLOUDSDK_CONFIG"); dir != "" {
		return filepath.Join(dir, "application_default_credentials.json")
	}
	if runtime.GOOS == "windows" {
		if appData := env("APPDATA"); appData != "" {
			return filepath.Join(appData, "gcloud", "application_default_credentials.json")
		}
		return ""
	}
	if home := env("HOME"); home != "" {
		return filepath.Join(home, ".config", "gcloud", "application_default_credentials.json")
	}
	return ""
}

// exchangeRefreshToken asks the token endpoint for an ID token with the
// IAP client's audience, as IAP's guide for desktop clients shows.
func exchangeRefreshToken(ctx context.Context, client *http.Client, tokenURL string, form url.Values) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", &authError{"token endpoint: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return "", &unreachableError{what: "the token endpoint " + tokenURL, err: err}
	}
	defer func() { _ = resp.Body.Close() }() // read-only
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var out struct {
		IDToken     string `json:"id_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &out)
	if resp.StatusCode != http.StatusOK || out.IDToken == "" {
		msg := strings.TrimSpace(out.Error + ": " + out.Description)
		if out.Error == "" {
			msg = resp.Status
		}
		return "", &authError{"the token endpoint refused the credentials (" + msg + "); sign in again with `gcloud auth application-default login`"}
	}
	return out.IDToken, nil
}
