package audit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/logging"
	"cloud.google.com/go/logging/logadmin"
	"github.com/google/go-cmp/cmp"
	mrpb "google.golang.org/genproto/googleapis/api/monitoredres"

	"github.com/jitaccess/jitaccess/internal/audit"
	"github.com/jitaccess/jitaccess/internal/cloudlog"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/jit"
)

const appProject = "jitaccess-app"

var (
	alice = jit.Principal{Email: "alice@example.com", Subject: "accounts.google.com:1", DeviceID: "dev-1",
		AccessLevels: []string{"accessPolicies/1/accessLevels/corp", "accessPolicies/1/accessLevels/eu"}}
	start = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	act   = jit.Activation{
		ID: "jit-abc", Type: jit.JIT, Beneficiary: "alice@example.com", Justification: "INC-1",
		Entitlement: jit.Entitlement{Project: "prod-payments-db", Role: "roles/cloudsql.client"},
		Start:       start, End: start.Add(time.Hour),
	}
)

// original is an entry as 1.8.1 wrote it, read off its sources
// (web/LogAdapter.java, web/actions/*Action.java, web/IapRequestFilter.java).
type original struct {
	event, severity, message string
	labels                   map[string]string
}

// additions are the labels jitaccess writes that 1.8.1 did not; they never
// replace one of the original's.
var additions = map[string]bool{
	"role": true, "project_id": true, "resource": true, "resource_condition": true,
	"beneficiary": true, "approver": true, "project": true, "error": true, "error_message": true,
}

// base are the labels LogEntry adds for the signed-in user.
func base(event string, more map[string]string) map[string]string {
	l := map[string]string{
		"event": event, "user": "alice@example.com", "user_id": "accounts.google.com:1", "device_id": "dev-1",
		"device_access_levels": "accessPolicies/1/accessLevels/corp, accessPolicies/1/accessLevels/eu",
	}
	for k, v := range more {
		l[k] = v
	}
	return l
}

// compareWithOriginal checks event, severity, message and every label of
// the original field by field, and that any other label is an addition.
func compareWithOriginal(t *testing.T, got audit.Entry, want original) {
	t.Helper()
	if got.Event != want.event || got.Severity != want.severity || got.Message != want.message {
		t.Errorf("event, severity, message = %q, %q, %q\nwant %q, %q, %q", got.Event, got.Severity, got.Message, want.event, want.severity, want.message)
	}
	for k, v := range want.labels {
		if g, ok := got.Labels[k]; !ok || g != v {
			t.Errorf("label %s = %q (present %v), the original wrote %q", k, g, ok, v)
		}
	}
	for k, v := range got.Labels {
		if _, ok := want.labels[k]; !ok && !additions[k] {
			t.Errorf("label %s = %q is neither the original's nor a documented addition", k, v)
		}
	}
}

