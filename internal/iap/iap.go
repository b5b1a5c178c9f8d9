// Package iap verifies the assertion Identity-Aware Proxy adds to every
// request it lets through (the x-goog-iap-jwt-assertion header), and turns
// it into the jit.Principal the rest of the app trusts. IAP is the only
// thing that identifies users, so the checks are strict: before
// google.golang.org/api/idtoken sees a token, its shape, algorithm (ES256
// only) and signature length are checked (idtoken panics on short
// signatures); after idtoken has checked the signature, the issuer,
// audience, expiry and issue time are checked again with our own clock.
package iap

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"google.golang.org/api/idtoken"
	"google.golang.org/api/option"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// Issuer is IAP's iss claim.
const Issuer = "https://cloud.google.com/iap"

const (
	// maxAssertionBytes bounds what is parsed; real assertions are ~1 KiB.
	maxAssertionBytes = 8 << 10
	// leeway tolerates clock skew between IAP and this instance.
	leeway = 30 * time.Second
	// maxLifetime rejects assertions that claim to live for longer than
	// IAP's ever do (10 minutes).
	maxLifetime = time.Hour
	msgInvalid  = "Invalid IAP assertion"
	// defaultKeyFetchTimeout bounds fetching IAP's public keys when no
	// WithKeyFetchTimeout is given: without a bound, a slow key endpoint
	// would hold every request that needs a fresh key.
	defaultKeyFetchTimeout = 10 * time.Second
)

// Verifier verifies IAP assertions.
type Verifier struct {
	validator    *idtoken.Validator
	audience     string
	hostedDomain string
	keyTimeout   time.Duration
	clock        func() time.Time
}

// Option configures a Verifier.
type Option func(*settings)

type settings struct {
	client       *http.Client
	clock        func() time.Time
	keyTimeout   time.Duration
	hostedDomain string
}

// WithHTTPClient sets the client that fetches IAP's public keys; tests and
// the demo route it to the emulator.
func WithHTTPClient(c *http.Client) Option { return func(s *settings) { s.client = c } }

// WithClock sets the clock for expiry checks.
func WithClock(clock func() time.Time) Option { return func(s *settings) { s.clock = clock } }

// WithKeyFetchTimeout bounds each verification's wait for IAP's public
// keys (fetched when the cached ones expire); 0 means 10 seconds.
func WithKeyFetchTimeout(d time.Duration) Option { return func(s *settings) { s.keyTimeout = d } }

// WithHostedDomain accepts only assertions whose hd claim (the Google
// Workspace or Cloud Identity domain of the account) is domain
// (IAP_HOSTED_DOMAIN); "" accepts any, and accounts without one.
func WithHostedDomain(domain string) Option {
	return func(s *settings) { s.hostedDomain = strings.ToLower(domain) }
}

