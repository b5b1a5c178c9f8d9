package emulator

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
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxSignJwtLifetime is Google's limit on a signJwt payload's exp: at most
// 12 hours after the call.
const maxSignJwtLifetime = 12 * time.Hour

// IAMCredentials serves the IAM Credentials API's signJwt for the world's
// service accounts, signing with a per-account RSA key (RS256, as Google's
// system-managed keys), and those keys' public halves at the paths of
// https://www.googleapis.com/service_accounts/v1/metadata/{jwk,x509}/EMAIL.
type IAMCredentials struct {
	w *World

	mu   sync.Mutex
	keys map[string]*saKey
}

type saKey struct {
	id   string
	key  *rsa.PrivateKey
	cert []byte // PEM
}

// NewIAMCredentials returns the IAM Credentials service of w.
func NewIAMCredentials(w *World) *IAMCredentials {
	return &IAMCredentials{w: w, keys: map[string]*saKey{}}
}

func (c *IAMCredentials) key(email string) (*saKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.keys[email]; ok {
		return k, nil
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate key for %s: %w", email, err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: email},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, err
	}
	k := &saKey{
		id:   fmt.Sprintf("%x", sum[:20]),
		key:  priv,
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}),
	}
	c.keys[email] = k
	return k, nil
}

// ServeHTTP routes signJwt and the public key endpoints.
func (c *IAMCredentials) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/v1/projects/") && strings.HasSuffix(p, ":signJwt"):
		c.signJwt(rw, r)
	case strings.HasPrefix(p, "/service_accounts/v1/metadata/jwk/"):
		c.publicKeys(rw, r, strings.TrimPrefix(p, "/service_accounts/v1/metadata/jwk/"), false)
	case strings.HasPrefix(p, "/service_accounts/v1/metadata/x509/"):
		c.publicKeys(rw, r, strings.TrimPrefix(p, "/service_accounts/v1/metadata/x509/"), true)
	default:
		writeRESTError(rw, notFoundPath(r))
	}
}

func (c *IAMCredentials) signJwt(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeRESTError(rw, newAPIError(http.StatusMethodNotAllowed, "signJwt requires POST"))
		return
	}
	if err := c.w.fault(r.Context(), "iamcredentials.signJwt"); err != nil {
		writeRESTError(rw, err)
		return
	}
	// projects/-/serviceAccounts/EMAIL:signJwt (the project may be named).
	name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/"), ":signJwt")
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != "projects" || parts[2] != "serviceAccounts" {
		writeRESTError(rw, invalidArgument("Invalid service account name %q.", name))
		return
	}
	email, err := url.PathUnescape(parts[3])
	if err != nil || !c.w.ServiceAccountExists(email) {
		writeRESTError(rw, newAPIError(http.StatusNotFound, fmt.Sprintf("Not found; Gaia id not found for email %s", parts[3])))
		return
	}
	var req struct {
		Payload   string   `json:"payload"`
		Delegates []string `json:"delegates"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		writeRESTError(rw, invalidArgument("Invalid JSON payload received. %v", err))
		return
	}
	var claims map[string]any
	if err := json.Unmarshal([]byte(req.Payload), &claims); err != nil {
		writeRESTError(rw, invalidArgument("Payload must be a JSON object: %v", err))
		return
	}
	if exp, ok := claims["exp"].(float64); ok && time.Unix(int64(exp), 0).After(c.w.Now().Add(maxSignJwtLifetime)) {
		writeRESTError(rw, invalidArgument("The exp claim must be within 12 hours of the current time."))
		return
	}
	k, err := c.key(strings.ToLower(email))
	if err != nil {
		writeRESTError(rw, newAPIError(http.StatusInternalServerError, err.Error()))
		return
	}
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": k.id, "typ": "JWT"}) //nolint:errchkjson // strings only
	input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString([]byte(req.Payload))
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.key, crypto.SHA256, sum[:])
	if err != nil {
		writeRESTError(rw, newAPIError(http.StatusInternalServerError, err.Error()))
		return
	}
	writeJSON(rw, map[string]string{"keyId": k.id, "signedJwt": input + "." + base64.RawURLEncoding.EncodeToString(sig)})
}

func (c *IAMCredentials) publicKeys(rw http.ResponseWriter, r *http.Request, email string, x509Form bool) {
	if err := c.w.fault(r.Context(), "iamcredentials.publicKeys"); err != nil {
		writeRESTError(rw, err)
		return
	}
	email, err := url.PathUnescape(email)
	if err != nil || !c.w.ServiceAccountExists(email) {
		writeRESTError(rw, newAPIError(http.StatusNotFound, "Service account not found"))
		return
	}
	k, err := c.key(strings.ToLower(email))
	if err != nil {
		writeRESTError(rw, newAPIError(http.StatusInternalServerError, err.Error()))
		return
	}
	rw.Header().Set("Cache-Control", "public, max-age=3600")
	if x509Form {
		writeJSON(rw, map[string]string{k.id: string(k.cert)})
		return
	}
	writeJSON(rw, map[string]any{"keys": []map[string]string{{
		"kty": "RSA",
		"alg": "RS256",
		"use": "sig",
		"kid": k.id,
		"n":   base64.RawURLEncoding.EncodeToString(k.key.N.Bytes()),
		"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.key.E)).Bytes()),
	}}})
}
