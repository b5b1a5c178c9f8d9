package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/app"
	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/config"
	"github.com/jitaccess/jitaccess/internal/emulated"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/outbox"
)

// auditLog is where the default audit trail (AUDIT_LOG=stdout) lands: the
// platform's stdout log, as the emulated environment ingests it.
const auditLog = "projects/jitaccess-app/logs/stdout"

// hangUpDuringWrite sends a request as user and cancels it as soon as the
// emulator has received the setIamPolicy call, as a client that
// disconnects mid-request would.
func hangUpDuringWrite(t *testing.T, h *apptest.Harness, user, method, path string, body any) {
	t.Helper()
	const setIamPolicy = "cloudresourcemanager.projects.setIamPolicy"
	before := h.Emulator.World.Faults.Calls(setIamPolicy)
	// Slow writes give the client time to go away mid-write.
	h.Emulator.World.Faults.Set(setIamPolicy, emulator.Fault{Latency: 300 * time.Millisecond})
	var r *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	} else {
		r = bytes.NewReader(nil)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, h.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Jitaccess", "1")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-goog-iap-jwt-assertion", h.Assertion(t, user))
	go func() {
		for h.Emulator.World.Faults.Calls(setIamPolicy) == before {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	resp, err := h.Server.Client().Do(req)
	if err == nil {
		_ = resp.Body.Close()
		t.Logf("the response came before the client hung up: %d", resp.StatusCode)
	}
}

// eventually bounds the waits for what the app does after it answered:
// beyond every deadline of the app's own (apptest.PatientTimeouts), so
// that it only ends a wait for something that never comes.
const eventually = 2 * time.Minute

// waitForAudit waits (up to eventually) until an audit entry matching ok is in the emulator's Cloud Logging.
func waitForAudit(t *testing.T, h *apptest.Harness, ok func(labels map[string]string) bool) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), eventually)
	defer cancel()
	for {
		for _, e := range h.Emulator.Logging.Entries(auditLog) {
			if ok(e.GetLabels()) {
				return true
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// grantedWith matches the audit entry of a successful activation (self or
// approved) with the given justification.
func grantedWith(justification string) func(map[string]string) bool {
	return func(l map[string]string) bool {
		_, failed := l["error"]
		return l["event"] == "api.activateRole" && l["justification"] == justification && !failed
	}
}

func activationBindingOf(t *testing.T, h *apptest.Harness, project, member, role string) bool {
	t.Helper()
	p, _ := h.Emulator.World.Policy("projects/" + project)
	for _, b := range p.Bindings {
		if b.Condition != nil && b.Role == role && len(b.Members) == 1 && b.Members[0] == member {
			if _, ok := condition.ParseActivation(b.Condition.Title, b.Condition.Expression); ok {
				return true
			}
		}
	}
	return false
}

// waitForBinding waits until the activation binding is in the policy.
func waitForBinding(t *testing.T, h *apptest.Harness, project, member, role string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), eventually)
	defer cancel()
	for !activationBindingOf(t, h, project, member, role) {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return true
}

// TestAGrantIsAuditedWhenTheClientHangsUp: a client that disconnects while
// its self-activation is being written keeps the role; the audit trail
// must say so (the audit record used to run on the cancelled request
// context, so it was never written).
func TestAGrantIsAuditedWhenTheClientHangsUp(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	hangUpDuringWrite(t, h, "dave@example.com", http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate", map[string]any{
		"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "INC-77 hang up", "activationTimeout": 30,
	})
	// The write is detached from the request: it lands.
	if !waitForBinding(t, h, "prod-payments-db", "user:dave@example.com", "roles/cloudsql.client") {
		t.Fatal("the self-activation's binding was not written")
	}
	if !waitForAudit(t, h, grantedWith("INC-77 hang up")) {
		t.Errorf("the binding exists, but there is no audit entry of the self-activation: %v", h.Emulator.Logging.Entries(auditLog))
	}
}

// TestAnApprovalIsAuditedAndMailedWhenTheReviewerHangsUp: the same for an
// approval, and the beneficiary still gets the approval email.
func TestAnApprovalIsAuditedAndMailedWhenTheReviewerHangsUp(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	r := h.Do(t, "erin@example.com", http.MethodPost, "/api/projects/prod-payments-api/roles/request", map[string]any{
		"entitlementId": "prod-payments-api:roles/run.developer", "justification": "CHG-77 hang up",
		"peers": []string{"dave@example.com"}, "activationTimeout": 30,
	})
	if r.Status != 200 {
		t.Fatalf("request = %d %s", r.Status, r.Body)
	}
	u, _ := url.Parse(linkPattern.FindString(h.Outbox.Messages()[0].Text))
	hangUpDuringWrite(t, h, "dave@example.com", http.MethodPost, "/api/activation-request?activation="+url.QueryEscape(u.Query().Get("activation")), nil)
	if !waitForBinding(t, h, "prod-payments-api", "user:erin@example.com", "roles/run.developer") {
		t.Fatal("the approval's binding was not written")
	}
	if !waitForAudit(t, h, grantedWith("CHG-77 hang up")) {
		t.Errorf("the binding exists, but there is no audit entry of the approval: %v", h.Emulator.Logging.Entries(auditLog))
	}
	ctx, cancel := context.WithTimeout(t.Context(), eventually)
	defer cancel()
	if _, err := h.Outbox.WaitFor(ctx, func(m outbox.Message) bool { return strings.HasPrefix(m.Subject, "Re: ") }); err != nil {
		t.Errorf("no approval email to the beneficiary: %v", err)
	}
}

// TestOutOfRangeNumbersAreRefusedNotWrapped: an activationTimeout whose
// minutes overflow a time.Duration used to wrap round to a short, accepted
// activation; more reviewers than a token can carry used to be a 500
// (ACTIVATION_REQUEST_MAX_REVIEWERS=1000 is lowered to the 100 a token
// carries). Both are 400s that write nothing and send nothing.
func TestOutOfRangeNumbersAreRefusedNotWrapped(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t, apptest.Options{Config: map[string]string{"ACTIVATION_REQUEST_MAX_REVIEWERS": "1000"}})
	peers := make([]string, 101)
	for i := range peers {
		peers[i] = "peer" + strconv.Itoa(i) + "@example.com"
	}
	for _, tc := range []struct {
		name, user, path string
		body             map[string]any
		message          string
	}{
		{"self_activate_overflow", "dave@example.com", "/api/projects/prod-payments-db/roles/self-activate", map[string]any{
			"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "INC-1", "activationTimeout": 307445736,
		}, "The activation duration must be no longer than 120 minutes"},
		{"self_activate_max_int", "dave@example.com", "/api/projects/prod-payments-db/roles/self-activate", map[string]any{
			"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "INC-1", "activationTimeout": int64(math.MaxInt64),
		}, "The activation duration must be no longer than 120 minutes"},
		{"request_overflow", "erin@example.com", "/api/projects/prod-payments-api/roles/request", map[string]any{
			"entitlementId": "prod-payments-api:roles/run.developer", "justification": "CHG-1", "peers": []string{"dave@example.com"}, "activationTimeout": 307445736,
		}, "The activation duration must be no longer than 120 minutes"},
		{"too_many_reviewers", "erin@example.com", "/api/projects/prod-payments-api/roles/request", map[string]any{
			"entitlementId": "prod-payments-api:roles/run.developer", "justification": "CHG-1", "peers": peers, "activationTimeout": 30,
		}, "The number of reviewers exceeds the allowed maximum of 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.Emulator.World.TotalPolicyWrites()
			r := h.Do(t, tc.user, http.MethodPost, tc.path, tc.body)
			if r.Status != http.StatusBadRequest || r.Message(t) != tc.message {
				t.Errorf("got %d %q, want 400 %q", r.Status, r.Body, tc.message)
			}
			if after := h.Emulator.World.TotalPolicyWrites(); after != before {
				t.Errorf("%d IAM writes", after-before)
			}
		})
	}
	if n := len(h.Outbox.Messages()); n != 0 {
		t.Errorf("%d emails sent", n)
	}
}

