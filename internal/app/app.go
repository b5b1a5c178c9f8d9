// Package app wires jitaccess together: configuration in, an http.Handler
// out. It is the one place that builds the Google API clients and hands
// them to the adapters' constructors, so that the production binary, the
// demo and the end-to-end tests run exactly the same wiring and differ only
// in endpoints and keys (Environment).
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	asset "cloud.google.com/go/asset/apiv1"
	"cloud.google.com/go/compute/metadata"
	"cloud.google.com/go/logging"
	"cloud.google.com/go/logging/logadmin"
	"cloud.google.com/go/pubsub/v2"
	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	admin "google.golang.org/api/admin/directory/v1"
	"google.golang.org/api/cloudidentity/v1"
	"google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/iamcredentials/v1"
	"google.golang.org/api/impersonate"
	"google.golang.org/api/option"
	mrpb "google.golang.org/genproto/googleapis/api/monitoredres"

	"github.com/jitaccess/jitaccess/internal/activation"
	"github.com/jitaccess/jitaccess/internal/approval"
	"github.com/jitaccess/jitaccess/internal/audit"
	"github.com/jitaccess/jitaccess/internal/catalog"
	"github.com/jitaccess/jitaccess/internal/cloudlog"
	"github.com/jitaccess/jitaccess/internal/config"
	"github.com/jitaccess/jitaccess/internal/iam"
	"github.com/jitaccess/jitaccess/internal/iap"
	"github.com/jitaccess/jitaccess/internal/jit"
	"github.com/jitaccess/jitaccess/internal/metrics"
	"github.com/jitaccess/jitaccess/internal/notify"
	"github.com/jitaccess/jitaccess/internal/ratelimit"
	"github.com/jitaccess/jitaccess/internal/server"
	"github.com/jitaccess/jitaccess/web"
)

// Environment is what differs between production, the demo and tests:
// where the Google APIs are and which keys to trust. The zero value is
// production.
type Environment struct {
	Logger  *slog.Logger
	Version string
	// Client options per Google API; nil means production defaults
	// (Application Default Credentials, Google's endpoints).
	ResourceManager, CloudIdentity, IAMCredentials, Asset, Logging, PubSub, SecretManager []option.ClientOption
	// IAM reaches the IAM API (roles.get, for `jitaccess lint`).
	IAM []option.ClientOption
	// Directory reaches the Admin SDK Directory API (GROUP_MEMBERSHIP=direct);
	// nil means Google's, with a token for its scope obtained by
	// impersonating the app's own service account, as the original did.
	Directory []option.ClientOption
	// IAPKeysHTTPClient fetches IAP's public keys; nil means the default.
	IAPKeysHTTPClient *http.Client
	// ServiceAccountKeysURL is the base URL of service accounts' public
	// keys; "" means Google's.
	ServiceAccountKeysURL string
	// SMTPTLSConfig overrides the TLS configuration of the mailer.
	SMTPTLSConfig *tls.Config
	// Metadata answers what the metadata server would (project number,
	// service account) when the configuration does not say; nil asks
	// the real metadata server on App Engine and Cloud Run.
	Metadata func(ctx context.Context) (Identity, error)
	// Stdout receives the audit trail when Cloud Logging is not used;
	// nil means os.Stdout.
	Stdout io.Writer
	Clock  func() time.Time
}

// Identity is who the app runs as, and where.
type Identity struct {
	ProjectID, ProjectNumber string
	ServiceAccount           jit.UserID
	// Region is the Cloud Run region, for the IAP audience of a service
	// with IAP enabled on it; "" elsewhere.
	Region string
}

// App is a wired jitaccess.
type App struct {
	Handler http.Handler
	closers []func() error
	// Metrics are the app's metrics when METRICS_ADDR is set, else nil;
	// the caller serves Metrics.Handler() on that address.
	Metrics *metrics.Metrics
	// smtpSecret reads SMTP_SECRET, for the readiness probe; nil without it.
	smtpSecret func(context.Context) (string, error)
}

// Close closes every client Build opened.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	return errors.Join(errs...)
}

