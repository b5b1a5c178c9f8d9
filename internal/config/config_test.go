package config

import (
	"bytes"
	"errors"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// env is a lookup over a map, the test's stand-in for os.LookupEnv.
type env map[string]string

func (e env) lookup(k string) (string, bool) { v, ok := e[k]; return v, ok }

// baseEnv is the smallest valid environment: a project to default the scope.
func baseEnv() env { return env{"GOOGLE_CLOUD_PROJECT": "my-project"} }

// withEnv returns baseEnv with changes applied; an empty-string key value is
// kept (it means "set but empty").
func withEnv(changes env) env {
	e := baseEnv()
	for k, v := range changes {
		e[k] = v
	}
	return e
}

func mustLoad(t *testing.T, e env) *Config {
	t.Helper()
	c, err := Load(e.lookup)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// cmpConfig compares the pointer-typed fields by their text.
var cmpConfig = cmp.Options{
	cmp.Comparer(func(a, b *regexp.Regexp) bool {
		return (a == nil) == (b == nil) && (a == nil || a.String() == b.String())
	}),
	cmp.Comparer(func(a, b *time.Location) bool {
		return (a == nil) == (b == nil) && (a == nil || a.String() == b.String())
	}),
	cmp.Comparer(func(a, b *url.URL) bool { return (a == nil) == (b == nil) && (a == nil || a.String() == b.String()) }),
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	got := mustLoad(t, baseEnv())
	want := &Config{
		Platform:               PlatformLocal,
		Port:                   8080,
		ProjectID:              "my-project",
		LogLevel:               slog.LevelInfo,
		AuditLog:               AuditLogStdout,
		Scope:                  Scope{Type: ScopeProject, ID: "my-project"},
		Catalog:                CatalogPolicyAnalyzer,
		GroupMembership:        GroupsDirect,
		ActivationTimeout:      120 * time.Minute,
		JustificationHint:      "Bug or case number",
		JustificationPattern:   regexp.MustCompile(`^(?:.*)$`),
		MaxRoles:               10,
		AvailableProjectsQuery: "",
		RequestTimeout:         60 * time.Minute,
		MinReviewers:           1,
		MaxReviewers:           10,
		SMTP: SMTP{
			Host:           "smtp.gmail.com",
			Port:           587,
			EnableStartTLS: true,
			SenderName:     "JIT Access",
		},
		NotificationTimezone:  time.UTC,
		IAPVerifyAudience:     true,
		BackendConnectTimeout: 5 * time.Second,
		BackendReadTimeout:    20 * time.Second,
		BackendWriteTimeout:   5 * time.Second,
		CatalogCacheTTL:       30 * time.Second,
		RateLimitRequests:     DefaultRateLimitRequests,
		RateLimitEmails:       DefaultRateLimitEmails,
		Lifecycle:             Lifecycle{MaxStartDelay: 7 * 24 * time.Hour},
	}
	if diff := cmp.Diff(want, got, cmpConfig); diff != "" {
		t.Errorf("Load() mismatch (-want +got):\n%s", diff)
	}
	if got.SMTPConfigured() {
		t.Error("SMTPConfigured() = true without a sender address")
	}
}

func TestLoadEverySetting(t *testing.T) {
	t.Parallel()
	got := mustLoad(t, env{
		"K_SERVICE":                               "jitaccess",
		"PORT":                                    "9090",
		"GOOGLE_CLOUD_PROJECT":                    "app-project",
		"PROJECT_NUMBER":                          "123456789012",
		"SERVICE_ACCOUNT":                         "jit@app-project.iam.gserviceaccount.com",
		"EXTERNAL_URL":                            "https://jit.example.com/",
		"LOG_LEVEL":                               "Warning",
		"AUDIT_LOG":                               "Cloud-Logging",
		"RESOURCE_SCOPE":                          "organizations/1234",
		"RESOURCE_CATALOG":                        "assetinventory",
		"RESOURCE_CUSTOMER_ID":                    "C0123abc",
		"GROUP_MEMBERSHIP":                        "Transitive",
		"ACTIVATION_TIMEOUT":                      "30",
		"JUSTIFICATION_HINT":                      "Ticket",
		"JUSTIFICATION_PATTERN":                   "TICKET-[0-9]+",
		"ACTIVATION_REQUEST_MAX_ROLES":            "3",
		"AVAILABLE_PROJECTS_QUERY":                "parent:folders/1",
		"ACTIVATION_REQUEST_TIMEOUT":              "15",
		"ACTIVATION_REQUEST_MIN_REVIEWERS":        "2",
		"ACTIVATION_REQUEST_MAX_REVIEWERS":        "4",
		"SMTP_HOST":                               "smtp.example.com",
		"SMTP_PORT":                               "465",
		"SMTP_ENABLE_STARTTLS":                    "FALSE",
		"SMTP_SENDER_NAME":                        "Access",
		"SMTP_SENDER_ADDRESS":                     "jit@example.com",
		"SMTP_USERNAME":                           "jit",
		"SMTP_PASSWORD":                           "hunter2",
		"SMTP_SECRET":                             "projects/p/secrets/smtp/versions/latest",
		"SMTP_OPTIONS":                            "mail.smtp.connectiontimeout=60000, mail.smtp.auth.password=x,",
		"SMTP_ADDRESS_MAPPING":                    `user.email.extract("{handle}@example.com") + "@example.org"`,
		"NOTIFICATION_TIMEZONE":                   "Europe/Berlin",
		"NOTIFICATION_TOPIC":                      "jit-events",
		"IAP_BACKEND_SERVICE_ID":                  "987654321",
		"IAP_VERIFY_AUDIENCE":                     "true",
		"BACKEND_CONNECT_TIMEOUT":                 "7",
		"BACKEND_READ_TIMEOUT":                    "30",
		"BACKEND_WRITE_TIMEOUT":                   "9",
		"CATALOG_CACHE_TTL":                       "0",
		"RATE_LIMIT_REQUESTS":                     "30",
		"RATE_LIMIT_EMAILS":                       "0",
		"ADMINISTRATOR_GROUP":                     "group:JIT-Admins@example.com",
		"AUDITOR_GROUP":                           "auditors@example.com",
		"ACTIVATION_MAX_START_DELAY":              "1440",
		"ACTIVATION_ON_FOLDERS_AND_ORGANIZATIONS": "true",
	})
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Platform:               PlatformCloudRun,
		Service:                "jitaccess",
		Port:                   9090,
		ProjectID:              "app-project",
		ProjectNumber:          "123456789012",
		ServiceAccount:         "jit@app-project.iam.gserviceaccount.com",
		ExternalURL:            &url.URL{Scheme: "https", Host: "jit.example.com"},
		LogLevel:               slog.LevelWarn,
		AuditLog:               AuditLogCloudLogging,
		Scope:                  Scope{Type: ScopeOrganization, ID: "1234"},
		Catalog:                CatalogAssetInventory,
		CustomerID:             "C0123abc",
		GroupMembership:        GroupsTransitive,
		ActivationTimeout:      30 * time.Minute,
		JustificationHint:      "Ticket",
		JustificationPattern:   regexp.MustCompile(`^(?:TICKET-[0-9]+)$`),
		MaxRoles:               3,
		AvailableProjectsQuery: "parent:folders/1",
		RequestTimeout:         15 * time.Minute,
		MinReviewers:           2,
		MaxReviewers:           4,
		SMTP: SMTP{
			Host:           "smtp.example.com",
			Port:           465,
			EnableStartTLS: false,
			SenderName:     "Access",
			SenderAddress:  "jit@example.com",
			Username:       "jit",
			Password:       "hunter2",
			Secret:         "projects/p/secrets/smtp/versions/latest",
			Options:        map[string]string{"mail.smtp.connectiontimeout": "60000", "mail.smtp.auth.password": "x"},
			AddressMapping: `user.email.extract("{handle}@example.com") + "@example.org"`,
		},
		NotificationTimezone:  berlin,
		NotificationTopic:     "jit-events",
		IAPBackendServiceID:   "987654321",
		IAPVerifyAudience:     true,
		BackendConnectTimeout: 7 * time.Second,
		BackendReadTimeout:    30 * time.Second,
		BackendWriteTimeout:   9 * time.Second,
		CatalogCacheTTL:       0,
		RateLimitRequests:     30,
		RateLimitEmails:       0,
		Lifecycle: Lifecycle{AdministratorGroup: "jit-admins@example.com", AuditorGroup: "auditors@example.com",
			MaxStartDelay: 24 * time.Hour, FoldersAndOrgs: true},
	}
	if diff := cmp.Diff(want, got, cmpConfig); diff != "" {
		t.Errorf("Load() mismatch (-want +got):\n%s", diff)
	}
	if !got.SMTPConfigured() || !got.SMTPAuthenticated() {
		t.Errorf("SMTPConfigured() = %v, SMTPAuthenticated() = %v, want both true", got.SMTPConfigured(), got.SMTPAuthenticated())
	}
	if got, want := got.NotificationTopicName(), "projects/app-project/topics/jit-events"; got != want {
		t.Errorf("NotificationTopicName() = %q, want %q", got, want)
	}
	if got, want := got.RequestLifetime(), 15*time.Minute; got != want {
		t.Errorf("RequestLifetime() = %v, want %v", got, want)
	}
}

func TestLoadAliasesAndReadingRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  env
		get  func(*Config) any
		want any
	}{
		{"elevation_duration_read_first", withEnv(env{"ELEVATION_DURATION": "15", "ACTIVATION_TIMEOUT": "30"}),
			func(c *Config) any { return c.ActivationTimeout }, 15 * time.Minute},
		{"activation_timeout_alone", withEnv(env{"ACTIVATION_TIMEOUT": "30"}),
			func(c *Config) any { return c.ActivationTimeout }, 30 * time.Minute},
		{"blank_alias_falls_through", withEnv(env{"ELEVATION_DURATION": "  ", "ACTIVATION_TIMEOUT": "45"}),
			func(c *Config) any { return c.ActivationTimeout }, 45 * time.Minute},
		{"values_are_trimmed", withEnv(env{"ACTIVATION_REQUEST_MAX_ROLES": " 4\t"}),
			func(c *Config) any { return c.MaxRoles }, 4},
		{"empty_means_unset", withEnv(env{"SMTP_HOST": ""}),
			func(c *Config) any { return c.SMTP.Host }, "smtp.gmail.com"},
		{"catalog_case_insensitive", withEnv(env{"RESOURCE_CATALOG": "POLICYANALYZER"}),
			func(c *Config) any { return c.Catalog }, CatalogPolicyAnalyzer},
		{"asset_inventory_projects_query_default", withEnv(env{"RESOURCE_CATALOG": "AssetInventory", "RESOURCE_CUSTOMER_ID": "C01"}),
			func(c *Config) any { return c.AvailableProjectsQuery }, "state:ACTIVE"},
		{"policy_analyzer_no_projects_query", baseEnv(),
			func(c *Config) any { return c.AvailableProjectsQuery }, ""},
		{"explicit_scope_without_project", env{"RESOURCE_SCOPE": "folders/42"},
			func(c *Config) any { return c.Scope }, Scope{Type: ScopeFolder, ID: "42"}},
		{"app_engine_detected", withEnv(env{"GAE_SERVICE": "default", "K_SERVICE": "x"}),
			func(c *Config) any { return c.Platform }, PlatformAppEngine},
		{"cloud_run_detected", withEnv(env{"K_SERVICE": "jit", "IAP_VERIFY_AUDIENCE": "false"}),
			func(c *Config) any { return c.Platform }, PlatformCloudRun},
		{"bool_zero", withEnv(env{"SMTP_ENABLE_STARTTLS": "0"}),
			func(c *Config) any { return c.SMTP.EnableStartTLS }, false},
		{"log_level_debug", withEnv(env{"LOG_LEVEL": "DEBUG"}),
			func(c *Config) any { return c.LogLevel }, slog.LevelDebug},
		{"http_loopback_external_url", withEnv(env{"EXTERNAL_URL": "http://127.0.0.1:8080/jit/"}),
			func(c *Config) any { return c.ExternalURL.String() }, "http://127.0.0.1:8080/jit"},
		{"request_lifetime_capped", withEnv(env{"ACTIVATION_TIMEOUT": "10", "ACTIVATION_REQUEST_TIMEOUT": "60"}),
			func(c *Config) any { return c.RequestLifetime() }, 10 * time.Minute},
		{"smtp_options_trailing_comma", withEnv(env{"SMTP_OPTIONS": "a=1,,b = 2 ,"}),
			func(c *Config) any { return c.SMTP.Options }, map[string]string{"a": "1", "b": "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, tt.env)
			if diff := cmp.Diff(tt.want, tt.get(c)); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJustificationPatternIsAnchored(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, input string
		want           bool
	}{
		{"[0-9]+", "123", true},
		{"[0-9]+", "abc123", false},
		{"[0-9]+", "123abc", false},
		{"a|b", "ab", false},
		{"a|b", "b", true},
		{".*", "", true},
	}
	for _, tt := range tests {
		c := mustLoad(t, withEnv(env{"JUSTIFICATION_PATTERN": tt.pattern}))
		if got := c.JustificationPattern.MatchString(tt.input); got != tt.want {
			t.Errorf("pattern %q on %q = %v, want %v", tt.pattern, tt.input, got, tt.want)
		}
	}
}

// TestLoadInvalid covers every rejected value; each yields exactly one
// message naming the variable.
func TestLoadInvalid(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 5000)
	tests := []struct {
		name string
		env  env
		want string
	}{
		{"port_not_number", withEnv(env{"PORT": "http"}), `PORT="http": must be a whole number from 1 to 65535`},
		{"audit_log", withEnv(env{"AUDIT_LOG": "syslog"}), `AUDIT_LOG="syslog": must be stdout (the original's: the platform's stdout log) or cloud-logging (the Logging API, log jitaccess-audit)`},
		{"group_membership", withEnv(env{"GROUP_MEMBERSHIP": "nested"}), `GROUP_MEMBERSHIP="nested": must be direct (the Directory API, as 1.8.1) or transitive (Cloud Identity, nested groups count)`},
		{"port_zero", withEnv(env{"PORT": "0"}), `PORT="0": must be a whole number from 1 to 65535`},
		{"port_too_big", withEnv(env{"PORT": "70000"}), `PORT="70000": must be a whole number from 1 to 65535`},
		{"project_invalid", env{"GOOGLE_CLOUD_PROJECT": "My_Project", "RESOURCE_SCOPE": "projects/my-project"},
			`GOOGLE_CLOUD_PROJECT="My_Project": must be a project ID (6 to 30 lower-case letters, digits or hyphens, starting with a letter)`},
		{"project_number_invalid", withEnv(env{"PROJECT_NUMBER": "12a"}), `PROJECT_NUMBER="12a": must be a project number (digits only)`},
		{"service_account_not_sa", withEnv(env{"SERVICE_ACCOUNT": "alice@example.com"}),
			`SERVICE_ACCOUNT="alice@example.com": must be a service account email address ending in .gserviceaccount.com`},
		{"service_account_not_email", withEnv(env{"SERVICE_ACCOUNT": "jit"}),
			`SERVICE_ACCOUNT="jit": must be a service account email address ending in .gserviceaccount.com`},
		{"external_url_relative", withEnv(env{"EXTERNAL_URL": "/jit"}), `EXTERNAL_URL="/jit": must be an absolute URL such as https://jit.example.com`},
		{"external_url_scheme", withEnv(env{"EXTERNAL_URL": "ftp://jit.example.com"}), `EXTERNAL_URL="ftp://jit.example.com": must be an absolute URL such as https://jit.example.com`},
		{"external_url_http", withEnv(env{"EXTERNAL_URL": "http://jit.example.com"}),
			`EXTERNAL_URL="http://jit.example.com": must use https (http is allowed only for localhost and loopback addresses)`},
		{"external_url_query", withEnv(env{"EXTERNAL_URL": "https://jit.example.com/?a=b"}),
			`EXTERNAL_URL="https://jit.example.com/?a=REDACTED": must not contain user information, a query or a fragment`},
		{"log_level", withEnv(env{"LOG_LEVEL": "verbose"}), `LOG_LEVEL="verbose": must be debug, info, warning or error`},
		{"scope_no_slash", withEnv(env{"RESOURCE_SCOPE": "my-project"}), `RESOURCE_SCOPE="my-project": must be organizations/ID, folders/ID or projects/ID`},
		{"scope_bad_type", withEnv(env{"RESOURCE_SCOPE": "billingAccounts/1"}), `RESOURCE_SCOPE="billingAccounts/1": must be organizations/ID, folders/ID or projects/ID`},
		{"scope_org_not_numeric", withEnv(env{"RESOURCE_SCOPE": "organizations/example.com"}),
			`RESOURCE_SCOPE="organizations/example.com": organizations IDs are numbers, e.g. organizations/123456789012`},
		{"scope_folder_not_numeric", withEnv(env{"RESOURCE_SCOPE": "folders/"}),
			`RESOURCE_SCOPE="folders/": folders IDs are numbers, e.g. folders/123456789012`},
		{"scope_project_invalid", withEnv(env{"RESOURCE_SCOPE": "projects/null"}),
			`RESOURCE_SCOPE="projects/null": "null" is not a valid project ID (6 to 30 lower-case letters, digits or hyphens, starting with a letter)`},
		{"scope_missing_project", env{},
			`RESOURCE_SCOPE is not set: set it to organizations/ID, folders/ID or projects/ID (the default projects/$GOOGLE_CLOUD_PROJECT needs GOOGLE_CLOUD_PROJECT, which is not set)`},
		{"catalog", withEnv(env{"RESOURCE_CATALOG": "Directory"}), `RESOURCE_CATALOG="Directory": must be PolicyAnalyzer or AssetInventory`},
		{"customer_id_prefix", withEnv(env{"RESOURCE_CUSTOMER_ID": "01234"}),
			`RESOURCE_CUSTOMER_ID="01234": must be a Cloud Identity customer ID starting with C, e.g. C0123abcd`},
		{"customer_id_required", withEnv(env{"RESOURCE_CATALOG": "AssetInventory"}),
			`RESOURCE_CUSTOMER_ID is not set: required when RESOURCE_CATALOG is AssetInventory and GROUP_MEMBERSHIP is direct (a customer ID starting with C, e.g. C0123abcd)`},
		{"activation_timeout_zero", withEnv(env{"ACTIVATION_TIMEOUT": "0"}), `ACTIVATION_TIMEOUT="0": must be a whole number of minutes from 1 to 527040`},
		{"activation_timeout_unit", withEnv(env{"ACTIVATION_TIMEOUT": "2h"}), `ACTIVATION_TIMEOUT="2h": must be a whole number of minutes from 1 to 527040`},
		{"elevation_duration_named", withEnv(env{"ELEVATION_DURATION": "-5", "ACTIVATION_TIMEOUT": "30"}),
			`ELEVATION_DURATION="-5": must be a whole number of minutes from 1 to 527040`},
		{"activation_timeout_overflow", withEnv(env{"ACTIVATION_TIMEOUT": "99999999999999999999"}),
			`ACTIVATION_TIMEOUT="99999999999999999999": must be a whole number of minutes from 1 to 527040`},
		{"justification_pattern_syntax", withEnv(env{"JUSTIFICATION_PATTERN": "[a-"}),
			"JUSTIFICATION_PATTERN=\"[a-\": is not a valid RE2 regular expression (Java-only syntax such as lookahead or backreferences is not supported): missing closing ]: `[a-`"},
		{"justification_pattern_java_lookahead", withEnv(env{"JUSTIFICATION_PATTERN": "(?=x).*"}),
			"JUSTIFICATION_PATTERN=\"(?=x).*\": is not a valid RE2 regular expression (Java-only syntax such as lookahead or backreferences is not supported): invalid or unsupported Perl syntax: `(?=`"},
		{"justification_pattern_escape_anchor", withEnv(env{"JUSTIFICATION_PATTERN": "a)|(b"}),
			"JUSTIFICATION_PATTERN=\"a)|(b\": is not a valid RE2 regular expression (Java-only syntax such as lookahead or backreferences is not supported): unexpected ): `a)|(b`"},
		{"max_roles_zero", withEnv(env{"ACTIVATION_REQUEST_MAX_ROLES": "0"}), `ACTIVATION_REQUEST_MAX_ROLES="0": must be a whole number from 1 to 1000`},
		{"request_timeout_zero", withEnv(env{"ACTIVATION_REQUEST_TIMEOUT": "0"}), `ACTIVATION_REQUEST_TIMEOUT="0": must be a whole number of minutes from 1 to 527040`},
		{"request_lifetime_beyond_signjwt", withEnv(env{"ACTIVATION_REQUEST_TIMEOUT": "721", "ACTIVATION_TIMEOUT": "1440"}),
			`ACTIVATION_REQUEST_TIMEOUT="721": an approval request lives min(ACTIVATION_REQUEST_TIMEOUT, ACTIVATION_TIMEOUT) = 721 minutes, but signed requests may live at most 720 minutes (12 hours); lower either variable`},
		{"min_reviewers_zero", withEnv(env{"ACTIVATION_REQUEST_MIN_REVIEWERS": "0"}), `ACTIVATION_REQUEST_MIN_REVIEWERS="0": must be a whole number from 1 to 1000`},
		{"max_reviewers_zero", withEnv(env{"ACTIVATION_REQUEST_MAX_REVIEWERS": "0"}), `ACTIVATION_REQUEST_MAX_REVIEWERS="0": must be a whole number from 1 to 1000`},
		{"min_above_max", withEnv(env{"ACTIVATION_REQUEST_MIN_REVIEWERS": "5", "ACTIVATION_REQUEST_MAX_REVIEWERS": "3"}),
			`ACTIVATION_REQUEST_MIN_REVIEWERS="5": must not exceed ACTIVATION_REQUEST_MAX_REVIEWERS (3)`},
		{"default_min_above_max", withEnv(env{"ACTIVATION_REQUEST_MIN_REVIEWERS": "11"}),
			`ACTIVATION_REQUEST_MIN_REVIEWERS="11": must not exceed ACTIVATION_REQUEST_MAX_REVIEWERS (10)`},
		{"smtp_host", withEnv(env{"SMTP_HOST": "smtp://mail.example.com"}), `SMTP_HOST="smtp://mail.example.com": must be a host name or IP address without port or scheme`},
		{"smtp_port_25", withEnv(env{"SMTP_PORT": "25"}), `SMTP_PORT="25": SMTP on port 25 is not allowed on Google Cloud; use 587 (STARTTLS) or 465`},
		{"smtp_port_text", withEnv(env{"SMTP_PORT": "smtp"}), `SMTP_PORT="smtp": must be a whole number from 1 to 65535`},
		{"smtp_sender_name_newline", withEnv(env{"SMTP_SENDER_NAME": "JIT\nBcc: x@example.com"}), `SMTP_SENDER_NAME="JIT\nBcc: x@example.com": must be a single line`},
		{"smtp_sender_address", withEnv(env{"SMTP_SENDER_ADDRESS": "JIT <jit@example.com>"}),
			`SMTP_SENDER_ADDRESS="JIT <jit@example.com>": must be a plain email address such as jit@example.com`},
		{"smtp_sender_address_garbage", withEnv(env{"SMTP_SENDER_ADDRESS": "jit"}),
			`SMTP_SENDER_ADDRESS="jit": must be a plain email address such as jit@example.com`},
		{"smtp_secret", withEnv(env{"SMTP_SECRET": "projects/p/secrets/s"}),
			`SMTP_SECRET="projects/p/secrets/s": must be a Secret Manager version name: projects/PROJECT/secrets/NAME/versions/VERSION`},
		{"timezone", withEnv(env{"NOTIFICATION_TIMEZONE": "Mars/Olympus"}), `NOTIFICATION_TIMEZONE="Mars/Olympus": must be an IANA time zone such as Europe/Berlin, or an offset such as +02:00 or GMT+2`},
		{"timezone_local", withEnv(env{"NOTIFICATION_TIMEZONE": "Local"}), `NOTIFICATION_TIMEZONE="Local": must be an IANA time zone such as Europe/Berlin, or an offset such as +02:00 or GMT+2`},
		{"topic_path", withEnv(env{"NOTIFICATION_TOPIC": "projects/p/topics/t"}),
			`NOTIFICATION_TOPIC="projects/p/topics/t": must be a Pub/Sub topic name (not a path): 3 to 255 letters, digits or -_.~+%, starting with a letter and not with goog`},
		{"topic_goog", withEnv(env{"NOTIFICATION_TOPIC": "google-topic"}),
			`NOTIFICATION_TOPIC="google-topic": must be a Pub/Sub topic name (not a path): 3 to 255 letters, digits or -_.~+%, starting with a letter and not with goog`},
		{"backend_service_id", withEnv(env{"IAP_BACKEND_SERVICE_ID": "my-backend"}), `IAP_BACKEND_SERVICE_ID="my-backend": must be the numeric ID of the load balancer's backend service`},
		{"audience_format", withEnv(env{"IAP_AUDIENCE": "https://jit.example.com"}),
			`IAP_AUDIENCE="https://jit.example.com": must be an IAP audience: /projects/NUMBER/apps/PROJECT_ID (App Engine), /projects/NUMBER/global/backendServices/ID (load balancer) or /projects/NUMBER/locations/REGION/services/SERVICE (Cloud Run)`},
		{"audience_and_backend_service", withEnv(env{"IAP_AUDIENCE": "/projects/1/global/backendServices/2", "IAP_BACKEND_SERVICE_ID": "2"}),
			`IAP_AUDIENCE="/projects/1/global/backendServices/2": must not be set together with IAP_BACKEND_SERVICE_ID: set one of them`},
		{"hosted_domain", withEnv(env{"IAP_HOSTED_DOMAIN": "@example.com"}), `IAP_HOSTED_DOMAIN="@example.com": must be a domain name such as example.com`},
		{"connect_timeout", withEnv(env{"BACKEND_CONNECT_TIMEOUT": "0"}), `BACKEND_CONNECT_TIMEOUT="0": must be a whole number of seconds from 1 to 600`},
		{"read_timeout", withEnv(env{"BACKEND_READ_TIMEOUT": "5s"}), `BACKEND_READ_TIMEOUT="5s": must be a whole number of seconds from 1 to 600`},
		{"write_timeout", withEnv(env{"BACKEND_WRITE_TIMEOUT": "601"}), `BACKEND_WRITE_TIMEOUT="601": must be a whole number of seconds from 1 to 600`},
		{"cache_ttl", withEnv(env{"CATALOG_CACHE_TTL": "-1"}), `CATALOG_CACHE_TTL="-1": must be a whole number of seconds from 0 to 600`},
		{"admin_group", withEnv(env{"ADMINISTRATOR_GROUP": "not a group"}), `ADMINISTRATOR_GROUP="not a group": must be the email address of a Google group, such as jit-admins@example.com`},
		{"too_long", withEnv(env{"SMTP_PASSWORD": long}), `SMTP_PASSWORD: is 5000 bytes long; at most 4096 are allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(tt.env.lookup)
			if err == nil {
				t.Fatalf("Load() = %+v, want error %q", c, tt.want)
			}
			if diff := cmp.Diff([]string{tt.want}, messages(err)); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// messages lists the VarErrors joined in err, failing on anything else.
func messages(err error) []string {
	var out []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ve *VarError
		if !errors.As(e, &ve) {
			return append(out, "not a *VarError: "+e.Error())
		}
		out = append(out, ve.Error())
	}
	return out
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, err := Load(withEnv(env{"PORT": "x", "SMTP_PORT": "25", "RESOURCE_CATALOG": "x"}).lookup)
	want := []string{
		`PORT="x": must be a whole number from 1 to 65535`,
		`RESOURCE_CATALOG="x": must be PolicyAnalyzer or AssetInventory`,
		`SMTP_PORT="25": SMTP on port 25 is not allowed on Google Cloud; use 587 (STARTTLS) or 465`,
	}
	if diff := cmp.Diff(want, messages(err)); diff != "" {
		t.Errorf("errors mismatch (-want +got):\n%s", diff)
	}
}

func TestPolicy(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, withEnv(env{"ACTIVATION_TIMEOUT": "30", "ACTIVATION_REQUEST_MAX_ROLES": "2",
		"ACTIVATION_REQUEST_MIN_REVIEWERS": "2", "ACTIVATION_REQUEST_MAX_REVIEWERS": "5",
		"JUSTIFICATION_HINT": "Ticket", "JUSTIFICATION_PATTERN": "T-[0-9]+"}))
	want := jit.Policy{
		MaxDuration:          30 * time.Minute,
		MaxRoles:             2,
		MinReviewers:         2,
		MaxReviewers:         5,
		JustificationPattern: regexp.MustCompile(`^(?:T-[0-9]+)$`),
		JustificationHint:    "Ticket",
	}
	if diff := cmp.Diff(want, c.Policy(), cmpConfig); diff != "" {
		t.Errorf("Policy() mismatch (-want +got):\n%s", diff)
	}
}

func TestSMTPConfigured(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		env            env
		configured     bool
		authenticating bool
	}{
		{"defaults", baseEnv(), false, false},
		{"sender_address", withEnv(env{"EXTERNAL_URL": "https://jit.example.com", "SMTP_SENDER_ADDRESS": "jit@example.com"}), true, false},
		{"username_without_password", withEnv(env{"EXTERNAL_URL": "https://jit.example.com", "SMTP_SENDER_ADDRESS": "jit@example.com", "SMTP_USERNAME": "u"}), true, false},
		{"username_and_password", withEnv(env{"EXTERNAL_URL": "https://jit.example.com", "SMTP_SENDER_ADDRESS": "jit@example.com", "SMTP_USERNAME": "u", "SMTP_PASSWORD": "p"}), true, true},
		{"username_and_secret", withEnv(env{"EXTERNAL_URL": "https://jit.example.com", "SMTP_SENDER_ADDRESS": "jit@example.com", "SMTP_USERNAME": "u", "SMTP_SECRET": "projects/p/secrets/s/versions/1"}), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, tt.env)
			if c.SMTPConfigured() != tt.configured || c.SMTPAuthenticated() != tt.authenticating {
				t.Errorf("SMTPConfigured() = %v, SMTPAuthenticated() = %v, want %v, %v",
					c.SMTPConfigured(), c.SMTPAuthenticated(), tt.configured, tt.authenticating)
			}
		})
	}
}

// TestExternalURLIsRequiredWithNotifications: once approval requests can
// be sent, their links must not come from the requester's Host header.
func TestExternalURLIsRequiredWithNotifications(t *testing.T) {
	t.Parallel()
	for name, e := range map[string]env{
		"smtp":    {"SMTP_SENDER_ADDRESS": "jit@example.com"},
		"pubsub":  {"NOTIFICATION_TOPIC": "jit-events"},
		"webhook": {"WEBHOOK_URL": "https://hooks.example.com/jit", "WEBHOOK_SIGNING_KEY": "0123456789abcdef"},
	} {
		_, err := Load(withEnv(e).lookup)
		if err == nil || !strings.Contains(err.Error(), "EXTERNAL_URL is not set: required when notifications are configured") {
			t.Errorf("%s without EXTERNAL_URL: %v", name, err)
		}
		e["EXTERNAL_URL"] = "https://jit.example.com"
		if _, err := Load(withEnv(e).lookup); err != nil {
			t.Errorf("%s with EXTERNAL_URL: %v", name, err)
		}
	}
	// Without any notification channel, no link is ever built.
	if _, err := Load(baseEnv().lookup); err != nil {
		t.Errorf("no notifications, no EXTERNAL_URL: %v", err)
	}
}

func TestIAPAudience(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  env
		want string
	}{
		{"app_engine", withEnv(env{"GAE_SERVICE": "default"}), "/projects/42/apps/my-project"},
		{"cloud_run_behind_a_load_balancer", withEnv(env{"K_SERVICE": "jit", "IAP_BACKEND_SERVICE_ID": "77"}), "/projects/42/global/backendServices/77"},
		// IAP enabled on the Cloud Run service itself, as Google recommends.
		{"cloud_run_service", withEnv(env{"K_SERVICE": "jit"}), "/projects/42/locations/europe-west1/services/jit"},
		{"explicit", withEnv(env{"K_SERVICE": "jit", "IAP_AUDIENCE": "/projects/7/locations/us-east1/services/other"}), "/projects/7/locations/us-east1/services/other"},
		{"project_number_override", withEnv(env{"GAE_SERVICE": "default", "PROJECT_NUMBER": "9"}), "/projects/9/apps/my-project"},
		{"not_verified", withEnv(env{"GAE_SERVICE": "default", "IAP_VERIFY_AUDIENCE": "false"}), ""},
		{"local_without_backend", baseEnv(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := mustLoad(t, tt.env).IAPAudience("42", "europe-west1"); got != tt.want {
				t.Errorf("IAPAudience() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRedactedAndLogValue(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, withEnv(env{"SMTP_PASSWORD": "hunter2", "SMTP_OPTIONS": "mail.smtp.password=s3cret,mail.smtp.timeout=5"}))
	r := c.Redacted()
	if r.SMTP.Password != "REDACTED" || r.SMTP.Options["mail.smtp.password"] != "REDACTED" || r.SMTP.Options["mail.smtp.timeout"] != "5" {
		t.Errorf("Redacted().SMTP = %+v", r.SMTP)
	}
	if c.SMTP.Password != "hunter2" || c.SMTP.Options["mail.smtp.password"] != "s3cret" {
		t.Errorf("Redacted() changed the original: %+v", c.SMTP)
	}

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).InfoContext(t.Context(), "config", slog.Any("config", c))
	out := buf.String()
	for _, secret := range []string{"hunter2", "s3cret"} {
		if strings.Contains(out, secret) {
			t.Errorf("log output contains secret %q: %s", secret, out)
		}
	}
	for _, want := range []string{`"resource_scope":"projects/my-project"`, `"activation_timeout":120`, `"smtp_password":"REDACTED"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log output lacks %s: %s", want, out)
		}
	}
}

func TestParseScope(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"organizations/1", "folders/123456789012", "projects/my-project"} {
		got, err := ParseScope(s)
		if err != nil || got.String() != s {
			t.Errorf("ParseScope(%q) = %v, %v", s, got, err)
		}
	}
	got, _ := ParseScope("folders/5")
	if want := "//cloudresourcemanager.googleapis.com/folders/5"; got.FullResourceName() != want {
		t.Errorf("FullResourceName() = %q, want %q", got.FullResourceName(), want)
	}
}