// TestTimeBoundEligibilityIsRefusedAtDiscovery: an eligible binding whose
// resource condition reads request.time ("eligible until a date") used to
// be offered, and each activation wrote a binding the app never
// recognised again. It is now refused with a warning that says why, and
// activating it writes nothing.
func TestTimeBoundEligibilityIsRefusedAtDiscovery(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	const resource = "projects/dev-playground"
	p, _ := h.Emulator.World.Policy(resource)
	p.Version = 3
	p.Bindings = append(p.Bindings, emulator.Binding{Role: "roles/storage.admin", Members: []string{"user:heidi@example.com"}, Condition: &emulator.Expr{
		Title: "Eligible until the end of the project", Expression: `has({}.jitAccessConstraint) && request.time < timestamp("2030-01-01T00:00:00Z")`,
	}})
	if _, apiErr := h.Emulator.World.SetIamPolicy(resource, p); apiErr != nil {
		t.Fatal(apiErr)
	}
	r := h.Do(t, "heidi@example.com", http.MethodGet, "/api/projects/dev-playground/roles", nil)
	if r.Status != 200 || strings.Contains(string(r.Body), `"dev-playground:roles/storage.admin`) ||
		!strings.Contains(string(r.Body), "roles/storage.admin on dev-playground cannot be activated: its eligible binding's condition reads request.time") {
		t.Errorf("roles = %d %s", r.Status, r.Body)
	}
	before := h.Emulator.World.TotalPolicyWrites()
	r = h.Do(t, "heidi@example.com", http.MethodPost, "/api/projects/dev-playground/roles/self-activate", map[string]any{
		"entitlementIds": []string{"dev-playground:roles/storage.admin"}, "justification": "INC-5", "activationTimeout": 30,
	})
	if r.Status != http.StatusForbidden || h.Emulator.World.TotalPolicyWrites() != before {
		t.Errorf("self-activate = %d %s, %d writes", r.Status, r.Body, h.Emulator.World.TotalPolicyWrites()-before)
	}
}