// Build wires the app for cfg in env.
func Build(ctx context.Context, cfg *config.Config, env Environment) (app *App, err error) {
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	clock := env.Clock
	if clock == nil {
		clock = time.Now
	}
	a := &App{}
	defer func() {
		if err != nil {
			err = errors.Join(err, a.Close())
		}
	}()
	id, err := identity(ctx, cfg, env)
	if err != nil {
		return nil, err
	}
	if cfg.Ops.MetricsAddr != "" {
		a.Metrics = metrics.New()
		if env, err = instrument(ctx, env, a.Metrics); err != nil {
			return nil, err
		}
	}

	crm, err := cloudresourcemanager.NewService(ctx, env.ResourceManager...)
	if err != nil {
		return nil, fmt.Errorf("resource manager client: %w", err)
	}
	assetClient, err := asset.NewClient(ctx, env.Asset...)
	if err != nil {
		return nil, fmt.Errorf("cloud asset client: %w", err)
	}
	a.closers = append(a.closers, assetClient.Close)
	creds, err := iamcredentials.NewService(ctx, env.IAMCredentials...)
	if err != nil {
		return nil, fmt.Errorf("IAM credentials client: %w", err)
	}

	catOpts := catalog.Options{
		Scope: cfg.Scope.String(), ProjectsQuery: cfg.AvailableProjectsQuery,
		ReadTimeout: cfg.BackendReadTimeout, Clock: clock, Logger: logger,
		Notices: catalog.NewNotices(cfg.CatalogCacheTTL, clock),
	}
	// Reads go through a per-user cache; writes confirm what they rest on
	// in the live policies (internal/iam), whatever the cache says.
	cacheOpts := catalog.CacheOptions{TTL: cfg.CatalogCacheTTL, Clock: clock}
	if m := a.Metrics; m != nil {
		cacheOpts.Observe = func(kind string, hit bool) { m.CacheLookup("catalog_"+kind, hit) }
	}
	cache := catalog.NewCache(cacheOpts)
	cachedOpts := catOpts
	cachedOpts.Cache = cache
	var cat activation.Catalog
	switch cfg.Catalog {
	case config.CatalogAssetInventory:
		var identitySvc *cloudidentity.Service
		if cfg.GroupMembership == config.GroupsDirect {
			dir, err := directoryService(ctx, env, id.ServiceAccount)
			if err != nil {
				return nil, err
			}
			catOpts.Directory, catOpts.CustomerID = dir, cfg.CustomerID
			cachedOpts.Directory, cachedOpts.CustomerID = dir, cfg.CustomerID
		} else if identitySvc, err = cloudidentity.NewService(ctx, env.CloudIdentity...); err != nil {
			return nil, fmt.Errorf("cloud identity client: %w", err)
		}
		cat = catalog.NewAssetInventory(assetClient, crm, identitySvc, cachedOpts)
	default:
		cat = catalog.NewPolicyAnalyzer(assetClient, crm, cachedOpts)
	}
	iamClient := iam.New(crm, iam.Options{
		ReadTimeout: cfg.BackendReadTimeout, WriteTimeout: cfg.BackendWriteTimeout,
		// Room for a few read-modify-write cycles, bounded by the backend
		// timeouts so that a request never hangs on a slow Google.
		RetryBudget: cfg.BackendReadTimeout + 2*cfg.BackendWriteTimeout,
		Clock:       clock, Logger: logger,
		Scope: cfg.Scope.String(),
		// The beneficiary sees their access at once (docs/performance.md).
		Written: cache.Forget,
	})
	if a.Metrics != nil {
		countIAM(a.Metrics, iamClient)
	}
	tokens := approval.New(creds, id.ServiceAccount, approval.Options{
		KeysURL: env.ServiceAccountKeysURL, Clock: clock, Timeout: cfg.BackendReadTimeout, Logger: logger,
	})

	trail, history, err := a.auditTrail(ctx, cfg, env, id, clock, audit.WithAudience(cfg.IAPAudience(id.ProjectNumber, id.Region)))
	if err != nil {
		return nil, err
	}
	notifier, canNotify, err := a.notifier(ctx, cfg, env, id, logger)
	if err != nil {
		return nil, err
	}

	uc := activation.New(cat, iamClient, tokens, notifier, a.counted(trail), activation.Options{
		Policy:         cfg.Policy(),
		RequestTimeout: cfg.RequestTimeout,
		CanNotify:      canNotify,
		EmailLimit:     ratelimit.New(cfg.RateLimitEmails, time.Hour, clock),
		Clock:          clock,
		Logger:         logger,
		Link:           requestLink(cfg),
		DefaultQuorum:  cfg.DefaultQuorum(),
		RequestLog:     history,

		MaxScheduleAhead:        cfg.Lifecycle.MaxStartDelay,
		FoldersAndOrganizations: cfg.Lifecycle.FoldersAndOrgs,
	})
	lifecycle, err := a.lifecycle(ctx, cfg, env, id, uc, iamClient, assetClient, crm, catOpts)
	if err != nil {
		return nil, err
	}

	var verifierOpts []iap.Option
	if env.IAPKeysHTTPClient != nil {
		verifierOpts = append(verifierOpts, iap.WithHTTPClient(env.IAPKeysHTTPClient))
	}
	verifierOpts = append(verifierOpts, iap.WithClock(clock),
		iap.WithKeyFetchTimeout(cfg.BackendConnectTimeout+cfg.BackendReadTimeout),
		iap.WithHostedDomain(cfg.IAPHostedDomain))
	audience := cfg.IAPAudience(id.ProjectNumber, id.Region)
	switch {
	case audience != "":
	case !cfg.IAPVerifyAudience:
		logger.WarnContext(ctx, msgAudienceNotVerified)
	case cfg.Platform != config.PlatformLocal:
		return nil, errors.New("IAP_VERIFY_AUDIENCE is true, but the IAP audience cannot be derived here: set IAP_AUDIENCE (or IAP_BACKEND_SERVICE_ID behind a load balancer)")
	default:
		logger.WarnContext(ctx, "Running locally without IAP_AUDIENCE or IAP_BACKEND_SERVICE_ID: "+msgAudienceNotVerified)
	}
	verifier, err := iap.NewVerifier(ctx, audience, verifierOpts...)
	if err != nil {
		return nil, err
	}

	external := ""
	if cfg.ExternalURL != nil {
		external = cfg.ExternalURL.String()
	}
	ui, err := web.FS()
	if err != nil {
		return nil, fmt.Errorf("web assets: %w", err)
	}
	keysClient := env.IAPKeysHTTPClient
	if keysClient == nil {
		keysClient = &http.Client{Timeout: cfg.BackendReadTimeout}
	}
	ready := server.CachedReadiness(readinessProbes(readinessDeps{
		cfg: cfg, id: id, keysClient: keysClient, saKeysURL: saKeysURL(env),
		crm: crm, asset: assetClient, creds: creds, smtpSecret: a.smtpSecret, clock: clock,
	}), server.ReadinessOptions{Timeout: min(cfg.BackendReadTimeout, server.DefaultProbeTimeout), Clock: clock, Logger: logger})
	srv, err := server.New(server.Options{
		Logger: logger, Verifier: iap.NewCache(verifier, clock), UI: ui, Policy: cfg.Policy(), Version: env.Version,
		TraceProject: id.ProjectID, UseCases: uc, ExternalURL: external,
		RequestLimit: ratelimit.New(cfg.RateLimitRequests, time.Minute, clock),
		AuthFailures: trail,
		Ready:        ready, ObserveRequest: a.observer(),
		Lifecycle: lifecycle,
		Nodes:     nodeUseCases(cfg, uc),
		Clock:     clock,
	})
	if err != nil {
		return nil, fmt.Errorf("building the server: %w", err)
	}
	a.Handler = srv
	return a, nil
}

