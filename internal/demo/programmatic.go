package demo

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/jitaccess/jitaccess/internal/emulated"
	"github.com/jitaccess/jitaccess/internal/emulator"
)

// bearerToken returns the token of an Authorization or
// Proxy-Authorization header of the Bearer scheme, where IAP looks for the
// ID tokens of programmatic clients.
func bearerToken(r *http.Request) (string, bool) {
	for _, h := range []string{"Proxy-Authorization", "Authorization"} {
		v := r.Header.Get(h)
		if scheme, tok, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok), true
		}
	}
	return "", false
}

// bearerUser verifies an ID token as IAP does (Google's signature, issuer,
// expiry, and the IAP OAuth client ID as audience) and returns the demo
// user it names; msg says why it is refused.
func (d *Demo) bearerUser(r *http.Request, token string) (u emulator.User, msg string) {
	p, err := d.idTokens.Validate(r.Context(), token, emulated.IAPClientID)
	if err != nil {
		return u, "Invalid IAP credentials: the ID token is not valid for this app (" + err.Error() + ")"
	}
	email, _ := p.Claims["email"].(string)
	if verified, _ := p.Claims["email_verified"].(bool); !verified || email == "" {
		return u, "Invalid IAP credentials: the ID token has no verified email"
	}
	for _, known := range d.Emulator.World.Users() {
		if strings.EqualFold(known.Email, email) {
			return known, ""
		}
	}
	return u, "Invalid IAP credentials: " + email + " is not a user of the demo"
}

// demoUser is the ?user= of the credential pages, if it is a demo user.
func (d *Demo) demoUser(w http.ResponseWriter, r *http.Request) (emulator.User, bool) {
	email := r.URL.Query().Get("user")
	for _, u := range d.Emulator.World.Users() {
		if strings.EqualFold(u.Email, email) {
			return u, true
		}
	}
	http.Error(w, "unknown demo user: pass ?user=EMAIL of a user on /_demo/signin", http.StatusBadRequest)
	return emulator.User{}, false
}

// credentials hands out what `gcloud auth application-default login`
// leaves on a workstation, for a demo user: an authorized_user file whose
// refresh token the emulator's token endpoint exchanges for ID tokens.
// jitctl reads it as it reads a real one.
func (d *Demo) credentials(w http.ResponseWriter, r *http.Request) {
	u, ok := d.demoUser(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(map[string]string{
		"type":          "authorized_user",
		"client_id":     "jitctl-demo.apps.googleusercontent.com",
		"client_secret": "demo-only",
		"refresh_token": d.Emulator.OAuth.IssueRefreshToken(u.Email),
		"token_uri":     d.Emulator.Endpoints().ResourceManager + "token",
	})
}

// token returns an ID token for a demo user, for `jitctl --token`.
func (d *Demo) token(w http.ResponseWriter, r *http.Request) {
	u, ok := d.demoUser(w, r)
	if !ok {
		return
	}
	tok, err := d.Emulator.OAuth.MintIDToken(u.Email, emulated.IAPClientID)
	if err != nil {
		http.Error(w, "minting the ID token failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(tok + "\n"))
}

// metrics shows the app's Prometheus metrics, which production serves on
// METRICS_ADDR.
func (d *Demo) metrics(w http.ResponseWriter, r *http.Request) {
	if d.app.Metrics == nil {
		http.Error(w, "metrics are off (METRICS_ADDR is empty)", http.StatusNotFound)
		return
	}
	d.app.Metrics.Handler().ServeHTTP(w, r)
}
