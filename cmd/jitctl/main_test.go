package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/demo"
	"github.com/jitaccess/jitaccess/internal/emulated"
	"github.com/jitaccess/jitaccess/internal/outbox"
)

// demoEnv runs the demo wiring (make run) and returns the environment
// jitctl needs to act as user there: the demo's URL, its IAP client ID and
// a credentials file as `gcloud auth application-default login` leaves it.
type demoEnv struct {
	d    *demo.Demo
	home string
}

func startDemo(t *testing.T) *demoEnv {
	t.Helper()
	d, err := demo.Run(t.Context(), demo.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return &demoEnv{d: d, home: t.TempDir()}
}

// credentials fetches the demo's credentials file for user.
func (e *demoEnv) credentials(t *testing.T, user string) string {
	t.Helper()
	body := e.get(t, "/_demo/credentials?user="+user)
	path := filepath.Join(t.TempDir(), "adc.json")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (e *demoEnv) get(t *testing.T, path string) []byte {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.d.URL+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d %s", path, resp.StatusCode, b)
	}
	return b
}

// env is the process environment of a jitctl run: only what is given,
// and HOME in a temporary directory so that no real gcloud file is read.
func (e *demoEnv) env(vars ...string) func(string) string {
	m := map[string]string{"JITCTL_URL": e.d.URL, "JITCTL_AUDIENCE": emulated.IAPClientID, "HOME": e.home}
	for i := 0; i+1 < len(vars); i += 2 {
		m[vars[i]] = vars[i+1]
	}
	return func(k string) string { return m[k] }
}

type result struct {
	code           int
	stdout, stderr string
}

func jitctl(t *testing.T, env func(string) string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), args, env, &out, &errOut, func() bool { return false })
	return result{code, out.String(), errOut.String()}
}

func (r result) want(t *testing.T, code int, stdout, stderr string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stdout, stdout) || !strings.Contains(r.stderr, stderr) {
		t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant stdout to contain %q, stderr %q", r.code, code, r.stdout, r.stderr, stdout, stderr)
	}
}

var linkPattern = regexp.MustCompile(`https?://[^\s"<>]+\?activation=[^\s"<>]+`)