// directoryService is the Admin SDK Directory client. Its scope
// (admin.directory.group.readonly) is not one the metadata server's token
// carries, so in production the app impersonates its own service account
// for it, as 1.8.1 did (RuntimeEnvironment: ImpersonatedCredentials).
func directoryService(ctx context.Context, env Environment, sa jit.UserID) (*admin.Service, error) {
	opts := env.Directory
	if opts == nil {
		ts, err := impersonate.CredentialsTokenSource(ctx, impersonate.CredentialsConfig{
			TargetPrincipal: string(sa), Scopes: []string{admin.AdminDirectoryGroupReadonlyScope},
		}, env.IAMCredentials...)
		if err != nil {
			return nil, fmt.Errorf("directory API credentials (impersonating %s): %w", sa, err)
		}
		opts = []option.ClientOption{option.WithTokenSource(ts)}
	}
	dir, err := admin.NewService(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("directory API client: %w", err)
	}
	return dir, nil
}

// msgAudienceNotVerified is logged when IAP assertions are accepted
// whatever their audience.
const msgAudienceNotVerified = "SECURITY WARNING: the audience of IAP assertions is NOT verified (IAP_VERIFY_AUDIENCE=false). " +
	"IAP signs the assertions of every IAP-protected application with the same keys, so an assertion minted for ANY of them " +
	"is accepted here: a user of another IAP-protected app, or that app itself, can replay it to act as that user. " +
	"Set IAP_VERIFY_AUDIENCE=true (and IAP_AUDIENCE or IAP_BACKEND_SERVICE_ID if the audience cannot be derived)."

