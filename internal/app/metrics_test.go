package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/emulator"
)

func scrape(t *testing.T, h *apptest.Harness) string {
	t.Helper()
	if h.App.Metrics == nil {
		t.Fatal("no metrics with METRICS_ADDR set")
	}
	w := httptest.NewRecorder()
	h.App.Metrics.Handler().ServeHTTP(w, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", nil))
	b, _ := io.ReadAll(w.Result().Body)
	return string(b)
}

func startWithMetrics(t *testing.T, vars ...string) *apptest.Harness {
	t.Helper()
	cfg := map[string]string{"METRICS_ADDR": "127.0.0.1:0"}
	for i := 0; i+1 < len(vars); i += 2 {
		cfg[vars[i]] = vars[i+1]
	}
	return apptest.Start(t, apptest.Options{Config: cfg})
}

// TestMetricsCountRequestsGoogleCallsAndActivations: a self-activation and
// an approval request, through the real clients against the emulator, show
// in every family the operations guide alerts on.
func TestMetricsCountRequestsGoogleCallsAndActivations(t *testing.T) {
	t.Parallel()
	h := startWithMetrics(t)
	r := h.Do(t, "dave@example.com", http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate", map[string]any{
		"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "INC-42 db failover", "activationTimeout": 30,
	})
	if r.Status != 200 {
		t.Fatalf("self-activate = %d %s", r.Status, r.Body)
	}
	r = h.Do(t, "grace@example.com", http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate", map[string]any{
		"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "INC-42", "activationTimeout": 30,
	})
	if r.Status != 403 {
		t.Fatalf("self-activate by grace = %d %s", r.Status, r.Body)
	}
	got := scrape(t, h)
	for _, want := range []string{
		`jitaccess_http_request_duration_seconds_count{code="200",method="POST",route="/api/projects/{projectId}/roles/self-activate"} 1`,
		`jitaccess_http_request_duration_seconds_count{code="403",method="POST",route="/api/projects/{projectId}/roles/self-activate"} 1`,
		`jitaccess_google_api_calls_total{api="cloudresourcemanager",code="200",method="projects.setIamPolicy"} 1`,
		`jitaccess_google_api_calls_total{api="cloudresourcemanager",code="200",method="projects.getIamPolicy"}`,
		`jitaccess_google_api_calls_total{api="cloudasset",code="OK",method="AnalyzeIamPolicy"}`,
		`jitaccess_audit_events_total{event="SelfActivated",outcome="ok"} 1`,
		`jitaccess_audit_events_total{event="SelfActivateFailed",outcome="failed"} 1`,
		`jitaccess_activated_roles_total{type="JIT"} 1`,
		`jitaccess_iam_policy_writes_total 1`,
		`jitaccess_iam_etag_conflicts_total 0`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", got)
	}
}

// TestMetricsCountGoogleErrors: an error from Google is counted with its
// code, per API and method.
func TestMetricsCountGoogleErrors(t *testing.T) {
	t.Parallel()
	// Short timeouts: the failing write is retried until they run out.
	h := startWithMetrics(t, "BACKEND_READ_TIMEOUT", "1", "BACKEND_WRITE_TIMEOUT", "1")
	h.Emulator.World.Faults.Set("cloudresourcemanager.projects.setIamPolicy", emulator.Fault{Code: 503})
	h.Emulator.World.Faults.Set("cloudasset.AnalyzeIamPolicy", emulator.Fault{Code: 429, Count: 1})
	h.Do(t, "dave@example.com", http.MethodGet, "/api/projects/prod-payments-db/roles", nil)
	r := h.Do(t, "dave@example.com", http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate", map[string]any{
		"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "INC-42 db failover", "activationTimeout": 30,
	})
	if r.Status < 500 {
		t.Fatalf("self-activate with setIamPolicy failing = %d %s", r.Status, r.Body)
	}
	got := scrape(t, h)
	for _, want := range []string{
		`jitaccess_google_api_calls_total{api="cloudresourcemanager",code="503",method="projects.setIamPolicy"}`,
		`jitaccess_google_api_calls_total{api="cloudasset",code="ResourceExhausted",method="AnalyzeIamPolicy"}`,
		`jitaccess_audit_events_total{event="SelfActivateFailed",outcome="failed"} 1`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", got)
	}
}

// TestMetricsLabelsStayBounded: paths that clients make up never become
// label values: they share their route's pattern, or "unmatched".
func TestMetricsLabelsStayBounded(t *testing.T) {
	t.Parallel()
	h := startWithMetrics(t)
	for _, p := range []string{"/api/projects/a/roles", "/api/projects/b/roles", "/api/projects/" + strings.Repeat("x", 60) + "/roles", "/api/nothing-here-1", "/api/nothing-here-2"} {
		h.Do(t, "dave@example.com", http.MethodGet, p, nil)
	}
	h.DoRaw(t, "BREW", "/health/alive", http.Header{}, nil)
	got := scrape(t, h)
	for _, leaked := range []string{"projects/a", "projects/b", "xxxx", "nothing-here", "BREW"} {
		if strings.Contains(got, leaked) {
			t.Errorf("a client-made value %q is in the metrics", leaked)
		}
	}
	if !strings.Contains(got, `route="/api/projects/{projectId}/roles"} 3`) {
		t.Errorf("the three role lists are not counted under their pattern:\n%s", got)
	}
}
