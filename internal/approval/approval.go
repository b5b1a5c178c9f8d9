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
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/singleflight"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iamcredentials/v1"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// GoogleKeysURL is where Google publishes service accounts' public keys as
// JWK sets; the account's email is appended.
const GoogleKeysURL = "https://www.googleapis.com/service_accounts/v1/metadata/jwk/"

// MaxLifetime is the longest a token can live: signJwt refuses an exp more
// than 12 hours ahead, so ACTIVATION_REQUEST_TIMEOUT cannot be longer.
const MaxLifetime = 12 * time.Hour

const (
	// msgAccessFailed is the original's message for every bad token.
	msgAccessFailed = "Accessing the activation request failed"
	msgKeysFailed   = "The approval service's keys could not be fetched, try again"
	// maxTokenBytes bounds what Verify parses; real tokens are about 1 KB
	// plus the justification and reviewers.
	maxTokenBytes = 16 << 10
	maxReviewers  = jit.MaxReviewersLimit
	maxIDLength   = 64
	// maxDuration bounds the duration claim; the policy's limit is checked
	// again when the request is approved.
	maxDuration = 366 * 24 * time.Hour
	// leeway absorbs clock skew between app instances for iat.
	leeway = 30 * time.Second
	// defaultKeyTTL applies when the key endpoint sends no max-age; it is
	// what Google's own verifiers use.
	defaultKeyTTL = time.Hour
	maxKeyTTL     = 24 * time.Hour
	// minRefetch stops a flood of tokens with unknown key ids (or a key
	// endpoint that is down) from becoming a flood of key fetches.
	minRefetch = time.Minute
	// maxKeysBody bounds the JWK set read; Google's is about 2 KB.
	maxKeysBody = 1 << 20
)

// Options configure a Signer. The zero value is production's.
type Options struct {
	// KeysURL is the base URL of the public keys; the service account's
	// email is appended. "" means GoogleKeysURL.
	KeysURL string
	// HTTPClient fetches the keys; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Clock is the time; nil means time.Now.
	Clock func() time.Time
	// Timeout bounds each signJwt call and key fetch; 0 means 10 seconds.
	Timeout time.Duration
	// Logger reports keys used past their max-age because a refetch failed;
	// nil discards.
	Logger *slog.Logger
}

// Signer signs and verifies approval tokens for one service account. It is
// safe for concurrent use.
type Signer struct {
	creds *iamcredentials.Service
	sa    jit.UserID
	opts  Options

	fetches singleflight.Group
	mu      sync.Mutex
	keys    map[string]*rsa.PublicKey // nil until the first successful fetch
	expires time.Time                 // when keys become stale
	tried   time.Time                 // the last fetch attempt
	lastErr error                     // its error, if it failed
}

// New returns a Signer that signs as serviceAccount through creds.
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
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
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
	Duration      int64    `json:"duration,omitempty"` // seconds; absent in the original's tokens
	IssuedAt      int64    `json:"iat"`
	Expiry        int64    `json:"exp"` // the approve-by deadline
	// StartAt is a scheduled request's earliest start; absent in the
	// original's tokens.
	StartAt int64 `json:"startAt,omitempty"`
	// Required is the number of distinct approvals needed, and Dedicated
	// whether the reviewers are the role's dedicated approvers; both are
	// absent in the original's tokens and in single-approval requests.
	Required  int  `json:"approvalsRequired,omitempty"`
	Dedicated bool `json:"dedicatedApprovers,omitempty"`
	// Ancestry is a hint (see jit.ActivationRequest.Ancestry).
	Ancestry []string `json:"ancestry,omitempty"`
}

