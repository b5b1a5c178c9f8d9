package config

import (
	"log/slog"
	"net"
	"net/url"
	"strconv"

	"github.com/jitaccess/jitaccess/internal/redact"
)

// Ops holds the settings of metrics, chat and webhook notifications
// (docs/operations.md).
type Ops struct {
	// MetricsAddr is METRICS_ADDR: host:port of the Prometheus listener,
	// separate from PORT so that IAP never puts it on the internet; empty
	// means no metrics.
	MetricsAddr string
	// ChatWebhookURL is CHAT_WEBHOOK_URL, a Google Chat incoming webhook.
	// Its key and token are credentials: never logged.
	ChatWebhookURL *url.URL
	// ChatWebhookSecret is CHAT_WEBHOOK_SECRET, a Secret Manager version
	// holding the webhook's URL; wins over ChatWebhookURL.
	ChatWebhookSecret string
	// WebhookURL is WEBHOOK_URL, where CloudEvents are posted.
	WebhookURL *url.URL
	// WebhookSigningKey is WEBHOOK_SIGNING_KEY, the HMAC-SHA256 key (secret).
	WebhookSigningKey string
	// WebhookSecret is WEBHOOK_SECRET, a Secret Manager version holding
	// the signing key; wins over WebhookSigningKey.
	WebhookSecret string
}

// ChatConfigured reports whether Google Chat messages are sent.
func (o Ops) ChatConfigured() bool { return o.ChatWebhookURL != nil || o.ChatWebhookSecret != "" }

// WebhookConfigured reports whether CloudEvents webhooks are sent.
func (o Ops) WebhookConfigured() bool { return o.WebhookURL != nil }

var opsVariables = []string{
	"METRICS_ADDR", "CHAT_WEBHOOK_URL", "CHAT_WEBHOOK_SECRET",
	"WEBHOOK_URL", "WEBHOOK_SIGNING_KEY", "WEBHOOK_SECRET",
}

func (c *Config) loadOps(r *reader) {
	o := &c.Ops
	if v, ok := r.value("METRICS_ADDR"); ok {
		host, port, err := net.SplitHostPort(v)
		n, perr := strconv.Atoi(port)
		switch {
		case err != nil || perr != nil || n < 0 || n > 65535:
			r.fail("METRICS_ADDR", v, "must be host:port, such as 127.0.0.1:9090 or :9090")
		case n == c.Port && (host == "" || host == "0.0.0.0" || host == "::"):
			r.fail("METRICS_ADDR", v, "must not be the app's PORT: metrics are served on their own port, which IAP does not reach")
		default:
			o.MetricsAddr = v
		}
	}
	if v, ok := r.value("CHAT_WEBHOOK_URL"); ok {
		// The URL carries the webhook's key and token: not repeated in errors.
		if u, msg := parseWebhookURL(v); msg != "" {
			r.errs = append(r.errs, &VarError{Name: "CHAT_WEBHOOK_URL", Secret: true, Msg: msg})
		} else {
			o.ChatWebhookURL = u
		}
	}
	o.ChatWebhookSecret = r.secretVersion("CHAT_WEBHOOK_SECRET")
	if v, ok := r.value("WEBHOOK_URL"); ok {
		if u, msg := parseWebhookURL(v); msg != "" {
			r.fail("WEBHOOK_URL", redact.URL(v), "%s", msg)
		} else {
			o.WebhookURL = u
		}
	}
	o.WebhookSigningKey = r.str("", "WEBHOOK_SIGNING_KEY")
	o.WebhookSecret = r.secretVersion("WEBHOOK_SECRET")
	switch {
	case o.WebhookURL != nil && o.WebhookSigningKey == "" && o.WebhookSecret == "":
		r.fail("WEBHOOK_SECRET", "", "required with WEBHOOK_URL: the Secret Manager version of the key that signs webhooks (or WEBHOOK_SIGNING_KEY)")
	case o.WebhookURL == nil && (o.WebhookSigningKey != "" || o.WebhookSecret != ""):
		r.fail("WEBHOOK_URL", "", "required when WEBHOOK_SECRET or WEBHOOK_SIGNING_KEY is set")
	case o.WebhookSecret == "" && o.WebhookSigningKey != "" && len(o.WebhookSigningKey) < 16:
		r.errs = append(r.errs, &VarError{Name: "WEBHOOK_SIGNING_KEY", Secret: true, Msg: "must be at least 16 characters long"})
	}
}

// secretVersion reads a Secret Manager version name.
func (r *reader) secretVersion(name string) string {
	v, ok := r.value(name)
	if !ok {
		return ""
	}
	if !secretVersionPattern.MatchString(v) {
		r.fail(name, v, "must be a Secret Manager version name: projects/PROJECT/secrets/NAME/versions/VERSION")
		return ""
	}
	return v
}

// parseWebhookURL accepts https URLs, and http only on loopback (tests and
// local receivers): a webhook carries who asked for which role, and the
// signature proves the sender, not secrecy.
func parseWebhookURL(v string) (*url.URL, string) {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, "must be an absolute https URL"
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, "must use https (http is allowed only for localhost and loopback addresses)"
		}
	default:
		return nil, "must be an absolute https URL"
	}
	if u.User != nil || u.Fragment != "" {
		return nil, "must not contain user information or a fragment"
	}
	return u, ""
}

func (o Ops) logAttrs() []slog.Attr {
	webhook := ""
	if o.WebhookURL != nil {
		webhook = redact.Parsed(o.WebhookURL)
	}
	return []slog.Attr{
		slog.String("metrics_addr", o.MetricsAddr),
		slog.Bool("chat_webhook_configured", o.ChatConfigured()),
		slog.String("chat_webhook_secret", o.ChatWebhookSecret),
		slog.String("webhook_url", webhook),
		slog.Bool("webhook_signing_key_set", o.WebhookSigningKey != ""),
		slog.String("webhook_secret", o.WebhookSecret),
	}
}