// FuzzLoad checks that no value of any variable panics, and that a
// successful Load always yields a usable config.
func FuzzLoad(f *testing.F) {
	f.Add("SMTP_OPTIONS", "a=b,c")
	f.Add("JUSTIFICATION_PATTERN", "a)|(b")
	f.Add("RESOURCE_SCOPE", "folders/1")
	f.Add("EXTERNAL_URL", "http://[::1]:80/x")
	f.Add("ACTIVATION_TIMEOUT", "9223372036854775807")
	f.Fuzz(func(t *testing.T, name, value string) {
		e := withEnv(env{name: value})
		c, err := Load(e.lookup)
		if err != nil {
			if len(messages(err)) == 0 {
				t.Fatalf("error without messages: %v", err)
			}
			return
		}
		if c.ActivationTimeout < time.Minute || c.MaxRoles < 1 || c.MinReviewers > c.MaxReviewers ||
			c.JustificationPattern == nil || c.Scope.ID == "" || c.SMTP.Port == 25 {
			t.Fatalf("Load accepted an unusable config: %+v", c)
		}
		if p := c.JustificationPattern.String(); !strings.HasPrefix(p, "^(?:") || !strings.HasSuffix(p, ")$") {
			t.Fatalf("JustificationPattern %q is not anchored", p)
		}
	})
}