func TestEntriesAreTheOriginalsFieldByField(t *testing.T) {
	t.Parallel()
	api := jit.Entitlement{Project: "prod-payments-api", Role: "roles/run.developer"}
	req := &jit.ActivationRequest{ID: "mpa-1", Beneficiary: "bob@example.com", Reviewers: []jit.UserID{"alice@example.com", "carol@example.com"},
		Entitlement: api, Justification: "CHG-1", Duration: time.Hour, RequestedAt: start, ApproveBy: start.Add(time.Hour)}
	mpa := jit.Activation{ID: "mpa-1", Type: jit.MPA, Beneficiary: "bob@example.com", Entitlement: api, Justification: "CHG-1",
		Start: start.Add(90 * time.Second), End: start.Add(90*time.Second + time.Hour)}
	approved := mpa
	approved.Approver = "alice@example.com"
	pattern := jit.Policy{JustificationPattern: regexp.MustCompile(`^INC-\d+$`), JustificationHint: "a ticket"}.CheckJustificationPattern("x")
	reviewersRefused := jit.Denied("activation.requireReviewers", "The selected reviewers are not allowed to approve prod-payments-api:roles/run.developer: carol@example.com")
	upstream := jit.E("activation.RequestApproval", jit.KindUpstream, "Requesting access failed, see logs for details", errors.New("signJwt: 503"))
	token := jit.E("activation.openRequest", jit.KindDenied, "Accessing the activation request failed", errors.New("the token has expired"))
	dbEnt := "[iam] roles/cloudsql.client on prod-payments-db"
	apiEnt := "[iam] roles/run.developer on prod-payments-api"
	requestLabels := map[string]string{
		"activation_id": "mpa-1", "activation_start": "2026-11-25T10:01:30Z", "activation_end": "2026-11-25T11:01:30Z",
		"justification": "CHG-1", "entitlements": apiEnt, "reviewers": "alice@example.com, carol@example.com",
	}
	tests := []struct {
		name string
		e    jit.Event
		want original
	}{
		{"self_activated", jit.Event{Kind: jit.EventSelfActivated, Actor: alice, Activations: []jit.Activation{act}},
			original{"api.activateRole", "INFO", "User alice@example.com activated '" + dbEnt + "' for themselves for 60 minutes",
				base("api.activateRole", map[string]string{"activation_id": "jit-abc", "activation_start": "2026-11-25T10:00Z",
					"activation_end": "2026-11-25T11:00Z", "justification": "INC-1", "entitlements": dbEnt})}},
		{"self_activate_refused_by_pattern", jit.Event{Kind: jit.EventSelfActivateFailed, Actor: alice, Activations: []jit.Activation{act}, Err: pattern},
			original{"api.activateRole", "ERROR", "User alice@example.com failed to activate '" + dbEnt + "' for themselves for 60 minutes: " + jit.MessageOf(pattern),
				base("api.activateRole", map[string]string{"project": "prod-payments-db", "activation_id": "jit-abc", "activation_start": "2026-11-25T10:00Z",
					"activation_end": "2026-11-25T11:00Z", "justification": "INC-1", "entitlements": dbEnt, "error": "InvalidJustificationException"})}},
		{"requested", jit.Event{Kind: jit.EventRequested, Actor: alice, Request: req, Activations: []jit.Activation{mpa}},
			original{"api.requestRole", "INFO", "User alice@example.com requested '" + apiEnt + "' for 60 minutes",
				base("api.requestRole", withProject(requestLabels, "prod-payments-api"))}},
		{"request_invalid", jit.Event{Kind: jit.EventRequestInvalid, Actor: alice, Project: "prod-payments-api", Entitlement: api, Err: reviewersRefused},
			original{"api.activateRole", "ERROR", "Received invalid activation request from user 'alice@example.com' for '" + apiEnt + "': " + jit.MessageOf(reviewersRefused),
				base("api.activateRole", map[string]string{"project": "prod-payments-api", "error": "AccessDeniedException"})}},
		{"request_failed", jit.Event{Kind: jit.EventRequestFailed, Actor: alice, Request: req, Activations: []jit.Activation{mpa}, Err: upstream},
			original{"api.requestRole", "ERROR", "User alice@example.com failed to request '" + apiEnt + "' for 60 minutes: " + jit.MessageOf(upstream),
				base("api.requestRole", map[string]string{"project": "prod-payments-api", "role": "roles/run.developer", "project_id": "prod-payments-api",
					"resource": "//cloudresourcemanager.googleapis.com/projects/prod-payments-api", "error": "IOException", "justification": "CHG-1"})}},
		{"approved", jit.Event{Kind: jit.EventApproved, Actor: alice, Request: req, Activations: []jit.Activation{approved}},
			original{"api.activateRole", "INFO", "User alice@example.com approved '" + apiEnt + "' for bob@example.com", base("api.activateRole", requestLabels)}},
		{"approve_failed", jit.Event{Kind: jit.EventApproveFailed, Actor: alice, Request: req, Activations: []jit.Activation{approved}, Err: reviewersRefused},
			original{"api.activateRole", "ERROR", "User alice@example.com failed to activate '" + apiEnt + "' for bob@example.com: " + jit.MessageOf(reviewersRefused),
				base("api.activateRole", withError(requestLabels, "AccessDeniedException"))}},
		{"approve_token_refused", jit.Event{Kind: jit.EventApproveFailed, Actor: alice, Err: token},
			original{"api.activateRole", "ERROR", "Accessing the activation request failed: the token has expired",
				base("api.activateRole", map[string]string{"error": "AccessDeniedException"})}},
		{"get_request_refused", jit.Event{Kind: jit.EventRequestAccessDenied, Actor: alice, Err: token},
			original{"api.getActivationRequest", "ERROR", "Accessing the activation request failed: the token has expired",
				base("api.getActivationRequest", map[string]string{"error": "AccessDeniedException"})}},
		{"projects_listed", jit.Event{Kind: jit.EventProjectsListed, Actor: alice, Count: 3},
			original{"api.listProjects", "INFO", "Found 3 available projects", base("api.listProjects", nil)}},
		{"list_projects_failed", jit.Event{Kind: jit.EventListProjectsFailed, Actor: alice, Err: upstream},
			original{"api.listProjects", "ERROR", "Listing available projects failed: " + jit.MessageOf(upstream), base("api.listProjects", nil)}},
		{"list_roles_failed", jit.Event{Kind: jit.EventListRolesFailed, Actor: alice, Project: "prod-payments-api", Err: upstream},
			original{"api.listEligibleRoles", "ERROR", "Listing project roles failed: " + jit.MessageOf(upstream),
				base("api.listEligibleRoles", map[string]string{"error": "IOException", "project": "prod-payments-api"})}},
		{"list_peers_failed", jit.Event{Kind: jit.EventListPeersFailed, Actor: alice, Project: "prod-payments-api", Entitlement: api, Err: reviewersRefused},
			original{"api.listPeers", "ERROR", "Listing peers failed: " + jit.MessageOf(reviewersRefused),
				base("api.listPeers", map[string]string{"error": "AccessDeniedException", "role": "roles/run.developer", "project_id": "prod-payments-api",
					"resource": "//cloudresourcemanager.googleapis.com/projects/prod-payments-api", "project": "prod-payments-api"})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			compareWithOriginal(t, audit.FromEvent(tt.e), tt.want)
		})
	}
}

