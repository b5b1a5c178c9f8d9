// Command jitaccess-demo is `make run`: jitaccess with an emulated Google
// Cloud, an SMTP outbox and an Identity-Aware Proxy simulator, in one
// process on loopback. See docs/demo.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/jitaccess/jitaccess/internal/demo"
	"github.com/jitaccess/jitaccess/internal/emulated"
	"github.com/jitaccess/jitaccess/internal/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "jitaccess-demo: %v\n", err)
		os.Exit(1)
	}
}

// loopbackOnly reports whether addr (host:port; "" is the default,
// 127.0.0.1) can be reached only from this machine.
func loopbackOnly(addr string) bool {
	if addr == "" {
		return true
	}
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

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("jitaccess-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "listen address (default 127.0.0.1:8080, or a free port when it is taken)")
	seedPath := fs.String("seed", "", "a seed file describing another world (default: the embedded demo world, Example Corp)")
	verbose := fs.Bool("v", false, "log requests and the app's logs to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	seed, err := loadSeed(*seedPath)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if !loopbackOnly(*addr) {
		_, _ = fmt.Fprintf(stderr, "WARNING: -addr %s listens beyond loopback. The demo's sign-in lets anyone who can reach it act as any demo user, and its outbox and IAM pages show everything; use 127.0.0.1 unless this network is yours alone.\n", *addr)
	}
	d, err := demo.Run(ctx, demo.Options{Addr: *addr, Seed: seed, Logger: logger})
	if err != nil {
		return err
	}
	// Nothing to do if the terminal is gone: the demo keeps serving.
	if *addr == "" && !strings.HasSuffix(d.URL, ":8080") {
		_, _ = fmt.Fprintf(stdout, "127.0.0.1:8080 is in use, so the demo took a free port.\n")
	}
	_, _ = fmt.Fprintf(stdout, `
jitaccess demo is running. Open %[1]s in a browser.

  Sign in as a demo user:  %[1]s/_demo/signin
  Emails (approval links): %[1]s/_demo/outbox
  IAM policies:            %[1]s/_demo/iam
  Metrics (Prometheus):    %[1]s/_demo/metrics
  For scripts: curl -H 'X-Demo-User: alice@example.com' -H 'X-JITACCESS: 1' %[1]s/api/projects
  For jitctl:  curl -s '%[1]s/_demo/credentials?user=dave@example.com' > /tmp/dave.json
               JITCTL_URL=%[1]s JITCTL_AUDIENCE=%[2]s \
               JITCTL_CREDENTIALS=/tmp/dave.json go run ./cmd/jitctl roles -p prod-payments-db
  Emulated Google Cloud:   %[3]s
  Compatibility report:    GOOGLE_CLOUD_PROJECT=%[4]s RESOURCE_SCOPE=%[5]s \
                           go run ./cmd/jitaccess compat-report -emulator %[3]s
  Escalation lint:         GOOGLE_CLOUD_PROJECT=%[4]s RESOURCE_SCOPE=%[5]s \
                           go run ./cmd/jitaccess lint -emulator %[3]s

Press Ctrl-C to stop.
`, d.URL, emulated.IAPClientID, strings.TrimSuffix(d.Emulator.Endpoints().ResourceManager, "/"), emulated.ProjectID, emulated.Scope)
	<-ctx.Done()
	if err := d.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// loadSeed reads the world at path, or the embedded demo world for "".
func loadSeed(path string) (*emulator.Seed, error) {
	if path == "" {
		return demo.DefaultSeed()
	}
	f, err := os.Open(path) //nolint:gosec // the operator names the seed file on the command line
	if err != nil {
		return nil, fmt.Errorf("open the seed: %w", err)
	}
	defer func() { _ = f.Close() }() // read-only: nothing is lost
	seed, err := emulator.LoadSeed(f)
	if err != nil {
		return nil, fmt.Errorf("seed %s: %w", path, err)
	}
	return seed, nil
}
