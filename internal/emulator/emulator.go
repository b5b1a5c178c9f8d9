package emulator

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/jitaccess/jitaccess/internal/emulator/cloudasset"
	"github.com/jitaccess/jitaccess/internal/emulator/cloudidentity"
	"github.com/jitaccess/jitaccess/internal/emulator/conformance"
	"github.com/jitaccess/jitaccess/internal/emulator/control"
	"github.com/jitaccess/jitaccess/internal/emulator/directory"
	"github.com/jitaccess/jitaccess/internal/emulator/fault"
	"github.com/jitaccess/jitaccess/internal/emulator/iamapi"
	"github.com/jitaccess/jitaccess/internal/emulator/iamcredentials"
	"github.com/jitaccess/jitaccess/internal/emulator/iap"
	"github.com/jitaccess/jitaccess/internal/emulator/logging"
	"github.com/jitaccess/jitaccess/internal/emulator/oauth"
	"github.com/jitaccess/jitaccess/internal/emulator/resourcemanager"
	"github.com/jitaccess/jitaccess/internal/emulator/secretmanager"
	"github.com/jitaccess/jitaccess/internal/emulator/wire"
	"github.com/jitaccess/jitaccess/internal/emulator/world"
)

// Options configure Start. The zero value starts an empty world on
// loopback ports chosen by the system.
type Options struct {
	// HTTPAddr is where the REST services and the control API listen;
	// "" means 127.0.0.1:0.
	HTTPAddr string
	// GRPCAddr is where the gRPC services (Cloud Asset, Cloud Logging)
	// listen; "" means 127.0.0.1:0.
	GRPCAddr string
	// Seed is the initial world; nil starts an empty one.
	Seed *Seed
	// Clock is the world's clock; nil means time.Now.
	Clock func() time.Time
	// Logger receives an access log at debug level and serving errors;
	// nil discards them.
	Logger *slog.Logger
	// Conformance, when not nil, checks every REST exchange and gRPC
	// answer against Google's published schemas and records what departs
	// from them (see package conformance). The tests' harness
	// (emutest.Start) switches it on; the demo leaves it off.
	Conformance *conformance.Checker
}

// Endpoints are where the emulator's services listen, in the form each
// client library's option.WithEndpoint expects: REST base URLs end in "/",
// gRPC endpoints are host:port. cmd/jitaccess-emulator prints them as one
// JSON line.
type Endpoints struct {
	ResourceManager string `json:"resourceManager"`
	CloudIdentity   string `json:"cloudIdentity"`
	IAMCredentials  string `json:"iamCredentials"`
	IAM             string `json:"iam"`
	Asset           string `json:"asset"`
	Logging         string `json:"logging"`
	IAPJWKS         string `json:"iapJwks"`
	Control         string `json:"control"`
}

// Emulator is a running emulator: one World served over one HTTP server
// (all REST services and the control API, routed by path) and one gRPC
// server. Start it with Start and stop it with Close.
type Emulator struct {
	// World is the state every service reads and changes; tests may
	// inspect and change it directly.
	World *World

	ResourceManager *resourcemanager.Service
	CloudIdentity   *cloudidentity.Service
	// Directory is the Admin SDK Directory API (groups and members).
	Directory *directory.Service
	Control   *control.API
	Asset     *cloudasset.Service
	// IAP is the fake Identity-Aware Proxy (JWKS under /iap/): tests and the
	// demo mint assertions with it.
	IAP *IAP
	// Credentials serves signJwt and the service accounts' public keys.
	Credentials *iamcredentials.Service
	// IAM is the IAM API's roles.get (predefined and custom roles).
	IAM *iamapi.Service
	// Logging is Cloud Logging over gRPC.
	Logging *logging.Service
	// SecretManager serves secrets (SMTP_SECRET) over gRPC.
	SecretManager *secretmanager.Service
	// OAuth issues the ID tokens of IAP's programmatic authentication
	// (/token, /oauth2/v3/certs), for jitctl.
	OAuth *oauth.Service

	// rest routes REST paths to the services that own them, first match
	// wins; see route.
	rest []restRoute

	logger   *slog.Logger
	httpLis  net.Listener
	grpcLis  net.Listener
	httpSrv  *http.Server
	grpcSrv  *grpc.Server
	serveErr chan error

	connMu sync.Mutex
	conns  map[net.Conn]http.ConnState // for Close, see closeUnusedConns

	closeOnce sync.Once
	closeErr  error
}

