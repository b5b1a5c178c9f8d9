// Package approval turns multi-party approval requests into tokens that
// travel in the approval link, and back. A token is a JWT signed by the
// app's service account through the IAM Credentials API (signJwt), so no
// signing key ever lives in the app, and verified with that account's
// published public keys. Because the app keeps no state, the token is the
// request: beneficiary, reviewers, entitlement, justification, duration
// and the approve-by deadline are all in it, under the signature.
package approval

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"google.golang.org/api/googleapi"
	"google.golang.org/api/iamcredentials/v1"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// GoogleKeysURL is where Google publishes service accounts' public keys.
const GoogleKeysURL = "https://www.googleapis.com/service_accounts/v1/metadata/jwk/"

const (
	msgAccessFailed = "Accessing the activation request failed"
	maxTokenBytes   = 16 << 10
	maxReviewers    = 100
	leeway          = 30 * time.Second
	defaultKeyTTL   = time.Hour
	// minRefetch stops a flood of tokens with unknown key ids from
	// turning into a flood of key fetches.
	minRefetch = time.Minute
)

// Options configure a Signer.
type Options struct {
	// KeysURL is the base URL of the public keys; the service account's
	// email is appended. "" means GoogleKeysURL.
	KeysURL    string
	HTTPClient *http.Client
	Clock      func() time.Time
	// Timeout bounds each signJwt call and key fetch.
	Timeout time.Duration
}

// Signer signs and verifies approval tokens for one service account.
type Signer struct {
	creds *iamcredentials.Service
	sa    jit.UserID
	opts  Options

	mu        sync.Mutex
	keys      map[string]*rsa.PublicKey
	expires   time.Time
	lastFetch time.Time
}

