package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/jitaccess/jitaccess/internal/app"
	"github.com/jitaccess/jitaccess/internal/config"
)

// compatFlags are the flags of `jitaccess compat-report`.
type compatFlags struct {
	// exitZero keeps the exit status of jitaccess before 1.9: 0 whenever
	// the report could be made, whatever it found.
	exitZero bool
	// emulator is the base URL of a jitaccess emulator (its HTTP port) to
	// read instead of Google Cloud; "" reads Google Cloud.
	emulator *url.URL
}

func (f *compatFlags) parse(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("jitaccess compat-report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&f.exitZero, "exit-zero", false, "exit 0 even when the report lists something to review (the behaviour before exit codes)")
	emulator := fs.String("emulator", "", "read the IAM policies of a jitaccess emulator at this URL (its HTTP port, e.g. http://127.0.0.1:41234) instead of Google Cloud")
	fs.Usage = func() {
		_, _ = fmt.Fprintf(stderr, "usage: jitaccess compat-report [-exit-zero] [-emulator URL]\n\nExit status: 0 nothing to review, 2 something to review, 1 the report could not be made.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("compat-report: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("compat-report: unexpected arguments %q", fs.Args())
	}
	u, err := parseEmulatorURL("compat-report", *emulator)
	if err != nil {
		return err
	}
	f.emulator = u
	return nil
}

// parseEmulatorURL reads the -emulator flag of command cmd; "" is nil.
func parseEmulatorURL(cmd, s string) (*url.URL, error) {
	if s == "" {
		return nil, nil
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: -emulator %q is not a URL: %w", cmd, s, err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return nil, fmt.Errorf("%s: -emulator %q: want the emulator's http:// URL, such as http://127.0.0.1:41234", cmd, s)
	case u.User != nil, u.RawQuery != "", u.Fragment != "":
		return nil, fmt.Errorf("%s: -emulator %q: want only scheme, host and port (the emulator takes no credentials)", cmd, s)
	}
	// The control API's own URL, as the emulator prints it, works too.
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/_emulator")
	return u, nil
}

// findingsError says the report found something to review: exit 2, so
// that a CI step fails.
type findingsError struct{ n int }

func (e findingsError) Error() string {
	return fmt.Sprintf("compat-report: %d bindings to review (listed above; -exit-zero exits 0 anyway)", e.n)
}

func (findingsError) ExitCode() int { return 2 }

func compatReport(ctx context.Context, cfg *config.Config, f compatFlags, stdout io.Writer) error {
	env := app.Environment{}
	if f.emulator != nil {
		var err error
		if env, err = emulatorEnvironment(ctx, "compat-report", f.emulator); err != nil {
			return err
		}
	}
	n, err := app.CompatReport(ctx, cfg, env, stdout)
	if err != nil {
		return err
	}
	if n > 0 && !f.exitZero {
		return findingsError{n}
	}
	return nil
}

// emulatorEnvironment points the report's clients at the emulator whose
// HTTP port is base: its REST services there, its gRPC services where
// its control API says (GET /_emulator/endpoints, docs/emulator.md).
// Nothing is authenticated, so no credential leaves the machine.
func emulatorEnvironment(ctx context.Context, cmd string, base *url.URL) (app.Environment, error) {
	root := base.String() + "/"
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, root+"_emulator/endpoints", nil)
	if err != nil {
		return app.Environment{}, fmt.Errorf("%s: emulator: %w", cmd, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return app.Environment{}, fmt.Errorf("%s: the emulator at %s does not answer: %w", cmd, base, err)
	}
	defer func() { _ = resp.Body.Close() }() // read-only
	var ep struct {
		Asset string `json:"asset"`
	}
	if resp.StatusCode != http.StatusOK {
		return app.Environment{}, fmt.Errorf("%s: %s_emulator/endpoints answered %s: is this a jitaccess emulator?", cmd, root, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&ep); err != nil {
		return app.Environment{}, fmt.Errorf("%s: reading %s_emulator/endpoints: %w", cmd, root, err)
	}
	if ep.Asset == "" {
		return app.Environment{}, fmt.Errorf("%s: %s_emulator/endpoints does not name the emulator's gRPC address: is this a jitaccess emulator?", cmd, root)
	}
	rest := []option.ClientOption{option.WithEndpoint(root), option.WithoutAuthentication()}
	return app.Environment{
		ResourceManager: rest,
		CloudIdentity:   rest,
		Directory:       rest,
		IAM:             rest,
		Asset: []option.ClientOption{
			option.WithEndpoint(ep.Asset), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		},
	}, nil
}
