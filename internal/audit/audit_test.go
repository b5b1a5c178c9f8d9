package audit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/logging"
	"cloud.google.com/go/logging/logadmin"
	"github.com/google/go-cmp/cmp"

	"github.com/jitaccess/jitaccess/internal/audit"
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

func TestFromEventUsesTheOriginalsNamesAndLabels(t *testing.T) {
	t.Parallel()
	got := audit.FromEvent(jit.Event{Kind: jit.EventSelfActivated, Actor: alice, Activations: []jit.Activation{act}})
	want := audit.Entry{
		Event: "api.activateRole", Severity: "INFO",
		Message: "User alice@example.com activated [iam] roles/cloudsql.client on prod-payments-db for themselves for 60 minutes",
		Labels: map[string]string{
			"event": "api.activateRole", "user": "alice@example.com", "user_id": "accounts.google.com:1",
			"device_id": "dev-1", "device_access_levels": "accessPolicies/1/accessLevels/corp,accessPolicies/1/accessLevels/eu",
			"activation_id": "jit-abc", "activation_start": "2026-11-25T10:00:00Z", "activation_end": "2026-11-25T11:00:00Z",
			"justification": "INC-1", "role": "roles/cloudsql.client", "project_id": "prod-payments-db",
			"resource":     "//cloudresourcemanager.googleapis.com/projects/prod-payments-db",
			"entitlements": "[iam] roles/cloudsql.client on prod-payments-db",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
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
	if err := trail.Record(t.Context(), jit.Event{Kind: jit.EventRequestFailed, Actor: alice,
		Request: &jit.ActivationRequest{ID: "mpa-x", Beneficiary: "alice@example.com", Reviewers: []jit.UserID{"bob@example.com"}, Justification: "CHG-1", Duration: time.Hour},
		Err:     jit.Denied("op", "The selected reviewers are not allowed to approve x")}); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	labels := line["logging.googleapis.com/labels"].(map[string]any)
	if line["severity"] != "ERROR" || labels["event"] != "api.requestRole" || labels["reviewers"] != "bob@example.com" || labels["error"] != "denied" {
		t.Errorf("line = %v", line)
	}
	if m := line["message"].(string); !strings.HasPrefix(m, "User alice@example.com failed to request") {
		t.Errorf("message = %q", m)
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
	if len(got) != 1 || got[0].Event != "api.activateRole" || got[0].Labels["justification"] != "INC-1" || got[0].Severity != "Info" ||
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