// requestLink builds links to a request's page from EXTERNAL_URL, for the
// notifications of approvals and rejections (the request's own email
// link is built by the server).
func requestLink(cfg *config.Config) func(string, jit.Scope) string {
	if cfg.ExternalURL == nil {
		return nil
	}
	base := strings.TrimRight(cfg.ExternalURL.String(), "/")
	return func(token string, scope jit.Scope) string {
		return base + "/?" + url.Values{"activation": {token}, "projectId": {scope.Name()}}.Encode()
	}
}

// identity finds the project, service account and (on Cloud Run, when the
// IAP audience needs it) region the app runs as: the configuration wins,
// then the metadata server.
func identity(ctx context.Context, cfg *config.Config, env Environment) (Identity, error) {
	id := Identity{ProjectID: cfg.ProjectID, ProjectNumber: cfg.ProjectNumber, ServiceAccount: cfg.ServiceAccount}
	if id.ProjectID != "" && id.ProjectNumber != "" && id.ServiceAccount != "" && !cfg.NeedsRegion() {
		return id, nil
	}
	lookup := env.Metadata
	if lookup == nil {
		if cfg.Platform == config.PlatformLocal {
			return Identity{}, errors.New("outside App Engine and Cloud Run, set GOOGLE_CLOUD_PROJECT, PROJECT_NUMBER and SERVICE_ACCOUNT")
		}
		lookup = metadataIdentity
	}
	md, err := lookup(ctx)
	if err != nil {
		return Identity{}, fmt.Errorf("reading the metadata server: %w", err)
	}
	if id.ProjectID == "" {
		id.ProjectID = md.ProjectID
	}
	if id.ProjectNumber == "" {
		id.ProjectNumber = md.ProjectNumber
	}
	if id.ServiceAccount == "" {
		id.ServiceAccount = md.ServiceAccount
	}
	id.Region = md.Region
	return id, nil
}

func metadataIdentity(ctx context.Context) (Identity, error) {
	c := metadata.NewClient(nil)
	projectID, err := c.ProjectIDWithContext(ctx)
	if err != nil {
		return Identity{}, err
	}
	number, err := c.NumericProjectIDWithContext(ctx)
	if err != nil {
		return Identity{}, err
	}
	email, err := c.EmailWithContext(ctx, "default")
	if err != nil {
		return Identity{}, err
	}
	sa, err := jit.ParseUserID(email)
	if err != nil {
		return Identity{}, err
	}
	// Cloud Run's metadata server answers projects/NUMBER/regions/REGION;
	// App Engine's has no region of this form, and needs none.
	region := ""
	if r, err := c.GetWithContext(ctx, "instance/region"); err == nil {
		region = r[strings.LastIndex(r, "/")+1:]
	}
	return Identity{ProjectID: projectID, ProjectNumber: number, ServiceAccount: sa, Region: region}, nil
}

