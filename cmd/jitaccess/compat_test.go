package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/internal/emulated"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/conformance"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
)

// demoEnv is the demo world's configuration, as docs/operations.md tells
// an operator to set it for a report against the demo's emulator.
func demoEnv(overrides map[string]string) map[string]string {
	env := map[string]string{
		"GOOGLE_CLOUD_PROJECT": emulated.ProjectID,
		"RESOURCE_SCOPE":       emulated.Scope,
	}
	for k, v := range overrides {
		env[k] = v
	}
	return env
}

// cleanWorld has nothing to review: one eligible binding that 1.8.1
// offered too, and no approver binding.
const cleanWorld = `
organization:
  id: "1"
  displayName: clean.example
  domain: clean.example
projects:
  - id: app-prod
    parent: organizations/1
    iam:
      - role: roles/viewer
        members: ["user:ana@clean.example"]
        condition:
          title: Eligible for JIT access
          expression: has({}.jitAccessConstraint)
users:
  - email: ana@clean.example
`

// startEmulator serves the seed (a file of testdata/ or YAML) and
// returns the base URL of its HTTP port.
func startEmulator(t *testing.T, seedFile, seedYAML string) string {
	t.Helper()
	var r io.Reader = strings.NewReader(seedYAML)
	if seedFile != "" {
		f, err := os.Open(filepath.Join(emutest.ModuleRoot(t), "testdata", seedFile))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r = f
	}
	seed, err := emulator.LoadSeed(r)
	if err != nil {
		t.Fatal(err)
	}
	// Every answer the reports read is held to Google's schemas, judged
	// once the emulator has closed (cleanups run last first).
	checker, err := conformance.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emutest.CheckConformance(t, checker) })
	e, err := emulator.Start(t.Context(), emulator.Options{Seed: seed, Conformance: checker})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return strings.TrimSuffix(e.Endpoints().ResourceManager, "/")
}

// TestCompatReportAgainstTheEmulatorFailsOnFindings: pointed at an
// emulator with -emulator, the report reads the emulated world, and what
// it finds (the demo world's resource-conditioned eligible bindings, new
// under PolicyAnalyzer) makes it exit 2, for CI; -exit-zero keeps 1.8.x
// scripts' exit 0.
func TestCompatReportAgainstTheEmulatorFailsOnFindings(t *testing.T) {
	t.Parallel()
	url := startEmulator(t, "demo.yaml", "")
	var stdout, stderr lockedBuffer
	err := run(t.Context(), []string{"jitaccess", "compat-report", "-emulator", url}, lookupFrom(demoEnv(nil)), &stdout, &stderr)
	var exit exitCoder
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("run() = %v, want exit code 2 for findings\nstdout:\n%s", err, stdout.String())
	}
	if !strings.Contains(err.Error(), "to review") {
		t.Errorf("error = %q, does not say there is something to review", err)
	}
	if out := stdout.String(); !strings.Contains(out, "# Bindings in organizations/123456789012 eligible under jitaccess (PolicyAnalyzer catalog) but not under Just-In-Time Access 1.8.1: ") ||
		!strings.Contains(out, "roles/compute.instanceAdmin.v1") {
		t.Errorf("report:\n%s", out)
	}

	stdout, stderr = lockedBuffer{}, lockedBuffer{}
	if err := run(t.Context(), []string{"jitaccess", "compat-report", "-exit-zero", "-emulator", url}, lookupFrom(demoEnv(nil)), &stdout, &stderr); err != nil {
		t.Errorf("run(-exit-zero) = %v, want nil", err)
	}
	if !strings.Contains(stdout.String(), "roles/compute.instanceAdmin.v1") {
		t.Errorf("report with -exit-zero:\n%s", stdout.String())
	}
}

// TestCompatReportAgainstTheEmulatorPassesWhenClean: a world with nothing
// to review exits 0 and says so in both sections.
func TestCompatReportAgainstTheEmulatorPassesWhenClean(t *testing.T) {
	t.Parallel()
	url := startEmulator(t, "", cleanWorld)
	var stdout, stderr lockedBuffer
	if err := run(t.Context(), []string{"jitaccess", "compat-report", "-emulator", url + "/_emulator/"}, lookupFrom(demoEnv(map[string]string{"RESOURCE_SCOPE": "organizations/1"})), &stdout, &stderr); err != nil {
		t.Fatalf("run() = %v\nstdout:\n%s", err, stdout.String())
	}
	if out := stdout.String(); !strings.Contains(out, "1.8.1: 0\n") || !strings.Contains(out, "catalog): 0\n") {
		t.Errorf("report:\n%s", out)
	}
}

// TestCompatReportRefusesBadFlags: unknown flags, a second command and an
// emulator address that is not a URL are refused before anything is read.
func TestCompatReportRefusesBadFlags(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{
		"unknown_flag":   {"compat-report", "-fix"},
		"extra_argument": {"compat-report", "now"},
		"not_a_url":      {"compat-report", "-emulator", "127.0.0.1:8080"},
		"ftp_url":        {"compat-report", "-emulator", "ftp://127.0.0.1:8080"},
		"url_with_creds": {"compat-report", "-emulator", "http://user:secret@127.0.0.1:8080"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr lockedBuffer
			err := run(t.Context(), append([]string{"jitaccess"}, args...), lookupFrom(demoEnv(nil)), &stdout, &stderr)
			var exit exitCoder
			if err == nil || errors.As(err, &exit) {
				t.Errorf("run(%q) = %v, want a usage error", args, err)
			}
			if stdout.String() != "" {
				t.Errorf("stdout = %q", stdout.String())
			}
		})
	}
}

// TestCompatReportHelp: -h prints the usage, exit status included, and
// reads nothing.
func TestCompatReportHelp(t *testing.T) {
	t.Parallel()
	var stdout, stderr lockedBuffer
	if err := run(t.Context(), []string{"jitaccess", "compat-report", "-h"}, lookupFrom(nil), &stdout, &stderr); err != nil {
		t.Errorf("run(-h) = %v", err)
	}
	if !strings.Contains(stderr.String(), "2 something to review") || stdout.String() != "" {
		t.Errorf("usage = %q, stdout = %q", stderr.String(), stdout.String())
	}
}