// restRoute is a REST service and the paths it owns.
type restRoute struct {
	owns func(path string) bool
	h    http.Handler
}

const defaultAddr = "127.0.0.1:0"

// Start builds the world (applying opts.Seed), starts listening and serves
// in the background until Close. ctx bounds start-up only.
func Start(ctx context.Context, opts Options) (*Emulator, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := world.New(opts.Clock)
	if opts.Seed != nil {
		if err := opts.Seed.Apply(w); err != nil {
			return nil, fmt.Errorf("apply seed: %w", err)
		}
	}
	e := &Emulator{
		World:           w,
		ResourceManager: resourcemanager.New(w),
		CloudIdentity:   cloudidentity.New(w),
		Directory:       directory.New(w),
		Credentials:     iamcredentials.New(w),
		IAM:             iamapi.New(w),
		Logging:         logging.New(w),
		SecretManager:   secretmanager.New(w),
		OAuth:           oauth.New(opts.Clock),
		logger:          logger,
		serveErr:        make(chan error, 2),
		conns:           map[net.Conn]http.ConnState{},
	}
	e.Control = control.New(w, func() any { return e.Endpoints() })
	var err error
	if e.Asset, err = cloudasset.New(w); err != nil {
		return nil, fmt.Errorf("cloud asset: %w", err)
	}
	if e.IAP, err = iap.New(opts.Clock); err != nil {
		return nil, err
	}
	// A new REST API adds its line here (and its base URL to Endpoints);
	// a gRPC API registers in registerGRPC.
	e.rest = []restRoute{
		{resourcemanager.Owns, e.ResourceManager},
		{cloudidentity.Owns, e.CloudIdentity},
		{directory.Owns, e.Directory},
		{iamcredentials.Owns, e.Credentials},
		{iamapi.Owns, e.IAM},
		// IAP's keys come from www.gstatic.com, not from an API, but the
		// app depends on them like one, so they can fail like one.
		{iap.Owns, withFault(w, "iap.publicKeys", e.IAP)},
		{oauth.Owns, e.OAuth},
		{control.Owns, e.Control},
	}

	var lc net.ListenConfig
	httpAddr, grpcAddr := cmp.Or(opts.HTTPAddr, defaultAddr), cmp.Or(opts.GRPCAddr, defaultAddr)
	for _, addr := range []string{httpAddr, grpcAddr} {
		if !isLoopback(addr) {
			logger.WarnContext(ctx, "the emulator has no authentication; listen on loopback only", "addr", addr)
		}
	}
	e.httpLis, err = lc.Listen(ctx, "tcp", httpAddr)
	if err != nil {
		return nil, fmt.Errorf("listen for HTTP on %s: %w", httpAddr, err)
	}
	e.grpcLis, err = lc.Listen(ctx, "tcp", grpcAddr)
	if err != nil {
		_ = e.httpLis.Close()
		return nil, fmt.Errorf("listen for gRPC on %s: %w", grpcAddr, err)
	}
	var serve http.Handler = http.HandlerFunc(e.route)
	interceptors := []grpc.UnaryServerInterceptor{fault.HeldGRPC}
	if opts.Conformance != nil {
		serve = opts.Conformance.Wrap(serve)
		interceptors = append(interceptors, opts.Conformance.UnaryInterceptor())
	}
	e.httpSrv = &http.Server{
		Handler:           e.accessLog(fault.HeldHTTP(serve)),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ConnState:         e.trackConn,
	}
	e.grpcSrv = grpc.NewServer(grpc.ChainUnaryInterceptor(interceptors...))
	e.registerGRPC(e.grpcSrv)
	go func() {
		if err := e.httpSrv.Serve(e.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.serveErr <- fmt.Errorf("serve HTTP: %w", err)
		}
	}()
	go func() {
		if err := e.grpcSrv.Serve(e.grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			e.serveErr <- fmt.Errorf("serve gRPC: %w", err)
		}
	}()
	logger.InfoContext(ctx, "emulator started", "http", e.httpLis.Addr().String(), "grpc", e.grpcLis.Addr().String())
	return e, nil
}

