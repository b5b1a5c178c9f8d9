package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"

	"github.com/jitaccess/jitaccess/internal/app"
	"github.com/jitaccess/jitaccess/internal/config"
)

// lintFlags are the flags of `jitaccess lint`.
type lintFlags struct {
	// json writes the report as JSON instead of a table.
	json bool
	// exitZero exits 0 whatever the lint found.
	exitZero bool
	// emulator is the base URL of a jitaccess emulator; nil reads Google
	// Cloud.
	emulator *url.URL
}

func (f *lintFlags) parse(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("jitaccess lint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&f.json, "json", false, "write the report as JSON (one document) instead of a table")
	fs.BoolVar(&f.exitZero, "exit-zero", false, "exit 0 even when the lint finds something")
	emulator := fs.String("emulator", "", "read the IAM policies and roles of a jitaccess emulator at this URL (its HTTP port, e.g. http://127.0.0.1:41234) instead of Google Cloud")
	fs.Usage = func() {
		_, _ = fmt.Fprintf(stderr, "usage: jitaccess lint [-json] [-exit-zero] [-emulator URL]\n\n"+
			"Lists every eligible role in RESOURCE_SCOPE with the permissions that let its holder create access that outlives the activation window (docs/guardrails.md).\n\n"+
			"Exit status: 0 nothing found, 2 findings (or a role whose permissions could not be read), 1 the lint could not be run.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("lint: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("lint: unexpected arguments %q", fs.Args())
	}
	u, err := parseEmulatorURL("lint", *emulator)
	if err != nil {
		return err
	}
	f.emulator = u
	return nil
}

// lintFindingsError says the lint found something: exit 2, so that a CI
// step fails.
type lintFindingsError struct{ n int }

func (e lintFindingsError) Error() string {
	return fmt.Sprintf("lint: %d findings in eligible roles (listed above; -exit-zero exits 0 anyway)", e.n)
}

func (lintFindingsError) ExitCode() int { return 2 }

func lint(ctx context.Context, cfg *config.Config, f lintFlags, stdout io.Writer) error {
	env := app.Environment{}
	if f.emulator != nil {
		var err error
		if env, err = emulatorEnvironment(ctx, "lint", f.emulator); err != nil {
			return err
		}
	}
	report, err := app.Lint(ctx, cfg, env)
	if err != nil {
		return fmt.Errorf("lint: %w", err)
	}
	write := app.WriteLintTable
	if f.json {
		write = app.WriteLintJSON
	}
	if err := write(stdout, report); err != nil {
		return err
	}
	if n := report.Problems(); n > 0 && !f.exitZero {
		return lintFindingsError{n}
	}
	return nil
}