// TestEndToEndAgainstTheDemo: jitctl against the demo's wiring, through
// the IAP simulator with ID tokens from a user's credentials file: list,
// activate, request, approve, and the API's refusals with their messages
// and exit codes.
func TestEndToEndAgainstTheDemo(t *testing.T) {
	t.Parallel()
	e := startDemo(t)
	dave := e.env("JITCTL_CREDENTIALS", e.credentials(t, "dave@example.com"))
	erin := e.env("JITCTL_CREDENTIALS", e.credentials(t, "erin@example.com"))
	grace := e.env("JITCTL_CREDENTIALS", e.credentials(t, "grace@example.com"))

	jitctl(t, dave, "projects").want(t, exitOK, "prod-payments-db", "")
	jitctl(t, dave, "roles", "-p", "prod-payments-db").want(t, exitOK, "roles/cloudsql.client", "")

	r := jitctl(t, dave, "--json", "roles", "--project", "prod-payments-db")
	var roles struct{ Entitlements []map[string]any }
	if err := json.Unmarshal([]byte(r.stdout), &roles); err != nil || r.code != exitOK || len(roles.Entitlements) == 0 {
		t.Errorf("--json roles: exit %d, %v\n%s", r.code, err, r.stdout)
	}

	jitctl(t, dave, "activate", "-p", "prod-payments-db", "-r", "roles/cloudsql.client", "-j", "INC-42 db failover", "-d", "30m").
		want(t, exitOK, "Activated roles/cloudsql.client on project prod-payments-db: ACTIVE", "")
	if n := e.d.Emulator.World.PolicyWrites("projects/prod-payments-db"); n != 1 {
		t.Errorf("%d policy writes after activate, want 1", n)
	}
	jitctl(t, dave, "roles", "-p", "prod-payments-db").want(t, exitOK, "ACTIVE", "")

	// My access lists it, with the id that ends it; ending twice is refused.
	r = jitctl(t, dave, "--json", "status")
	var access struct{ Activations []map[string]any }
	if err := json.Unmarshal([]byte(r.stdout), &access); err != nil || r.code != exitOK || len(access.Activations) != 1 {
		t.Fatalf("--json status: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	id, _ := access.Activations[0]["id"].(string)
	jitctl(t, dave, "status").want(t, exitOK, "roles/cloudsql.client", "")
	jitctl(t, dave, "end", id).want(t, exitOK, "Ended roles/cloudsql.client on projects/prod-payments-db for dave@example.com.", "")
	jitctl(t, dave, "end", id).want(t, exitInvalid, "", "jitctl: ")
	jitctl(t, dave, "status").want(t, exitOK, "No active or scheduled access.", "")
	jitctl(t, dave, "history", "--resource", "projects/prod-payments-db").want(t, exitOK, "INC-42 db failover", "")
	// Entries have names, reads only on request.
	r = jitctl(t, dave, "history")
	if !strings.Contains(r.stdout, "Activated") || !strings.Contains(r.stdout, "Ended") || strings.Contains(r.stdout, "Listed") || strings.Contains(r.stdout, "api.") {
		t.Errorf("history:\n%s", r.stdout)
	}
	jitctl(t, dave, "history", "--kind", "read").want(t, exitOK, "Listed projects", "")
	jitctl(t, dave, "history", "--kind", "reads").want(t, exitInvalid, "", `kind "reads" is not one of`)

	// The app's rules, with its messages.
	jitctl(t, dave, "activate", "-p", "prod-payments-db", "-r", "roles/cloudsql.client", "-j", "no ticket", "-d", "30m").
		want(t, exitDenied, "", "jitctl: Justification does not meet criteria")
	jitctl(t, grace, "activate", "-p", "prod-payments-db", "-r", "roles/cloudsql.client", "-j", "INC-1", "-d", "30m").
		want(t, exitInvalid, "", "roles/cloudsql.client: you have no roles on project prod-payments-db that you can activate yourself")

	jitctl(t, erin, "request", "-p", "prod-payments-api", "-r", "roles/run.developer", "--peer", "dave@example.com", "-j", "CHG-7 hotfix deploy", "-d", "45m").
		want(t, exitOK, "Requested roles/run.developer on project prod-payments-api; asked dave@example.com to approve.", "")
	ctx := t.Context() // wait for the event; go test -timeout ends a hang
	mail, err := e.d.Outbox.WaitFor(ctx, func(m outbox.Message) bool { return slices.Contains(m.To, "dave@example.com") })
	if err != nil {
		t.Fatal(err)
	}
	link := linkPattern.FindString(mail.Text)
	jitctl(t, grace, "approve", link).want(t, exitDenied, "", "jitctl: ")
	jitctl(t, erin, "approve", link).want(t, exitDenied, "", "jitctl: ")
	jitctl(t, dave, "approve", link).want(t, exitOK, "Approved roles/run.developer on project prod-payments-api for erin@example.com: ACTIVE", "")
	jitctl(t, dave, "reject", link).want(t, exitInvalid, "", "jitctl: ")
}

// TestRejectAndRequestsAgainstTheDemo: a reviewer sees the request
// waiting, rejects it with a reason; it cannot then be approved.
func TestRejectAndRequestsAgainstTheDemo(t *testing.T) {
	t.Parallel()
	e := startDemo(t)
	dave := e.env("JITCTL_CREDENTIALS", e.credentials(t, "dave@example.com"))
	erin := e.env("JITCTL_CREDENTIALS", e.credentials(t, "erin@example.com"))
	jitctl(t, erin, "request", "-p", "prod-payments-api", "-r", "roles/run.developer", "--peer", "dave@example.com", "-j", "CHG-8 config change", "-d", "30m").
		want(t, exitOK, "Requested roles/run.developer", "")
	ctx := t.Context() // wait for the event; go test -timeout ends a hang
	mail, err := e.d.Outbox.WaitFor(ctx, func(m outbox.Message) bool { return slices.Contains(m.To, "dave@example.com") })
	if err != nil {
		t.Fatal(err)
	}
	link := linkPattern.FindString(mail.Text)
	jitctl(t, erin, "requests").want(t, exitOK, "erin@example.com", "")
	jitctl(t, dave, "requests", "--review").want(t, exitOK, "PENDING", "")
	jitctl(t, erin, "reject", link).want(t, exitDenied, "", "jitctl: ")
	jitctl(t, dave, "reject", link, "--reason", "use staging first").
		want(t, exitOK, "Rejected the request of erin@example.com for roles/run.developer on project prod-payments-api.", "")
	r := jitctl(t, dave, "approve", link)
	if r.code == exitOK {
		t.Errorf("approving a rejected request succeeded: %s", r.stdout)
	}
	// A rejection is recorded in the policy (internal/iam's record
	// binding), but no access is granted.
	p, _ := e.d.Emulator.World.Policy("projects/prod-payments-api")
	for _, b := range p.Bindings {
		if b.Condition == nil {
			continue
		}
		if _, ok := condition.ParseActivation(b.Condition.Title, b.Condition.Expression); ok && slices.Contains(b.Members, "user:erin@example.com") {
			t.Errorf("an activation binding after a rejection: %+v", b)
		}
	}
}

// TestTokenFlagAndRefusedTokens: --token sends a token obtained
// elsewhere; IAP's refusals of bad tokens exit 3 with its message.
func TestTokenFlagAndRefusedTokens(t *testing.T) {
	t.Parallel()
	e := startDemo(t)
	token := strings.TrimSpace(string(e.get(t, "/_demo/token?user=dave@example.com")))
	jitctl(t, e.env(), "--token", token, "projects").want(t, exitOK, "prod-payments-db", "")
	jitctl(t, e.env("JITCTL_TOKEN", token), "projects").want(t, exitOK, "prod-payments-db", "")
	tampered := token[:len(token)-4] + "AAAA"
	jitctl(t, e.env(), "--token", tampered, "projects").want(t, exitAuth, "", "Invalid IAP credentials")
	jitctl(t, e.env(), "--token", "not-a-jwt", "projects").want(t, exitAuth, "", "Invalid IAP credentials")
	// A token for another app's IAP is refused as IAP does.
	other, err := e.d.Emulator.OAuth.MintIDToken("dave@example.com", "another-app.apps.googleusercontent.com")
	if err != nil {
		t.Fatal(err)
	}
	jitctl(t, e.env(), "--token", other, "projects").want(t, exitAuth, "", "Invalid IAP credentials")
}

// TestHelpNeverPrintsTheToken: environment defaults are not shown as flag
// defaults.
func TestHelpNeverPrintsTheToken(t *testing.T) {
	t.Parallel()
	env := map[string]string{"JITCTL_TOKEN": "secret-id-token"}
	r := jitctl(t, func(k string) string { return env[k] }, "--help")
	if r.code != exitOK || strings.Contains(r.stdout+r.stderr, "secret-id-token") || !strings.Contains(r.stdout, "--token") {
		t.Errorf("--help: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	e := startDemo(t)
	revoked := filepath.Join(t.TempDir(), "revoked.json")
	_ = os.WriteFile(revoked, []byte(`{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"1//gone","token_uri":"`+e.d.Emulator.Endpoints().ResourceManager+`token"}`), 0o600)
	tests := []struct {
		name   string
		env    func(string) string
		args   []string
		code   int
		stderr string
	}{
		{"no_credentials", e.env(), []string{"projects"}, exitAuth, "no credentials: run `gcloud auth application-default login`"},
		{"no_audience", e.env("JITCTL_AUDIENCE", ""), []string{"projects"}, exitAuth, "the IAP OAuth client ID is not set"},
		{"missing_credentials_file", e.env("JITCTL_CREDENTIALS", "/nonexistent/adc.json"), []string{"projects"}, exitAuth, "reading credentials"},
		{"revoked_refresh_token", e.env("JITCTL_CREDENTIALS", revoked), []string{"projects"}, exitAuth, "the token endpoint refused the credentials (invalid_grant"},
		{"unreachable_url", e.env("JITCTL_URL", "http://127.0.0.1:1"), []string{"--token", "x", "projects"}, exitUnavailable, "cannot reach http://127.0.0.1:1"},
		{"no_url", e.env("JITCTL_URL", ""), []string{"--token", "x", "projects"}, exitUsage, "the app's URL is not set"},
		{"http_outside_loopback", e.env(), []string{"--url", "http://jit.example.com", "--token", "x", "projects"}, exitUsage, "use https"},
		{"unknown_command", e.env(), []string{"grant"}, exitUsage, `unknown command "grant"`},
		{"unknown_flag", e.env(), []string{"projects", "--nope"}, exitUsage, "unknown flag"},
		{"missing_project", e.env(), []string{"--token", "x", "roles"}, exitUsage, "one of --project, --folder or --organization is required"},
		{"project_and_folder", e.env(), []string{"--token", "x", "roles", "-p", "p", "--folder", "1001"}, exitUsage, "give one of --project, --folder or --organization"},
		{"folder_not_a_number", e.env(), []string{"--token", "x", "roles", "--folder", "prod"}, exitUsage, `--folder "prod": use the folder's number`},
		{"end_id_and_role", e.env(), []string{"--token", "x", "end", "ID", "-p", "p", "-r", "roles/viewer"}, exitUsage, "not both"},
		{"end_nothing", e.env(), []string{"--token", "x", "end"}, exitUsage, "expected the activation's ID"},
		{"end_without_role", e.env(), []string{"--token", "x", "end", "-p", "p"}, exitUsage, "--role is required"},
		{"extend_odd_duration", e.env(), []string{"--token", "x", "extend", "ID", "-d", "90s"}, exitUsage, "use a positive whole number of minutes"},
		{"missing_token_argument", e.env(), []string{"--token", "x", "approve"}, exitUsage, "expected the request's token or link"},
		{"odd_duration", e.env(), []string{"--token", "x", "activate", "-p", "p", "-r", "r", "-j", "j", "-d", "90s"}, exitUsage, "use a positive whole number of minutes"},
		{"bad_start", e.env(), []string{"--token", "x", "activate", "-p", "p", "-r", "r", "-j", "j", "--start", "tomorrow"}, exitUsage, "is not an RFC 3339 time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			jitctl(t, tt.env, tt.args...).want(t, tt.code, "", tt.stderr)
		})
	}
}

// TestByRoleFoldersAndQuorumAgainstTheDemo: end and extend name an
// activation by where and which role; folders and the organization are
// activated like projects; request and approve say how far the quorum is.
func TestByRoleFoldersAndQuorumAgainstTheDemo(t *testing.T) {
	t.Parallel()
	e := startDemo(t)
	dave := e.env("JITCTL_CREDENTIALS", e.credentials(t, "dave@example.com"))
	alice := e.env("JITCTL_CREDENTIALS", e.credentials(t, "alice@example.com"))
	carol := e.env("JITCTL_CREDENTIALS", e.credentials(t, "carol@example.com"))
	frank := e.env("JITCTL_CREDENTIALS", e.credentials(t, "frank@example.com"))

	// A project, by project and role.
	jitctl(t, dave, "activate", "-p", "prod-payments-db", "-r", "roles/cloudsql.client", "-j", "INC-42 db failover", "-d", "30m").
		want(t, exitOK, "Activated roles/cloudsql.client on project prod-payments-db: ACTIVE", "")
	jitctl(t, dave, "extend", "-p", "prod-payments-db", "-r", "roles/cloudsql.client", "-d", "1h").
		want(t, exitOK, "Extended roles/cloudsql.client on projects/prod-payments-db for dave@example.com until ", "")
	jitctl(t, dave, "end", "-p", "prod-payments-db", "-r", "roles/cloudsql.client").
		want(t, exitOK, "Ended roles/cloudsql.client on projects/prod-payments-db for dave@example.com.", "")
	jitctl(t, dave, "end", "-p", "prod-payments-db", "-r", "roles/cloudsql.client").
		want(t, exitInvalid, "", "you have no active or scheduled activation of roles/cloudsql.client on project prod-payments-db")

	// Now and tomorrow: two activations of the role, so the ID decides.
	tomorrow := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	jitctl(t, dave, "activate", "-p", "prod-payments-db", "-r", "roles/cloudsql.client", "-j", "INC-43", "-d", "30m").want(t, exitOK, "ACTIVE", "")
	jitctl(t, dave, "activate", "-p", "prod-payments-db", "-r", "roles/cloudsql.client", "-j", "CHG-44", "-d", "30m", "--start", tomorrow).want(t, exitOK, "Activated", "")
	jitctl(t, dave, "end", "-p", "prod-payments-db", "-r", "roles/cloudsql.client").
		want(t, exitInvalid, "", "you have 2 activations of roles/cloudsql.client on project prod-payments-db; pass the ID of one:")
	if n := len(activationsOf(t, e, "projects/prod-payments-db", "user:dave@example.com")); n != 2 {
		t.Errorf("%d activations after an ambiguous end, want both kept", n)
	}

	// A folder and the organization.
	jitctl(t, alice, "folders").want(t, exitOK, "folders/1001", "")
	jitctl(t, alice, "roles", "--folder", "1001").want(t, exitOK, "roles/logging.viewer", "")
	jitctl(t, alice, "activate", "--folder", "1001", "-r", "roles/logging.viewer", "-j", "INC-21 log dive", "-d", "30m").
		want(t, exitOK, "Activated roles/logging.viewer on folder 1001: ACTIVE", "")
	jitctl(t, alice, "status").want(t, exitOK, "folders/1001", "")
	jitctl(t, alice, "extend", "--folder", "folders/1001", "-r", "roles/logging.viewer", "-d", "1h").
		want(t, exitOK, "Extended roles/logging.viewer on folders/1001", "")
	jitctl(t, alice, "end", "--folder", "1001", "-r", "roles/logging.viewer").
		want(t, exitOK, "Ended roles/logging.viewer on folders/1001 for alice@example.com.", "")
	jitctl(t, frank, "organizations").want(t, exitOK, "organizations/123456789012", "")
	jitctl(t, frank, "activate", "--organization", "123456789012", "-r", "roles/iam.securityReviewer", "-j", "INC-5 review", "-d", "30m").
		want(t, exitOK, "Activated roles/iam.securityReviewer on organization 123456789012: ACTIVE", "")
	jitctl(t, frank, "end", "--organization", "123456789012", "-r", "roles/iam.securityReviewer").
		want(t, exitOK, "Ended roles/iam.securityReviewer on organizations/123456789012 for frank@example.com.", "")
	if n := len(activationsOf(t, e, "organizations/123456789012", "user:frank@example.com")); n != 0 {
		t.Errorf("%d activations on the organization after ending", n)
	}

	// Two of the dedicated approvers: the progress at each step.
	jitctl(t, frank, "request", "-p", "security-tools", "-r", "roles/securitycenter.admin", "--peer", "alice@example.com", "--peer", "carol@example.com", "-j", "INC-9 alert triage", "-d", "30m").
		want(t, exitOK, "Requested roles/securitycenter.admin on project security-tools; asked alice@example.com, carol@example.com to approve; it needs 2 approvals.", "")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	mail, err := e.d.Outbox.WaitFor(ctx, func(m outbox.Message) bool { return slices.Contains(m.To, "alice@example.com") })
	if err != nil {
		t.Fatal(err)
	}
	link := linkPattern.FindString(mail.Text)
	jitctl(t, alice, "approve", link).
		want(t, exitOK, "Recorded your approval of roles/securitycenter.admin on project security-tools for frank@example.com: 1 of 2 approvals (by alice@example.com); it needs 1 more approval.", "")
	jitctl(t, carol, "approve", link).
		want(t, exitOK, "; 2 of 2 approvals (by alice@example.com, carol@example.com)\n", "")
}

// activationsOf lists member's activation bindings on resource.
func activationsOf(t *testing.T, e *demoEnv, resource, member string) []string {
	t.Helper()
	p, _ := e.d.Emulator.World.Policy(resource)
	var out []string
	for _, b := range p.Bindings {
		if b.Condition == nil || !slices.Contains(b.Members, member) {
			continue
		}
		if _, ok := condition.ParseActivation(b.Condition.Title, b.Condition.Expression); ok {
			out = append(out, b.Role)
		}
	}
	return out
}