// Sign signs req through signJwt and returns the token in its URL form
// (see Obfuscate). The token expires at req.ApproveBy.
//
// Errors: KindInternal for a request that could never verify (a caller's
// bug) or a deadline beyond MaxLifetime (a configuration error);
// KindTooMany when the signing quota is exhausted; KindUnavailable when
// signJwt times out or the account may not sign; KindUpstream otherwise.
func (s *Signer) Sign(ctx context.Context, req jit.ActivationRequest) (string, error) {
	const op = "approval.Sign"
	if err := s.signable(req); err != nil {
		return "", err
	}
	claims := tokenClaims{
		JTI: req.ID, Issuer: string(s.sa), Audience: string(s.sa),
		Beneficiary: string(req.Beneficiary), Entitlement: req.Entitlement.ID(),
		Justification: req.Justification,
		Start:         req.RequestedAt.Unix(), End: req.RequestedAt.Unix() + int64(req.Duration/time.Second),
		Duration: int64(req.Duration / time.Second),
		IssuedAt: req.RequestedAt.Unix(), Expiry: req.ApproveBy.Unix(),
		Dedicated: req.Dedicated, Ancestry: req.Ancestry,
	}
	if req.Required > 1 {
		claims.Required = req.Required
	}
	if !req.StartAt.IsZero() {
		claims.StartAt = req.StartAt.Unix()
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

// maxAncestry bounds the ancestry hint: folders nest ten deep, under one
// organization.
const maxAncestry = 11

// signable refuses requests whose token Verify would refuse or signJwt
// would not sign, so that the mistake surfaces where it is made.
func (s *Signer) signable(req jit.ActivationRequest) error {
	const op = "approval.Sign"
	bad := func(format string, args ...any) error {
		return jit.E(op, jit.KindInternal, "", fmt.Errorf("unsignable request %q: "+format, append([]any{req.ID}, args...)...))
	}
	switch {
	case !validID(req.ID):
		return bad("the id is not mpa-…")
	case req.Beneficiary == "":
		return bad("no beneficiary")
	case len(req.Reviewers) == 0 || len(req.Reviewers) > maxReviewers:
		return bad("%d reviewers", len(req.Reviewers))
	case req.Duration < time.Second || req.Duration > maxDuration:
		return bad("duration %v", req.Duration)
	case req.Required < 0 || req.Required > jit.MaxQuorum || req.Required > len(req.Reviewers):
		return bad("%d approvals required of %d reviewers", req.Required, len(req.Reviewers))
	case len(req.Ancestry) > maxAncestry:
		return bad("an ancestry of %d nodes", len(req.Ancestry))
	case !req.ApproveBy.After(req.RequestedAt):
		return bad("approve-by %v is not after %v", req.ApproveBy, req.RequestedAt)
	case req.ApproveBy.Sub(s.opts.Clock()) > MaxLifetime:
		return jit.E(op, jit.KindInternal,
			"Approval requests can stay open for at most 12 hours; lower ACTIVATION_REQUEST_TIMEOUT",
			fmt.Errorf("approve-by %v is more than %v away, which signJwt refuses", req.ApproveBy, MaxLifetime))
	}
	return nil
}

func validID(id string) bool {
	return strings.HasPrefix(id, "mpa-") && len(id) > len("mpa-") && len(id) <= maxIDLength
}

// Verify checks a token in its URL form (or as a plain JWT) and returns the
// request it carries. It checks the size, the header (RS256 and a key id),
// the signature against the service account's published keys, issuer and
// audience (the service account), expiry (the approve-by deadline, without
// leeway, as the original), the issue time, and every claim's form. It does
// not check who may approve: that is the caller's business.
//
// Errors: KindDenied with the original's message "Accessing the activation
// request failed" for bad, tampered, foreign and expired tokens (the detail
// is in the wrapped error); KindUnavailable or KindUpstream when the keys
// cannot be fetched.
func (s *Signer) Verify(ctx context.Context, token string) (jit.ActivationRequest, error) {
	return s.verify(ctx, token, true)
}

// Inspect is Verify for a token that may have expired: every check but
// the approve-by deadline. It lets a list show a request as expired; no
// decision may rest on it.
func (s *Signer) Inspect(ctx context.Context, token string) (jit.ActivationRequest, error) {
	return s.verify(ctx, token, false)
}

func (s *Signer) verify(ctx context.Context, token string, unexpired bool) (jit.ActivationRequest, error) {
	const op = "approval.Verify"
	denied := func(format string, args ...any) error {
		return jit.E(op, jit.KindDenied, msgAccessFailed, fmt.Errorf(format, args...))
	}
	if len(token) > maxTokenBytes {
		return jit.ActivationRequest{}, denied("the token is %d bytes long", len(token))
	}
	jwt, err := Deobfuscate(token)
	if err != nil {
		return jit.ActivationRequest{}, denied("%w", err)
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return jit.ActivationRequest{}, denied("the token has %d parts, not 3", len(parts))
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}
	if err := decodeJSONPart(parts[0], &header); err != nil {
		return jit.ActivationRequest{}, denied("header: %w", err)
	}
	switch {
	case header.Alg != "RS256":
		return jit.ActivationRequest{}, denied("The token uses the wrong algorithm (%.20q)", header.Alg)
	case header.Kid == "":
		return jit.ActivationRequest{}, denied("the token names no key")
	case header.Typ != "" && header.Typ != "JWT":
		return jit.ActivationRequest{}, denied("the token's type is %.20q", header.Typ)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) < 256 || len(sig) > 512 {
		// 2048 to 4096-bit RSA; refusing others here spares a key fetch.
		return jit.ActivationRequest{}, denied("the signature is malformed")
	}
	key, err := s.publicKey(ctx, header.Kid)
	if err != nil {
		return jit.ActivationRequest{}, err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		return jit.ActivationRequest{}, denied("signature: %w", err)
	}
	var c tokenClaims
	if err := decodeJSONPart(parts[1], &c); err != nil {
		return jit.ActivationRequest{}, denied("claims: %w", err)
	}
	return s.request(c, denied, unexpired)
}

// request checks the claims of a token whose signature is good and turns
// them into the request.
func (s *Signer) request(c tokenClaims, denied func(string, ...any) error, unexpired bool) (jit.ActivationRequest, error) {
	now := s.opts.Clock()
	exp, iat := time.Unix(c.Expiry, 0), time.Unix(c.IssuedAt, 0)
	secs := c.Duration
	if secs == 0 && c.End > c.Start { // a token of the original: the window's length
		secs = c.End - c.Start
	}
	switch {
	case c.Issuer != string(s.sa) || c.Audience != string(s.sa):
		return jit.ActivationRequest{}, denied("issuer %.80q or audience %.80q is not %s", c.Issuer, c.Audience, s.sa)
	case c.Expiry == 0 || (unexpired && !now.Before(exp)):
		return jit.ActivationRequest{}, denied("the request expired at %v", exp.UTC())
	case c.IssuedAt == 0 || iat.After(now.Add(leeway)):
		return jit.ActivationRequest{}, denied("the token claims to be issued at %v, in the future", iat.UTC())
	case !exp.After(iat):
		return jit.ActivationRequest{}, denied("the token expires (%v) before it was issued (%v)", exp.UTC(), iat.UTC())
	case !validID(c.JTI):
		return jit.ActivationRequest{}, denied("the request id %.80q is malformed", c.JTI)
	case len(c.Reviewers) == 0 || len(c.Reviewers) > maxReviewers:
		return jit.ActivationRequest{}, denied("the token lists %d reviewers", len(c.Reviewers))
	case secs < 1 || secs > int64(maxDuration/time.Second) || c.End-c.Start != secs:
		return jit.ActivationRequest{}, denied("the duration (%ds, window %d..%d) is out of range", c.Duration, c.Start, c.End)
	case !utf8.ValidString(c.Justification) || utf8.RuneCountInString(c.Justification) > jit.MaxJustificationLength:
		return jit.ActivationRequest{}, denied("the justification is malformed")
	case c.Required < 0 || c.Required > jit.MaxQuorum || c.Required > len(c.Reviewers):
		return jit.ActivationRequest{}, denied("the token requires %d approvals of %d reviewers", c.Required, len(c.Reviewers))
	}
	beneficiary, err := jit.ParseUserID(c.Beneficiary)
	if err != nil {
		return jit.ActivationRequest{}, denied("beneficiary: %w", err)
	}
	ent, err := jit.ParseEntitlementID(c.Entitlement)
	if err != nil {
		return jit.ActivationRequest{}, denied("entitlement: %w", err)
	}
	req := jit.ActivationRequest{
		ID: c.JTI, Beneficiary: beneficiary, Entitlement: ent, Justification: c.Justification,
		Duration: time.Duration(secs) * time.Second, RequestedAt: iat.UTC(), ApproveBy: exp.UTC(),
		Required: c.Required, Dedicated: c.Dedicated,
	}
	if len(c.Ancestry) > maxAncestry {
		return jit.ActivationRequest{}, denied("an ancestry of %d nodes", len(c.Ancestry))
	}
	for _, a := range c.Ancestry {
		if !jit.ValidNode(a) {
			return jit.ActivationRequest{}, denied("the ancestry names %q", a)
		}
	}
	req.Ancestry = c.Ancestry
	if c.StartAt != 0 {
		if c.StartAt < c.IssuedAt {
			return jit.ActivationRequest{}, denied("the scheduled start %d is before the request was issued", c.StartAt)
		}
		req.StartAt = time.Unix(c.StartAt, 0).UTC()
	}
	for _, r := range c.Reviewers {
		u, err := jit.ParseUserID(r)
		if err != nil {
			return jit.ActivationRequest{}, denied("reviewer: %w", err)
		}
		if u == beneficiary {
			return jit.ActivationRequest{}, denied("the beneficiary %s is listed as a reviewer", u)
		}
		req.Reviewers = append(req.Reviewers, u)
	}
	return req, nil
}

// publicKey returns the service account's key with id kid. Keys are cached
// for the key endpoint's max-age. An unknown id causes one refetch, at most
// once a minute, so that forged key ids cannot force a fetch per request
// while a newly rotated key is still picked up. When a refetch fails, keys
// already known are used past their max-age (Google keeps a key published
// long after it last signed), so a key endpoint outage does not stop
// approvals.
func (s *Signer) publicKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	const op = "approval.publicKey"
	unknown := jit.E(op, jit.KindDenied, msgAccessFailed, fmt.Errorf("unknown key id %.60q", kid))
	now := s.opts.Clock()
	s.mu.Lock()
	key, known := s.keys[kid]
	fresh, recent, lastErr := now.Before(s.expires), now.Sub(s.tried) < minRefetch, s.lastErr
	s.mu.Unlock()
	switch {
	case known && (fresh || recent):
		return key, nil
	case recent && lastErr != nil:
		return nil, lastErr // the endpoint failed a moment ago; don't hammer it
	case recent && fresh:
		return nil, unknown
	}

	ch := s.fetches.DoChan("keys", func() (any, error) {
		s.mu.Lock()
		if s.opts.Clock().Sub(s.tried) < minRefetch {
			// Another caller fetched since this one looked: share its result.
			keys, err := s.keys, s.lastErr
			s.mu.Unlock()
			return keys, err
		}
		s.mu.Unlock()
		// Detached from the first caller's cancellation: others share it.
		keys, ttl, err := s.fetchKeys(context.WithoutCancel(ctx))
		s.mu.Lock()
		defer s.mu.Unlock()
		s.tried, s.lastErr = s.opts.Clock(), err
		if err == nil {
			s.keys, s.expires = keys, s.tried.Add(ttl)
		}
		return keys, err
	})
	var res singleflight.Result
	select {
	case res = <-ch:
	case <-ctx.Done():
		return nil, jit.E(op, jit.KindUnavailable, msgKeysFailed, ctx.Err())
	}
	if res.Err != nil {
		if known {
			s.opts.Logger.WarnContext(ctx, "using a cached approval key past its max-age: the refetch failed",
				"key_id", kid, "error", res.Err.Error())
			return key, nil
		}
		return nil, res.Err
	}
	if k, ok := res.Val.(map[string]*rsa.PublicKey)[kid]; ok {
		return k, nil
	}
	return nil, unknown
}

// jwkSet is the JSON Web Key Set format Google serves.
type jwkSet struct {
	Keys []struct {
		Kid string `json:"kid"`
		Kty string `json:"kty"`
		Alg string `json:"alg"`
		Use string `json:"use"`
		N   string `json:"n"`
		E   string `json:"e"`
	} `json:"keys"`
}

// fetchKeys reads the service account's JWK set and its max-age.
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
		return nil, 0, jit.E(op, jit.KindUnavailable, msgKeysFailed, err)
	}
	defer func() { _ = resp.Body.Close() }()
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return nil, 0, jit.E(op, jit.KindTooMany, msgKeysFailed, fmt.Errorf("key endpoint: status %d", resp.StatusCode))
	case resp.StatusCode != http.StatusOK:
		return nil, 0, jit.E(op, jit.KindUpstream, msgKeysFailed, fmt.Errorf("key endpoint: status %d", resp.StatusCode))
	}
	var set jwkSet
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxKeysBody)).Decode(&set); err != nil {
		return nil, 0, jit.E(op, jit.KindUpstream, msgKeysFailed, fmt.Errorf("key endpoint: %w", err))
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kid == "" || k.Kty != "RSA" || (k.Alg != "" && k.Alg != "RS256") || (k.Use != "" && k.Use != "sig") {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 || len(n) < 256 || len(n) > 512 {
			continue // not a usable RS256 key; skipping it fails only its tokens
		}
		exp := new(big.Int).SetBytes(e).Int64()
		if exp < 3 || exp%2 == 0 {
			continue
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}
	}
	return keys, maxAge(resp.Header.Get("Cache-Control")), nil
}

