package app_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/go-cmp/cmp"
	ltype "google.golang.org/genproto/googleapis/logging/type"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/emulated"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/outbox"
)

// openAPI validates live responses against docs/openapi.yaml.
type openAPI struct {
	router routers.Router
}

func loadOpenAPI(t *testing.T) *openAPI {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join(emutest.ModuleRoot(t), "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("docs/openapi.yaml is invalid: %v", err)
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &openAPI{router: r}
}

func (o *openAPI) check(t *testing.T, method, path string, resp apptest.Response) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, "http://x"+path, nil)
	req.Header.Set("X-JITACCESS", "1")
	route, params, err := o.router.FindRoute(req)
	if err != nil {
		t.Errorf("%s %s is not in docs/openapi.yaml: %v", method, path, err)
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{ExcludeRequestBody: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.Status, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(resp.Body))}
	if err := openapi3filter.ValidateResponse(t.Context(), out); err != nil {
		t.Errorf("%s %s → %d does not match docs/openapi.yaml: %v", method, path, resp.Status, err)
	}
}

func TestEveryEndpointAnswersAsDocumented(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	spec := loadOpenAPI(t)
	get := func(user, path string) apptest.Response {
		r := h.Do(t, user, http.MethodGet, path, nil)
		spec.check(t, http.MethodGet, path, r)
		return r
	}

	r := get("alice@example.com", "/api/policy")
	if p := r.JSON(t); r.Status != 200 || p["signedInUser"].(map[string]any)["email"] != "alice@example.com" ||
		p["maxActivationTimeout"] != 120.0 || p["defaultActivationTimeout"] != 60.0 {
		t.Errorf("policy = %d %s", r.Status, r.Body)
	}

	r = get("erin@example.com", "/api/projects")
	if r.Status != 200 || !strings.Contains(string(r.Body), `"prod-payments-api"`) || strings.Contains(string(r.Body), "security-tools") {
		t.Errorf("projects of erin = %d %s", r.Status, r.Body)
	}

	r = get("alice@example.com", "/api/projects/prod-payments-api/roles")
	if r.Status != 200 || !strings.Contains(string(r.Body), `"id":"prod-payments-api:roles/compute.admin"`) {
		t.Errorf("roles = %d %s", r.Status, r.Body)
	}

	r = get("erin@example.com", "/api/projects/prod-payments-api/peers?id="+url.QueryEscape("prod-payments-api:roles/run.developer"))
	if r.Status != 200 || string(r.Body) != `{"peers":[{"email":"dave@example.com"}],"approvalsRequired":1,"approverType":"PEER"}`+"\n" {
		t.Errorf("peers = %d %s", r.Status, r.Body)
	}

	r = get("alice@example.com", "/api/")
	if r.Status != 404 || !strings.Contains(r.Message(t), "outdated version") {
		t.Errorf("GET /api/ = %d %s", r.Status, r.Body)
	}

	for _, path := range []string{"/health/alive", "/health/ready"} {
		r := h.DoRaw(t, http.MethodGet, path, nil, nil)
		spec.check(t, http.MethodGet, path, r)
		if r.Status != 200 {
			t.Errorf("%s = %d", path, r.Status)
		}
	}
}

