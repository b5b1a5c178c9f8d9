package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
	"github.com/jitaccess/jitaccess/internal/redact"
)

// Config is the validated configuration. Zero values never reach the rest of
// the app: Load fills every field with a value or its default.
type Config struct {
	// Platform and process.
	Platform       Platform   // from GAE_SERVICE / K_SERVICE
	Service        string     // value of GAE_SERVICE or K_SERVICE, empty when Local
	Port           int        // PORT, default 8080
	ProjectID      string     // GOOGLE_CLOUD_PROJECT, the app's own project
	ProjectNumber  string     // PROJECT_NUMBER (ours): overrides the metadata server's
	ServiceAccount jit.UserID // SERVICE_ACCOUNT (ours): overrides the metadata server's
	ExternalURL    *url.URL   // EXTERNAL_URL (ours): base of approval links; nil when unset
	LogLevel       slog.Level // LOG_LEVEL (ours), default info
	AuditLog       AuditLog   // AUDIT_LOG (ours), default stdout

	// Basic.
	Scope                  Scope           // RESOURCE_SCOPE
	Catalog                Catalog         // RESOURCE_CATALOG
	CustomerID             string          // RESOURCE_CUSTOMER_ID, empty when unset
	GroupMembership        GroupMembership // GROUP_MEMBERSHIP (ours), default direct
	ActivationTimeout      time.Duration   // ACTIVATION_TIMEOUT (alias ELEVATION_DURATION), minutes
	JustificationHint      string          // JUSTIFICATION_HINT
	JustificationPattern   *regexp.Regexp  // JUSTIFICATION_PATTERN, anchored ^(?:…)$
	MaxRoles               int             // ACTIVATION_REQUEST_MAX_ROLES
	AvailableProjectsQuery string          // AVAILABLE_PROJECTS_QUERY, empty: use the catalog

	// Multi-party approval.
	RequestTimeout time.Duration // ACTIVATION_REQUEST_TIMEOUT, minutes
	MinReviewers   int           // ACTIVATION_REQUEST_MIN_REVIEWERS
	MaxReviewers   int           // ACTIVATION_REQUEST_MAX_REVIEWERS
	Approvals      int           // ACTIVATION_REQUEST_APPROVALS; 0 when unset (one approval), see approvals.go
	// ApprovalCommentRequired is ACTIVATION_APPROVAL_COMMENT=required:
	// every approval needs a comment (approvals.go).
	ApprovalCommentRequired bool

	// Email and notifications.
	SMTP                 SMTP
	NotificationTimezone *time.Location // NOTIFICATION_TIMEZONE
	NotificationTopic    string         // NOTIFICATION_TOPIC, a topic name in ProjectID

	// IAP and Google API calls.
	IAPBackendServiceID   string        // IAP_BACKEND_SERVICE_ID (Cloud Run behind a load balancer)
	IAPAudienceOverride   string        // IAP_AUDIENCE (ours): the exact audience, instead of deriving it
	IAPHostedDomain       string        // IAP_HOSTED_DOMAIN (ours): required hd claim, lower case; empty: any
	IAPVerifyAudience     bool          // IAP_VERIFY_AUDIENCE
	BackendConnectTimeout time.Duration // BACKEND_CONNECT_TIMEOUT, seconds
	BackendReadTimeout    time.Duration // BACKEND_READ_TIMEOUT, seconds
	BackendWriteTimeout   time.Duration // BACKEND_WRITE_TIMEOUT, seconds

	// CatalogCacheTTL is CATALOG_CACHE_TTL, seconds: how long one user's
	// read results (eligibility, projects, roles, peers) are reused; 0
	// turns the cache off.
	CatalogCacheTTL time.Duration
	// Per-user rate limits (ours), per instance; 0 disables.
	RateLimitRequests int // RATE_LIMIT_REQUESTS: /api requests per user per minute
	RateLimitEmails   int // RATE_LIMIT_EMAILS: approval-request emails (one per reviewer) per user per hour

	// Warnings are problems that do not stop the app from starting,
	// because the original accepted them (a boolean such as "1", an
	// SMTP_OPTIONS item that is not key=value): main logs each one.
	Warnings []string
	// Metrics, chat and webhooks (ops.go).
	Ops Ops
	// Access lifecycle (lifecycle.go).
	Lifecycle Lifecycle
}

