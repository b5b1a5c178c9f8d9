package demo

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func newTestDemo(t *testing.T) *Demo {
	t.Helper()
	d, err := Run(t.Context(), Options{Addr: "127.0.0.1:0", Seed: mustSeed(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// serve sends one request through the demo's handler.
func serve(t *testing.T, d *Demo, method, target, body string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequestWithContext(t.Context(), method, target, r)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, req)
	return rec
}

// TestAccessOfReadsTheWorld: the sign-in page's summary comes from the
// policies and (nested) groups, not from a list kept beside the seed.
func TestAccessOfReadsTheWorld(t *testing.T) {
	t.Parallel()
	d := newTestDemo(t)
	got := map[string]userAccess{}
	for _, ua := range accessOf(d.Emulator.World) {
		got[ua.Email] = ua
	}
	tests := []struct {
		email      string
		self, peer []eligibleRole
	}{
		{
			email: "erin@example.com", // through payments-devs, itself in developers
			self: []eligibleRole{
				{Role: "editor", Where: "folder Non-production"},
				{Role: "cloudsql.client", Where: "prod-payments-db"},
				{Role: "cloudbuild.builds.editor", Where: "shared-ci-cd"},
			},
			peer: []eligibleRole{{Role: "run.developer", Where: "prod-payments-api", Approval: true}},
		},
		{
			email: "carol@example.com", // dba, and platform-team through dba
			peer: []eligibleRole{
				{Role: "cloudsql.admin", Where: "folder Payments", Approval: true},
				{Role: "compute.networkAdmin", Where: "shared-networking", Approval: true},
			},
		},
		{
			email: "bob@example.com",
			self: []eligibleRole{
				{Role: "logging.viewer", Where: "folder Production"},
				{Role: "compute.instanceAdmin.v1", Where: "prod-web-frontend", Limited: true},
			},
			peer: []eligibleRole{
				{Role: "compute.admin", Where: "folder Production", Approval: true},
				{Role: "compute.networkAdmin", Where: "shared-networking", Approval: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.email, func(t *testing.T) {
			t.Parallel()
			ua := got[tt.email]
			if diff := cmp.Diff(tt.self, ua.SelfApproval); diff != "" {
				t.Errorf("self-approval roles (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.peer, ua.PeerApproval); diff != "" {
				t.Errorf("peer approval roles (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSignInAndOut(t *testing.T) {
	t.Parallel()
	d := newTestDemo(t)

	rec := serve(t, d, http.MethodGet, "/?projectId=prod-payments-db", "", nil)
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "/_demo/signin?next="+url.QueryEscape("/?projectId=prod-payments-db") {
		t.Fatalf("page without a user = %d, Location %q", rec.Code, rec.Header().Get("Location"))
	}

	rec = serve(t, d, http.MethodGet, "/_demo/signin", "", nil)
	page := rec.Body.String()
	for _, want := range []string{`data-email="erin@example.com"`, "Erin Eze", "Payments developer", "run.developer", "Peer approval"} {
		if !strings.Contains(page, want) {
			t.Errorf("sign-in page lacks %q", want)
		}
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("sign-in page CSP = %q", csp)
	}

	form := url.Values{"email": {"erin@example.com"}, "next": {"/?projectId=prod-payments-api"}}
	rec = serve(t, d, http.MethodPost, "/_demo/signin", form.Encode(), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/?projectId=prod-payments-api" {
		t.Fatalf("sign-in = %d, Location %q", rec.Code, rec.Header().Get("Location"))
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode || cookies[0].Path != "/" {
		t.Fatalf("sign-in cookies = %+v", cookies)
	}
	cookie := cookies[0].Name + "=" + cookies[0].Value

	rec = serve(t, d, http.MethodGet, "/api/policy", "", http.Header{"Cookie": {cookie}, "X-Jitaccess": {"1"}})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"email":"erin@example.com"`) {
		t.Errorf("API call with the cookie = %d %s", rec.Code, rec.Body)
	}

	rec = serve(t, d, http.MethodPost, "/_demo/signin", url.Values{"email": {"mallory@evil.example"}}.Encode(), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	if rec.Code != http.StatusBadRequest || len(rec.Result().Cookies()) != 0 {
		t.Errorf("sign-in as a stranger = %d, cookies %v", rec.Code, rec.Result().Cookies())
	}

	rec = serve(t, d, http.MethodPost, "/_demo/signin", form.Encode(), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Sec-Fetch-Site": {"cross-site"}})
	if rec.Code != http.StatusForbidden || len(rec.Result().Cookies()) != 0 {
		t.Errorf("sign-in posted from another site = %d, cookies %v", rec.Code, rec.Result().Cookies())
	}

	rec = serve(t, d, http.MethodGet, "/_demo/signout", "", http.Header{"Cookie": {cookie}})
	if c := rec.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Errorf("sign-out cookies = %+v", c)
	}
}

// TestIAMViewerShowsActivations: a grant made through the simulator
// appears on the IAM viewer with its window and remaining time.
func TestIAMViewerShowsActivations(t *testing.T) {
	t.Parallel()
	d := newTestDemo(t)
	activations := func() string {
		page := serve(t, d, http.MethodGet, "/_demo/iam", "", nil).Body.String()
		_, s, _ := strings.Cut(page, `id="activations"`)
		s, _, _ = strings.Cut(s, "</section>")
		return s
	}
	// Only the seed's activation from 2025, listed as expired.
	before := activations()
	if n := strings.Count(before, `data-testid="activation-binding"`); n != 1 || !strings.Contains(before, `class="demo-expired"`) || !strings.Contains(before, "days ago") {
		t.Fatalf("activations before any activation (%d):\n%s", n, before)
	}
	body := `{"entitlementIds":["prod-payments-db:roles/cloudsql.client"],"justification":"INC-42 viewer test","activationTimeout":30}`
	rec := serve(t, d, http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate", body,
		http.Header{HeaderUser: {"dave@example.com"}, "X-Jitaccess": {"1"}, "Content-Type": {"application/json"}})
	if rec.Code != http.StatusOK {
		t.Fatalf("self-activation = %d %s", rec.Code, rec.Body)
	}
	after := activations()
	for _, want := range []string{`class="demo-active"`, "projects/prod-payments-db", "roles/cloudsql.client", "user:dave@example.com", " left", "Self-approved, justification: INC-42 viewer test"} {
		if !strings.Contains(after, want) {
			t.Errorf("activations on the IAM viewer lack %q:\n%s", want, after)
		}
	}
}

func TestInfo(t *testing.T) {
	t.Parallel()
	d := newTestDemo(t)
	rec := serve(t, d, http.MethodGet, "/_demo/info", "", nil)
	var info struct {
		URL      string            `json:"url"`
		Users    []map[string]any  `json:"users"`
		Emulator map[string]string `json:"emulator"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &info); err != nil {
		t.Fatal(err)
	}
	if info.URL != d.URL || len(info.Users) != len(d.Emulator.World.Users()) || info.Emulator["resourceManager"] == "" || info.Emulator["asset"] == "" {
		t.Errorf("info = %+v", info)
	}
}
