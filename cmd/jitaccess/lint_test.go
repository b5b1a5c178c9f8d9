package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/jitaccess/jitaccess/internal/app"
)

// runLintJSON runs `jitaccess lint -json` against the emulator at url and
// returns the report and run's error.
func runLintJSON(t *testing.T, url string, env map[string]string, flags ...string) (app.LintReport, error) {
	t.Helper()
	var stdout, stderr lockedBuffer
	args := append([]string{"jitaccess", "lint", "-json", "-emulator", url}, flags...)
	err := run(t.Context(), args, lookupFrom(env), &stdout, &stderr)
	var r app.LintReport
	if jerr := json.Unmarshal([]byte(stdout.String()), &r); jerr != nil {
		t.Fatalf("lint -json wrote no JSON report (%v; run: %v)\nstdout:\n%s\nstderr:\n%s", jerr, err, stdout.String(), stderr.String())
	}
	return r, err
}

func wantExit(t *testing.T, err error, code int) {
	t.Helper()
	var exit exitCoder
	if code == 0 && err != nil || code != 0 && (!errors.As(err, &exit) || exit.ExitCode() != code) {
		t.Fatalf("run() = %v, want exit code %d", err, code)
	}
}

// TestLintFindsTheDemoWorldsEscalationRoles: through the real Cloud Asset
// and IAM clients against the emulator, the lint finds every eligible
// role of the demo world whose (real) permissions let access outlive the
// window, and none of the harmless ones; findings make it exit 2, and
// -exit-zero exits 0 with the same report.
func TestLintFindsTheDemoWorldsEscalationRoles(t *testing.T) {
	t.Parallel()
	url := startEmulator(t, "demo.yaml", "")
	r, err := runLintJSON(t, url, demoEnv(nil))
	wantExit(t, err, 2)
	if !strings.Contains(err.Error(), "findings in eligible roles") {
		t.Errorf("error = %q", err)
	}
	got := map[string][]string{}
	for _, l := range r.Roles {
		if l.Unreadable != "" {
			t.Errorf("%s: unreadable: %s", l.Role, l.Unreadable)
		}
		var perms []string
		for _, f := range l.Findings {
			perms = append(perms, f.Permission)
		}
		got[l.Role] = perms
	}
	want := map[string][]string{
		"roles/compute.admin":            {"compute.disks.setIamPolicy", "compute.instances.setIamPolicy", "compute.instances.setMetadata", "compute.projects.setCommonInstanceMetadata"},
		"roles/editor":                   {"compute.instances.setMetadata", "compute.projects.setCommonInstanceMetadata", "iam.serviceAccountKeys.create", "iam.serviceAccounts.actAs"},
		"roles/bigquery.admin":           {"bigquery.tables.setIamPolicy"},
		"roles/storage.objectAdmin":      {"storage.objects.setIamPolicy"},
		"roles/compute.instanceAdmin.v1": {"compute.instances.setMetadata", "compute.projects.setCommonInstanceMetadata"},
		"roles/securitycenter.admin":     {"securitycenter.sources.setIamPolicy"},
		// Harmless: eligible, and nothing to report.
		"roles/logging.viewer": nil, "roles/cloudsql.admin": nil, "roles/iam.securityReviewer": nil,
		"roles/bigquery.dataViewer": nil, "roles/run.developer": nil, "roles/cloudsql.client": nil,
		"roles/cloudbuild.builds.editor": nil, "roles/compute.networkAdmin": nil,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings by role (-want +got):\n%s", diff)
	}
	if r.Scope != "organizations/123456789012" {
		t.Errorf("scope = %q", r.Scope)
	}

	r2, err := runLintJSON(t, url, demoEnv(nil), "-exit-zero")
	wantExit(t, err, 0)
	if r2.Problems() != r.Problems() {
		t.Errorf("-exit-zero found %d, without it %d", r2.Problems(), r.Problems())
	}
}

// TestLintTable: the table names each eligible binding, then each finding
// with why and what to do.
func TestLintTable(t *testing.T) {
	t.Parallel()
	url := startEmulator(t, "demo.yaml", "")
	var stdout, stderr lockedBuffer
	err := run(t.Context(), []string{"jitaccess", "lint", "-emulator", url}, lookupFrom(demoEnv(nil)), &stdout, &stderr)
	wantExit(t, err, 2)
	out := stdout.String()
	for _, s := range []string{
		"# Eligible bindings in organizations/123456789012: 14",
		"roles/cloudsql.client",
		"# Permissions that let access outlive the activation window: 13",
		"roles/editor on //cloudresourcemanager.googleapis.com/folders/1002\n  permission: iam.serviceAccounts.actAs (catalogue entry iam.serviceAccounts.actAs)\n  why: ",
		"  what to do: make a custom role with the permissions of roles/editor that are needed, without iam.serviceAccounts.actAs",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("the table lacks %q:\n%s", s, out)
		}
	}
}

