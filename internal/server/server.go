// Package server is the app's HTTP face: the chi router, the middleware
// chain, the JSON API handlers, the health checks and the static UI.
//
// It exists to keep HTTP out of the domain. Handlers decode requests, call
// the use cases and render JSON; they return errors instead of writing
// error responses, and one adapter (handle) turns a *jit.Error into a status
// code through one table (statusOf) and the original's error body
// {"message": "..."}. Nothing else in the app knows about status codes.
//
// Middleware runs in this order, outermost first (see Server.routes):
//
//  1. recover: a panic becomes a logged 500 with a JSON body.
//  2. request context: a request id, the Cloud Trace context and log labels.
//  3. access log: one slog line per request with Cloud Logging's httpRequest.
//  4. security headers: CSP without inline script, frame-ancestors 'none',
//     nosniff, no referrer, HSTS, no-cache, same-origin opener.
//  5. cross-origin protection: http.CrossOriginProtection refuses
//     cross-site non-GET requests from browsers.
//  6. body limit: request bodies are read through http.MaxBytesReader.
//
// (chi's GetHead follows, so that HEAD is answered by the GET handlers.)
//
// and on /api/* only:
//
//  7. XSRF header: X-JITACCESS: 1 is required, as in the original.
//  8. IAP: the x-goog-iap-jwt-assertion header is verified; the principal
//     is put in the request context (PrincipalFrom).
//  9. rate limit: each user's requests per minute (RATE_LIMIT_REQUESTS);
//     over it, 429 with Retry-After.
//
// /health/* and the static UI need neither the XSRF header nor IAP in the
// app; IAP in front of the app still applies to them.
//
// API handlers live in files named api_*.go and are registered in
// Server.apiRoutes.
package server

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// DefaultMaxBodyBytes bounds request bodies when Options.MaxBodyBytes is 0.
// The largest real request (a self-activation of ten roles) is well under
// 4 KiB.
const DefaultMaxBodyBytes = 64 << 10

// AssertionVerifier verifies an IAP assertion (the x-goog-iap-jwt-assertion
// header) and returns the principal it vouches for. internal/iap implements
// it. Errors of kind KindUnavailable or KindUpstream (for example, IAP's
// keys could not be fetched) are reported as such; any other error means
// the assertion is not acceptable.
type AssertionVerifier interface {
	Verify(ctx context.Context, assertion string) (jit.Principal, error)
}

// ReadinessFunc reports the state of each dependency the app needs, by
// name; the app is ready when all are true.
type ReadinessFunc func(ctx context.Context) map[string]bool

// Options are the server's dependencies and settings.
type Options struct {
	// Logger receives access logs and errors; nil discards them.
	Logger *slog.Logger
	// Verifier verifies IAP assertions on /api/*. Required.
	Verifier AssertionVerifier
	// UI holds the web assets served at "/" (index.html at the root); nil
	// serves no UI.
	UI fs.FS
	// Policy holds the activation rules shown by /api/policy.
	Policy jit.Policy
	// Version is shown as applicationVersion.
	Version string
	// MaxBodyBytes bounds request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// TraceProject is the project that X-Cloud-Trace-Context trace ids
	// belong to (GOOGLE_CLOUD_PROJECT); empty disables trace correlation.
	TraceProject string
	// Ready backs /health/ready; nil means always ready.
	Ready ReadinessFunc
	// UseCases serve the activation API. Required.
	UseCases UseCases
	// ExternalURL is the app's public base URL, for approval links
	// (EXTERNAL_URL). Links are never built from the request's Host header,
	// which the client chooses: without ExternalURL there are none (and
	// internal/config requires it whenever notifications are configured).
	ExternalURL string
	// AuthFailures records refused IAP assertions in the audit trail;
	// nil records nothing.
	AuthFailures AuthFailureRecorder
	// RequestLimit bounds each user's /api requests (RATE_LIMIT_REQUESTS);
	// nil means no limit.
	RequestLimit RateLimiter
	// ObserveRequest is called for every request, for metrics; nil
	// observes nothing.
	ObserveRequest RequestObserver
	// Lifecycle serves My access, end, extend and history; nil leaves
	// those routes out.
	Lifecycle LifecycleUseCases
	// Nodes serves the folder and organization routes; nil leaves them
	// out (ACTIVATION_ON_FOLDERS_AND_ORGANIZATIONS=false).
	Nodes NodeUseCases
	// Clock is the time the lifecycle API reports statuses at; nil
	// means time.Now.
	Clock func() time.Time
}

