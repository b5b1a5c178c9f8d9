// Package iamcredentials emulates the IAM Service Account Credentials
// API (REST): signJwt for the world's service accounts, and those
// accounts' public keys where Google publishes them.
package iamcredentials

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jitaccess/internal/emulator/wire"
	"github.com/jitaccess/jitaccess/internal/emulator/world"
)

const (
	// maxSignJwtLifetime is Google's limit on a signJwt payload's exp: "an
	// integer timestamp that is not in the past and no more than 12 hours
	// in the future" (SignJwtRequest.payload).
	maxSignJwtLifetime = 12 * time.Hour
	// keysMaxAge is the Cache-Control max-age of the public key endpoints;
	// Google sends a few hours, and verifiers are expected to honour it.
	keysMaxAge = time.Hour
	// keptKeys is how many keys per account stay published after
	// rotations, so that JWTs signed before a rotation still verify.
	keptKeys = 3
	// maxSignJwtBody bounds a signJwt request body.
	maxSignJwtBody = 1 << 20

	jwkPrefix  = "/service_accounts/v1/metadata/jwk/"
	x509Prefix = "/service_accounts/v1/metadata/x509/"
)

// Service serves the IAM Service Account Credentials API's signJwt
// for the world's service accounts, and those accounts' public keys at the
// paths of https://www.googleapis.com/service_accounts/v1/metadata/{jwk,x509}/EMAIL.
//
// What it models: one RSA-2048 key per account, created at first use and
// kept in memory (Google's system-managed keys), RS256 signatures with the
// header {"alg":"RS256","kid":…,"typ":"JWT"} over the payload exactly as
// given, signJwt's documented checks (payload a JSON object, exp an integer
// not in the past and at most 12 hours ahead, the "-" project wildcard),
// rotation on demand (RotateKey) with older keys still published, and
// Cache-Control on the key endpoints. What it does not model: unique-id
// account names, the serviceAccountTokenCreator permission (every caller
// may sign as every account of the world), delegation chains beyond a
// format check, signBlob and access/ID tokens.
type Service struct {
	w *world.World

	mu   sync.Mutex
	keys map[string][]*saKey // by lower-case email; the last key signs
}

type saKey struct {
	id   string
	key  *rsa.PrivateKey
	cert string // PEM
}

// New returns the IAM Credentials service of w.
func New(w *world.World) *Service {
	return &Service{w: w, keys: map[string][]*saKey{}}
}

// newKey generates a key and its self-signed certificate. It runs outside
// the lock: RSA key generation takes tens of milliseconds.
func (c *Service) newKey(email string) (*saKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate key for %s: %w", email, err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("marshal public key of %s: %w", email, err)
	}
	sum := sha256.Sum256(der)
	now := c.w.Now()
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetBytes(sum[:8]),
		Subject:      pkix.Name{CommonName: email},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, fmt.Errorf("certificate for %s: %w", email, err)
	}
	return &saKey{
		// Google's key ids are 40 hex digits.
		id:   fmt.Sprintf("%x", sum[:20]),
		key:  priv,
		cert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})),
	}, nil
}

// signingKey returns the account's current key, creating it at first use.
func (c *Service) signingKey(email string) (*saKey, error) {
	email = strings.ToLower(email)
	c.mu.Lock()
	ks := c.keys[email]
	c.mu.Unlock()
	if len(ks) > 0 {
		return ks[len(ks)-1], nil
	}
	k, err := c.newKey(email)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ks := c.keys[email]; len(ks) > 0 { // a concurrent call won
		return ks[len(ks)-1], nil
	}
	c.keys[email] = []*saKey{k}
	return k, nil
}

// publishedKeys returns the account's keys, oldest first.
func (c *Service) publishedKeys(email string) ([]*saKey, error) {
	if _, err := c.signingKey(email); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*saKey(nil), c.keys[strings.ToLower(email)]...), nil
}

