// Package demo runs jitaccess on one machine with no cloud account: the
// emulator loaded with a demo world, an SMTP outbox, the app wired exactly
// as in production (internal/app, through internal/emulated), and in front
// of it an Identity-Aware Proxy simulator. The simulator lets a person pick
// a demo user, then mints a real IAP-format ES256 assertion for every
// request with the emulator's key, so the app's real verification runs.
//
// The simulator trusts a cookie, or the X-Demo-User header for scripts:
// anybody who can reach it can be anybody. That is fine on loopback, which
// is where it listens by default, and is why none of this is linked into
// the production binary.
package demo

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/api/idtoken"

	"github.com/jitaccess/jitaccess/internal/app"
	"github.com/jitaccess/jitaccess/internal/config"
	"github.com/jitaccess/jitaccess/internal/emulated"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/outbox"
)

//go:embed static
var static embed.FS

// The demo world lives next to the code that serves it, so that the demo
// binary runs from any directory; testdata/demo.yaml is a symbolic link to
// it for the tests and tools that take a seed path.
//
//go:embed demo.yaml
var defaultSeed []byte

// DefaultSeed returns the embedded demo world (Example Corp).
func DefaultSeed() (*emulator.Seed, error) {
	seed, err := emulator.LoadSeed(bytes.NewReader(defaultSeed))
	if err != nil {
		return nil, fmt.Errorf("the embedded demo world: %w", err)
	}
	return seed, nil
}

// Options configure Run.
type Options struct {
	// Addr is where the demo listens; "" is 127.0.0.1:8080, falling back
	// to a free port when that is taken.
	Addr string
	// Seed is the demo world; nil is the embedded one (DefaultSeed).
	Seed *emulator.Seed
	// Config overrides environment variables of the app.
	Config map[string]string
	Logger *slog.Logger
	// Stdout receives the audit trail when it is not sent to the
	// emulator's Cloud Logging; nil discards it.
	Stdout io.Writer
}

// Demo is a running demo.
type Demo struct {
	URL      string
	Emulator *emulator.Emulator
	Outbox   *outbox.Server

	app *app.App
	// audience is what the simulator's assertions say they are for: the
	// audience the app checks, so that the check runs.
	audience string
	// idTokens verifies the ID tokens of programmatic clients (jitctl),
	// with Google's verification code and the emulator's keys.
	idTokens *idtoken.Validator
	server   *http.Server
	lis      net.Listener
	done     chan error
}

// Run starts the demo and returns once it is listening.
func Run(ctx context.Context, opts Options) (d *Demo, err error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	seed := opts.Seed
	if seed == nil {
		if seed, err = DefaultSeed(); err != nil {
			return nil, err
		}
	}
	d = &Demo{done: make(chan error, 1)}
	started := d
	defer func() {
		if err != nil {
			_ = started.Close()
		}
	}()
	if d.Emulator, err = emulator.Start(ctx, emulator.Options{Seed: seed, Logger: logger}); err != nil {
		return nil, fmt.Errorf("start the emulator: %w", err)
	}
	if d.Outbox, err = outbox.Start(ctx, "127.0.0.1:0", outbox.Options{Username: emulated.SMTPUser, Password: emulated.SMTPPassword}); err != nil {
		return nil, fmt.Errorf("start the outbox: %w", err)
	}
	if d.lis, err = listen(ctx, opts.Addr); err != nil {
		return nil, err
	}
	d.URL = "http://" + d.lis.Addr().String()
	if tcp, ok := d.lis.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		// Listening on every interface: links (and EXTERNAL_URL, which
		// allows plain http only for loopback) use this machine's loopback.
		d.URL = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
	}
	// The demo shows activation on folders and the organization, which
	// production leaves off unless configured.
	overrides := map[string]string{
		// Metrics are collected; the demo serves them at /_demo/metrics
		// rather than on a port of their own.
		"METRICS_ADDR": "127.0.0.1:0",
		"ACTIVATION_ON_FOLDERS_AND_ORGANIZATIONS": "true",
	}
	for k, v := range opts.Config {
		overrides[k] = v
	}
	cfg, err := config.Load(emulated.Config(d.Outbox.Addr(), d.URL, overrides))
	if err != nil {
		return nil, fmt.Errorf("demo configuration: %w", err)
	}
	if d.audience = cfg.IAPAudience(emulated.ProjectNumber, ""); d.audience == "" {
		d.audience = emulated.Audience // not checked (IAP_VERIFY_AUDIENCE=false), but IAP always sets one
	}
	if d.app, err = app.Build(ctx, cfg, emulated.Environment(d.Emulator, d.Outbox.TLSConfig(), logger, nil)); err != nil {
		return nil, fmt.Errorf("build the app: %w", err)
	}
	if d.idTokens, err = idtoken.NewValidator(ctx, idtoken.WithHTTPClient(emulated.RedirectClient(d.Emulator.Endpoints().ResourceManager))); err != nil {
		return nil, fmt.Errorf("ID token validator: %w", err)
	}
	d.server = &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { d.done <- d.server.Serve(d.lis) }()
	return d, nil
}

func listen(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	if addr != "" {
		l, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		return l, nil
	}
	if l, err := lc.Listen(ctx, "tcp", "127.0.0.1:8080"); err == nil {
		return l, nil
	}
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	return l, nil
}

// Close stops everything.
func (d *Demo) Close() error {
	var errs []error
	if d.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		errs = append(errs, d.server.Shutdown(ctx))
	} else if d.lis != nil {
		errs = append(errs, d.lis.Close())
	}
	if d.app != nil {
		errs = append(errs, d.app.Close())
	}
	if d.Outbox != nil {
		errs = append(errs, d.Outbox.Close())
	}
	if d.Emulator != nil {
		errs = append(errs, d.Emulator.Close())
	}
	return errors.Join(errs...)
}
