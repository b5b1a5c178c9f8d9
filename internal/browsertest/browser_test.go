package browsertest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/demo"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/outbox"
)

// chromium finds Debian's Chromium. A missing browser fails the tests
// (they are part of `make test`, which installs it) rather than skipping.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "Chromium is needed for the browser tests and was not found: install Debian's package with `sudo apt-get install -y chromium` (`make test` does this when run as root)"
	if os.Getenv("CI") == "true" {
		msg += "; in CI, .ci/run installs it"
	}
	t.Fatal(msg)
	return ""
}

type env struct {
	demo *demo.Demo
	ctx  context.Context
	root string
}

func start(t *testing.T) *env {
	t.Helper()
	exe := chromium(t)
	root := emutest.ModuleRoot(t)
	f, err := os.Open(filepath.Join(root, "testdata", "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := demo.Run(t.Context(), demo.Options{Addr: "127.0.0.1:0", Seed: mustSeed(t, f),
		// The emulator's first signJwt makes a key, and an email's
		// STARTTLS runs under the race detector: on a loaded machine
		// either can outlast the production deadlines.
		Config: apptest.PatientTimeouts()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	bound := hangBound(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// Chromium prints its DevTools address once it is up, which on a
		// loaded machine can take longer than chromedp's 20 s default.
		chromedp.WSURLReadTimeout(time.Until(bound)),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithDeadline(ctx, bound)
	t.Cleanup(cancel3)
	// Tall enough that each main screen, buttons included, fits a screenshot.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 1000)); err != nil {
		t.Fatalf("start Chromium (%s): %v", exe, err)
	}
	return &env{demo: d, ctx: ctx, root: root}
}

// run runs steps, failing the test with the page's error banner if any.
func (e *env) run(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(e.ctx, steps...); err != nil {
		banner, _ := chromedp.Run(e.ctx, chromedp.Evaluate[string](`(document.getElementById('error') || {}).textContent || ''`))
		t.Fatalf("browser: %v (error banner: %q)", err, banner)
	}
}

// tabTo presses Tab until the JavaScript condition holds, failing after
// more presses than the page has controls.
func (e *env) tabTo(t *testing.T, cond string) {
	t.Helper()
	for range 40 {
		ok, err := chromedp.Run(e.ctx, chromedp.Evaluate[bool](cond))
		if err != nil {
			t.Fatalf("browser: %v", err)
		}
		if ok {
			return
		}
		e.run(t, chromedp.KeyEvent(kb.Tab))
	}
	t.Fatalf("Tab never reached an element where %s", cond)
}

// waitFor waits until the JavaScript condition holds.
func (e *env) waitFor(t *testing.T, cond string) {
	t.Helper()
	// No polling timeout of its own (chromedp's default is 30 s): the
	// condition holds when the page gets there, however loaded the machine.
	if _, err := chromedp.Run(e.ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(0))); err != nil {
		t.Fatalf("browser: waiting for %s: %v", cond, err)
	}
}

// text returns the text of the element matched by a CSS selector.
func (e *env) text(t *testing.T, sel string) string {
	t.Helper()
	s, err := chromedp.Run(e.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("browser: text of %s: %v", sel, err)
	}
	return s
}

// screenshot saves the page to docs/images when UPDATE_SCREENSHOTS=1, so
// that normal runs never rewrite tracked files.
func (e *env) screenshot(t *testing.T, name string) {
	t.Helper()
	if os.Getenv("UPDATE_SCREENSHOTS") != "1" {
		return
	}
	e.run(t, chromedp.Sleep(300*time.Millisecond))
	png, err := chromedp.Run(e.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.root, "docs", "images", name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// signIn picks a user on the simulator's sign-in page; shot names the
// screenshot of that page, "" for none.
func (e *env) signIn(t *testing.T, email, next, shot string) {
	t.Helper()
	e.run(t,
		chromedp.Navigate(e.demo.URL+"/_demo/signin?next="+url.QueryEscape(next)),
		chromedp.WaitVisible(chromedp.CSS(`button[data-email="`+email+`"]`)),
	)
	if shot != "" {
		e.screenshot(t, shot)
	}
	e.run(t, chromedp.Click(chromedp.CSS(`button[data-email="`+email+`"]`)))
}

func (e *env) pickProjectAndRole(t *testing.T, project, roleID string) {
	t.Helper()
	e.run(t,
		chromedp.WaitVisible(chromedp.ID("project-input")),
		chromedp.SendKeys(chromedp.ID("project-input"), project),
		chromedp.WaitVisible(chromedp.CSS(`#project-list li[data-project="`+project+`"]`)),
		chromedp.Click(chromedp.CSS(`#project-list li[data-project="`+project+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input.role-check[data-id="`+roleID+`"]`)),
		chromedp.Click(chromedp.CSS(`input.role-check[data-id="`+roleID+`"]`)),
		chromedp.WaitVisible(chromedp.ID("justification")),
	)
}

func TestSelfActivationInTheBrowser(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.signIn(t, "dave@example.com", "/", "signin")
	e.pickProjectAndRole(t, "prod-payments-db", "prod-payments-db:roles/cloudsql.client")
	e.run(t, chromedp.SendKeys(chromedp.ID("justification"), "INC-7 failover drill"))
	e.screenshot(t, "activate")
	e.run(t,
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("result-title")),
	)
	if title := e.text(t, "#result-title"); title != "Access granted" {
		t.Fatalf("result title = %q", title)
	}
	e.screenshot(t, "granted")
	p, _ := e.demo.Emulator.World.Policy("projects/prod-payments-db")
	if !slices.ContainsFunc(p.Bindings, func(b emulatorBinding) bool {
		return b.Condition != nil && b.Condition.Title == condition.ActivationTitle && b.Members[0] == "user:dave@example.com"
	}) {
		t.Error("no activation binding for dave")
	}
	e.run(t,
		chromedp.Navigate(e.demo.URL+"/_demo/iam"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="activation-binding"]`)),
	)
	rows, err := chromedp.Run(e.ctx, chromedp.Evaluate[int](`document.querySelectorAll('#activations tr.demo-active').length`))
	if err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("%d active bindings on the IAM viewer, want 1", rows)
	}
	e.screenshot(t, "iam-viewer")
}

var linkPattern = regexp.MustCompile(`https?://[^\s"<>]+\?activation=[^\s"<>]+`)

func TestMultiPartyApprovalInTheBrowser(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.signIn(t, "erin@example.com", "/", "")
	e.pickProjectAndRole(t, "prod-payments-api", "prod-payments-api:roles/run.developer")
	e.run(t,
		chromedp.WaitVisible(chromedp.CSS(`input.peer-check[value="dave@example.com"]`)),
		chromedp.Click(chromedp.CSS(`input.peer-check[value="dave@example.com"]`)),
		chromedp.SendKeys(chromedp.ID("justification"), "CHG-7 hotfix deploy"),
	)
	e.screenshot(t, "request")
	e.run(t,
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("result-title")),
	)
	if title := e.text(t, "#result-title"); title != "Request submitted" {
		t.Fatalf("result title = %q", title)
	}
	mail, err := e.demo.Outbox.WaitFor(e.ctx, func(m outbox.Message) bool { return slices.Contains(m.To, "dave@example.com") })
	if err != nil {
		t.Fatal(err)
	}
	// The outbox page lists the email, as a person would find it, and
	// shows it as the reviewer's mail client would.
	e.run(t,
		chromedp.Navigate(e.demo.URL+"/_demo/outbox"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="outbox-row"] a`)),
		chromedp.Click(chromedp.CSS(`[data-testid="outbox-row"] a`)),
		chromedp.WaitVisible(chromedp.ID("message-text")),
	)
	e.screenshot(t, "outbox")
	// Scripts read the same messages from the outbox's JSON API.
	var messages []outbox.Message
	getJSON(t, e.demo.URL+"/_demo/outbox/messages", &messages)
	if len(messages) != 1 || messages[0].ID != mail.ID || messages[0].Text != mail.Text {
		t.Fatalf("outbox API lists %d messages, want the one sent to dave", len(messages))
	}
	link := linkPattern.FindString(messages[0].Text)
	u, err := url.Parse(link)
	if err != nil || link == "" {
		t.Fatalf("no approval link in %q", mail.Text)
	}
	e.signIn(t, "dave@example.com", u.RequestURI(), "")
	e.run(t, chromedp.WaitVisible(chromedp.ID("approve")))
	if title := e.text(t, "#result-title"); title != "Review access request" {
		t.Fatalf("approval view title = %q", title)
	}
	e.screenshot(t, "approve")
	e.run(t,
		chromedp.Click(chromedp.ID("approve")),
		chromedp.WaitVisible(chromedp.Search(`//h2[@id="result-title" and text()="Access approved"]`)),
	)
	p, _ := e.demo.Emulator.World.Policy("projects/prod-payments-api")
	if !slices.ContainsFunc(p.Bindings, func(b emulatorBinding) bool {
		return b.Condition != nil && b.Members[0] == "user:erin@example.com" &&
			strings.HasPrefix(b.Condition.Description, "Approved by dave@example.com, justification: CHG-7 hotfix deploy (request mpa-")
	}) {
		t.Errorf("no approved binding for erin in %+v", p.Bindings)
	}
}

func TestBadJustificationShowsTheAPIMessage(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.signIn(t, "dave@example.com", "/?projectId=prod-payments-db", "")
	e.run(t,
		chromedp.WaitVisible(chromedp.CSS(`input.role-check[data-id="prod-payments-db:roles/cloudsql.client"]`)),
		chromedp.Click(chromedp.CSS(`input.role-check[data-id="prod-payments-db:roles/cloudsql.client"]`)),
		chromedp.SendKeys(chromedp.ID("justification"), "because I said so"),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("error")),
	)
	msg := e.text(t, "#error")
	if !strings.Contains(msg, "Justification does not meet criteria") || !strings.Contains(msg, "HTTP 403") {
		t.Errorf("error banner = %q", msg)
	}
	if n := e.demo.Emulator.World.TotalPolicyWrites(); n != 0 {
		t.Errorf("%d IAM writes after a refused request", n)
	}
}

