package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// apiError is an answer of the app (or of IAP in front of it) that is not
// a success: Message is the API's {"message": ...} when there is one.
type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string { return e.Message }

// unreachableError is a request that got no HTTP answer at all.
type unreachableError struct {
	what string
	err  error
}

func (e *unreachableError) Error() string {
	return "cannot reach " + e.what + ": " + e.err.Error()
}

func (e *unreachableError) Unwrap() error { return e.err }

// client calls the app's JSON API as the web UI does: the X-JITACCESS
// header, JSON bodies, and IAP in front, which is passed the ID token.
type client struct {
	base  *url.URL
	http  *http.Client
	token tokenSource
}

// parseAppURL accepts https, and http only on loopback: the ID token is
// a credential and must not cross a network in clear text.
func parseAppURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("the app's URL is not set: pass --url or set JITCTL_URL")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("--url %q is not an absolute http(s) URL", raw)
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("--url %q: use https (http is allowed only for localhost, as with make run)", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// call sends one request and decodes the answer into out (when not nil).
// It returns the raw body, for --json.
func (c *client) call(ctx context.Context, method, path string, query url.Values, body, out any) ([]byte, error) {
	token, err := c.token(ctx)
	if err != nil {
		return nil, err
	}
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode the request: %w", err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return nil, fmt.Errorf("build the request: %w", err)
	}
	req.Header.Set("X-JITACCESS", "1")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("User-Agent", "jitctl")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, &unreachableError{what: c.base.String(), err: err}
	}
	defer func() { _ = resp.Body.Close() }() // read-only
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, &unreachableError{what: c.base.String(), err: err}
	}
	if resp.StatusCode/100 != 2 {
		err := answerError(resp, raw)
		var api *apiError
		if errors.As(err, &api) && resp.StatusCode == http.StatusNotFound && api.Message == "Not found" {
			// The router's answer for a path it does not know: say which,
			// as the deployment may predate the endpoint.
			api.Message += ": " + method + " " + path
		}
		return nil, err
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("the app answered %s with something that is not the expected JSON: %w", path, err)
		}
	}
	return raw, nil
}

// answerError turns a failed answer into the API's message, or into a
// hint when it came from IAP or a proxy rather than the app.
func answerError(resp *http.Response, raw []byte) error {
	var body struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Message != "" {
		return &apiError{Status: resp.StatusCode, Message: body.Message}
	}
	msg := fmt.Sprintf("HTTP %s", resp.Status)
	switch {
	case resp.StatusCode/100 == 3:
		return &apiError{Status: http.StatusUnauthorized, Message: msg + " to " + resp.Header.Get("Location") +
			": IAP wants a browser sign-in, so it did not accept the ID token; check --audience (the IAP OAuth client ID) and that your OAuth client is allowed programmatic access"}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		if text := strings.TrimSpace(string(raw)); text != "" && len(text) < 300 && !strings.HasPrefix(text, "<") {
			msg += ": " + text
		}
		return &apiError{Status: resp.StatusCode, Message: msg + " (from IAP: the ID token was refused, or you lack roles/iap.httpsResourceAccessor)"}
	}
	return &apiError{Status: resp.StatusCode, Message: msg}
}