// customRoles: custom roles of the organization and of a project,
// eligible, one harmless and one that can mint keys; and an eligible
// binding of a deleted custom role.
const customRoles = `
organization: {id: "1", displayName: custom.example, domain: custom.example}
projects:
  - id: app-prod
    parent: organizations/1
    iam:
      - role: projects/app-prod/roles/reader
        members: ["user:ana@custom.example"]
        condition:
          title: Eligible
          expression: has({}.jitAccessConstraint)
      - role: organizations/1/roles/keyMaker
        members: ["user:ana@custom.example"]
        condition:
          title: Eligible
          expression: has({}.multiPartyApprovalConstraint)
      - role: roles/storage.hmacKeyAdmin
        members: ["user:ana@custom.example"]
      - role: roles/viewer
        members: ["user:ana@custom.example"]
        condition:
          title: Eligible
          expression: has({}.jitAccessConstraint)
roles:
  - name: projects/app-prod/roles/reader
    title: Reader
    permissions: [storage.objects.get, storage.objects.list]
  - name: organizations/1/roles/keyMaker
    title: Key maker
    permissions: [iam.serviceAccountKeys.create, storage.hmacKeys.create, storage.objects.get]
users:
  - email: ana@custom.example
`

// TestLintReadsCustomRoles: custom roles are read through
// projects.roles.get and organizations.roles.get; their advice says to
// edit them; a role that is not eligible (roles/storage.hmacKeyAdmin,
// bound without a marker) is not linted.
func TestLintReadsCustomRoles(t *testing.T) {
	t.Parallel()
	url := startEmulator(t, "", customRoles)
	r, err := runLintJSON(t, url, demoEnv(map[string]string{"RESOURCE_SCOPE": "organizations/1"}))
	wantExit(t, err, 2)
	got := map[string]int{}
	for _, l := range r.Roles {
		got[l.Role] = len(l.Findings)
		if l.Role == "organizations/1/roles/keyMaker" {
			if !l.Custom || l.ActivationType != "MPA" {
				t.Errorf("keyMaker = %+v, want a custom MPA role", l)
			}
			for _, f := range l.Findings {
				if !strings.HasPrefix(f.Advice, "remove "+f.Permission+" from the custom role organizations/1/roles/keyMaker") {
					t.Errorf("advice = %q", f.Advice)
				}
			}
		}
	}
	if diff := cmp.Diff(map[string]int{"projects/app-prod/roles/reader": 0, "organizations/1/roles/keyMaker": 2, "roles/viewer": 0}, got); diff != "" {
		t.Errorf("findings by role (-want +got):\n%s", diff)
	}
}

// TestLintCleanWorldExitsZero: eligible roles without findings exit 0.
func TestLintCleanWorldExitsZero(t *testing.T) {
	t.Parallel()
	url := startEmulator(t, "", cleanWorld)
	r, err := runLintJSON(t, url+"/_emulator/", demoEnv(map[string]string{"RESOURCE_SCOPE": "organizations/1"}))
	wantExit(t, err, 0)
	if len(r.Roles) != 1 || r.Roles[0].Role != "roles/viewer" || len(r.Roles[0].Findings) != 0 {
		t.Errorf("report = %+v, want roles/viewer without findings", r)
	}
}

// TestLintReportsARoleItCannotRead: an eligible binding of a role the IAM
// API does not know (a deleted custom role) cannot be vouched for: it is
// listed as unreadable and fails the lint.
func TestLintReportsARoleItCannotRead(t *testing.T) {
	t.Parallel()
	url := startEmulator(t, "", strings.Replace(cleanWorld, "role: roles/viewer", "role: projects/app-prod/roles/deleted", 1))
	r, err := runLintJSON(t, url, demoEnv(map[string]string{"RESOURCE_SCOPE": "organizations/1"}))
	wantExit(t, err, 2)
	if len(r.Roles) != 1 || !strings.Contains(r.Roles[0].Unreadable, "does not know the role") {
		t.Errorf("report = %+v, want the role unreadable", r)
	}
}

// TestLintRefusesBadFlags: unknown flags, arguments and bad emulator URLs
// are refused before anything is read.
func TestLintRefusesBadFlags(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{
		"unknown_flag":   {"lint", "-fix"},
		"extra_argument": {"lint", "now"},
		"not_a_url":      {"lint", "-emulator", "127.0.0.1:8080"},
		"url_with_creds": {"lint", "-emulator", "http://user:secret@127.0.0.1:8080"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr lockedBuffer
			err := run(t.Context(), append([]string{"jitaccess"}, args...), lookupFrom(demoEnv(nil)), &stdout, &stderr)
			var exit exitCoder
			if err == nil || errors.As(err, &exit) || !strings.HasPrefix(err.Error(), "lint: ") {
				t.Errorf("run(%q) = %v, want a lint: error with exit 1", args, err)
			}
		})
	}
	var stdout, stderr lockedBuffer
	if err := run(t.Context(), []string{"jitaccess", "lint", "-h"}, lookupFrom(nil), &stdout, &stderr); err != nil {
		t.Errorf("lint -h = %v, want nil", err)
	}
	if !strings.Contains(stderr.String(), "usage: jitaccess lint") {
		t.Errorf("usage:\n%s", stderr.String())
	}
}
