// Package iap is the emulator's Identity-Aware Proxy key: it mints
// assertions shaped like IAP's and serves their public keys at the path
// of Google's.
package iap

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/internal/emulator/wire"
)

// Issuer is the iss claim of every IAP assertion.
const Issuer = "https://cloud.google.com/iap"

// Proxy is the emulator's Identity-Aware Proxy: an ES256 key whose public
// half is served as a JWK set at the path of Google's
// https://www.gstatic.com/iap/verify/public_key-jwk, and that mints
// assertions shaped like the x-goog-iap-jwt-assertion header IAP adds to
// every request it lets through.
type Proxy struct {
	key   *ecdsa.PrivateKey
	keyID string
	clock func() time.Time
}

// New creates a Proxy with a fresh P-256 key.
func New(clock func() time.Time) (*Proxy, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate IAP key: %w", err)
	}
	if clock == nil {
		clock = time.Now
	}
	pub, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, fmt.Errorf("IAP public key: %w", err)
	}
	sum := sha256.Sum256(pub.Bytes())
	return &Proxy{key: key, keyID: base64.RawURLEncoding.EncodeToString(sum[:6]), clock: clock}, nil
}

// KeyID is the kid of the IAP key.
func (p *Proxy) KeyID() string { return p.keyID }

// JWKS returns the public key set, as Google's public_key-jwk endpoint
// serves it.
func (p *Proxy) JWKS() []byte {
	raw, _ := p.key.PublicKey.ECDH() // a P-256 key always converts
	b := raw.Bytes()                 // 0x04 || X || Y
	set := map[string]any{"keys": []map[string]string{{
		"alg": "ES256",
		"crv": "P-256",
		"kid": p.keyID,
		"kty": "EC",
		"use": "sig",
		"x":   base64.RawURLEncoding.EncodeToString(b[1:33]),
		"y":   base64.RawURLEncoding.EncodeToString(b[33:65]),
	}}}
	out, _ := json.Marshal(set) //nolint:errchkjson // plain maps of strings always marshal
	return out
}

// ServeHTTP serves the JWK set; idtoken caches it for max-age.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		wire.WriteError(w, wire.New(http.StatusMethodNotAllowed, "method not allowed"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(p.JWKS())
}

// Claims are the claims of an assertion. Zero values get defaults:
// Subject from the email, IssuedAt now, Expiry ten minutes later, as
// IAP's assertions live ten minutes.
type Claims struct {
	Email        string
	Subject      string
	Audience     string
	DeviceID     string
	AccessLevels []string
	Hd           string
	IssuedAt     time.Time
	Expiry       time.Time
}

// Mint returns a signed assertion for c.
func (p *Proxy) Mint(c Claims) (string, error) {
	now := p.clock()
	if c.IssuedAt.IsZero() {
		c.IssuedAt = now
	}
	if c.Expiry.IsZero() {
		c.Expiry = c.IssuedAt.Add(10 * time.Minute)
	}
	if c.Subject == "" {
		sum := sha256.Sum256([]byte(strings.ToLower(c.Email)))
		var n uint64
		for _, b := range sum[:8] {
			n = n<<8 | uint64(b)
		}
		c.Subject = fmt.Sprintf("accounts.google.com:%d", n)
	}
	if c.Hd == "" {
		if _, domain, ok := strings.Cut(c.Email, "@"); ok {
			c.Hd = domain
		}
	}
	claims := map[string]any{
		"iss":   Issuer,
		"aud":   c.Audience,
		"sub":   c.Subject,
		"email": c.Email,
		"hd":    c.Hd,
		"iat":   c.IssuedAt.Unix(),
		"exp":   c.Expiry.Unix(),
	}
	google := map[string]any{}
	if c.DeviceID != "" {
		google["device_id"] = c.DeviceID
	}
	if len(c.AccessLevels) > 0 {
		google["access_levels"] = c.AccessLevels
	}
	if len(google) > 0 {
		claims["google"] = google
	}
	return p.MintRaw(map[string]any{"alg": "ES256", "typ": "JWT", "kid": p.keyID}, claims)
}

// MintRaw signs any header and claims with the IAP key (ES256, JOSE
// R||S form) whatever the header says, so hostile-input tests can build
// odd tokens that carry a valid signature.
func (p *Proxy) MintRaw(header, claims map[string]any) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("marshal header: %w", err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("marshal claims: %w", err)
	}
	signingInput := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(signingInput))
	r, s, err := ecdsa.Sign(rand.Reader, p.key, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// Owns reports whether a request path belongs to IAP's key set.
func Owns(path string) bool { return strings.HasPrefix(path, "/iap/") }