func withProject(l map[string]string, p string) map[string]string {
	out := map[string]string{"project": p}
	for k, v := range l {
		out[k] = v
	}
	return out
}

func withError(l map[string]string, e string) map[string]string {
	out := map[string]string{"error": e}
	for k, v := range l {
		out[k] = v
	}
	return out
}

func TestDeviceIDIsUnknownWithoutADevice(t *testing.T) {
	t.Parallel()
	p := jit.Principal{Email: "alice@example.com", Subject: "accounts.google.com:1"}
	got := audit.FromEvent(jit.Event{Kind: jit.EventProjectsListed, Actor: p})
	if got.Labels["device_id"] != "unknown" || got.Labels["device_access_levels"] != "" {
		t.Errorf("labels = %v, want device_id=unknown and device_access_levels empty, as IapAssertion.device()", got.Labels)
	}
	if _, ok := got.Labels["device_access_levels"]; !ok {
		t.Error("device_access_levels dropped; the original always wrote it")
	}
}

func TestActivationTimesInJavasForm(t *testing.T) {
	t.Parallel()
	a := act
	a.Start, a.End = start.Add(30*time.Second), start.Add(time.Hour+30*time.Second)
	got := audit.FromEvent(jit.Event{Kind: jit.EventSelfActivated, Actor: alice, Activations: []jit.Activation{a}})
	if got.Labels["activation_start"] != "2026-11-25T10:00:30Z" || got.Labels["activation_end"] != "2026-11-25T11:00:30Z" {
		t.Errorf("times = %q, %q", got.Labels["activation_start"], got.Labels["activation_end"])
	}
	for _, s := range []string{"2026-11-25T10:00Z", "2026-11-25T10:00:30Z", "2026-11-25T10:00:30.5Z"} {
		if _, err := audit.ParseTime(s); err != nil {
			t.Errorf("ParseTime(%q): %v", s, err)
		}
	}
}

