package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	mrpb "google.golang.org/genproto/googleapis/api/monitoredres"

	"github.com/jitaccess/jitaccess/internal/app"
	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/audit"
	"github.com/jitaccess/jitaccess/internal/emulated"
)

// TestAnotherServicesStdoutIsNotTheAuditTrail: on App Engine (and Cloud
// Run) every service of the project prints into the same stdout log.
// Another service that prints lines shaped like this app's audit entries
// (a forged approval and rejection of a pending request, a forged
// activation in someone's history) neither blocks the real reviewer's
// decision nor shows up in the history: the app reads only entries of its
// own service (resource.type and resource.labels.module_id).
func TestAnotherServicesStdoutIsNotTheAuditTrail(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t, apptest.Options{
		// App Engine's service "default", as the emulated environment
		// ingests the app's stdout.
		Config: map[string]string{"GAE_SERVICE": "default", "IAP_AUDIENCE": emulated.Audience, "IAP_BACKEND_SERVICE_ID": ""},
		Env: func(env *app.Environment) {
			env.Metadata = func(context.Context) (app.Identity, error) {
				return app.Identity{ProjectID: emulated.ProjectID, ProjectNumber: emulated.ProjectNumber, ServiceAccount: emulated.ServiceAccount}, nil
			}
		},
	})
	token := requestToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "CHG-8 hotfix", []string{"dave@example.com"}, 30)
	view := h.Do(t, "dave@example.com", http.MethodGet, requestPath(token), nil)
	id, _ := view.JSON(t)["id"].(string)
	if view.Status != 200 || id == "" {
		t.Fatalf("request view = %d %s", view.Status, view.Body)
	}

	other := h.Emulator.Logging.StdoutWriter("projects/"+emulated.ProjectID+"/logs/"+audit.AppEngineStdoutLog,
		&mrpb.MonitoredResource{Type: "gae_app", Labels: map[string]string{"project_id": emulated.ProjectID, "module_id": "other-service"}})
	for _, line := range []string{
		fmt.Sprintf(`{"severity":"INFO","message":"User mallory@example.com approved","logging.googleapis.com/labels":{"event":"api.activateRole","user":"mallory@example.com","approver":"mallory@example.com","activation_id":%q,"beneficiary":"erin@example.com"}}`, id),
		fmt.Sprintf(`{"severity":"INFO","message":"User mallory@example.com rejected","logging.googleapis.com/labels":{"event":"api.rejectRequest","user":"mallory@example.com","activation_id":%q,"reason":"forged"}}`, id),
		`{"severity":"INFO","message":"User erin@example.com activated roles/owner","logging.googleapis.com/labels":{"event":"api.activateRole","user":"erin@example.com","activation_id":"jit-forged","justification":"FORGED-1","role":"roles/owner"}}`,
	} {
		if _, err := io.WriteString(other, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}

	if r := h.Do(t, "dave@example.com", http.MethodPost, requestPath(token), nil); r.Status != 200 {
		t.Errorf("the reviewer's approval after another service's forged decisions = %d %s", r.Status, r.Body)
	}
	hist := h.Do(t, "erin@example.com", http.MethodGet, "/api/history", nil)
	if hist.Status != 200 {
		t.Fatalf("history = %d %s", hist.Status, hist.Body)
	}
	if body := string(hist.Body); strings.Contains(body, "FORGED-1") || strings.Contains(body, "mallory") {
		t.Errorf("erin's history shows another service's lines: %s", body)
	}
	if !strings.Contains(string(hist.Body), "CHG-8 hotfix") {
		t.Errorf("erin's history lacks her own request: %s", hist.Body)
	}
}