// auditTrail writes where AUDIT_LOG says: to stdout by default, as the
// original did (the platform ingests it into its stdout log), or through
// the Logging API to jitaccess-audit.
//
// history reads the trail back from both (AuditLogs), whatever AUDIT_LOG
// says: the request lists and the audit side of "already decided" use it.
// It is nil locally without a Logging endpoint, where nothing can read
// stdout back.
func (a *App) auditTrail(ctx context.Context, cfg *config.Config, env Environment, id Identity, clock func() time.Time, opts ...audit.TrailOption) (trail *audit.Trail, history activation.RequestLog, err error) {
	if cfg.Platform != config.PlatformLocal || env.Logging != nil {
		admin, err := logadmin.NewClient(ctx, "projects/"+id.ProjectID, env.Logging...)
		if err != nil {
			return nil, nil, fmt.Errorf("cloud logging admin client: %w", err)
		}
		a.closers = append(a.closers, admin.Close)
		// Bounded like every read: approvals wait for the log (the
		// client library alone would retry an unavailable Cloud Logging
		// for a minute).
		history = audit.NewHistory(admin, id.ProjectID, append(historyOfService(cfg), audit.FromLogs(AuditLogs(cfg)...))...).WithTimeout(cfg.BackendReadTimeout)
	}
	if cfg.AuditLog != config.AuditLogCloudLogging {
		return audit.NewTrail(audit.NewStdoutLogger(cmpWriter(env.Stdout)), clock, opts...), history, nil
	}
	client, err := logging.NewClient(ctx, "projects/"+id.ProjectID, env.Logging...)
	if err != nil {
		return nil, nil, fmt.Errorf("cloud logging client: %w", err)
	}
	a.closers = append(a.closers, client.Close)
	return audit.NewTrail(audit.NewCloudLogger(client, monitoredResource(cfg, id), cfg.BackendWriteTimeout), clock, opts...), history, nil
}

// AuditLogs are the log ids audit.History should read for cfg: the one
// the Logging API writer uses and the stdout log of the platform (App
// Engine's when running locally), whatever AUDIT_LOG says now, so that
// history survives a change of writer and includes 1.8.1's entries.
func AuditLogs(cfg *config.Config) []string {
	switch cfg.Platform {
	case config.PlatformAppEngine:
		return []string{audit.LogID, audit.AppEngineStdoutLog}
	case config.PlatformCloudRun:
		return []string{audit.LogID, audit.CloudRunStdoutLog}
	}
	// Locally nothing ingests stdout but the emulated environment, which
	// does it as App Engine does.
	return []string{audit.LogID, audit.AppEngineStdoutLog}
}

// historyOfService restricts reading the trail back to this deployment's
// own entries (audit.OfService): on App Engine its service (GAE_SERVICE,
// resource gae_app), on Cloud Run its service (K_SERVICE, resource
// cloud_run_revision), the resources the platform attributes the app's
// stdout to and monitoredResource writes with. Locally nothing identifies
// a service, and everything is read.
func historyOfService(cfg *config.Config) []audit.HistoryOption {
	switch cfg.Platform {
	case config.PlatformAppEngine:
		return []audit.HistoryOption{audit.OfService("gae_app", "module_id", cfg.Service)}
	case config.PlatformCloudRun:
		return []audit.HistoryOption{audit.OfService("cloud_run_revision", "service_name", cfg.Service)}
	}
	return nil
}

func monitoredResource(cfg *config.Config, id Identity) *mrpb.MonitoredResource {
	switch cfg.Platform {
	case config.PlatformAppEngine:
		return &mrpb.MonitoredResource{Type: "gae_app", Labels: map[string]string{"project_id": id.ProjectID, "module_id": cfg.Service}}
	case config.PlatformCloudRun:
		return &mrpb.MonitoredResource{Type: "cloud_run_revision", Labels: map[string]string{"project_id": id.ProjectID, "service_name": cfg.Service}}
	}
	return &mrpb.MonitoredResource{Type: "global", Labels: map[string]string{"project_id": id.ProjectID}}
}