// SMTP holds the SMTP_* settings.
type SMTP struct {
	Host           string            // SMTP_HOST
	Port           int               // SMTP_PORT
	EnableStartTLS bool              // SMTP_ENABLE_STARTTLS
	SenderName     string            // SMTP_SENDER_NAME
	SenderAddress  string            // SMTP_SENDER_ADDRESS, empty when unset
	Username       string            // SMTP_USERNAME
	Password       string            // SMTP_PASSWORD (secret: never logged)
	Secret         string            // SMTP_SECRET, projects/P/secrets/S/versions/V; wins over Password
	Options        map[string]string // SMTP_OPTIONS, JavaMail-style properties
	AddressMapping string            // SMTP_ADDRESS_MAPPING, a CEL expression (compiled by the mailer)
}

// Defaults of the original (reference §1) where it has them.
const (
	DefaultPort                  = 8080
	DefaultActivationTimeout     = 120 * time.Minute
	DefaultJustificationHint     = "Bug or case number"
	DefaultJustificationPattern  = ".*"
	DefaultMaxRoles              = 10
	DefaultRequestTimeout        = 60 * time.Minute
	DefaultMinReviewers          = 1
	DefaultMaxReviewers          = 10
	DefaultSMTPHost              = "smtp.gmail.com"
	DefaultSMTPPort              = 587
	DefaultSMTPSenderName        = "JIT Access"
	DefaultBackendConnectTimeout = 5 * time.Second
	DefaultBackendReadTimeout    = 20 * time.Second
	DefaultBackendWriteTimeout   = 5 * time.Second
	// DefaultCatalogCacheTTL is short next to the Cloud Asset index's own
	// lag (minutes), and long enough to cover one visit to the app.
	DefaultCatalogCacheTTL = 30 * time.Second
	// DefaultRateLimitRequests is far above what the UI sends (a page load
	// is a handful of requests), and low enough to stop a script.
	DefaultRateLimitRequests = 120
	// DefaultRateLimitEmails lets a user ask a few reviewers for a few
	// roles each hour, not flood their peers' inboxes.
	DefaultRateLimitEmails = 50
	// DefaultAssetInventoryProjectsQuery is AVAILABLE_PROJECTS_QUERY's
	// default when RESOURCE_CATALOG is AssetInventory.
	DefaultAssetInventoryProjectsQuery = "state:ACTIVE"
)

// Limits beyond the original's, chosen to refuse typos rather than to
// restrict real deployments.
const (
	maxMinutes = 366 * 24 * 60 // a year and a day; also keeps time.Duration far from overflow
	maxSeconds = 600
	// maxRequestMinutes is signJwt's 12-hour limit on a token's lifetime.
	maxRequestMinutes = 12 * 60
	maxCount          = 1000
	maxValueLength    = 4096
)

var (
	secretVersionPattern = regexp.MustCompile(`^projects/[^/]+/secrets/[^/]+/versions/[^/]+$`)
	// Pub/Sub topic names: 3 to 255 characters, starting with a letter.
	topicPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$`)
	// The three audience formats of Google's signed-headers documentation.
	audiencePattern = regexp.MustCompile(`^/projects/[0-9]{1,20}/(apps/[a-z][a-z0-9.:-]{0,62}|global/backendServices/[0-9]{1,20}|locations/[a-z][a-z0-9-]{0,62}/services/[a-z]([a-z0-9-]{0,61}[a-z0-9])?)$`)
	domainPattern   = regexp.MustCompile(`^(?i)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	// Backend service IDs are unsigned 64-bit numbers.
	backendServicePattern = regexp.MustCompile(`^[0-9]{1,20}$`)
	// Workspace / Cloud Identity customer IDs look like C0123abcd.
	customerIDPattern = regexp.MustCompile(`^C[A-Za-z0-9]{1,20}$`)
)

