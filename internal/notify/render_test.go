package notify

import (
	"flag"
	htmltemplate "html/template"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

var update = flag.Bool("update", false, "rewrite testdata/emails from the renderer")

// goldenNotifications are one email of each kind with every optional part
// present, one with every optional part absent, and one whose values are
// hostile (markup, quotes, entities), so that the goldens pin the wording,
// the layout and the escaping.
func goldenNotifications() map[string]Notification {
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	full := Notification{
		Beneficiary: "alice@example.com", Approver: "bob@example.com",
		Reviewers: []jit.UserID{"bob@example.com", "carol@example.com"},
		Project:   "project-1", Roles: []string{"roles/compute.viewer", "roles/browser"},
		ResourceCondition: `resource.name.startsWith("projects/_/buckets/b")`,
		Start:             start, End: start.Add(time.Hour), RequestExpiry: start.Add(30 * time.Minute),
		Justification: "ticket 42", BaseURL: "https://jit.example.com/",
		ActionURL: "https://jit.example.com/?activation=eyJhbGciOi.J9-_x",
		Reason:    "not now", Approvals: []jit.UserID{"bob@example.com"}, Required: 2, Dedicated: true,
		Comment: "checked with the on-call lead",
	}
	bare := Notification{
		Beneficiary: "alice@example.com", Approver: "bob@example.com",
		Project: "project-1", Roles: []string{"roles/compute.viewer"},
		Start: start, End: start.Add(time.Hour), Justification: "ticket 42", Required: 1,
	}
	hostile := full
	hostile.Justification = `<script>alert("x")</script> & 'quotes' + more`
	hostile.Reason = `</p><img src=x onerror=alert(1)>`
	hostile.Comment = `<a href="https://evil.example">ok</a> & 'fine'`
	hostile.ResourceCondition = `a < b && c > "d"`
	hostile.Roles = []string{"roles/<b>"}
	out := map[string]Notification{}
	for _, k := range []Kind{RequestActivation, ActivationApproved, ActivationRejected, ActivationApprovalAdded, ActivationWithdrawn} {
		for name, n := range map[string]Notification{"full": full, "bare": bare, "hostile": hostile} {
			n.Kind = k
			out[string(k)+"-"+name] = n
		}
	}
	return out
}

// TestEmailsMatchTheirGoldens renders every kind of email and compares it
// byte for byte with testdata/emails (go test -run Goldens -update
// rewrites them after a deliberate change).
func TestEmailsMatchTheirGoldens(t *testing.T) {
	m, err := NewMailer(MailOptions{Host: "smtp.example.com", Port: 587, SenderAddress: "jit@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range goldenNotifications() {
		text, html, err := m.render(n)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for ext, got := range map[string]string{".txt": text, ".html": html} {
			path := filepath.Join("testdata", "emails", name+ext)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				i := 0
				for i < len(got) && i < len(want) && got[i] == want[i] {
					i++
				}
				t.Errorf("%s differs from its golden at byte %d:\n--- got\n%q\n--- want\n%q", path, i, got[max(0, i-80):min(len(got), i+80)], want[max(0, i-80):min(len(want), i+80)])
			}
		}
	}
}

// FuzzEscapingMatchesHTMLTemplate holds esc and href to what html/template
// writes for the same value in element text and in an href attribute: the
// renderer replaced it, and must escape at least as well.
func FuzzEscapingMatchesHTMLTemplate(f *testing.F) {
	for _, s := range []string{
		"", "plain", `<script>alert("x")</script>`, "a & b + 'c'", "\x00", "héllo wörld", "\xff\xfe",
		"javascript:alert(1)", "JavaScript:x", "data:text/html,x", "mailto:a@b", "https://jit.example.com/?a=1&b=%41 c\"d",
		"/relative/path?x=<y>", "//host/x", "http:x", "a:b/c", "%zz", "(paren)'quote'",
	} {
		f.Add(s)
	}
	tmpl := htmltemplate.Must(htmltemplate.New("").Parse(`<p>{{.}}</p><a href="{{.}}">`))
	f.Fuzz(func(t *testing.T, s string) {
		var want strings.Builder
		if err := tmpl.Execute(&want, s); err != nil {
			t.Skip("html/template refuses the value") // nothing to compare with
		}
		if got := "<p>" + esc(s) + `</p><a href="` + href(s) + `">`; got != want.String() {
			t.Errorf("value %q:\n got %q\nwant %q", s, got, want.String())
		}
	})
}

// TestScheduledAndFolderRequestsAreWordedAsTheyAre: the approval of a
// request scheduled hours ahead does not say the access is active now,
// nor does the request say access starts at approval; a folder or
// organization request is not called a project, in the emails, and in
// the rejection and progress notifications built from events.
func TestScheduledAndFolderRequestsAreWordedAsTheyAre(t *testing.T) {
	t.Parallel()
	m, err := NewMailer(MailOptions{Host: "smtp.example.com", Port: 587, SenderAddress: "jit@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	asked := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	startAt := asked.Add(6 * time.Hour)
	req := jit.ActivationRequest{ID: "mpa-1", Beneficiary: "alice@example.com", Reviewers: []jit.UserID{"bob@example.com"},
		Entitlement: jit.Entitlement{Project: "project-1", Role: "roles/browser"}, Justification: "CHG-1", Duration: time.Hour,
		RequestedAt: asked, ApproveBy: asked.Add(8 * time.Hour), StartAt: startAt}
	planned := jit.Activation{ID: "mpa-1", Beneficiary: "alice@example.com", Entitlement: req.Entitlement, Start: startAt, End: startAt.Add(time.Hour)}
	approver := jit.Principal{Email: "bob@example.com"}
	render := func(e jit.Event) string {
		t.Helper()
		n, ok := FromEvent(e)
		if !ok {
			t.Fatalf("no notification for %v", e.Kind)
		}
		text, html, err := m.render(n)
		if err != nil {
			t.Fatal(err)
		}
		return text + html
	}
	approved := render(jit.Event{Kind: jit.EventApproved, Actor: approver, Request: &req, Activations: []jit.Activation{planned}})
	if strings.Contains(approved, "active now") || !strings.Contains(approved, "The access starts on Wed, 04 Mar 2026 15:00:00 UTC") {
		t.Errorf("the approval of a scheduled request:\n%s", approved)
	}
	requested := render(jit.Event{Kind: jit.EventRequested, Actor: jit.Principal{Email: "alice@example.com"}, Request: &req, Activations: []jit.Activation{planned}})
	if strings.Contains(requested, "access starts when you approve") || !strings.Contains(requested, "access starts on Wed, 04 Mar 2026 15:00:00 UTC") {
		t.Errorf("a scheduled request:\n%s", requested)
	}
	now := req
	now.StartAt = time.Time{}
	started := planned
	started.Start, started.End = asked.Add(time.Hour), asked.Add(2*time.Hour)
	if got := render(jit.Event{Kind: jit.EventApproved, Actor: approver, Request: &now, Activations: []jit.Activation{started}}); !strings.Contains(got, "The access is active now") {
		t.Errorf("the approval of a request for now:\n%s", got)
	}

	for node, noun := range map[string]string{"folders/1001": "folder", "organizations/123": "organization"} {
		r := req
		r.StartAt = time.Time{}
		r.Entitlement = jit.Entitlement{Node: node, Role: "roles/browser"}
		a := started
		a.Entitlement = r.Entitlement
		for _, e := range []jit.Event{
			{Kind: jit.EventRequested, Actor: jit.Principal{Email: "alice@example.com"}, Request: &r, Activations: []jit.Activation{a}},
			{Kind: jit.EventApproved, Actor: approver, Request: &r, Activations: []jit.Activation{a}},
			{Kind: jit.EventRejected, Actor: approver, Request: &r, Reason: "no"},
			{Kind: jit.EventApprovalRecorded, Actor: approver, Request: &r, Required: 2, Approvals: []jit.Approval{{By: "bob@example.com"}}},
		} {
			if e.Kind == jit.EventApprovalRecorded {
				r2 := r
				r2.Reviewers = []jit.UserID{"bob@example.com", "carol@example.com"}
				e.Request = &r2
			}
			got := render(e)
			if strings.Contains(got, "project "+node) || strings.Contains(got, "project <b>"+node) || !strings.Contains(got, "Google Cloud "+noun) ||
				!strings.Contains(got, strings.ToUpper(noun[:1])+noun[1:]+":") {
				t.Errorf("%v on %s:\n%s", e.Kind, node, got)
			}
		}
	}
}