// TestDemoInfo checks the endpoint scripts use to find their way.
func TestDemoInfo(t *testing.T) {
	t.Parallel()
	e := start(t)
	var info struct {
		URL   string           `json:"url"`
		Users []map[string]any `json:"users"`
	}
	getJSON(t, e.demo.URL+"/_demo/info", &info)
	if info.URL != e.demo.URL || len(info.Users) != 8 {
		t.Errorf("info = %+v", info)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// TestKeyboardOnlySelfActivation walks the main path without a mouse:
// Tab to a user on the sign-in page, type to search the project and pick
// it with the arrow keys, Tab to the role and tick it with Space, Tab to
// the justification and submit with Enter.
func TestKeyboardOnlySelfActivation(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.run(t,
		chromedp.Navigate(e.demo.URL+"/_demo/signin?next=/"),
		chromedp.WaitVisible(chromedp.CSS(`button[data-email="dave@example.com"]`)),
	)
	e.tabTo(t, `document.activeElement.dataset.email === 'dave@example.com'`)
	e.run(t,
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.ID("project-input")),
	)
	// The page puts the focus in the project search once it knows the
	// projects; typing before that would go nowhere.
	e.waitFor(t, `document.activeElement.id === 'project-input' && document.querySelector('#project-hint').textContent !== ''`)
	e.run(t,
		chromedp.KeyEvent("payments-db"),
		chromedp.WaitVisible(chromedp.CSS(`#project-list li[data-project="prod-payments-db"]`)),
		chromedp.KeyEvent(kb.ArrowDown),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`input.role-check[data-id="prod-payments-db:roles/cloudsql.client"]`)),
	)
	e.tabTo(t, `document.activeElement.dataset.id === 'prod-payments-db:roles/cloudsql.client'`)
	e.run(t, chromedp.KeyEvent(" "), chromedp.WaitVisible(chromedp.ID("justification")))
	e.tabTo(t, `document.activeElement.id === 'justification'`)
	e.run(t,
		chromedp.KeyEvent("INC-9 keyboard only"),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.Search(`//h2[@id="result-title" and text()="Access granted"]`)),
	)
	// The result takes the focus, so a screen reader reads it out.
	focused, err := chromedp.Run(e.ctx, chromedp.Evaluate[string](`document.activeElement.id`))
	if err != nil || focused != "result-title" {
		t.Errorf("focus after the activation is on %q (%v), want the result title", focused, err)
	}
	p, _ := e.demo.Emulator.World.Policy("projects/prod-payments-db")
	if !slices.ContainsFunc(p.Bindings, func(b emulatorBinding) bool {
		return b.Condition != nil && b.Condition.Description == "Self-approved, justification: INC-9 keyboard only"
	}) {
		t.Error("no activation binding for the keyboard-only request")
	}
}