// RateLimiter takes n events from key's allowance, or says how long until
// there is enough. internal/ratelimit implements it.
type RateLimiter interface {
	Allow(key string, n int) (ok bool, retryAfter time.Duration)
}

// AuthFailureRecorder records a refused IAP assertion.
type AuthFailureRecorder interface {
	AuthenticationFailed(ctx context.Context, cause error) error
}

// Server is the app's http.Handler.
type Server struct {
	log     *slog.Logger
	opts    Options
	static  *staticFiles
	handler http.Handler
}

// New builds the server. It fails when a required option is missing or the
// UI cannot be read.
func New(opts Options) (*Server, error) {
	if opts.Verifier == nil {
		return nil, errors.New("server.New: Options.Verifier is required")
	}
	if opts.UseCases == nil {
		return nil, errors.New("server.New: Options.UseCases is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	s := &Server{log: opts.Logger, opts: opts}
	if opts.UI != nil {
		st, err := newStaticFiles(opts.UI)
		if err != nil {
			return nil, err
		}
		s.static = st
	}
	s.handler = s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// routes builds the router. The middleware order is the one documented in
// the package comment; change both together.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(
		s.recoverPanics,  // 1
		s.requestContext, // 2
		s.accessLog,      // 3
		securityHeaders,  // 4
		s.crossOrigin,    // 5
		s.limitBody,      // 6
		// Not a filter: routes HEAD to the GET handlers (net/http drops
		// the body), so that no HEAD routes are needed.
		middleware.GetHead,
	)
	r.NotFound(s.handle(notFound))
	r.MethodNotAllowed(s.methodNotAllowed(r))

	r.Get("/health/alive", s.handle(s.alive))
	r.Get("/health/ready", s.handle(s.ready))

	r.Route("/api", func(r chi.Router) {
		r.Use(
			s.requireXSRFHeader, // 7
			s.authenticate,      // 8
			s.rateLimit,         // 9
		)
		r.NotFound(s.handle(notFound))
		r.MethodNotAllowed(s.methodNotAllowed(r))
		s.apiRoutes(r)
	})

	if s.static != nil {
		r.Get("/*", s.handle(s.static.serve))
	}
	return r
}

// apiRoutes registers the JSON API under /api. Paths are relative to /api.
// Every handler here has passed the XSRF and IAP checks, so
// PrincipalFrom(r.Context()) is set.
func (s *Server) apiRoutes(r chi.Router) {
	r.Get("/", s.handle(outdatedClient))
	r.Get("/policy", s.handle(s.getPolicy))
	r.Get("/projects", s.handle(s.listProjects))
	r.Get("/projects/{projectId}/roles", s.handle(s.listRoles))
	r.Get("/projects/{projectId}/peers", s.handle(s.listPeers))
	r.Post("/projects/{projectId}/roles/self-activate", s.handle(s.selfActivate))
	r.Post("/projects/{projectId}/roles/request", s.handle(s.requestActivation))
	r.Get("/activation-request", s.handle(s.getActivationRequest))
	r.Post("/activation-request", s.handle(s.approveActivationRequest))
	s.requestRoutes(r)
	s.lifecycleRoutes(r)
	s.nodeRoutes(r)
}

func notFound(http.ResponseWriter, *http.Request) error {
	return jit.E("server.route", jit.KindNotFound, "", nil)
}

// methodNotAllowed answers 405 with the Allow header chi's default handler
// would set, and the JSON error body.
func (s *Server) methodNotAllowed(router chi.Router) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePath != "" {
			path = rctx.RoutePath
		}
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if router.Match(chi.NewRouteContext(), m, path) {
				w.Header().Add("Allow", m)
				if m == http.MethodGet {
					w.Header().Add("Allow", http.MethodHead) // see middleware.GetHead
				}
			}
		}
		// A routing outcome, not a domain error: no kind maps to 405.
		writeMessage(w, http.StatusMethodNotAllowed, "Method not allowed")
	}
}