// Load reads and validates the configuration. lookup is os.LookupEnv in
// production. The error joins one *VarError per bad variable.
func Load(lookup func(string) (string, bool)) (*Config, error) {
	r := &reader{lookup: lookup}
	c := &Config{}

	// Over-long values are refused before anything else looks at them.
	for _, name := range Variables() {
		if v, ok := lookup(name); ok && len(v) > maxValueLength {
			r.errs = append(r.errs, &VarError{Name: name, Secret: true,
				Msg: fmt.Sprintf("is %d bytes long; at most %d are allowed", len(v), maxValueLength)})
		}
	}
	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}

	c.loadPlatform(r)
	c.loadBasic(r)
	c.loadApproval(r)
	c.loadSMTP(r)
	c.loadNotifications(r)
	c.loadIAP(r)
	c.loadOps(r)
	c.loadApprovals(r)
	c.requireExternalURL(r)
	c.RateLimitRequests = r.integer(DefaultRateLimitRequests, 0, 100000, "RATE_LIMIT_REQUESTS")
	c.RateLimitEmails = r.integer(DefaultRateLimitEmails, 0, 100000, "RATE_LIMIT_EMAILS")
	c.loadLifecycle(r)

	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	c.Warnings = r.warnings
	return c, nil
}

// Variables lists every environment variable Load reads, for the length
// check and the documentation test.
func Variables() []string {
	return append([]string{
		"GAE_SERVICE", "K_SERVICE", "PORT", "GOOGLE_CLOUD_PROJECT", "PROJECT_NUMBER",
		"SERVICE_ACCOUNT", "EXTERNAL_URL", "LOG_LEVEL", "AUDIT_LOG",
		"RESOURCE_SCOPE", "RESOURCE_CATALOG", "RESOURCE_CUSTOMER_ID", "GROUP_MEMBERSHIP",
		"ELEVATION_DURATION", "ACTIVATION_TIMEOUT", "JUSTIFICATION_HINT", "JUSTIFICATION_PATTERN",
		"ACTIVATION_REQUEST_MAX_ROLES", "AVAILABLE_PROJECTS_QUERY",
		"ACTIVATION_REQUEST_TIMEOUT", "ACTIVATION_REQUEST_MIN_REVIEWERS", "ACTIVATION_REQUEST_MAX_REVIEWERS",
		"SMTP_HOST", "SMTP_PORT", "SMTP_ENABLE_STARTTLS", "SMTP_SENDER_NAME", "SMTP_SENDER_ADDRESS",
		"SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_SECRET", "SMTP_OPTIONS", "SMTP_ADDRESS_MAPPING",
		"NOTIFICATION_TIMEZONE", "NOTIFICATION_TOPIC",
		"IAP_BACKEND_SERVICE_ID", "IAP_AUDIENCE", "IAP_HOSTED_DOMAIN", "IAP_VERIFY_AUDIENCE",
		"BACKEND_CONNECT_TIMEOUT", "BACKEND_READ_TIMEOUT", "BACKEND_WRITE_TIMEOUT",
		"CATALOG_CACHE_TTL",
		"RATE_LIMIT_REQUESTS", "RATE_LIMIT_EMAILS",
	}, slices.Concat(opsVariables, approvalVariables, lifecycleVariables)...)
}