// registerGRPC registers every gRPC service on s.
func (e *Emulator) registerGRPC(s *grpc.Server) {
	e.Asset.Register(s)
	e.Logging.Register(s)
	e.SecretManager.Register(s)
}

// route sends a request to the service that owns its path.
func (e *Emulator) route(rw http.ResponseWriter, r *http.Request) {
	// net/http notices a client that hangs up (and cancels r.Context())
	// only once the request body has been read to its end. Reading it
	// first lets a call that an injected latency holds end when its
	// caller gives up, as a call to Google does.
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(r.Body, wire.MaxRequestBody+1))
		if err != nil {
			wire.WriteError(rw, wire.New(http.StatusBadRequest, "The request body could not be read."))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	for _, rt := range e.rest {
		if rt.owns(r.URL.Path) {
			rt.h.ServeHTTP(rw, r)
			return
		}
	}
	wire.WriteError(rw, wire.NotFoundPath(r))
}

// withFault applies the faults set for method before h serves.
func withFault(w *World, method string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if err := w.Faults.Apply(r.Context(), method); err != nil {
			wire.WriteError(rw, err)
			return
		}
		h.ServeHTTP(rw, r)
	})
}

// statusRecorder remembers the status code for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (e *Emulator) trackConn(c net.Conn, state http.ConnState) {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	if state == http.StateClosed || state == http.StateHijacked {
		delete(e.conns, c)
		return
	}
	e.conns[c] = state
}

// awaitShutdown waits for http.Server.Shutdown while closing connections
// that were opened but never sent a request: Shutdown would otherwise wait
// five seconds for each, and client transports often open spare ones.
func (e *Emulator) awaitShutdown(done <-chan error) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			e.connMu.Lock()
			for c, st := range e.conns {
				if st == http.StateNew {
					_ = c.Close()
				}
			}
			e.connMu.Unlock()
		}
	}
}

func (e *Emulator) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: rw, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		e.logger.DebugContext(r.Context(), "emulator request",
			"method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start))
	})
}

// Endpoints reports where the services listen.
func (e *Emulator) Endpoints() Endpoints {
	base := "http://" + e.httpLis.Addr().String() + "/"
	grpcAddr := e.grpcLis.Addr().String()
	return Endpoints{
		ResourceManager: base,
		CloudIdentity:   base,
		IAMCredentials:  base,
		IAM:             base,
		Asset:           grpcAddr,
		Logging:         grpcAddr,
		IAPJWKS:         base + "iap/verify/public_key-jwk",
		Control:         base + "_emulator/",
	}
}

// HTTPClientOptions connect a REST client library (cloudresourcemanager,
// cloudidentity, iamcredentials, iam) to the emulator.
func (e *Emulator) HTTPClientOptions() []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint("http://" + e.httpLis.Addr().String() + "/"),
		option.WithoutAuthentication(),
	}
}

// GRPCClientOptions connect a gRPC client library (Cloud Asset, Cloud
// Logging) to the emulator, without TLS.
func (e *Emulator) GRPCClientOptions() []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(e.grpcLis.Addr().String()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// Close stops both servers, letting requests in flight finish for up to
// five seconds. It reports a serving error, if one happened.
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var errs []error
		shutdown := make(chan error, 1)
		go func() { shutdown <- e.httpSrv.Shutdown(ctx) }()
		if err := e.awaitShutdown(shutdown); err != nil {
			errs = append(errs, fmt.Errorf("shut down HTTP: %w", err))
			_ = e.httpSrv.Close()
		}
		stopped := make(chan struct{})
		go func() { e.grpcSrv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-ctx.Done():
			e.grpcSrv.Stop()
		}
		for done := false; !done; {
			select {
			case err := <-e.serveErr:
				errs = append(errs, err)
			default:
				done = true
			}
		}
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}

// isLoopback reports whether a listen address binds only to loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