func TestSelfActivationWritesTheBindingAndTheAuditEntry(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	spec := loadOpenAPI(t)
	const path = "/api/projects/prod-payments-db/roles/self-activate"
	r := h.Do(t, "dave@example.com", http.MethodPost, path, map[string]any{
		"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "INC-42 db failover", "activationTimeout": 30,
	})
	spec.check(t, http.MethodPost, path, r)
	if r.Status != 200 {
		t.Fatalf("self-activate = %d %s", r.Status, r.Body)
	}
	body := r.JSON(t)
	ent := body["entitlements"].([]any)[0].(map[string]any)
	if ent["status"] != "ACTIVE" || ent["endTime"].(float64)-ent["startTime"].(float64) != 1800 || !strings.HasPrefix(ent["activationId"].(string), "jit-") {
		t.Errorf("activation = %v", ent)
	}
	p, _ := h.Emulator.World.Policy("projects/prod-payments-db")
	found := false
	for _, b := range p.Bindings {
		if b.Condition != nil && b.Members[0] == "user:dave@example.com" && b.Role == "roles/cloudsql.client" {
			w, ok := condition.ParseActivation(b.Condition.Title, b.Condition.Expression)
			found = ok && w.End.Sub(w.Start) == 30*time.Minute && b.Condition.Description == "Self-approved, justification: INC-42 db failover"
		}
	}
	if !found {
		t.Errorf("no activation binding for dave in %+v", p.Bindings)
	}
	// The list shows it active at once, despite the Asset index.
	r = h.Do(t, "dave@example.com", http.MethodGet, "/api/projects/prod-payments-db/roles", nil)
	if !strings.Contains(string(r.Body), `"status":"ACTIVE"`) {
		t.Errorf("roles after activation = %s", r.Body)
	}
	// By default the audit entry is a line on stdout, which the platform
	// ingests into its stdout log, as 1.8.1's were.
	var audited []*loggingpb.LogEntry
	for _, e := range h.Emulator.Logging.Entries("projects/jitaccess-app/logs/stdout") {
		if e.GetLabels()["event"] == "api.activateRole" {
			audited = append(audited, e)
		}
	}
	if len(audited) != 1 || audited[0].GetLabels()["justification"] != "INC-42 db failover" ||
		audited[0].GetLabels()["device_id"] != "device-dave@example.com" || audited[0].GetSeverity() != ltype.LogSeverity_INFO ||
		audited[0].GetJsonPayload().GetFields()["message"].GetStringValue() != "User dave@example.com activated '[iam] roles/cloudsql.client on prod-payments-db' for themselves for 30 minutes" {
		t.Errorf("audit entries = %v", audited)
	}
	if n := len(h.Emulator.Logging.Entries("projects/jitaccess-app/logs/jitaccess-audit")); n != 0 {
		t.Errorf("%d entries in jitaccess-audit, want none with AUDIT_LOG unset", n)
	}
}

// TestAuditThroughTheLoggingAPI: AUDIT_LOG=cloud-logging writes the same
// entries to jitaccess-audit, and History reads them with the stdout log's.
func TestAuditThroughTheLoggingAPI(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t, apptest.Options{Config: map[string]string{"AUDIT_LOG": "cloud-logging"}})
	r := h.Do(t, "dave@example.com", http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate", map[string]any{
		"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "INC-42 db failover", "activationTimeout": 30,
	})
	if r.Status != 200 {
		t.Fatalf("self-activate = %d %s", r.Status, r.Body)
	}
	entries := h.Emulator.Logging.Entries("projects/jitaccess-app/logs/jitaccess-audit")
	if len(entries) != 1 || entries[0].GetLabels()["event"] != "api.activateRole" || entries[0].GetLabels()["project"] != "prod-payments-db" ||
		entries[0].GetResource().GetType() != "global" {
		t.Errorf("audit entries = %v", entries)
	}
}

// TestRefusalsAreAuditedAsTheOriginal: a justification that does not
// match JUSTIFICATION_PATTERN is an ERROR api.activateRole entry (the
// original's InvalidJustificationException), and a missing IAP assertion an
// ERROR iap.authenticate entry.
func TestRefusalsAreAuditedAsTheOriginal(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	r := h.Do(t, "dave@example.com", http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate", map[string]any{
		"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "no ticket", "activationTimeout": 30,
	})
	if r.Status != 403 {
		t.Fatalf("self-activate without a ticket = %d %s", r.Status, r.Body)
	}
	if r := h.Do(t, "", http.MethodGet, "/api/projects", nil); r.Status < 400 {
		t.Fatalf("no IAP = %d", r.Status)
	}
	got := map[string]string{}
	for _, e := range h.Emulator.Logging.Entries("projects/jitaccess-app/logs/stdout") {
		if ev := e.GetLabels()["event"]; ev == "api.activateRole" || ev == "iap.authenticate" {
			got[ev] = e.GetSeverity().String() + " " + e.GetLabels()["error"] + " " + e.GetLabels()["project"]
		}
	}
	want := map[string]string{"api.activateRole": "ERROR InvalidJustificationException prod-payments-db", "iap.authenticate": "ERROR  "}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