func (c *Config) loadPlatform(r *reader) {
	switch {
	case r.str("", "GAE_SERVICE") != "":
		c.Platform, c.Service = PlatformAppEngine, r.str("", "GAE_SERVICE")
	case r.str("", "K_SERVICE") != "":
		c.Platform, c.Service = PlatformCloudRun, r.str("", "K_SERVICE")
	default:
		c.Platform = PlatformLocal
	}
	c.Port = r.integer(DefaultPort, 1, 65535, "PORT")

	if v, ok := r.value("GOOGLE_CLOUD_PROJECT"); ok {
		if projectIDPattern.MatchString(v) {
			c.ProjectID = v
		} else {
			r.fail("GOOGLE_CLOUD_PROJECT", v, "must be a project ID (6 to 30 lower-case letters, digits or hyphens, starting with a letter)")
		}
	}
	if v, ok := r.value("PROJECT_NUMBER"); ok {
		if numericIDPattern.MatchString(v) {
			c.ProjectNumber = v
		} else {
			r.fail("PROJECT_NUMBER", v, "must be a project number (digits only)")
		}
	}
	if v, ok := r.value("SERVICE_ACCOUNT"); ok {
		sa, err := jit.ParseUserID(v)
		if err != nil || !strings.HasSuffix(string(sa), ".gserviceaccount.com") {
			r.fail("SERVICE_ACCOUNT", v, "must be a service account email address ending in .gserviceaccount.com")
		} else {
			c.ServiceAccount = sa
		}
	}
	if v, ok := r.value("EXTERNAL_URL"); ok {
		u, msg := parseExternalURL(v)
		if msg != "" {
			r.fail("EXTERNAL_URL", redact.URL(v), "%s", msg)
		} else {
			c.ExternalURL = u
		}
	}
	c.AuditLog = AuditLogStdout
	if v, ok := r.value("AUDIT_LOG"); ok {
		switch strings.ToLower(v) {
		case string(AuditLogStdout):
			c.AuditLog = AuditLogStdout
		case string(AuditLogCloudLogging):
			c.AuditLog = AuditLogCloudLogging
		default:
			r.fail("AUDIT_LOG", v, "must be stdout (the original's: the platform's stdout log) or cloud-logging (the Logging API, log jitaccess-audit)")
		}
	}
	c.LogLevel = slog.LevelInfo
	if v, ok := r.value("LOG_LEVEL"); ok {
		switch strings.ToLower(v) {
		case "debug":
			c.LogLevel = slog.LevelDebug
		case "info":
			c.LogLevel = slog.LevelInfo
		case "warn", "warning":
			c.LogLevel = slog.LevelWarn
		case "error":
			c.LogLevel = slog.LevelError
		default:
			r.fail("LOG_LEVEL", v, "must be debug, info, warning or error")
		}
	}
}

// requireExternalURL refuses to start without EXTERNAL_URL when approval
// requests can be sent (a mail server, a Pub/Sub topic or a webhook is
// configured): the link in them would otherwise be built from the Host
// header of the requester's request, which the requester chooses, so a
// requester could point the reviewer's email at a site of their own.
// Without any of these, no approval request can be sent, and links are
// never built.
func (c *Config) requireExternalURL(r *reader) {
	if c.ExternalURL != nil {
		return
	}
	var channels []string
	if c.SMTPConfigured() {
		channels = append(channels, "SMTP_SENDER_ADDRESS")
	}
	if c.NotificationTopic != "" {
		channels = append(channels, "NOTIFICATION_TOPIC")
	}
	if c.Ops.ChatConfigured() {
		channels = append(channels, "CHAT_WEBHOOK_URL")
	}
	if c.Ops.WebhookConfigured() {
		channels = append(channels, "WEBHOOK_URL")
	}
	if len(channels) > 0 {
		r.fail("EXTERNAL_URL", "", "required when notifications are configured (%s): the links in approval emails and events "+
			"must not be built from the Host header, which the requester controls; set it to the app's public URL, e.g. https://jit.example.com",
			strings.Join(channels, ", "))
	}
}