// RotateKey gives a service account a new signing key and returns its id.
// The previous keys stay published (up to a few), as Google keeps a key
// verifiable for hours after it last signed, so tests can check that
// verifiers pick up new keys and still accept tokens signed before.
func (c *Service) RotateKey(email string) (string, error) {
	if !c.w.ServiceAccountExists(email) {
		return "", fmt.Errorf("no service account %s", email)
	}
	k, err := c.newKey(strings.ToLower(email))
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ks := append(c.keys[strings.ToLower(email)], k)
	if len(ks) > keptKeys {
		ks = ks[len(ks)-keptKeys:]
	}
	c.keys[strings.ToLower(email)] = ks
	return k.id, nil
}

// ServeHTTP routes signJwt and the public key endpoints.
func (c *Service) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/v1/projects/") && strings.HasSuffix(p, ":signJwt"):
		c.signJwt(rw, r)
	case strings.HasPrefix(p, jwkPrefix):
		c.publicKeys(rw, r, strings.TrimPrefix(p, jwkPrefix), false)
	case strings.HasPrefix(p, x509Prefix):
		c.publicKeys(rw, r, strings.TrimPrefix(p, x509Prefix), true)
	default:
		wire.WriteError(rw, wire.NotFoundPath(r))
	}
}

// signJwt implements POST /v1/projects/-/serviceAccounts/EMAIL:signJwt.
func (c *Service) signJwt(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		wire.WriteError(rw, wire.New(http.StatusMethodNotAllowed, "signJwt requires POST, not "+r.Method+"."))
		return
	}
	// The body is read before the fault's latency: net/http notices a
	// client that gave up (and cancels the request's context) only once
	// the body has been read.
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSignJwtBody+1))
	switch {
	case err != nil:
		wire.WriteError(rw, wire.InvalidArgument("Reading the request failed: %v", err))
		return
	case len(body) > maxSignJwtBody:
		wire.WriteError(rw, wire.InvalidArgument("The request is larger than %d bytes.", maxSignJwtBody))
		return
	}
	if err := c.w.Faults.Apply(r.Context(), "iamcredentials.signJwt"); err != nil {
		wire.WriteError(rw, err)
		return
	}
	name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/"), ":signJwt")
	email, apiErr := c.accountOf(name)
	if apiErr != nil {
		wire.WriteError(rw, apiErr)
		return
	}
	var req struct {
		Payload   string   `json:"payload"`
		Delegates []string `json:"delegates"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		wire.WriteError(rw, wire.InvalidArgument("Invalid JSON payload received. %v", err))
		return
	}
	for _, d := range req.Delegates {
		if _, apiErr := c.accountOf(d); apiErr != nil {
			wire.WriteError(rw, wire.InvalidArgument("Invalid delegate %q: %s", d, apiErr.Message))
			return
		}
	}
	if apiErr := checkClaims(req.Payload, c.w.Now()); apiErr != nil {
		wire.WriteError(rw, apiErr)
		return
	}
	k, err := c.signingKey(email)
	if err != nil {
		wire.WriteError(rw, wire.New(http.StatusInternalServerError, err.Error()))
		return
	}
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{"RS256", k.id, "JWT"})
	if err != nil {
		wire.WriteError(rw, wire.New(http.StatusInternalServerError, err.Error()))
		return
	}
	input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString([]byte(req.Payload))
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.key, crypto.SHA256, sum[:])
	if err != nil {
		wire.WriteError(rw, wire.New(http.StatusInternalServerError, err.Error()))
		return
	}
	wire.WriteJSON(rw, map[string]string{"keyId": k.id, "signedJwt": input + "." + base64.RawURLEncoding.EncodeToString(sig)})
}

// accountOf resolves projects/-/serviceAccounts/EMAIL. As documented for
// signJwt, the "-" wildcard is required, and with it an account that does
// not exist is a 403 (the caller cannot tell it from a missing permission),
// not a 404.
func (c *Service) accountOf(name string) (string, *wire.Error) {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != "projects" || parts[2] != "serviceAccounts" || parts[3] == "" {
		return "", wire.InvalidArgument("Invalid resource name %q; want projects/-/serviceAccounts/ACCOUNT_EMAIL.", name)
	}
	if parts[1] != "-" {
		return "", wire.InvalidArgument("Invalid resource name %q: the - wildcard character is required; replacing it with a project ID is invalid.", name)
	}
	if !c.w.ServiceAccountExists(parts[3]) {
		return "", wire.PermissionDenied("iam.serviceAccounts.signJwt", "")
	}
	return strings.ToLower(parts[3]), nil
}

// checkClaims applies signJwt's rules to the payload: a JSON object whose
// exp, if present, is an integer timestamp not in the past and at most 12
// hours ahead. The payload is signed as given; nothing is added.
func checkClaims(payload string, now time.Time) *wire.Error {
	if payload == "" {
		return wire.InvalidArgument("The payload is required.")
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal([]byte(payload), &claims); err != nil || claims == nil {
		return wire.InvalidArgument("The payload must be a serialized JSON object that contains a JWT Claims Set.")
	}
	raw, ok := claims["exp"]
	if !ok {
		return nil
	}
	var exp float64
	if err := json.Unmarshal(raw, &exp); err != nil || exp != math.Trunc(exp) || math.Abs(exp) > 1<<53 {
		return wire.InvalidArgument("The exp claim must be an integer timestamp, not %s.", raw)
	}
	switch t := time.Unix(int64(exp), 0); {
	case t.Before(now.Truncate(time.Second)):
		return wire.InvalidArgument("The exp claim %s is in the past.", raw)
	case t.After(now.Add(maxSignJwtLifetime)):
		return wire.InvalidArgument("The exp claim %s is more than 12 hours in the future.", raw)
	}
	return nil
}

// publicKeys serves the account's keys as a JWK set or as a map from key id
// to PEM certificate, as Google does.
func (c *Service) publicKeys(rw http.ResponseWriter, r *http.Request, email string, x509Form bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		rw.Header().Set("Allow", "GET, HEAD")
		wire.WriteError(rw, wire.New(http.StatusMethodNotAllowed, "The public keys are read with GET, not "+r.Method+"."))
		return
	}
	if err := c.w.Faults.Apply(r.Context(), "iamcredentials.publicKeys"); err != nil {
		wire.WriteError(rw, err)
		return
	}
	if email == "" || strings.Contains(email, "/") || !c.w.ServiceAccountExists(email) {
		wire.WriteError(rw, wire.New(http.StatusNotFound, fmt.Sprintf("Service account %q not found.", email)))
		return
	}
	keys, err := c.publishedKeys(email)
	if err != nil {
		wire.WriteError(rw, wire.New(http.StatusInternalServerError, err.Error()))
		return
	}
	rw.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d, must-revalidate, no-transform", int(keysMaxAge/time.Second)))
	if x509Form {
		certs := make(map[string]string, len(keys))
		for _, k := range keys {
			certs[k.id] = k.cert
		}
		wire.WriteJSON(rw, certs)
		return
	}
	type jwk struct {
		Kty string `json:"kty"`
		Alg string `json:"alg"`
		Use string `json:"use"`
		Kid string `json:"kid"`
		N   string `json:"n"`
		E   string `json:"e"`
	}
	set := struct {
		Keys []jwk `json:"keys"`
	}{}
	for _, k := range keys {
		set.Keys = append(set.Keys, jwk{
			Kty: "RSA", Alg: "RS256", Use: "sig", Kid: k.id,
			N: base64.RawURLEncoding.EncodeToString(k.key.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.key.E)).Bytes()),
		})
	}
	wire.WriteJSON(rw, set)
}

// Owns reports whether a request path belongs to IAM Credentials or to
// the service accounts' public keys.
func Owns(path string) bool {
	return strings.HasPrefix(path, "/v1/projects/-/serviceAccounts/") || strings.HasPrefix(path, "/service_accounts/")
}
