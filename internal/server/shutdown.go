package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// NewHTTPServer returns an http.Server for h with timeouts that keep slow
// clients from holding connections, and net/http's own errors sent to
// logger. Request contexts are not cancelled by ctx: on shutdown, in-flight
// requests may finish (see Serve).
func NewHTTPServer(ctx context.Context, h http.Handler, logger *slog.Logger) *http.Server {
	base := context.WithoutCancel(ctx)
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Activation calls several Google APIs with retries; leave them room.
		WriteTimeout:   2 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:    func(net.Listener) context.Context { return base },
	}
}

// Serve serves srv on ln until ctx is done, then shuts down gracefully:
// it stops accepting connections and waits up to grace for in-flight
// requests (Cloud Run and App Engine send SIGTERM and wait about 10 s). It
// returns nil after a clean shutdown.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		// Serve failed before we were asked to stop.
		return fmt.Errorf("server: serving: %w", err)
	case <-ctx.Done():
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close() // grace ran out: drop the remaining connections
		return fmt.Errorf("server: graceful shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server: serving: %w", err)
	}
	return nil
}