// parseExternalURL accepts an absolute https URL, or http for loopback
// addresses (local development), without query or fragment. The returned
// URL has no trailing slash, so that callers can append paths.
func parseExternalURL(v string) (*url.URL, string) {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, "must be an absolute URL such as https://jit.example.com"
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, "must use https (http is allowed only for localhost and loopback addresses)"
		}
	default:
		return nil, "must be an absolute URL such as https://jit.example.com"
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, "must not contain user information, a query or a fragment"
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) loadBasic(r *reader) {
	if v, ok := r.value("RESOURCE_SCOPE"); ok {
		s, err := ParseScope(v)
		if err != nil {
			r.fail("RESOURCE_SCOPE", v, "%v", err)
		}
		c.Scope = s
	} else if c.ProjectID != "" {
		c.Scope = Scope{Type: ScopeProject, ID: c.ProjectID}
	} else if _, set := r.value("GOOGLE_CLOUD_PROJECT"); !set {
		// The original defaulted to "projects/null" here (Cloud Run does not
		// set GOOGLE_CLOUD_PROJECT) and failed much later.
		r.fail("RESOURCE_SCOPE", "", "set it to organizations/ID, folders/ID or projects/ID (the default projects/$GOOGLE_CLOUD_PROJECT needs GOOGLE_CLOUD_PROJECT, which is not set)")
	}

	c.Catalog = CatalogPolicyAnalyzer
	if v, ok := r.value("RESOURCE_CATALOG"); ok {
		if cat, ok := parseCatalog(v); ok {
			c.Catalog = cat
		} else {
			r.fail("RESOURCE_CATALOG", v, "must be PolicyAnalyzer or AssetInventory")
		}
	}
	c.GroupMembership = GroupsDirect
	if v, ok := r.value("GROUP_MEMBERSHIP"); ok {
		switch strings.ToLower(v) {
		case string(GroupsDirect):
		case string(GroupsTransitive):
			c.GroupMembership = GroupsTransitive
		default:
			r.fail("GROUP_MEMBERSHIP", v, "must be direct (the Directory API, as 1.8.1) or transitive (Cloud Identity, nested groups count)")
		}
	}
	if v, ok := r.value("RESOURCE_CUSTOMER_ID"); ok {
		if customerIDPattern.MatchString(v) {
			c.CustomerID = v
		} else {
			r.fail("RESOURCE_CUSTOMER_ID", v, "must be a Cloud Identity customer ID starting with C, e.g. C0123abcd")
		}
	} else if c.Catalog == CatalogAssetInventory && c.GroupMembership == GroupsDirect {
		// The Directory API lists a customer's groups; Cloud Identity's
		// transitive search needs no customer.
		r.fail("RESOURCE_CUSTOMER_ID", "", "required when RESOURCE_CATALOG is AssetInventory and GROUP_MEMBERSHIP is direct (a customer ID starting with C, e.g. C0123abcd)")
	}

	// ELEVATION_DURATION is the deprecated name and is read first, as in
	// the original.
	c.ActivationTimeout = r.duration(DefaultActivationTimeout, time.Minute, "minutes", 1, maxMinutes,
		"ELEVATION_DURATION", "ACTIVATION_TIMEOUT")
	c.JustificationHint = r.str(DefaultJustificationHint, "JUSTIFICATION_HINT")

	pattern := r.str(DefaultJustificationPattern, "JUSTIFICATION_PATTERN")
	// The original used Java's Matcher.matches(), which must match the whole
	// input; RE2 finds substrings unless anchored.
	// The pattern is compiled alone first: otherwise "a)|(b" would compile
	// once wrapped and escape the anchors.
	_, err := regexp.Compile(pattern)
	var re *regexp.Regexp
	if err == nil {
		re, err = regexp.Compile(`^(?:` + pattern + `)$`)
	}
	if err != nil {
		r.fail("JUSTIFICATION_PATTERN", pattern, "is not a valid RE2 regular expression (Java-only syntax such as lookahead or backreferences is not supported): %v", unwrapSyntax(err))
	} else {
		c.JustificationPattern = re
	}
	c.MaxRoles = r.integer(DefaultMaxRoles, 1, maxCount, "ACTIVATION_REQUEST_MAX_ROLES")

	c.AvailableProjectsQuery = r.str("", "AVAILABLE_PROJECTS_QUERY")
	if c.AvailableProjectsQuery == "" && c.Catalog == CatalogAssetInventory {
		c.AvailableProjectsQuery = DefaultAssetInventoryProjectsQuery
	}
}

// unwrapSyntax drops regexp's "error parsing regexp: " prefix, which repeats
// what the message already says.
func unwrapSyntax(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return string(se.Code) + ": `" + se.Expr + "`"
	}
	return err.Error()
}