func TestAuthenticationFailuresAreErrorsWithTheOriginalsMessages(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	missing := jit.E("server.authenticate", jit.KindUnauthenticated, "Identity-Aware Proxy must be enabled for this application", errors.New("missing header"))
	invalid := jit.E("iap.Verify", jit.KindUnauthenticated, "", errors.New("audience mismatch"))
	for _, tc := range []struct {
		trail *audit.Trail
		cause error
		want  string
	}{
		{audit.NewTrail(audit.NewStdoutLogger(&buf), nil), missing, "Missing IAP assertion in header, IAP might be disabled"},
		{audit.NewTrail(audit.NewStdoutLogger(&buf), nil, audit.WithAudience("/projects/1/apps/p")), invalid,
			"Verifying IAP assertion failed. This might be because the IAP assertion was tampered with, or because it had the wrong audience (expected audience: /projects/1/apps/p).: audience mismatch"},
		{audit.NewTrail(audit.NewStdoutLogger(&buf), nil), invalid,
			"Verifying IAP assertion failed. This might be because the IAP assertion was tampered with: audience mismatch"},
	} {
		buf.Reset()
		if err := tc.trail.AuthenticationFailed(t.Context(), tc.cause); err != nil {
			t.Fatal(err)
		}
		var line map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"severity": "ERROR", "message": tc.want, "logging.googleapis.com/labels": map[string]any{"event": "iap.authenticate"}}
		delete(line, "time")
		if diff := cmp.Diff(want, line); diff != "" {
			t.Errorf("line (-want +got):\n%s", diff)
		}
	}
}

func TestLabelsAreSanitised(t *testing.T) {
	t.Parallel()
	a := act
	a.Justification = "INC-1\r\n{\"severity\":\"INFO\",\"message\":\"forged\"}\u202e" + strings.Repeat("x", 5000)
	got := audit.FromEvent(jit.Event{Kind: jit.EventSelfActivated, Actor: alice, Activations: []jit.Activation{a}})
	j := got.Labels["justification"]
	if strings.ContainsAny(j, "\r\n\u202e") || len(j) > 1100 || !strings.Contains(j, `\u000d\u000a`) {
		t.Errorf("justification label not sanitised: %q", j[:80])
	}
}

func TestStdoutLoggerWritesTheOriginalsShape(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	trail := audit.NewTrail(audit.NewStdoutLogger(&buf), func() time.Time { return start })
	ctx := cloudlog.WithTrace(t.Context(), appProject, "105445aa7843bc8bf206b12000100000/1;o=1")
	if err := trail.Record(ctx, jit.Event{Kind: jit.EventProjectsListed, Actor: alice, Count: 2}); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	want := map[string]any{
		"severity": "INFO", "message": "Found 2 available projects", "time": "2026-11-25T10:00:00Z",
		"logging.googleapis.com/trace": "projects/jitaccess-app/traces/105445aa7843bc8bf206b12000100000",
		"logging.googleapis.com/labels": map[string]any{
			"event": "api.listProjects", "user": "alice@example.com", "user_id": "accounts.google.com:1", "device_id": "dev-1",
			"device_access_levels": "accessPolicies/1/accessLevels/corp, accessPolicies/1/accessLevels/eu",
		},
	}
	if diff := cmp.Diff(want, line); diff != "" {
		t.Errorf("line (-want +got):\n%s", diff)
	}
}

