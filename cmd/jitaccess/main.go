// Command jitaccess is the production server: it reads the configuration
// from the environment, builds the Google API clients and serves the API and
// UI behind Identity-Aware Proxy on App Engine or Cloud Run.
//
// It holds wiring only. Nothing from the emulator or the demo may be linked
// into this binary; internal/archtest checks that.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	// NOTIFICATION_TIMEZONE must work on images without a zoneinfo
	// database (distroless, scratch).
	_ "time/tzdata"

	"github.com/jitaccess/jitaccess/internal/app"
	"github.com/jitaccess/jitaccess/internal/cloudlog"
	"github.com/jitaccess/jitaccess/internal/config"
	"github.com/jitaccess/jitaccess/internal/server"
)

// shutdownGrace is how long in-flight requests may take after SIGTERM.
// Cloud Run waits 10 s before SIGKILL; App Engine a little longer.
const shutdownGrace = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args, os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "jitaccess: %v\n", err)
		var exit exitCoder
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		os.Exit(1)
	}
}

// exitCoder is an error that ends the process with a code other than 1.
type exitCoder interface {
	error
	ExitCode() int
}

// run is main without the process: it serves until ctx is cancelled.
func run(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) error {
	var rest []string
	if len(args) > 1 {
		rest = args[1:]
	}
	report := len(rest) > 0 && rest[0] == "compat-report"
	linting := len(rest) > 0 && rest[0] == "lint"
	if len(rest) > 0 && !report && !linting {
		return fmt.Errorf("unexpected arguments %q: jitaccess is configured through environment variables, see docs/configuration.md (the commands are compat-report and lint)", rest)
	}
	var (
		reportFlags compatFlags
		lintFlags   lintFlags
	)
	var err error
	switch {
	case report:
		err = reportFlags.parse(rest[1:], stderr)
	case linting:
		err = lintFlags.parse(rest[1:], stderr)
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil // the usage is all that was asked for
	} else if err != nil {
		return err
	}
	cfg, err := config.Load(lookup)
	if err != nil {
		return fmt.Errorf("invalid configuration (see docs/configuration.md):\n%w", err)
	}
	if report {
		// Before switching from 1.8.1: which bindings become eligible; and
		// at any time, which approver bindings have no effect.
		return compatReport(ctx, cfg, reportFlags, stdout)
	}
	if linting {
		// Which eligible roles can make access outlive their window.
		return lint(ctx, cfg, lintFlags, stdout)
	}
	logger := slog.New(cloudlog.NewHandler(stdout, &cloudlog.HandlerOptions{Level: cfg.LogLevel}))
	logger.InfoContext(ctx, "Starting jitaccess "+version(),
		slog.Group(cloudlog.LabelsGroup, slog.String("event", "runtime.startup")),
		slog.Any("config", cfg))
	startup := slog.Group(cloudlog.LabelsGroup, slog.String("event", "runtime.startup"))
	for _, w := range cfg.Warnings {
		logger.WarnContext(ctx, w, startup)
	}
	if !cfg.SMTPConfigured() {
		// The original's text, so that existing alerts on it keep matching.
		logger.WarnContext(ctx, "The SMTP configuration is incomplete", startup)
	}

	h, metricsHandler, closeAll, err := newHandler(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer func() {
		if err := closeAll(); err != nil {
			logger.ErrorContext(ctx, "Closing clients failed", slog.Any("error", err))
		}
	}()

	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", listenAddress(cfg))
	if err != nil {
		return fmt.Errorf("listening on port %d: %w", cfg.Port, err)
	}
	// Start-up leaves garbage (descriptors decoded, clients set up) that
	// no collection reclaims while an instance idles, because an idle heap
	// does not grow to the next GC; return it now, off the path to the
	// first answer.
	go debug.FreeOSMemory()
	logger.InfoContext(ctx, "Listening on "+ln.Addr().String())
	if cfg.Platform == config.PlatformLocal {
		// For the person at the terminal; the JSON logs are for machines.
		// Nothing to do if stderr is gone.
		_, _ = fmt.Fprintf(stderr, "jitaccess: serving on http://%s\n", ln.Addr())
	}
	if metricsHandler != nil {
		stop, err := serveMetrics(ctx, cfg.Ops.MetricsAddr, metricsHandler, logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	srv := server.NewHTTPServer(ctx, h, logger)
	if err := server.Serve(ctx, srv, ln, shutdownGrace); err != nil {
		return err
	}
	logger.InfoContext(ctx, "Stopped")
	return nil
}

// listenAddress binds all interfaces on App Engine and Cloud Run, where
// the platform's front end connects to the container, and only loopback
// elsewhere: a development machine should not expose the app to its
// network.
func listenAddress(cfg *config.Config) string {
	if cfg.Platform == config.PlatformLocal {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port))
	}
	return net.JoinHostPort("", strconv.Itoa(cfg.Port))
}

// newHandler is the production wiring: app.Build with Google's endpoints
// and Application Default Credentials. It returns the handler and a
// function that closes every client it opened, and the metrics handler
// when METRICS_ADDR is set.
func newHandler(ctx context.Context, cfg *config.Config, logger *slog.Logger) (http.Handler, http.Handler, func() error, error) {
	a, err := app.Build(ctx, cfg, app.Environment{Logger: logger, Version: version()})
	if err != nil {
		return nil, nil, nil, err
	}
	if a.Metrics == nil {
		return a.Handler, nil, a.Close, nil
	}
	return a.Handler, a.Metrics.Handler(), a.Close, nil
}

// serveMetrics serves /metrics on addr, a port of its own that IAP and
// the platform's front end do not reach, until ctx ends; stop waits for it.
func serveMetrics(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) (stop func(), err error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("METRICS_ADDR: listening on %s: %w", addr, err)
	}
	logger.InfoContext(ctx, "Serving metrics on http://"+ln.Addr().String()+"/metrics")
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := server.Serve(ctx, server.NewHTTPServer(ctx, mux, logger), ln, shutdownGrace); err != nil {
			logger.ErrorContext(ctx, "Serving metrics failed", slog.Any("error", err))
		}
	}()
	return func() { <-done }, nil
}

// version is the module version the binary was built from, or "dev".
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