func (c *Config) loadApproval(r *reader) {
	// Approval tokens are signed with IAM Credentials signJwt, which refuses
	// an expiry more than 12 hours ahead. A token lives
	// min(ACTIVATION_REQUEST_TIMEOUT, ACTIVATION_TIMEOUT), as in the
	// original, so only that minimum is bounded: ACTIVATION_REQUEST_TIMEOUT=1440
	// with ACTIVATION_TIMEOUT=480 worked in 1.8.1 and still does.
	c.RequestTimeout = r.duration(DefaultRequestTimeout, time.Minute, "minutes", 1, maxMinutes, "ACTIVATION_REQUEST_TIMEOUT")
	if lifetime := min(c.RequestTimeout, c.ActivationTimeout); lifetime > maxRequestMinutes*time.Minute {
		v, _ := r.value("ACTIVATION_REQUEST_TIMEOUT")
		if v == "" {
			v = fmt.Sprint(int(c.RequestTimeout / time.Minute))
		}
		r.fail("ACTIVATION_REQUEST_TIMEOUT", v, "an approval request lives min(ACTIVATION_REQUEST_TIMEOUT, ACTIVATION_TIMEOUT) = %d minutes, but signed requests may live at most %d minutes (12 hours); lower either variable",
			int(lifetime/time.Minute), maxRequestMinutes)
	}
	// 1.8.1 accepted up to 1000 reviewers, so such a configuration still
	// starts; but every reviewer travels in the signed token, which bounds
	// their number, so a larger value is lowered to that bound, with a warning.
	c.MinReviewers = r.integer(DefaultMinReviewers, 1, maxCount, "ACTIVATION_REQUEST_MIN_REVIEWERS")
	c.MaxReviewers = r.integer(DefaultMaxReviewers, 1, maxCount, "ACTIVATION_REQUEST_MAX_REVIEWERS")
	for _, v := range []struct {
		name string
		n    *int
	}{{"ACTIVATION_REQUEST_MIN_REVIEWERS", &c.MinReviewers}, {"ACTIVATION_REQUEST_MAX_REVIEWERS", &c.MaxReviewers}} {
		if *v.n > jit.MaxReviewersLimit {
			r.warn(fmt.Sprintf("%s=%d is more reviewers than one approval request can carry; using %d", v.name, *v.n, jit.MaxReviewersLimit))
			*v.n = jit.MaxReviewersLimit
		}
	}
	if c.MinReviewers > c.MaxReviewers {
		v, _ := r.value("ACTIVATION_REQUEST_MIN_REVIEWERS")
		if v == "" {
			v = fmt.Sprint(c.MinReviewers)
		}
		r.fail("ACTIVATION_REQUEST_MIN_REVIEWERS", v, "must not exceed ACTIVATION_REQUEST_MAX_REVIEWERS (%d)", c.MaxReviewers)
	}
}

func (c *Config) loadSMTP(r *reader) {
	s := &c.SMTP
	s.Host = r.str(DefaultSMTPHost, "SMTP_HOST")
	if strings.ContainsAny(s.Host, " /:@") {
		r.fail("SMTP_HOST", s.Host, "must be a host name or IP address without port or scheme")
	}
	s.Port = r.integer(DefaultSMTPPort, 1, 65535, "SMTP_PORT")
	if s.Port == 25 {
		r.fail("SMTP_PORT", "25", "SMTP on port 25 is not allowed on Google Cloud; use 587 (STARTTLS) or 465")
	}
	s.EnableStartTLS = r.boolean(true, "SMTP_ENABLE_STARTTLS")
	s.SenderName = r.str(DefaultSMTPSenderName, "SMTP_SENDER_NAME")
	if strings.ContainsAny(s.SenderName, "\r\n") {
		r.fail("SMTP_SENDER_NAME", s.SenderName, "must be a single line")
	}
	if v, ok := r.value("SMTP_SENDER_ADDRESS"); ok {
		a, err := mail.ParseAddress(v)
		if err != nil || a.Name != "" || a.Address != v {
			r.fail("SMTP_SENDER_ADDRESS", v, "must be a plain email address such as jit@example.com")
		} else {
			s.SenderAddress = v
		}
	}
	s.Username = r.str("", "SMTP_USERNAME")
	s.Password = r.str("", "SMTP_PASSWORD")
	if v, ok := r.value("SMTP_SECRET"); ok {
		if secretVersionPattern.MatchString(v) {
			s.Secret = v
		} else {
			r.fail("SMTP_SECRET", v, "must be a Secret Manager version name: projects/PROJECT/secrets/NAME/versions/VERSION")
		}
	}
	if v, ok := r.value("SMTP_OPTIONS"); ok {
		opts, skipped := parseSMTPOptions(v)
		for _, item := range skipped {
			r.warn(fmt.Sprintf("SMTP_OPTIONS: %q is not a key=value pair and is ignored, as in Just-In-Time Access 1.8.1", clip(item, 100)))
		}
		s.Options = opts
	}
	s.AddressMapping = r.str("", "SMTP_ADDRESS_MAPPING")
}