// maxAge reads Cache-Control's max-age, bounded to [minRefetch, a day].
func maxAge(cacheControl string) time.Duration {
	for d := range strings.SplitSeq(cacheControl, ",") {
		name, v, _ := strings.Cut(strings.TrimSpace(d), "=")
		if !strings.EqualFold(name, "max-age") {
			continue
		}
		secs, err := strconv.ParseInt(strings.Trim(v, `"`), 10, 64)
		if err != nil || secs < 0 {
			break
		}
		secs = min(secs, int64(maxKeyTTL/time.Second))
		return max(time.Duration(secs)*time.Second, minRefetch)
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
		case g.Code == http.StatusGatewayTimeout:
			return jit.E(op, jit.KindUnavailable, "Signing the approval request timed out, try again", err)
		case g.Code >= 500:
			return jit.E(op, jit.KindUpstream, "Signing the approval request failed, try again", err)
		}
		return jit.E(op, jit.KindUpstream, "Signing the approval request failed", err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
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

// Deobfuscate reverses Obfuscate. A plain JWT (starting "ey", which an
// obfuscated token never does) passes unchanged, for API clients. It
// refuses characters outside base64url plus the form's separator: "~" in
// the obfuscated form, "." in a plain JWT.
func Deobfuscate(token string) (string, error) {
	plain := strings.HasPrefix(token, "ey")
	sep := byte('~')
	if plain {
		sep = '.'
	}
	for i := 0; i < len(token); i++ {
		if b := token[i]; (b < 'a' || b > 'z') && (b < 'A' || b > 'Z') && (b < '0' || b > '9') && b != '-' && b != '_' && b != sep {
			return "", errors.New("the token contains characters it cannot hold")
		}
	}
	if plain {
		return token, nil
	}
	s := strings.ReplaceAll(token, "~~", ".ey")
	return "ey" + strings.ReplaceAll(s, "~", "."), nil
}