// NewVerifier returns a Verifier for assertions with the given audience.
// An empty audience disables the audience check (IAP_VERIFY_AUDIENCE=false):
// signature, issuer and expiry are still checked.
func NewVerifier(ctx context.Context, audience string, opts ...Option) (*Verifier, error) {
	var s settings
	for _, o := range opts {
		o(&s)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.keyTimeout <= 0 {
		s.keyTimeout = defaultKeyFetchTimeout
	}
	var copts []idtoken.ClientOption
	if s.client != nil {
		copts = append(copts, option.WithHTTPClient(s.client))
	}
	v, err := idtoken.NewValidator(ctx, copts...)
	if err != nil {
		return nil, fmt.Errorf("iap: building the token validator: %w", err)
	}
	return &Verifier{validator: v, audience: audience, hostedDomain: s.hostedDomain, keyTimeout: s.keyTimeout, clock: s.clock}, nil
}

// header is the JOSE header of an assertion.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// claims are the assertion claims we read.
type claims struct {
	Iss    string          `json:"iss"`
	Aud    json.RawMessage `json:"aud"`
	Sub    string          `json:"sub"`
	Email  string          `json:"email"`
	Hd     string          `json:"hd"`
	Iat    *int64          `json:"iat"`
	Exp    *int64          `json:"exp"`
	Google *struct {
		DeviceID     string   `json:"device_id"`
		AccessLevels []string `json:"access_levels"`
	} `json:"google"`
}

var accessLevelPattern = regexp.MustCompile(`^accessPolicies/[0-9]{1,20}/accessLevels/[A-Za-z0-9_]{1,50}$`)

func invalid(format string, args ...any) error {
	return jit.E("iap.Verify", jit.KindUnauthenticated, msgInvalid, fmt.Errorf(format, args...))
}

// Verify checks an assertion and returns the principal it vouches for.
// Every failure is a KindUnauthenticated *jit.Error whose message is safe
// to show and whose cause (for the log) says exactly what was wrong;
// failures to fetch IAP's keys are KindUnavailable.
func (v *Verifier) Verify(ctx context.Context, assertion string) (jit.Principal, error) {
	if assertion == "" {
		return jit.Principal{}, invalid("the assertion is empty")
	}
	if len(assertion) > maxAssertionBytes {
		return jit.Principal{}, invalid("the assertion is %d bytes long", len(assertion))
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return jit.Principal{}, invalid("the assertion has %d parts, not 3", len(parts))
	}
	var h header
	if err := decodePart(parts[0], &h); err != nil {
		return jit.Principal{}, invalid("header: %v", err)
	}
	if h.Alg != "ES256" {
		return jit.Principal{}, invalid("algorithm %q is not ES256", h.Alg)
	}
	if h.Kid == "" {
		return jit.Principal{}, invalid("the header has no key id")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return jit.Principal{}, invalid("signature encoding: %v", err)
	}
	if len(sig) != 64 {
		return jit.Principal{}, invalid("the ES256 signature is %d bytes, not 64", len(sig))
	}
	var c claims
	if err := decodePart(parts[1], &c); err != nil {
		return jit.Principal{}, invalid("claims: %v", err)
	}
	// Validate fetches IAP's keys when its cache has none fresh.
	vctx, cancel := context.WithTimeout(ctx, v.keyTimeout)
	_, err = v.validator.Validate(vctx, assertion, v.audience)
	cancel()
	if err != nil {
		if isKeyFetchFailure(err) {
			return jit.Principal{}, jit.E("iap.Verify", jit.KindUnavailable, "IAP's public keys could not be fetched, try again", err)
		}
		return jit.Principal{}, invalid("validation: %v", err)
	}
	return v.checkClaims(c)
}

// checkClaims does what idtoken does not: issuer, exact audience, expiry
// and issue time against our clock, and a well-formed identity.
func (v *Verifier) checkClaims(c claims) (jit.Principal, error) {
	now := v.clock()
	if c.Iss != Issuer {
		return jit.Principal{}, invalid("issuer %q is not %s", c.Iss, Issuer)
	}
	var aud string
	if err := json.Unmarshal(c.Aud, &aud); err != nil {
		return jit.Principal{}, invalid("the audience is not a single string")
	}
	if v.audience != "" && aud != v.audience {
		return jit.Principal{}, invalid("audience %q, expected %q", aud, v.audience)
	}
	if c.Exp == nil || c.Iat == nil {
		return jit.Principal{}, invalid("exp or iat is missing")
	}
	exp, iat := time.Unix(*c.Exp, 0), time.Unix(*c.Iat, 0)
	switch {
	case now.After(exp.Add(leeway)):
		return jit.Principal{}, invalid("expired at %v", exp)
	case iat.After(now.Add(leeway)):
		return jit.Principal{}, invalid("issued in the future, at %v", iat)
	case exp.Sub(iat) > maxLifetime || !exp.After(iat):
		return jit.Principal{}, invalid("implausible lifetime from %v to %v", iat, exp)
	}
	email, err := jit.ParseUserID(c.Email)
	if err != nil {
		return jit.Principal{}, invalid("email: %v", err)
	}
	if c.Sub == "" || len(c.Sub) > 128 {
		return jit.Principal{}, invalid("the subject is missing or too long")
	}
	if v.hostedDomain != "" && strings.ToLower(c.Hd) != v.hostedDomain {
		return jit.Principal{}, invalid("hosted domain %q, expected %q", c.Hd, v.hostedDomain)
	}
	p := jit.Principal{Email: email, Subject: c.Sub}
	if g := c.Google; g != nil {
		if len(g.DeviceID) > 128 {
			return jit.Principal{}, invalid("the device id is too long")
		}
		p.DeviceID = g.DeviceID
		for _, l := range g.AccessLevels {
			if !accessLevelPattern.MatchString(l) {
				return jit.Principal{}, invalid("access level %q is malformed", l)
			}
			p.AccessLevels = append(p.AccessLevels, l)
		}
	}
	return p, nil
}

func decodePart(part string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return fmt.Errorf("not base64url: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return nil
}

// isKeyFetchFailure tells a failure to reach IAP's key endpoint from a
// bad token, by the errors idtoken's HTTP client returns.
func isKeyFetchFailure(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue) || strings.Contains(err.Error(), "unable to retrieve cert")
}

// AppEngineAudience is the audience of assertions for an App Engine app.
func AppEngineAudience(projectNumber, projectID string) (string, error) {
	if !isDigits(projectNumber) || projectID == "" {
		return "", fmt.Errorf("iap: App Engine audience needs a numeric project number and a project id")
	}
	return "/projects/" + projectNumber + "/apps/" + projectID, nil
}

// CloudRunServiceAudience is the audience of assertions for a Cloud Run
// service with IAP enabled on the service itself (no load balancer), as
// Google's signed-headers documentation gives it:
// /projects/PROJECT_NUMBER/locations/REGION/services/SERVICE_NAME.
func CloudRunServiceAudience(projectNumber, region, service string) (string, error) {
	if !isDigits(projectNumber) || !namePattern.MatchString(region) || !namePattern.MatchString(service) {
		return "", fmt.Errorf("iap: Cloud Run service audience needs a numeric project number, a region and a service name")
	}
	return "/projects/" + projectNumber + "/locations/" + region + "/services/" + service, nil
}

// namePattern matches Cloud Run service names and regions.
var namePattern = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

// CloudRunAudience is the audience of assertions for a backend service
// of a load balancer (Cloud Run behind IAP).
func CloudRunAudience(projectNumber, backendServiceID string) (string, error) {
	if !isDigits(projectNumber) || !isDigits(backendServiceID) {
		return "", fmt.Errorf("iap: Cloud Run audience needs a numeric project number and backend service id")
	}
	return "/projects/" + projectNumber + "/global/backendServices/" + backendServiceID, nil
}

func isDigits(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