// parseSMTPOptions parses "key=value,key=value" as the original did: items
// that are not exactly one key=value pair are skipped (and returned, so
// that the caller can warn about each), blank items such as a trailing
// comma are skipped silently.
func parseSMTPOptions(v string) (map[string]string, []string) {
	opts := map[string]string{}
	var skipped []string
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, val, ok := strings.Cut(item, "=")
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		if !ok || k == "" || val == "" || strings.Contains(val, "=") {
			skipped = append(skipped, item)
			continue
		}
		opts[k] = val
	}
	return opts, skipped
}

func (c *Config) loadNotifications(r *reader) {
	c.NotificationTimezone = time.UTC
	if v, ok := r.value("NOTIFICATION_TIMEZONE"); ok {
		if loc, ok := parseZone(v); ok {
			c.NotificationTimezone = loc
		} else {
			r.fail("NOTIFICATION_TIMEZONE", v, "must be an IANA time zone such as Europe/Berlin, or an offset such as +02:00 or GMT+2")
		}
	}
	if v, ok := r.value("NOTIFICATION_TOPIC"); ok {
		if topicPattern.MatchString(v) && !strings.HasPrefix(strings.ToLower(v), "goog") {
			c.NotificationTopic = v
		} else {
			r.fail("NOTIFICATION_TOPIC", v, "must be a Pub/Sub topic name (not a path): 3 to 255 letters, digits or -_.~+%%, starting with a letter and not with goog")
		}
	}
}

func (c *Config) loadIAP(r *reader) {
	if v, ok := r.value("IAP_BACKEND_SERVICE_ID"); ok {
		if backendServicePattern.MatchString(v) {
			c.IAPBackendServiceID = v
		} else {
			r.fail("IAP_BACKEND_SERVICE_ID", v, "must be the numeric ID of the load balancer's backend service")
		}
	}
	if v, ok := r.value("IAP_AUDIENCE"); ok {
		switch {
		case !audiencePattern.MatchString(v):
			r.fail("IAP_AUDIENCE", v, "must be an IAP audience: /projects/NUMBER/apps/PROJECT_ID (App Engine), "+
				"/projects/NUMBER/global/backendServices/ID (load balancer) or /projects/NUMBER/locations/REGION/services/SERVICE (Cloud Run)")
		case c.IAPBackendServiceID != "":
			r.fail("IAP_AUDIENCE", v, "must not be set together with IAP_BACKEND_SERVICE_ID: set one of them")
		default:
			c.IAPAudienceOverride = v
		}
	}
	if v, ok := r.value("IAP_HOSTED_DOMAIN"); ok {
		if domainPattern.MatchString(v) {
			c.IAPHostedDomain = strings.ToLower(v)
		} else {
			r.fail("IAP_HOSTED_DOMAIN", v, "must be a domain name such as example.com")
		}
	}
	// On Cloud Run without a load balancer, the audience is the service's,
	// derived from K_SERVICE and the region (read from the metadata server).
	c.IAPVerifyAudience = r.boolean(true, "IAP_VERIFY_AUDIENCE")
	c.BackendConnectTimeout = r.duration(DefaultBackendConnectTimeout, time.Second, "seconds", 1, maxSeconds, "BACKEND_CONNECT_TIMEOUT")
	c.BackendReadTimeout = r.duration(DefaultBackendReadTimeout, time.Second, "seconds", 1, maxSeconds, "BACKEND_READ_TIMEOUT")
	c.BackendWriteTimeout = r.duration(DefaultBackendWriteTimeout, time.Second, "seconds", 1, maxSeconds, "BACKEND_WRITE_TIMEOUT")
	c.CatalogCacheTTL = r.duration(DefaultCatalogCacheTTL, time.Second, "seconds", 0, maxSeconds, "CATALOG_CACHE_TTL")
}
