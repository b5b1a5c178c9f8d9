// Command jitaccess-bench measures jitaccess against the emulator and
// prints the tables of docs/performance.md (`make bench`):
//
//   - the ratio table: each operation's latency when every Google call is
//     a round trip of L (the emulator's own work inside it), divided by its floor (the number of Google round
//     trips that must wait for each other, times L), with the Google calls
//     it made, counted by the emulator, for both catalogs;
//   - the Policy Analyzer calls of one "open the app, pick a project,
//     activate a role" session;
//   - warm role listing throughput and p99, the load coming from a separate
//     process;
//   - scale curves of the app's own cost (L = 0) as a synthetic world grows;
//   - cold start, idle RSS and binary size of cmd/jitaccess.
//
// Everything runs on loopback and is bounded in count and time. The
// emulator runs in a child process, so that the allocations and memory
// measured in this process are the app's own; the load generator is a
// second child process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "jitaccess-bench: %v\n", err)
		os.Exit(1)
	}
}

// settings are the command's flags.
type settings struct {
	latency    time.Duration
	runs       int
	duration   time.Duration
	conns      int
	scale      []int
	tables     map[string]bool
	seed       string
	cacheTTL   string
	mainBinary string
	cpuProfile string

	// Children only.
	child    string
	world    string
	projects int
	url      string
}

func parseFlags(args []string, stderr io.Writer) (settings, error) {
	var s settings
	fs := flag.NewFlagSet("jitaccess-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&s.latency, "latency", 40*time.Millisecond, "latency L the emulator adds to every Google call for the ratio table")
	fs.IntVar(&s.runs, "runs", 7, "runs of each operation (the median is reported)")
	fs.DurationVar(&s.duration, "duration", 5*time.Second, "length of the throughput run")
	fs.IntVar(&s.conns, "conns", 32, "concurrent connections of the load generator")
	scale := fs.String("scale", "10,100,1000,10000", "project counts of the synthetic worlds for the scale curves")
	tables := fs.String("tables", "ratio,session,throughput,scale,start", "tables to print")
	fs.StringVar(&s.seed, "seed", "testdata/demo.yaml", "world of the ratio, session and throughput tables")
	fs.StringVar(&s.cacheTTL, "cache-ttl", "", "CATALOG_CACHE_TTL of the app (empty: the default)")
	fs.StringVar(&s.mainBinary, "binary", "", "cmd/jitaccess binary for the start table (empty: build one with the Makefile's flags)")
	fs.StringVar(&s.cpuProfile, "cpuprofile", "", "write a CPU profile of the app during the throughput run to this file")
	fs.StringVar(&s.child, "child", "", "internal: run as the emulator or load child")
	fs.StringVar(&s.world, "world", "seed", "internal: the emulator child's world (seed or synthetic)")
	fs.IntVar(&s.projects, "projects", 10, "internal: projects of the synthetic world")
	fs.StringVar(&s.url, "url", "", "internal: the load child's target")
	if err := fs.Parse(args[1:]); err != nil {
		return s, err
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if s.runs < 1 || s.runs > 50 {
		return s, errors.New("-runs must be between 1 and 50")
	}
	if s.duration <= 0 || s.duration > time.Minute {
		return s, errors.New("-duration must be positive and at most 1m")
	}
	if s.conns < 1 || s.conns > 512 {
		return s, errors.New("-conns must be between 1 and 512")
	}
	for _, f := range strings.Split(*scale, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 20000 {
			return s, fmt.Errorf("-scale: %q is not a project count between 1 and 20000", f)
		}
		s.scale = append(s.scale, n)
	}
	s.tables = map[string]bool{}
	for _, t := range strings.Split(*tables, ",") {
		s.tables[strings.TrimSpace(t)] = true
	}
	return s, nil
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	s, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	switch s.child {
	case "emulator":
		return runEmulatorChild(ctx, s, stdin, stdout)
	case "load":
		return runLoadChild(ctx, s, stdin, stdout)
	case "":
	default:
		return fmt.Errorf("unknown -child %q", s.child)
	}
	b := &bench{s: s, out: stdout, log: stderr, p: &printer{w: stdout}}
	b.p.f("jitaccess-bench: %s\n\n", machine())
	steps := []struct {
		table string
		fn    func(context.Context) error
	}{
		{"ratio", b.ratioTable},
		{"session", b.sessionTable},
		{"throughput", b.throughputTable},
		{"scale", b.scaleTable},
		{"start", b.startTable},
	}
	for _, st := range steps {
		if b.p.err != nil {
			return b.p.err
		}
		if !s.tables[st.table] {
			continue
		}
		if err := st.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", st.table, err)
		}
	}
	return b.p.err
}

// bench holds what the tables share.
type bench struct {
	s   settings
	out io.Writer
	log io.Writer
	p   *printer
}

// printer writes tables and keeps the first write error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}