// TestConfigurationsThatWorkedIn181StillStart covers values the original
// accepted and the rewrite once refused (docs/migrating.md): each starts,
// and reads as the original read it.
func TestConfigurationsThatWorkedIn181StillStart(t *testing.T) {
	t.Parallel()
	offset := func(c *Config) any {
		_, secs := time.Date(2024, 1, 1, 0, 0, 0, 0, c.NotificationTimezone).Zone()
		return []any{c.NotificationTimezone.String(), secs}
	}
	tests := []struct {
		name string
		env  env
		get  func(*Config) any
		want any
	}{
		{"request_timeout_above_720_when_activation_timeout_is_lower",
			withEnv(env{"ACTIVATION_REQUEST_TIMEOUT": "1440", "ACTIVATION_TIMEOUT": "480"}),
			func(c *Config) any { return c.RequestLifetime() }, 480 * time.Minute},
		{"timezone_offset", withEnv(env{"NOTIFICATION_TIMEZONE": "+02:00"}), offset, []any{"+02:00", 7200}},
		{"timezone_offset_hours_only", withEnv(env{"NOTIFICATION_TIMEZONE": "-5"}), offset, []any{"-05:00", -18000}},
		{"timezone_offset_compact", withEnv(env{"NOTIFICATION_TIMEZONE": "+0530"}), offset, []any{"+05:30", 19800}},
		{"timezone_gmt_plus", withEnv(env{"NOTIFICATION_TIMEZONE": "GMT+2"}), offset, []any{"GMT+02:00", 7200}},
		{"timezone_utc_minus", withEnv(env{"NOTIFICATION_TIMEZONE": "UTC-03:30"}), offset, []any{"UTC-03:30", -12600}},
		{"timezone_z", withEnv(env{"NOTIFICATION_TIMEZONE": "Z"}), offset, []any{"Z", 0}},
		{"timezone_gmt", withEnv(env{"NOTIFICATION_TIMEZONE": "GMT"}), offset, []any{"GMT", 0}},
		{"timezone_region", withEnv(env{"NOTIFICATION_TIMEZONE": "Asia/Kolkata"}), offset, []any{"Asia/Kolkata", 19800}},
		{"customer_id_not_needed_for_transitive_groups", withEnv(env{"RESOURCE_CATALOG": "AssetInventory", "GROUP_MEMBERSHIP": "transitive"}),
			func(c *Config) any { return []any{c.GroupMembership, c.CustomerID} }, []any{GroupsTransitive, ""}},
		{"bool_true_any_case", withEnv(env{"SMTP_ENABLE_STARTTLS": "TrUe"}),
			func(c *Config) any { return []any{c.SMTP.EnableStartTLS, c.Warnings} }, []any{true, []string(nil)}},
		{"bool_one_is_false_as_in_181", withEnv(env{"IAP_VERIFY_AUDIENCE": "1"}),
			func(c *Config) any { return []any{c.IAPVerifyAudience, c.Warnings} },
			[]any{false, []string{`IAP_VERIFY_AUDIENCE="1" is read as false, as Just-In-Time Access 1.8.1 did (only "true" is true); set it to true or false`}}},
		{"bool_yes_is_false_as_in_181", withEnv(env{"SMTP_ENABLE_STARTTLS": "yes"}),
			func(c *Config) any { return []any{c.SMTP.EnableStartTLS, len(c.Warnings)} }, []any{false, 1}},
		{"smtp_options_malformed_items_ignored", withEnv(env{"SMTP_OPTIONS": "a=1,b,=c,d=e=f"}),
			func(c *Config) any { return []any{c.SMTP.Options, c.Warnings} },
			[]any{map[string]string{"a": "1"}, []string{
				`SMTP_OPTIONS: "b" is not a key=value pair and is ignored, as in Just-In-Time Access 1.8.1`,
				`SMTP_OPTIONS: "=c" is not a key=value pair and is ignored, as in Just-In-Time Access 1.8.1`,
				`SMTP_OPTIONS: "d=e=f" is not a key=value pair and is ignored, as in Just-In-Time Access 1.8.1`,
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, tt.env)
			if diff := cmp.Diff(tt.want, tt.get(c)); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseZoneRefusesWhatJavaRefuses(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"+19:00", "+2:00", "+02:60", "GMT+", "UTC+x", "+", "Mars/Olympus", "Local", "+02:00:00:00"} {
		if loc, ok := parseZone(v); ok {
			t.Errorf("parseZone(%q) = %v, want refused", v, loc)
		}
	}
}

// TestReviewerLimitsAboveTheTokenBoundStartLowered: 1.8.1 started with up to 1000
// reviewers; such a configuration still starts, lowered to what one signed
// request can carry, with a warning instead of a 500 at request time.
func TestReviewerLimitsAboveTheTokenBoundStartLowered(t *testing.T) {
	t.Parallel()
	c, err := Load(withEnv(env{"ACTIVATION_REQUEST_MAX_REVIEWERS": "500"}).lookup)
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	if c.MaxReviewers != jit.MaxReviewersLimit || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "ACTIVATION_REQUEST_MAX_REVIEWERS=500") {
		t.Errorf("MaxReviewers = %d, warnings %q", c.MaxReviewers, c.Warnings)
	}
}
