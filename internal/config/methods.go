package config

import (
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
	"github.com/jitaccess/jitaccess/internal/redact"
)

// Policy returns the activation rules for the domain.
func (c *Config) Policy() jit.Policy {
	return jit.Policy{
		MaxDuration:            c.ActivationTimeout,
		MaxRoles:               c.MaxRoles,
		MinReviewers:           c.MinReviewers,
		MaxReviewers:           c.MaxReviewers,
		JustificationPattern:   c.JustificationPattern,
		JustificationHint:      c.JustificationHint,
		RequireApprovalComment: c.ApprovalCommentRequired,
	}
}

// RequestLifetime is how long an approval request stays valid:
// min(ACTIVATION_REQUEST_TIMEOUT, ACTIVATION_TIMEOUT), as in the original.
func (c *Config) RequestLifetime() time.Duration {
	return min(c.RequestTimeout, c.ActivationTimeout)
}

// SMTPConfigured reports whether email can be sent: host, port, sender name
// and sender address are all set (the original's isSmtpConfigured). When it
// is false the original logged "The SMTP configuration is incomplete" and
// sent no email.
func (c *Config) SMTPConfigured() bool {
	s := c.SMTP
	return s.Host != "" && s.Port > 0 && s.SenderName != "" && s.SenderAddress != ""
}

// SMTPAuthenticated reports whether the mailer should authenticate: a
// username and a password or secret are set (the original's rule).
func (c *Config) SMTPAuthenticated() bool {
	return c.SMTP.Username != "" && (c.SMTP.Password != "" || c.SMTP.Secret != "")
}

// NotificationTopicName returns the full Pub/Sub topic name
// "projects/P/topics/T", or "" when NOTIFICATION_TOPIC is unset. Like the
// original, the topic lives in the app's own project.
func (c *Config) NotificationTopicName() string {
	if c.NotificationTopic == "" || c.ProjectID == "" {
		return ""
	}
	return "projects/" + c.ProjectID + "/topics/" + c.NotificationTopic
}

// IAPAudience returns the audience IAP assertions must carry, or "" when the
// audience is not checked (IAP_VERIFY_AUDIENCE=false) or cannot be known
// (running locally without a backend service, or on Cloud Run without a
// region). projectNumber and region (of Cloud Run) come from the metadata
// server; PROJECT_NUMBER overrides the first, IAP_AUDIENCE both.
//
// In order: IAP_AUDIENCE; App Engine's /projects/N/apps/PROJECT_ID;
// IAP_BACKEND_SERVICE_ID's /projects/N/global/backendServices/ID (a load
// balancer); on Cloud Run, the service's own
// /projects/N/locations/REGION/services/K_SERVICE (IAP on the service).
func (c *Config) IAPAudience(projectNumber, region string) string {
	if c.ProjectNumber != "" {
		projectNumber = c.ProjectNumber
	}
	switch {
	case !c.IAPVerifyAudience:
		return ""
	case c.IAPAudienceOverride != "":
		return c.IAPAudienceOverride
	case c.Platform == PlatformAppEngine:
		return "/projects/" + projectNumber + "/apps/" + c.ProjectID
	case c.IAPBackendServiceID != "":
		return "/projects/" + projectNumber + "/global/backendServices/" + c.IAPBackendServiceID
	case c.Platform == PlatformCloudRun && region != "":
		return "/projects/" + projectNumber + "/locations/" + region + "/services/" + c.Service
	}
	return ""
}

// NeedsRegion reports whether IAPAudience needs the Cloud Run region.
func (c *Config) NeedsRegion() bool {
	return c.Platform == PlatformCloudRun && c.IAPVerifyAudience && c.IAPAudienceOverride == "" && c.IAPBackendServiceID == ""
}

const redacted = "REDACTED"

// Redacted returns a copy that is safe to log: the SMTP password and
// option values that look like credentials are replaced.
func (c *Config) Redacted() *Config {
	cp := *c
	if cp.SMTP.Password != "" {
		cp.SMTP.Password = redacted
	}
	if cp.Ops.WebhookSigningKey != "" {
		cp.Ops.WebhookSigningKey = redacted
	}
	// Every URL loses its credentials: a Chat webhook's key and token, a
	// webhook receiver's token in the query or the path, any userinfo.
	cp.Ops.ChatWebhookURL = redactedURL(cp.Ops.ChatWebhookURL)
	cp.Ops.WebhookURL = redactedURL(cp.Ops.WebhookURL)
	cp.ExternalURL = redactedURL(cp.ExternalURL)
	if cp.SMTP.Options != nil {
		cp.SMTP.Options = maps.Clone(cp.SMTP.Options)
		for k := range cp.SMTP.Options {
			if isSecretKey(k) {
				cp.SMTP.Options[k] = redacted
			}
		}
	}
	return &cp
}

