// Command jitaccess-emulator runs the local Google Cloud emulator
// (internal/emulator) on its own, for other tools and black-box tests:
//
//	go run ./cmd/jitaccess-emulator -seed testdata/demo.yaml [-http 127.0.0.1:0] [-grpc 127.0.0.1:0]
//
// When it is ready it prints its endpoints as one JSON line on stdout, so a
// script can start it and read where to connect; it logs to stderr and
// stops gracefully on SIGINT or SIGTERM. See docs/emulator.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/jitaccess/jitaccess/internal/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "jitaccess-emulator: %v\n", err)
		os.Exit(1)
	}
}

// run is main without the process: it serves until ctx is cancelled.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("jitaccess-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seedPath := fs.String("seed", "", "YAML seed file describing the world, e.g. testdata/demo.yaml (empty: an empty world)")
	httpAddr := fs.String("http", "127.0.0.1:0", "listen address of the REST services and the control API")
	grpcAddr := fs.String("grpc", "127.0.0.1:0", "listen address of the gRPC services (Cloud Asset, Cloud Logging)")
	verbose := fs.Bool("v", false, "log every request to stderr")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	opts := emulator.Options{HTTPAddr: *httpAddr, GRPCAddr: *grpcAddr, Logger: logger}
	if *seedPath != "" {
		seed, err := loadSeed(*seedPath)
		if err != nil {
			return err
		}
		opts.Seed = seed
	}
	e, err := emulator.Start(ctx, opts)
	if err != nil {
		return err
	}
	line, err := json.Marshal(e.Endpoints())
	if err != nil {
		_ = e.Close()
		return fmt.Errorf("encode endpoints: %w", err)
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
		_ = e.Close()
		return fmt.Errorf("print endpoints: %w", err)
	}
	<-ctx.Done()
	logger.InfoContext(context.WithoutCancel(ctx), "shutting down")
	return e.Close()
}

func loadSeed(path string) (*emulator.Seed, error) {
	f, err := os.Open(path) //nolint:gosec // the operator names the seed file
	if err != nil {
		return nil, fmt.Errorf("open seed: %w", err)
	}
	seed, err := emulator.LoadSeed(f)
	_ = f.Close() // read-only: nothing is lost
	if err != nil {
		return nil, fmt.Errorf("seed %s: %w", path, err)
	}
	return seed, nil
}