func newCloudTrail(t *testing.T, e *emulator.Emulator) (*audit.Trail, *audit.History) {
	t.Helper()
	client, err := logging.NewClient(t.Context(), "projects/"+appProject, e.GRPCClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	admin, err := logadmin.NewClient(t.Context(), "projects/"+appProject, e.GRPCClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	return audit.NewTrail(audit.NewCloudLogger(client, nil, time.Second), nil), audit.NewHistory(admin, appProject)
}

func TestCloudLoggerEntriesReadBack(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	trail, history := newCloudTrail(t, e)
	events := []jit.Event{
		{Kind: jit.EventSelfActivated, Actor: alice, Activations: []jit.Activation{act}},
		{Kind: jit.EventRequested, Actor: jit.Principal{Email: "bob@example.com"}, Request: &jit.ActivationRequest{ID: "mpa-1", Beneficiary: "bob@example.com", Reviewers: []jit.UserID{"alice@example.com"}, Duration: time.Hour,
			Entitlement: jit.Entitlement{Project: "prod-payments-api", Role: "roles/run.developer"}}},
	}
	for _, ev := range events {
		if err := trail.Record(t.Context(), ev); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	got, err := history.Entries(t.Context(), audit.Query{User: "alice@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Event != "api.activateRole" || got[0].Labels["justification"] != "INC-1" || got[0].Severity != "INFO" ||
		!strings.HasPrefix(got[0].Message, "User alice@example.com activated") {
		t.Errorf("alice's history = %+v", got)
	}
	all, err := history.Entries(t.Context(), audit.Query{From: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Event != "api.requestRole" {
		t.Errorf("history newest first = %+v", all)
	}
}

func TestCloudLoggerFailureHasAKind(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	trail, _ := newCloudTrail(t, e)
	e.World.Faults.Set("logging.WriteLogEntries", emulator.Fault{Code: 503})
	err := trail.Record(t.Context(), jit.Event{Kind: jit.EventSelfActivated, Actor: alice, Activations: []jit.Activation{act}})
	var je *jit.Error
	if !errors.As(err, &je) || jit.KindOf(err) != jit.KindUnavailable {
		t.Errorf("Record with Logging down: %v (kind %v), want KindUnavailable", err, jit.KindOf(err))
	}
}

// TestHistoryReadsBothLogs: entries written through the Logging API
// (jitaccess-audit), entries written to stdout and ingested by the
// platform (the stdout log), and entries the original 1.8.1 wrote there
// before the switch are all history; the app's own log lines in the
// stdout log are not.
func TestHistoryReadsBothLogs(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	cloud, history := newCloudTrail(t, e)
	stdout := e.Logging.StdoutWriter("projects/"+appProject+"/logs/"+audit.AppEngineStdoutLog,
		&mrpb.MonitoredResource{Type: "gae_app", Labels: map[string]string{"project_id": appProject, "module_id": "default"}})
	t0 := time.Now().UTC().Truncate(time.Second)
	stdoutTrail := audit.NewTrail(audit.NewStdoutLogger(stdout), func() time.Time { return t0.Add(2 * time.Second) })
	// What 1.8.1's LogAdapter printed (no time: the platform stamps it).
	if _, err := io.WriteString(stdout, `{"severity":"INFO","message":"User alice@example.com activated '[iam] roles/browser on p-old' for themselves for 5 minutes",`+
		`"logging.googleapis.com/labels":{"event":"api.activateRole","user":"alice@example.com","user_id":"1","device_id":"unknown","device_access_levels":"",`+
		`"activation_id":"jit-old","justification":"old","entitlements":"[iam] roles/browser on p-old"},"logging.googleapis.com/trace":null}`+"\n"); err != nil {
		t.Fatal(err)
	}
	// The app's own lines: a request failure and a failed health check.
	for _, l := range []string{
		`{"severity":"WARNING","message":"request failed","logging.googleapis.com/labels":{"user":"alice@example.com","request_id":"1"}}`,
		`{"severity":"WARNING","message":"Health check failed","logging.googleapis.com/labels":{"event":"api.checkHealth","user":"alice@example.com"}}`,
	} {
		if _, err := io.WriteString(stdout, l+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	if err := cloud.Record(t.Context(), jit.Event{Kind: jit.EventSelfActivated, Actor: alice, Activations: []jit.Activation{act}}); err != nil {
		t.Fatal(err)
	}
	if err := stdoutTrail.Record(t.Context(), jit.Event{Kind: jit.EventProjectsListed, Actor: alice, Count: 1}); err != nil {
		t.Fatal(err)
	}
	got, err := history.Entries(t.Context(), audit.Query{User: "alice@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, g := range got {
		events = append(events, g.Event+" "+g.Labels["activation_id"])
	}
	if diff := cmp.Diff([]string{"api.listProjects ", "api.activateRole jit-abc", "api.activateRole jit-old"}, events); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	only, err := history.Entries(t.Context(), audit.Query{User: "alice@example.com", Events: []string{audit.EventActivateRole}})
	if err != nil {
		t.Fatal(err)
	}
	if len(only) != 2 || only[0].Event != "api.activateRole" || only[1].Event != "api.activateRole" {
		t.Errorf("history of api.activateRole = %+v", only)
	}
	narrowed := audit.NewHistory(mustAdmin(t, e), appProject, audit.FromLogs(audit.LogID))
	if n, err := narrowed.Entries(t.Context(), audit.Query{User: "alice@example.com"}); err != nil || len(n) != 1 {
		t.Errorf("history of jitaccess-audit only = %+v, %v", n, err)
	}
}

func mustAdmin(t *testing.T, e *emulator.Emulator) *logadmin.Client {
	t.Helper()
	admin, err := logadmin.NewClient(t.Context(), "projects/"+appProject, e.GRPCClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	return admin
}