var linkPattern = regexp.MustCompile(`https?://[^\s"<>]+\?activation=[^\s"<>]+`)

// TestMultiPartyApprovalEndToEnd: request, email, open the link as the
// peer, approve, binding written with the approver, requester notified.
func TestMultiPartyApprovalEndToEnd(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	spec := loadOpenAPI(t)
	const path = "/api/projects/prod-payments-api/roles/request"
	r := h.Do(t, "erin@example.com", http.MethodPost, path, map[string]any{
		"entitlementId": "prod-payments-api:roles/run.developer", "justification": "CHG-7 hotfix deploy",
		"peers": []string{"dave@example.com"}, "activationTimeout": 45,
	})
	spec.check(t, http.MethodPost, path, r)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"status":"ACTIVATION_PENDING"`) {
		t.Fatalf("request = %d %s", r.Status, r.Body)
	}
	ctx := t.Context() // wait for the event; go test -timeout ends a hang
	mail, err := h.Outbox.WaitFor(ctx, func(m outbox.Message) bool { return slices.Contains(m.To, "dave@example.com") })
	if err != nil {
		t.Fatal(err)
	}
	if mail.Subject != "erin@example.com requests access to project prod-payments-api" {
		t.Errorf("subject = %q", mail.Subject)
	}
	link := linkPattern.FindString(mail.Text)
	if !strings.HasPrefix(link, h.URL+"/?activation=") {
		t.Fatalf("no approval link to %s in:\n%s", h.URL, mail.Text)
	}
	u, _ := url.Parse(link)
	token := u.Query().Get("activation")
	apiPath := "/api/activation-request?activation=" + url.QueryEscape(token)

	r = h.Do(t, "dave@example.com", http.MethodGet, apiPath, nil)
	spec.check(t, http.MethodGet, apiPath, r)
	if body := r.JSON(t); r.Status != 200 || body["isReviewer"] != true || body["isBeneficiary"] != false {
		t.Fatalf("introspect as reviewer = %d %s", r.Status, r.Body)
	}
	if r := h.Do(t, "grace@example.com", http.MethodGet, apiPath, nil); r.Status != 403 {
		t.Errorf("introspect as a stranger = %d %s", r.Status, r.Body)
	}
	if r := h.Do(t, "erin@example.com", http.MethodPost, apiPath, nil); r.Status != 403 {
		t.Errorf("self-approval = %d %s", r.Status, r.Body)
	}
	if r := h.Do(t, "alice@example.com", http.MethodPost, apiPath, nil); r.Status != 403 {
		t.Errorf("approval by a non-reviewer = %d %s", r.Status, r.Body)
	}
	if n := h.Emulator.World.PolicyWrites("projects/prod-payments-api"); n != 0 {
		t.Fatalf("%d writes before approval", n)
	}

	r = h.Do(t, "dave@example.com", http.MethodPost, apiPath, nil)
	spec.check(t, http.MethodPost, apiPath, r)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"status":"ACTIVE"`) {
		t.Fatalf("approve = %d %s", r.Status, r.Body)
	}
	p, _ := h.Emulator.World.Policy("projects/prod-payments-api")
	var approved []emulator.Binding
	for _, b := range p.Bindings {
		if b.Condition != nil && b.Condition.Title == condition.ActivationTitle {
			approved = append(approved, b)
		}
	}
	// The original's description, and the request id that makes the
	// binding recognisable as this request's decision.
	requestID := r.JSON(t)["id"].(string)
	if len(approved) != 1 || approved[0].Members[0] != "user:erin@example.com" ||
		approved[0].Condition.Description != "Approved by dave@example.com, justification: CHG-7 hotfix deploy (request "+requestID+")" {
		t.Errorf("bindings after approval = %+v", approved)
	}
	approvedMail, err := h.Outbox.WaitFor(ctx, func(m outbox.Message) bool {
		return strings.HasPrefix(m.Subject, "Re: ") && slices.Contains(m.To, "erin@example.com")
	})
	if err != nil {
		t.Errorf("no approval email to erin: %v", err)
	} else if !strings.Contains(approvedMail.Text, "("+h.URL+"/)") || !strings.Contains(approvedMail.HTML, `href="`+h.URL+`/"`) {
		// The original's footer links back to the app (BASE_URL).
		t.Errorf("approval email lacks the link to %s/:\n%s", h.URL, approvedMail.Text)
	}
	// The link now shows the request as approved, not as waiting (#425).
	r = h.Do(t, "erin@example.com", http.MethodGet, apiPath, nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"status":"ACTIVE"`) {
		t.Errorf("request after approval = %d %s", r.Status, r.Body)
	}
}

func TestConcurrentApprovalsByTwoReviewersWriteOneBinding(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	r := h.Do(t, "alice@example.com", http.MethodPost, "/api/projects/shared-networking/roles/request", map[string]any{
		"entitlementId": "shared-networking:roles/compute.networkAdmin", "justification": "CHG-9 firewall",
		"peers": []string{"bob@example.com", "carol@example.com"}, "activationTimeout": 30,
	})
	if r.Status != 200 {
		t.Fatalf("request = %d %s", r.Status, r.Body)
	}
	mail := h.Outbox.Messages()[0]
	u, _ := url.Parse(linkPattern.FindString(mail.Text))
	apiPath := "/api/activation-request?activation=" + url.QueryEscape(u.Query().Get("activation"))
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i, reviewer := range []string{"bob@example.com", "carol@example.com"} {
		wg.Go(func() { statuses[i] = h.Do(t, reviewer, http.MethodPost, apiPath, nil).Status })
	}
	wg.Wait()
	// One approval wins; the other reviewer is told it was already
	// approved, and writes nothing.
	slices.Sort(statuses)
	if statuses[0] != 200 || statuses[1] != 409 {
		t.Errorf("approvals = %v, want one 200 and one 409", statuses)
	}
	p, _ := h.Emulator.World.Policy("projects/shared-networking")
	n := 0
	for _, b := range p.Bindings {
		if b.Condition != nil && b.Condition.Title == condition.ActivationTitle && b.Members[0] == "user:alice@example.com" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d activation bindings for alice, want exactly 1", n)
	}
}

func TestRefusalsWriteNothing(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	for _, tc := range []struct {
		name, user, method, path string
		body                     any
		status                   int
		message                  string
	}{
		{"reviewer_injection", "erin@example.com", "POST", "/api/projects/prod-payments-api/roles/request", map[string]any{
			"entitlementId": "prod-payments-api:roles/run.developer", "justification": "CHG-1", "peers": []string{"mallory@evil.example"}, "activationTimeout": 30,
		}, 403, "The selected reviewers are not allowed to approve prod-payments-api:roles/run.developer: mallory@evil.example"},
		{"not_eligible", "grace@example.com", "POST", "/api/projects/prod-payments-db/roles/self-activate", map[string]any{
			"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "INC-1", "activationTimeout": 30,
		}, 403, "The user grace@example.com is not allowed to activate prod-payments-db:roles/cloudsql.client using JIT"},
		{"mpa_role_self_activated", "erin@example.com", "POST", "/api/projects/prod-payments-api/roles/self-activate", map[string]any{
			"entitlementIds": []string{"prod-payments-api:roles/run.developer"}, "justification": "INC-1", "activationTimeout": 30,
		}, 403, "The user erin@example.com is not allowed to activate prod-payments-api:roles/run.developer using JIT"},
		{"pattern", "dave@example.com", "POST", "/api/projects/prod-payments-db/roles/self-activate", map[string]any{
			"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "because", "activationTimeout": 30,
		}, 403, "Justification does not meet criteria: Ticket number, e.g. INC-1234 or CHG-1234"},
		{"missing_xsrf", "", "GET", "/api/policy", nil, 400, "Missing header: X-JITACCESS"},
		{"missing_iap", "", "GET", "/api/policy", nil, 403, "Identity-Aware Proxy must be enabled for this application"},
		{"tampered_token", "dave@example.com", "GET", "/api/activation-request?activation=JhbGciOiJSUzI1NiJ9~~Jmb28iOiJiYXIifQ~AAAA", nil, 403, "Accessing the activation request failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.Emulator.World.TotalPolicyWrites()
			var r apptest.Response
			if tc.name == "missing_xsrf" {
				r = h.DoRaw(t, tc.method, tc.path, http.Header{"X-Goog-Iap-Jwt-Assertion": {h.Assertion(t, "dave@example.com")}}, nil)
			} else {
				r = h.Do(t, tc.user, tc.method, tc.path, tc.body)
			}
			if r.Status != tc.status || r.Message(t) != tc.message {
				t.Errorf("got %d %q, want %d %q", r.Status, r.Message(t), tc.status, tc.message)
			}
			if after := h.Emulator.World.TotalPolicyWrites(); after != before {
				t.Errorf("%d IAM writes", after-before)
			}
		})
	}
	if n := len(h.Outbox.Messages()); n != 0 {
		t.Errorf("%d emails sent by refused requests", n)
	}
}

// TestExpiredRequestCannotBeApproved moves the clock past the approve-by
// deadline.
func TestExpiredRequestCannotBeApproved(t *testing.T) {
	t.Parallel()
	clock := emutest.NewClock(time.Now())
	h := apptest.Start(t, apptest.Options{Clock: clock.Now})
	r := h.Do(t, "erin@example.com", http.MethodPost, "/api/projects/prod-payments-api/roles/request", map[string]any{
		"entitlementId": "prod-payments-api:roles/run.developer", "justification": "CHG-1", "peers": []string{"dave@example.com"}, "activationTimeout": 30,
	})
	if r.Status != 200 {
		t.Fatalf("request = %d %s", r.Status, r.Body)
	}
	u, _ := url.Parse(linkPattern.FindString(h.Outbox.Messages()[0].Text))
	clock.Advance(61 * time.Minute)
	// A fresh assertion at the new time; the token's deadline has passed.
	r = h.Do(t, "dave@example.com", http.MethodPost, "/api/activation-request?activation="+url.QueryEscape(u.Query().Get("activation")), nil)
	if r.Status != 403 || h.Emulator.World.TotalPolicyWrites() != 0 {
		t.Errorf("approval after the deadline = %d %s", r.Status, r.Body)
	}
}

// TestSMTPPasswordFromSecretManager: SMTP_SECRET wins over SMTP_PASSWORD
// and is read through the Secret Manager client when the first email goes
// out; a missing secret fails the request (nobody would be notified) and
// is asked for again next time.
func TestSMTPPasswordFromSecretManager(t *testing.T) {
	t.Parallel()
	const secret = "projects/jitaccess-app/secrets/smtp-password"
	h := apptest.Start(t, apptest.Options{Config: map[string]string{
		"SMTP_PASSWORD": "wrong-and-ignored", "SMTP_SECRET": secret + "/versions/latest",
	}})
	request := func() apptest.Response {
		return h.Do(t, "erin@example.com", http.MethodPost, "/api/projects/prod-payments-api/roles/request", map[string]any{
			"entitlementId": "prod-payments-api:roles/run.developer", "justification": "CHG-3", "peers": []string{"dave@example.com"}, "activationTimeout": 30,
		})
	}
	if r := request(); r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Message(t), "Secret Manager") {
		t.Errorf("without the secret = %d %s", r.Status, r.Body)
	}
	h.Emulator.World.AddSecret(secret, []byte(emulated.SMTPPassword+"\n"))
	if r := request(); r.Status != http.StatusOK {
		t.Fatalf("with the secret = %d %s", r.Status, r.Body)
	}
	if n := len(h.Outbox.Messages()); n != 1 {
		t.Errorf("%d emails, want 1", n)
	}
}