// redactedURL is u with its credentials replaced (internal/redact).
func redactedURL(u *url.URL) *url.URL {
	if u == nil {
		return nil
	}
	r, err := url.Parse(redact.Parsed(u))
	if err != nil {
		return &url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/" + redact.Mark}
	}
	return r
}

func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"pass", "secret", "token", "key", "credential"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// LogValue logs the effective configuration, secrets redacted, with the
// environment variables' names as keys so that operators recognise them.
func (c *Config) LogValue() slog.Value {
	r := c.Redacted()
	pattern := ""
	if r.JustificationPattern != nil {
		pattern = r.JustificationPattern.String()
	}
	externalURL := ""
	if r.ExternalURL != nil {
		externalURL = r.ExternalURL.String()
	}
	tz := ""
	if r.NotificationTimezone != nil {
		tz = r.NotificationTimezone.String()
	}
	opts := make([]string, 0, len(r.SMTP.Options))
	for _, k := range slices.Sorted(maps.Keys(r.SMTP.Options)) {
		opts = append(opts, k+"="+r.SMTP.Options[k])
	}
	return slog.GroupValue(append([]slog.Attr{
		slog.String("platform", string(r.Platform)),
		slog.String("service", r.Service),
		slog.Int("port", r.Port),
		slog.String("google_cloud_project", r.ProjectID),
		slog.String("project_number", r.ProjectNumber),
		slog.String("service_account", string(r.ServiceAccount)),
		slog.String("external_url", externalURL),
		slog.String("log_level", r.LogLevel.String()),
		slog.String("audit_log", string(r.AuditLog)),
		slog.String("resource_scope", r.Scope.String()),
		slog.String("resource_catalog", string(r.Catalog)),
		slog.String("resource_customer_id", r.CustomerID),
		slog.String("group_membership", string(r.GroupMembership)),
		slog.Int("activation_timeout", int(r.ActivationTimeout/time.Minute)),
		slog.String("justification_hint", r.JustificationHint),
		slog.String("justification_pattern", pattern),
		slog.Int("activation_request_max_roles", r.MaxRoles),
		slog.String("available_projects_query", r.AvailableProjectsQuery),
		slog.Int("activation_request_timeout", int(r.RequestTimeout/time.Minute)),
		slog.Int("activation_request_min_reviewers", r.MinReviewers),
		slog.Int("activation_request_max_reviewers", r.MaxReviewers),
		slog.String("smtp_host", r.SMTP.Host),
		slog.Int("smtp_port", r.SMTP.Port),
		slog.Bool("smtp_enable_starttls", r.SMTP.EnableStartTLS),
		slog.String("smtp_sender_name", r.SMTP.SenderName),
		slog.String("smtp_sender_address", r.SMTP.SenderAddress),
		slog.String("smtp_username", r.SMTP.Username),
		slog.String("smtp_password", r.SMTP.Password),
		slog.String("smtp_secret", r.SMTP.Secret),
		slog.String("smtp_options", strings.Join(opts, ",")),
		slog.String("smtp_address_mapping", r.SMTP.AddressMapping),
		slog.Bool("smtp_configured", r.SMTPConfigured()),
		slog.String("notification_timezone", tz),
		slog.String("notification_topic", r.NotificationTopic),
		slog.String("iap_backend_service_id", r.IAPBackendServiceID),
		slog.String("iap_audience", r.IAPAudienceOverride),
		slog.String("iap_hosted_domain", r.IAPHostedDomain),
		slog.Int("rate_limit_requests", r.RateLimitRequests),
		slog.Int("rate_limit_emails", r.RateLimitEmails),
		slog.Bool("iap_verify_audience", r.IAPVerifyAudience),
		slog.Int("backend_connect_timeout", int(r.BackendConnectTimeout/time.Second)),
		slog.Int("backend_read_timeout", int(r.BackendReadTimeout/time.Second)),
		slog.Int("backend_write_timeout", int(r.BackendWriteTimeout/time.Second)),
		slog.Int("catalog_cache_ttl", int(r.CatalogCacheTTL/time.Second)),
	}, r.Ops.logAttrs()...)...)
}
