// Package emulated points the production wiring (internal/app) at the
// emulator: it builds the app.Environment whose client options, IAP key
// client and key URLs reach an emulator.Emulator instead of Google, and a
// configuration that fits the emulator's demo world. The demo binary and
// the end-to-end tests use it, so that they run exactly the production
// code with only endpoints and keys changed. Never linked into
// cmd/jitaccess.
package emulated

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	mrpb "google.golang.org/genproto/googleapis/api/monitoredres"

	"github.com/jitaccess/jitaccess/internal/app"
	"github.com/jitaccess/jitaccess/internal/audit"
	"github.com/jitaccess/jitaccess/internal/emulator"
)

// The demo world's identity of the app itself.
const (
	ProjectID         = "jitaccess-app"
	ProjectNumber     = "424242424242"
	BackendServiceID  = "7777777777"
	ServiceAccount    = "jitaccess@jitaccess-app.iam.gserviceaccount.com"
	Scope             = "organizations/123456789012"
	Audience          = "/projects/" + ProjectNumber + "/global/backendServices/" + BackendServiceID
	SMTPUser          = "jitaccess"
	SMTPPassword      = "demo-only-password"
	SenderAddress     = "jitaccess@example.com"
	JustificationHint = "Ticket number, e.g. INC-1234 or CHG-1234"
	// IAPClientID is the OAuth client ID of the demo's IAP: the audience
	// of the ID tokens that jitctl sends (IAP's programmatic
	// authentication).
	IAPClientID = ProjectNumber + "-iapdemo.apps.googleusercontent.com"
)

// Environment returns the Environment of an app that talks to e, and mails
// through an SMTP server trusting smtpTLS.
func Environment(e *emulator.Emulator, smtpTLS *tls.Config, logger *slog.Logger, clock func() time.Time) app.Environment {
	ep := e.Endpoints()
	return app.Environment{
		Logger:                logger,
		Version:               "demo",
		ResourceManager:       e.HTTPClientOptions(),
		CloudIdentity:         e.HTTPClientOptions(),
		Directory:             e.HTTPClientOptions(),
		IAMCredentials:        e.HTTPClientOptions(),
		Asset:                 e.GRPCClientOptions(),
		Logging:               e.GRPCClientOptions(),
		SecretManager:         e.GRPCClientOptions(),
		IAPKeysHTTPClient:     RedirectClient(ep.ResourceManager),
		ServiceAccountKeysURL: ep.IAMCredentials + "service_accounts/v1/metadata/jwk/",
		SMTPTLSConfig:         smtpTLS,
		// The app's stdout, as App Engine ingests it: audit entries land in
		// the emulator's stdout log, where the history finds them.
		Stdout: e.Logging.StdoutWriter("projects/"+ProjectID+"/logs/"+audit.AppEngineStdoutLog,
			&mrpb.MonitoredResource{Type: "gae_app", Labels: map[string]string{"project_id": ProjectID, "module_id": "default"}}),
		Clock: clock,
	}
}

// Config returns the environment variables of an app in the demo world,
// with smtpAddr as the mail server and externalURL as its own address;
// overrides replace or add variables.
func Config(smtpAddr, externalURL string, overrides map[string]string) func(string) (string, bool) {
	host, port := splitHostPort(smtpAddr)
	vars := map[string]string{
		"GOOGLE_CLOUD_PROJECT":             ProjectID,
		"PROJECT_NUMBER":                   ProjectNumber,
		"SERVICE_ACCOUNT":                  ServiceAccount,
		"IAP_BACKEND_SERVICE_ID":           BackendServiceID,
		"RESOURCE_SCOPE":                   Scope,
		"RESOURCE_CATALOG":                 "PolicyAnalyzer",
		"ACTIVATION_TIMEOUT":               "120",
		"JUSTIFICATION_HINT":               JustificationHint,
		"JUSTIFICATION_PATTERN":            `(INC|CHG|BUG)-[0-9]+.*`,
		"ACTIVATION_REQUEST_TIMEOUT":       "60",
		"SMTP_HOST":                        host,
		"SMTP_PORT":                        port,
		"SMTP_ENABLE_STARTTLS":             "true",
		"SMTP_SENDER_NAME":                 "JIT Access (demo)",
		"SMTP_SENDER_ADDRESS":              SenderAddress,
		"SMTP_USERNAME":                    SMTPUser,
		"SMTP_PASSWORD":                    SMTPPassword,
		"EXTERNAL_URL":                     externalURL,
		"NOTIFICATION_TIMEZONE":            "UTC",
		"ACTIVATION_REQUEST_MIN_REVIEWERS": "1",
		// The demo world's security team administers and audits access.
		"ADMINISTRATOR_GROUP": "security@example.com",
		"AUDITOR_GROUP":       "security@example.com",
	}
	for k, v := range overrides {
		vars[k] = v
	}
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func splitHostPort(addr string) (string, string) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			if _, err := strconv.Atoi(addr[i+1:]); err == nil {
				return addr[:i], addr[i+1:]
			}
		}
	}
	return addr, "25"
}

// RedirectClient sends every request to the host of base, keeping the
// path: idtoken fetches IAP's keys from www.gstatic.com, and the emulator
// serves them at the same path.
func RedirectClient(base string) *http.Client {
	u, err := url.Parse(base)
	if err != nil {
		return http.DefaultClient
	}
	transport := http.DefaultTransport
	return &http.Client{Timeout: 10 * time.Second, Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host, r.Host = u.Scheme, u.Host, u.Host
		return transport.RoundTrip(r)
	})}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