// New returns a Signer that signs as serviceAccount.
func New(creds *iamcredentials.Service, serviceAccount jit.UserID, opts Options) *Signer {
	if opts.KeysURL == "" {
		opts.KeysURL = GoogleKeysURL
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	return &Signer{creds: creds, sa: serviceAccount, opts: opts}
}

// tokenClaims is the JWT payload. Names are the original's (1.8), plus
// duration; start and end describe the requested window's length, which
// starts when a reviewer approves.
type tokenClaims struct {
	JTI           string   `json:"jti"`
	Issuer        string   `json:"iss"`
	Audience      string   `json:"aud"`
	Beneficiary   string   `json:"beneficiary"`
	Reviewers     []string `json:"reviewers"`
	Entitlement   string   `json:"entitlement"`
	Justification string   `json:"justification"`
	Start         int64    `json:"start"`
	End           int64    `json:"end"`
	Duration      int64    `json:"duration"` // seconds
	IssuedAt      int64    `json:"iat"`
	Expiry        int64    `json:"exp"` // the approve-by deadline
}

// Sign signs req through signJwt and returns the token in its URL form.
func (s *Signer) Sign(ctx context.Context, req jit.ActivationRequest) (string, error) {
	const op = "approval.Sign"
	claims := tokenClaims{
		JTI: req.ID, Issuer: string(s.sa), Audience: string(s.sa),
		Beneficiary: string(req.Beneficiary), Entitlement: req.Entitlement.ID(),
		Justification: req.Justification,
		Start:         req.RequestedAt.Unix(), End: req.RequestedAt.Add(req.Duration).Unix(),
		Duration: int64(req.Duration / time.Second),
		IssuedAt: req.RequestedAt.Unix(), Expiry: req.ApproveBy.Unix(),
	}
	for _, r := range req.Reviewers {
		claims.Reviewers = append(claims.Reviewers, string(r))
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", jit.E(op, jit.KindInternal, "", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	resp, err := s.creds.Projects.ServiceAccounts.SignJwt("projects/-/serviceAccounts/"+string(s.sa),
		&iamcredentials.SignJwtRequest{Payload: string(payload)}).Context(ctx).Do()
	if err != nil {
		return "", translate(op, err)
	}
	return Obfuscate(resp.SignedJwt), nil
}

// Verify checks a token in its URL form and returns the request it
// carries. Bad, tampered, foreign and expired tokens are KindDenied with
// the original's message; failures to fetch the keys are KindUnavailable
// or KindUpstream.
func (s *Signer) Verify(ctx context.Context, token string) (jit.ActivationRequest, error) {
	const op = "approval.Verify"
	denied := func(format string, args ...any) error {
		return jit.E(op, jit.KindDenied, msgAccessFailed, fmt.Errorf(format, args...))
	}
	if len(token) > maxTokenBytes {
		return jit.ActivationRequest{}, denied("the token is %d bytes long", len(token))
	}
	jwt, err := Deobfuscate(token)
	if err != nil {
		return jit.ActivationRequest{}, denied("%v", err)
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return jit.ActivationRequest{}, denied("the token has %d parts", len(parts))
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := decodeJSONPart(parts[0], &header); err != nil {
		return jit.ActivationRequest{}, denied("header: %v", err)
	}
	if header.Alg != "RS256" {
		return jit.ActivationRequest{}, denied("The token uses the wrong algorithm (%q)", header.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 256 {
		return jit.ActivationRequest{}, denied("the signature is malformed")
	}
	key, err := s.publicKey(ctx, header.Kid)
	if err != nil {
		return jit.ActivationRequest{}, err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		return jit.ActivationRequest{}, denied("signature: %v", err)
	}
	var c tokenClaims
	if err := decodeJSONPart(parts[1], &c); err != nil {
		return jit.ActivationRequest{}, denied("claims: %v", err)
	}
	return s.request(c, denied)
}

func (s *Signer) request(c tokenClaims, denied func(string, ...any) error) (jit.ActivationRequest, error) {
	now := s.opts.Clock()
	switch {
	case c.Issuer != string(s.sa) || c.Audience != string(s.sa):
		return jit.ActivationRequest{}, denied("issuer %q or audience %q is not %s", c.Issuer, c.Audience, s.sa)
	case now.After(time.Unix(c.Expiry, 0)):
		return jit.ActivationRequest{}, denied("the request expired at %v", time.Unix(c.Expiry, 0))
	case time.Unix(c.IssuedAt, 0).After(now.Add(leeway)):
		return jit.ActivationRequest{}, denied("the token was issued in the future")
	case !strings.HasPrefix(c.JTI, "mpa-") || len(c.JTI) > 64:
		return jit.ActivationRequest{}, denied("the request id %q is malformed", c.JTI)
	case len(c.Reviewers) == 0 || len(c.Reviewers) > maxReviewers:
		return jit.ActivationRequest{}, denied("the token lists %d reviewers", len(c.Reviewers))
	case c.Duration <= 0 || c.Duration > int64(366*24*time.Hour/time.Second):
		return jit.ActivationRequest{}, denied("the duration %d is out of range", c.Duration)
	}
	beneficiary, err := jit.ParseUserID(c.Beneficiary)
	if err != nil {
		return jit.ActivationRequest{}, denied("beneficiary: %v", err)
	}
	ent, err := jit.ParseEntitlementID(c.Entitlement)
	if err != nil {
		return jit.ActivationRequest{}, denied("entitlement: %v", err)
	}
	req := jit.ActivationRequest{
		ID: c.JTI, Beneficiary: beneficiary, Entitlement: ent, Justification: c.Justification,
		Duration: time.Duration(c.Duration) * time.Second, RequestedAt: time.Unix(c.IssuedAt, 0).UTC(), ApproveBy: time.Unix(c.Expiry, 0).UTC(),
	}
	for _, r := range c.Reviewers {
		u, err := jit.ParseUserID(r)
		if err != nil {
			return jit.ActivationRequest{}, denied("reviewer: %v", err)
		}
		req.Reviewers = append(req.Reviewers, u)
	}
	return req, nil
}

// publicKey returns the service account's key with id kid, fetching the
// key set when it is unknown or stale (at most once a minute for unknown
// ids, so forged key ids cannot force a fetch per request).
func (s *Signer) publicKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	const op = "approval.publicKey"
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Clock()
	if k, ok := s.keys[kid]; ok && now.Before(s.expires) {
		return k, nil
	}
	if s.keys != nil && now.Before(s.expires) && now.Sub(s.lastFetch) < minRefetch {
		return nil, jit.E(op, jit.KindDenied, msgAccessFailed, fmt.Errorf("unknown key id %q", kid))
	}
	keys, ttl, err := s.fetchKeys(ctx)
	s.lastFetch = now
	if err != nil {
		return nil, err
	}
	s.keys, s.expires = keys, now.Add(ttl)
	if k, ok := keys[kid]; ok {
		return k, nil
	}
	return nil, jit.E(op, jit.KindDenied, msgAccessFailed, fmt.Errorf("unknown key id %q", kid))
}

func (s *Signer) fetchKeys(ctx context.Context) (map[string]*rsa.PublicKey, time.Duration, error) {
	const op = "approval.fetchKeys"
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.opts.KeysURL+url.PathEscape(string(s.sa)), nil)
	if err != nil {
		return nil, 0, jit.E(op, jit.KindInternal, "", err)
	}
	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, 0, jit.E(op, jit.KindUnavailable, "The approval service's keys could not be fetched, try again", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, jit.E(op, jit.KindUpstream, "The approval service's keys could not be fetched", fmt.Errorf("status %d", resp.StatusCode))
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			Kty string `json:"kty"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, 0, jit.E(op, jit.KindUpstream, "The approval service's keys are malformed", err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if k.Kty != "RSA" || err1 != nil || err2 != nil || len(e) > 4 {
			continue
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return keys, maxAge(resp.Header.Get("Cache-Control")), nil
}

func maxAge(cacheControl string) time.Duration {
	for _, d := range strings.Split(cacheControl, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(d), "max-age="); ok {
			var secs int
			if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && secs > 0 {
				return min(time.Duration(secs)*time.Second, 24*time.Hour)
			}
		}
	}
	return defaultKeyTTL
}

func decodeJSONPart(part string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return fmt.Errorf("not base64url: %w", err)
	}
	return json.Unmarshal(b, v)
}

// translate turns a signJwt failure into a *jit.Error.
func translate(op string, err error) error {
	var g *googleapi.Error
	if errors.As(err, &g) {
		switch {
		case g.Code == http.StatusTooManyRequests:
			return jit.E(op, jit.KindTooMany, "The signing quota is exhausted, try again later", err)
		case g.Code == http.StatusForbidden || g.Code == http.StatusNotFound:
			return jit.E(op, jit.KindUnavailable, "The application cannot sign approval requests; check that its service account may sign for itself (roles/iam.serviceAccountTokenCreator)", err)
		case g.Code >= 500:
			return jit.E(op, jit.KindUpstream, "Signing the approval request failed, try again", err)
		}
		return jit.E(op, jit.KindUpstream, "Signing the approval request failed", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return jit.E(op, jit.KindUnavailable, "Signing the approval request timed out, try again", err)
	}
	return jit.E(op, jit.KindUpstream, "Signing the approval request failed", err)
}

// Obfuscate makes a JWT look less like one in a URL, as the original did
// (mail filters flag links carrying JWTs): the leading "ey" goes, ".ey"
// becomes "~~" and the remaining dots "~". It is not a security measure.
func Obfuscate(jwt string) string {
	s := strings.TrimPrefix(jwt, "ey")
	s = strings.ReplaceAll(s, ".ey", "~~")
	return strings.ReplaceAll(s, ".", "~")
}

// Deobfuscate reverses Obfuscate, refusing characters a token cannot hold.
func Deobfuscate(token string) (string, error) {
	for _, r := range token {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && !strings.ContainsRune("-_~.", r) {
			return "", errors.New("the token contains characters it cannot hold")
		}
	}
	if strings.HasPrefix(token, "ey") {
		// Already a JWT (e.g. from an API client).
		return token, nil
	}
	s := strings.ReplaceAll(token, "~~", ".ey")
	return "ey" + strings.ReplaceAll(s, "~", "."), nil
}