// TestPhoneWidth: on a phone's width, the main screens fit without
// scrolling sideways.
func TestPhoneWidth(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.run(t, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	fits := func(page string) {
		t.Helper()
		w, err := chromedp.Run(e.ctx, chromedp.Evaluate[[]int](`[window.innerWidth, document.documentElement.scrollWidth - window.innerWidth]`))
		if err != nil || len(w) != 2 {
			t.Fatal(err)
		}
		if w[0] != 390 {
			t.Fatalf("the page is %d px wide, not a phone's 390", w[0])
		}
		if w := w[1]; w > 0 {
			t.Errorf("%s is %d px wider than a phone's screen", page, w)
		}
	}
	e.signIn(t, "dave@example.com", "/?projectId=prod-payments-db", "")
	e.run(t,
		chromedp.WaitVisible(chromedp.CSS(`input.role-check[data-id="prod-payments-db:roles/cloudsql.client"]`)),
		chromedp.Click(chromedp.CSS(`input.role-check[data-id="prod-payments-db:roles/cloudsql.client"]`)),
		chromedp.WaitVisible(chromedp.ID("justification")),
	)
	fits("the roles and the request form")
	e.run(t, chromedp.Navigate(e.demo.URL+"/_demo/signin"), chromedp.WaitVisible(chromedp.CSS(".demo-users")))
	fits("the sign-in page")
}

// holdProjects makes the page's requests for the project list wait until
// the test calls window.releaseProjects(), as a slow network would: the
// server answers as always, the browser hands the answer to the page later.
const holdProjects = `(() => {
  let release;
  const held = new Promise((r) => { release = r; });
  window.releaseProjects = () => release();
  const fetch = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input.url, location.href);
    const response = await fetch(input, init);
    if (url.pathname === '/api/projects') await held;
    return response;
  };
})();`

// TestTypingBeforeTheProjectsArrive: a person who types in the project
// search before the page has the project list (a slow network, a loaded
// server) sees the matching projects once it arrives, not "No matching
// project" until they type again. The test found it: on a loaded machine
// chromedp typed first and waited for the project forever.
func TestTypingBeforeTheProjectsArrive(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.run(t, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: holdProjects})
		return chromedp.Void{}, err
	})
	e.signIn(t, "dave@example.com", "/", "")
	e.run(t,
		chromedp.WaitVisible(chromedp.ID("project-input")),
		chromedp.SendKeys(chromedp.ID("project-input"), "payments-db"),
	)
	if hint := e.text(t, "#project-hint"); hint != "" {
		t.Fatalf("the projects arrived before the typing (%q): the test tests nothing", hint)
	}
	e.run(t, chromedp.Evaluate[chromedp.Void](`window.releaseProjects()`))
	e.waitFor(t, `document.querySelector('#project-hint').textContent !== ''`)
	// The page shows the list as it renders the hint, in the same task.
	listed, err := chromedp.Run(e.ctx, chromedp.Evaluate[[]string](
		`document.querySelector('#project-list').hidden ? [] : [...document.querySelectorAll('#project-list li[data-project]')].map((li) => li.dataset.project)`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(listed, []string{"prod-payments-db"}) {
		t.Errorf("after typing %q before the projects arrived, the list shows %v, want prod-payments-db", "payments-db", listed)
	}
}

// TestAClosedProjectListStaysClosedWhenTheProjectsArrive: the list that a
// person closed with Escape before the projects arrived does not open over
// the page when they do (it covered the review list's links, where
// TestTwoApprovalsInTheBrowser's click then went).
func TestAClosedProjectListStaysClosedWhenTheProjectsArrive(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.run(t, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: holdProjects})
		return chromedp.Void{}, err
	})
	e.signIn(t, "dave@example.com", "/", "")
	e.run(t,
		chromedp.WaitVisible(chromedp.ID("project-input")),
		chromedp.Focus(chromedp.ID("project-input")),
		chromedp.KeyEvent(kb.Escape),
		chromedp.Evaluate[chromedp.Void](`window.releaseProjects()`),
	)
	e.waitFor(t, `document.querySelector('#project-hint').textContent !== ''`)
	if hidden, err := chromedp.Run(e.ctx, chromedp.Evaluate[bool](`document.querySelector('#project-list').hidden`)); err != nil || !hidden {
		t.Errorf("the project list closed with Escape is open again once the projects arrived (hidden = %v, %v)", hidden, err)
	}
}