// A request's email session is set up while its token is signed
// (activation.Notifier's Prepare), also through the metrics' counting.
var _ notify.Preparer = countedChannel{}

// notifier builds the email and Pub/Sub channels that are configured.
// canNotify is whether a reviewer can be reached at all.
func (a *App) notifier(ctx context.Context, cfg *config.Config, env Environment, id Identity, logger *slog.Logger) (*notify.Notifier, bool, error) {
	var channels []notify.Channel
	if cfg.SMTPConfigured() {
		password := cfg.SMTP.Password
		var source func(context.Context) (string, error)
		if cfg.SMTP.Secret != "" {
			// SMTP_SECRET wins over SMTP_PASSWORD, as in the original.
			password = ""
			sm, err := secretmanager.NewClient(ctx, env.SecretManager...)
			if err != nil {
				return nil, false, fmt.Errorf("secret manager client: %w", err)
			}
			a.closers = append(a.closers, sm.Close)
			source = secretSource(sm, cfg.SMTP.Secret, cfg.BackendReadTimeout)
			a.smtpSecret = source
		}
		m, err := notify.NewMailer(notify.MailOptions{
			Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, StartTLS: cfg.SMTP.EnableStartTLS,
			SenderName: cfg.SMTP.SenderName, SenderAddress: cfg.SMTP.SenderAddress,
			Username: cfg.SMTP.Username, Password: password, PasswordSource: source, AddressMapping: cfg.SMTP.AddressMapping,
			Location: cfg.NotificationTimezone, Timeout: cfg.BackendWriteTimeout + cfg.BackendConnectTimeout,
			TLSConfig: env.SMTPTLSConfig, Properties: cfg.SMTP.Options,
		})
		if err != nil {
			return nil, false, err
		}
		for _, w := range m.Warnings() {
			logger.WarnContext(ctx, w, slog.Group(cloudlog.LabelsGroup, slog.String("event", "runtime.startup")))
		}
		channels = append(channels, a.countedChannel("email", m))
	} else {
		logger.WarnContext(ctx, "The SMTP configuration is incomplete: no emails will be sent")
	}
	canNotify := len(channels) > 0
	if cfg.NotificationTopic != "" {
		client, err := pubsub.NewClient(ctx, id.ProjectID, env.PubSub...)
		if err != nil {
			return nil, false, fmt.Errorf("pub/sub client: %w", err)
		}
		ps := notify.NewPubSub(client, "projects/"+id.ProjectID+"/topics/"+cfg.NotificationTopic, cfg.BackendWriteTimeout)
		a.closers = append(a.closers, func() error { ps.Stop(); return client.Close() })
		channels = append(channels, a.countedChannel("pubsub", ps))
		canNotify = true
	}
	hooks, err := a.webhooks(ctx, cfg, env, id, logger)
	if err != nil {
		return nil, false, err
	}
	// A Chat space or a webhook reaches reviewers as Pub/Sub does.
	channels, canNotify = append(channels, hooks...), canNotify || len(hooks) > 0
	return notify.New(channels...), canNotify, nil
}

// secretSource reads a Secret Manager version, checking its checksum.
func secretSource(sm *secretmanager.Client, version string, timeout time.Duration) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		resp, err := sm.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: version})
		if err != nil {
			return "", fmt.Errorf("read %s: %w", version, err)
		}
		data := resp.GetPayload().GetData()
		if want := resp.GetPayload().DataCrc32C; want != nil && int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))) != *want {
			return "", fmt.Errorf("read %s: the payload's checksum does not match", version)
		}
		return strings.TrimSpace(string(data)), nil
	}
}

func cmpWriter(w io.Writer) io.Writer {
	if w == nil {
		return os.Stdout
	}
	return w
}

// UI returns the embedded web assets, for callers that wrap the app.
func UI() (fs.FS, error) { return web.FS() }
