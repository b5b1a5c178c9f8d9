// Package oauth emulates the part of Google's OAuth 2.0 service that IAP's
// programmatic authentication uses: refresh token to ID token, and the
// keys of those tokens.
package oauth

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jitaccess/internal/emulator/wire"
)

// GoogleIssuer is the iss claim of Google's ID tokens.
const GoogleIssuer = "https://accounts.google.com"

// Service is the part of Google's OAuth 2.0 service that command-line
// clients of an IAP-protected app use (IAP's programmatic
// authentication): the token endpoint (https://oauth2.googleapis.com/token)
// exchanging a refresh token for an ID token whose audience is the IAP
// OAuth client ID, and the keys of those tokens
// (https://www.googleapis.com/oauth2/v3/certs), at the same paths.
//
// It models: grant_type=refresh_token with the audience parameter, RS256
// ID tokens with email, email_verified, azp, iat and an hour's expiry. It
// does not model client secrets (any client is accepted), consent,
// scopes, access tokens that grant anything, or revocation.
type Service struct {
	clock func() time.Time

	// The key is made on first use: RSA key generation is slow, and most
	// emulators (one per test) never issue an ID token.
	keyOnce sync.Once
	key     *rsa.PrivateKey
	keyID   string
	keyErr  error

	mu      sync.Mutex
	refresh map[string]string // refresh token → email
}

// New creates the service; its RSA key is generated on first use.
func New(clock func() time.Time) *Service {
	if clock == nil {
		clock = time.Now
	}
	return &Service{clock: clock, refresh: map[string]string{}}
}

func (o *Service) signingKey() (*rsa.PrivateKey, string, error) {
	o.keyOnce.Do(func() {
		o.key, o.keyErr = rsa.GenerateKey(rand.Reader, 2048)
		if o.keyErr != nil {
			o.keyErr = fmt.Errorf("generate OAuth key: %w", o.keyErr)
			return
		}
		sum := sha256.Sum256(o.key.N.Bytes())
		o.keyID = hex.EncodeToString(sum[:8])
	})
	return o.key, o.keyID, o.keyErr
}

// IssueRefreshToken returns a refresh token for email, as a person's
// sign-in with a desktop OAuth client would leave on their machine.
func (o *Service) IssueRefreshToken(email string) string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	tok := "1//emulated-" + base64.RawURLEncoding.EncodeToString(b[:])
	o.mu.Lock()
	defer o.mu.Unlock()
	o.refresh[tok] = email
	return tok
}

// MintIDToken returns an ID token for email with the given audience.
func (o *Service) MintIDToken(email, audience string) (string, error) {
	key, keyID, err := o.signingKey()
	if err != nil {
		return "", err
	}
	now := o.clock()
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	claims := map[string]any{
		"iss": GoogleIssuer, "aud": audience, "azp": audience,
		"sub": new(big.Int).SetBytes(sum[:8]).String(), "email": email, "email_verified": true,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": keyID}) //nolint:errchkjson // strings always marshal
	c, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("marshal claims: %w", err)
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// ServeHTTP serves POST /token and GET /oauth2/v3/certs.
func (o *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/oauth2/v3/certs" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		key, keyID, err := o.signingKey()
		if err != nil {
			wire.WriteError(w, wire.New(http.StatusInternalServerError, err.Error()))
			return
		}
		n := key.N.Bytes()
		e := big.NewInt(int64(key.E)).Bytes()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "alg": "RS256", "use": "sig", "kid": keyID,
			"n": base64.RawURLEncoding.EncodeToString(n), "e": base64.RawURLEncoding.EncodeToString(e),
		}}})
	case r.URL.Path == "/token" && r.Method == http.MethodPost:
		o.token(w, r)
	default:
		wire.WriteError(w, wire.NotFoundPath(r))
	}
}

// token answers as Google's token endpoint does, errors included
// ({"error": "invalid_grant", "error_description": ...} with 400).
func (o *Service) token(w http.ResponseWriter, r *http.Request) {
	fail := func(code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		fail("invalid_request", "the body is not a form")
		return
	}
	if r.PostForm.Get("grant_type") != "refresh_token" {
		fail("unsupported_grant_type", "only refresh_token is emulated")
		return
	}
	o.mu.Lock()
	email, ok := o.refresh[r.PostForm.Get("refresh_token")]
	o.mu.Unlock()
	if !ok {
		fail("invalid_grant", "Bad Request")
		return
	}
	audience := r.PostForm.Get("audience")
	if audience == "" {
		audience = r.PostForm.Get("client_id")
	}
	id, err := o.MintIDToken(email, audience)
	if err != nil {
		wire.WriteError(w, wire.New(http.StatusInternalServerError, err.Error()))
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": "ya29.emulated-" + hex.EncodeToString(b[:]), "expires_in": 3599, "token_type": "Bearer",
		"scope": "openid https://www.googleapis.com/auth/userinfo.email", "id_token": id,
	})
}

// Owns reports whether a request path belongs to the OAuth service.
func Owns(path string) bool { return path == "/token" || path == "/oauth2/v3/certs" }