// buildApp wires the app for the demo world with overrides, like
// apptest.Start but returning what Build logged (and its error).
func buildApp(t *testing.T, overrides map[string]string, metadata func(context.Context) (app.Identity, error)) (*emulator.Emulator, http.Handler, string, error) {
	t.Helper()
	e := emutest.Start(t)
	var logs syncBuffer
	cfg, err := config.Load(emulated.Config("127.0.0.1:1", "http://127.0.0.1:8080", overrides))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	env := emulated.Environment(e, nil, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	env.Metadata = metadata
	a, err := app.Build(t.Context(), cfg, env)
	if err != nil {
		return e, nil, logs.String(), err
	}
	t.Cleanup(func() { _ = a.Close() })
	return e, a.Handler, logs.String(), nil
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func policyAs(t *testing.T, e *emulator.Emulator, h http.Handler, audience string, hd string) int {
	t.Helper()
	tok, err := e.IAP.Mint(emulator.IAPClaims{Email: "alice@example.com", Audience: audience, Hd: hd})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/api/policy", nil)
	req.Header.Set("X-Jitaccess", "1")
	req.Header.Set("x-goog-iap-jwt-assertion", tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// TestIAPOnACloudRunService: with IAP enabled on the Cloud Run service
// (no load balancer, Google's recommendation), audience verification
// stays on: the service's audience, built from K_SERVICE and the
// metadata server's region, is required (start-up used to fail without
// IAP_BACKEND_SERVICE_ID, which pushed such deployments to turn
// verification off). An assertion for another app is refused.
func TestIAPOnACloudRunService(t *testing.T) {
	t.Parallel()
	metadata := func(context.Context) (app.Identity, error) {
		return app.Identity{ProjectID: emulated.ProjectID, ProjectNumber: emulated.ProjectNumber, ServiceAccount: emulated.ServiceAccount, Region: "europe-west1"}, nil
	}
	e, h, _, err := buildApp(t, map[string]string{"K_SERVICE": "jitaccess", "IAP_BACKEND_SERVICE_ID": ""}, metadata)
	if err != nil {
		t.Fatalf("Build on Cloud Run with IAP on the service: %v", err)
	}
	own := "/projects/" + emulated.ProjectNumber + "/locations/europe-west1/services/jitaccess"
	if got := policyAs(t, e, h, own, ""); got != http.StatusOK {
		t.Errorf("the service's own audience = %d", got)
	}
	for _, other := range []string{emulated.Audience, "/projects/" + emulated.ProjectNumber + "/locations/europe-west1/services/other", "/projects/1/apps/other"} {
		if got := policyAs(t, e, h, other, ""); got != http.StatusForbidden {
			t.Errorf("audience %s = %d, want 403", other, got)
		}
	}
	// Without a region and without IAP_AUDIENCE, start-up fails rather than
	// silently not checking the audience.
	noRegion := func(context.Context) (app.Identity, error) {
		return app.Identity{ProjectID: emulated.ProjectID, ProjectNumber: emulated.ProjectNumber, ServiceAccount: emulated.ServiceAccount}, nil
	}
	if _, _, _, err := buildApp(t, map[string]string{"K_SERVICE": "jitaccess", "IAP_BACKEND_SERVICE_ID": ""}, noRegion); err == nil || !strings.Contains(err.Error(), "IAP_AUDIENCE") {
		t.Errorf("Build without a region = %v, want an error naming IAP_AUDIENCE", err)
	}
}

// TestUnverifiedAudienceIsLoud: IAP_VERIFY_AUDIENCE=false says at
// start-up exactly what it costs, and then does accept another app's
// assertion.
func TestUnverifiedAudienceIsLoud(t *testing.T) {
	t.Parallel()
	e, h, logs, err := buildApp(t, map[string]string{"IAP_VERIFY_AUDIENCE": "false"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs, "SECURITY WARNING: the audience of IAP assertions is NOT verified (IAP_VERIFY_AUDIENCE=false)") ||
		!strings.Contains(logs, "an assertion minted for ANY of them is accepted here") {
		t.Errorf("start-up logs:\n%s", logs)
	}
	if got := policyAs(t, e, h, "/projects/1/apps/some-other-app", ""); got != http.StatusOK {
		t.Errorf("another app's assertion = %d (the warning is about exactly this)", got)
	}
}

// TestHostedDomainIsEnforced: IAP_HOSTED_DOMAIN refuses assertions of
// accounts from another domain.
func TestHostedDomainIsEnforced(t *testing.T) {
	t.Parallel()
	e, h, _, err := buildApp(t, map[string]string{"IAP_HOSTED_DOMAIN": "example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := policyAs(t, e, h, emulated.Audience, "example.com"); got != http.StatusOK {
		t.Errorf("hd example.com = %d", got)
	}
	if got := policyAs(t, e, h, emulated.Audience, "evil.example"); got != http.StatusForbidden {
		t.Errorf("hd evil.example = %d, want 403", got)
	}
}

// TestApprovalLinksIgnoreTheHostHeader: the requester chooses the Host
// header; the reviewer's link always points at EXTERNAL_URL, and without
// EXTERNAL_URL an app that can send approval requests does not start.
func TestApprovalLinksIgnoreTheHostHeader(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	headers := http.Header{"X-Jitaccess": {"1"}, "X-Goog-Iap-Jwt-Assertion": {h.Assertion(t, "erin@example.com")},
		"X-Forwarded-Host": {"evil.example"}, "X-Forwarded-Proto": {"https"}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, h.URL+"/api/projects/prod-payments-api/roles/request", strings.NewReader(
		`{"entitlementId":"prod-payments-api:roles/run.developer","justification":"CHG-8","peers":["dave@example.com"],"activationTimeout":30}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = headers
	req.Header.Set("Content-Type", "application/json")
	req.Host = "evil.example"
	resp, err := h.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("request = %d", resp.StatusCode)
	}
	mail := h.Outbox.Messages()[0]
	if link := linkPattern.FindString(mail.Text); !strings.HasPrefix(link, h.URL+"/?") || strings.Contains(mail.Text, "evil.example") {
		t.Errorf("link %q (want it under %s); mail:\n%s", link, h.URL, mail.Text)
	}
	_, err = config.Load(emulated.Config("127.0.0.1:1", "", map[string]string{"EXTERNAL_URL": ""}))
	if err == nil || !strings.Contains(err.Error(), "EXTERNAL_URL is not set: required when notifications are configured") {
		t.Errorf("config without EXTERNAL_URL but with SMTP: %v", err)
	}
}

// TestRequestsAreRateLimitedPerUser: past RATE_LIMIT_REQUESTS a user gets
// 429 with a message and Retry-After, before anything reaches Google;
// other users are unaffected; a minute later the bucket has refilled.
func TestRequestsAreRateLimitedPerUser(t *testing.T) {
	t.Parallel()
	clock := emutest.NewClock(time.Now())
	h := apptest.Start(t, apptest.Options{Clock: clock.Now, Config: map[string]string{"RATE_LIMIT_REQUESTS": "3"}})
	for i := range 3 {
		if r := h.Do(t, "dave@example.com", http.MethodGet, "/api/policy", nil); r.Status != http.StatusOK {
			t.Fatalf("request %d = %d %s", i, r.Status, r.Body)
		}
	}
	before := h.Emulator.World.TotalPolicyWrites()
	r := h.Do(t, "dave@example.com", http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate", map[string]any{
		"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "INC-9", "activationTimeout": 30,
	})
	if r.Status != http.StatusTooManyRequests || r.Message(t) != "Too many requests from dave@example.com: try again in 20 seconds" || r.Header.Get("Retry-After") != "20" {
		t.Errorf("4th request = %d %q, Retry-After %q", r.Status, r.Body, r.Header.Get("Retry-After"))
	}
	if h.Emulator.World.TotalPolicyWrites() != before {
		t.Errorf("a rate-limited request wrote to IAM")
	}
	if r := h.Do(t, "erin@example.com", http.MethodGet, "/api/policy", nil); r.Status != http.StatusOK {
		t.Errorf("another user = %d", r.Status)
	}
	clock.Advance(time.Minute)
	if r := h.Do(t, "dave@example.com", http.MethodGet, "/api/policy", nil); r.Status != http.StatusOK {
		t.Errorf("after a minute = %d %s", r.Status, r.Body)
	}
}

// TestApprovalEmailsAreRateLimitedPerUser: a requester cannot flood their
// peers (the original's #415): past RATE_LIMIT_EMAILS (one per reviewer)
// the request is a 429, audited, and no email goes out.
func TestApprovalEmailsAreRateLimitedPerUser(t *testing.T) {
	t.Parallel()
	clock := emutest.NewClock(time.Now())
	h := apptest.Start(t, apptest.Options{Clock: clock.Now, Config: map[string]string{"RATE_LIMIT_EMAILS": "3"}})
	request := func(peers ...string) apptest.Response {
		return h.Do(t, "alice@example.com", http.MethodPost, "/api/projects/shared-networking/roles/request", map[string]any{
			"entitlementId": "shared-networking:roles/compute.networkAdmin", "justification": "CHG-9 firewall",
			"peers": peers, "activationTimeout": 30,
		})
	}
	if r := request("bob@example.com", "carol@example.com"); r.Status != http.StatusOK {
		t.Fatalf("first request = %d %s", r.Status, r.Body)
	}
	sent := len(h.Outbox.Messages())
	r := request("bob@example.com", "carol@example.com")
	if r.Status != http.StatusTooManyRequests || !strings.HasPrefix(r.Message(t), "You have sent too many approval requests: try again in 20 minutes") {
		t.Errorf("second request = %d %s", r.Status, r.Body)
	}
	if n := len(h.Outbox.Messages()); n != sent {
		t.Errorf("%d more emails after the limit", n-sent)
	}
	if !waitForAudit(t, h, func(l map[string]string) bool {
		return l["event"] == "api.requestRole" && l["error"] == "QuotaExceededException"
	}) {
		t.Errorf("the refusal is not audited: %v", h.Emulator.Logging.Entries(auditLog))
	}
	// One reviewer still fits in what is left.
	if r := request("bob@example.com"); r.Status != http.StatusOK {
		t.Errorf("a request within the limit = %d %s", r.Status, r.Body)
	}
	clock.Advance(time.Hour)
	if r := request("bob@example.com", "carol@example.com"); r.Status != http.StatusOK {
		t.Errorf("an hour later = %d %s", r.Status, r.Body)
	}
}
