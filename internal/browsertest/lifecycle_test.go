package browsertest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
)

const daveRow = `#myaccess-table tr[data-testid="grant-row"][data-role="roles/cloudsql.client"][data-resource="projects/prod-payments-db"]`

func (e *env) selfActivateInBrowser(t *testing.T, user string) {
	t.Helper()
	e.signIn(t, user, "/", "")
	e.pickProjectAndRole(t, "prod-payments-db", "prod-payments-db:roles/cloudsql.client")
	e.run(t,
		chromedp.SendKeys(chromedp.ID("justification"), "INC-7 failover drill"),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("result-title")),
	)
}

// TestMyAccessExtendAndEndInTheBrowser: the activation shows up under My
// access at once, is extended, and ended after a dialog that says what
// ending does and does not.
func TestMyAccessExtendAndEndInTheBrowser(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.selfActivateInBrowser(t, "dave@example.com")
	e.run(t,
		chromedp.Click(chromedp.ID("nav-my-access")),
		chromedp.WaitVisible(chromedp.CSS(daveRow)),
	)
	if e.text(t, "#activation-view") != "" {
		// Hidden views have no rendered text.
		t.Error("the activation screen is still shown")
	}
	row := e.text(t, daveRow)
	for _, want := range []string{"Active", "left", "Self-approved", "INC-7 failover drill", "You"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
	e.screenshot(t, "my-access")
	e.run(t,
		chromedp.SetValue(chromedp.CSS(daveRow+" select.extend-minutes"), "120"),
		chromedp.Click(chromedp.CSS(daveRow+" button.extend-button")),
		chromedp.WaitVisible(chromedp.ID("myaccess-notice")),
	)
	if n := e.text(t, "#myaccess-notice"); !strings.HasPrefix(n, "Extended roles/cloudsql.client") {
		t.Errorf("notice = %q", n)
	}
	e.waitFor(t, `[...document.querySelectorAll('`+daveRow+`')].some((r) => r.textContent.includes('2 h left') || r.textContent.includes('1 h 59 min left'))`)
	if n := len(emutest.Activations(t, e.demo.Emulator.World, "projects/prod-payments-db")); n != 1 {
		t.Errorf("%d bindings after extending, want 1", n)
	}
	e.run(t,
		chromedp.Click(chromedp.CSS(daveRow+" button.end-button")),
		chromedp.WaitVisible(chromedp.ID("end-dialog")),
	)
	dialog := e.text(t, "#end-dialog")
	for _, want := range []string{"typically within 2 minutes and at most 7", "not revoked", "roles/cloudsql.client on projects/prod-payments-db"} {
		if !strings.Contains(dialog, want) {
			t.Errorf("dialog %q lacks %q", dialog, want)
		}
	}
	e.screenshot(t, "end-dialog")
	e.run(t,
		chromedp.Click(chromedp.ID("end-confirm")),
		chromedp.WaitNotPresent(chromedp.CSS(daveRow)),
		chromedp.WaitVisible(chromedp.ID("myaccess-empty")),
	)
	if n := e.text(t, "#myaccess-notice"); !strings.Contains(n, "Ended roles/cloudsql.client") || !strings.Contains(n, "not revoked") {
		t.Errorf("notice after ending = %q", n)
	}
	if n := len(emutest.Activations(t, e.demo.Emulator.World, "projects/prod-payments-db")); n != 0 {
		t.Errorf("%d bindings after ending", n)
	}
}

// TestScheduledActivationInTheBrowser: "Start later" writes a future
// window, shown as scheduled, and cancelled before it starts.
func TestScheduledActivationInTheBrowser(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.signIn(t, "dave@example.com", "/", "")
	e.pickProjectAndRole(t, "prod-payments-db", "prod-payments-db:roles/cloudsql.client")
	tomorrow := time.Now().Add(24 * time.Hour).Format("2006-01-02T15:04")
	e.run(t,
		chromedp.SendKeys(chromedp.ID("justification"), "CHG-12 maintenance window"),
		chromedp.Click(chromedp.CSS("#schedule summary")),
		chromedp.WaitVisible(chromedp.ID("start-time")),
		chromedp.SetValue(chromedp.ID("start-time"), tomorrow),
	)
	e.screenshot(t, "schedule")
	e.run(t,
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.Search(`//h2[@id="result-title" and text()="Access scheduled"]`)),
		chromedp.Navigate(e.demo.URL+"/#my-access"),
		chromedp.WaitVisible(chromedp.CSS(daveRow+`[data-status="SCHEDULED"]`)),
	)
	if row := e.text(t, daveRow); !strings.Contains(row, "Scheduled: starts in") {
		t.Errorf("row = %q", row)
	}
	e.run(t,
		chromedp.Click(chromedp.CSS(daveRow+" button.end-button")),
		chromedp.WaitVisible(chromedp.ID("end-dialog")),
		chromedp.Click(chromedp.ID("end-confirm")),
		chromedp.WaitNotPresent(chromedp.CSS(daveRow)),
	)
	if n := len(emutest.Activations(t, e.demo.Emulator.World, "projects/prod-payments-db")); n != 0 {
		t.Errorf("%d bindings after cancelling", n)
	}
}

// TestAdministratorRevokesAndAuditorReadsHistoryInTheBrowser: frank (in
// the administrator and auditor group) ends dave's activation and finds
// both in the history.
func TestAdministratorRevokesAndAuditorReadsHistoryInTheBrowser(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.selfActivateInBrowser(t, "dave@example.com")
	e.signIn(t, "frank@example.com", "/#my-access", "")
	e.run(t,
		chromedp.WaitVisible(chromedp.ID("myaccess-admin")),
		chromedp.SendKeys(chromedp.ID("myaccess-user"), "dave@example.com"),
		chromedp.Click(chromedp.ID("myaccess-show")),
		chromedp.WaitVisible(chromedp.CSS(daveRow+`[data-beneficiary="dave@example.com"]`)),
	)
	if n, err := chromedp.Run(e.ctx, chromedp.Evaluate[int](`document.querySelectorAll('`+daveRow+` button.extend-button').length`)); err != nil || n != 0 {
		t.Errorf("an administrator is offered to extend someone else's activation (%d, %v)", n, err)
	}
	e.run(t,
		chromedp.Click(chromedp.CSS(daveRow+" button.end-button")),
		chromedp.WaitVisible(chromedp.ID("end-dialog")),
		chromedp.Click(chromedp.ID("end-confirm")),
		chromedp.WaitNotPresent(chromedp.CSS(daveRow)),
		chromedp.Click(chromedp.ID("nav-history")),
		chromedp.WaitVisible(chromedp.CSS(`#history-table tr[data-event="api.revokeActivation"]`)),
	)
	e.run(t,
		chromedp.SendKeys(chromedp.ID("history-user"), "dave@example.com"),
		chromedp.Click(chromedp.ID("history-apply")),
		chromedp.WaitVisible(chromedp.CSS(`#history-table tr[data-event="api.activateRole"]`)),
	)
	// dave's entries: what he did, and what was done for him (frank's
	// revocation), nothing else of frank's.
	rows, err := chromedp.Run(e.ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#history-table tr[data-testid="history-row"]')].map((r) => r.cells[2].textContent + ' ' + r.dataset.event)`))
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		if !strings.HasPrefix(row, "dave@example.com ") && row != "frank@example.com api.revokeActivation" {
			t.Errorf("dave's history shows %q", row)
		}
	}
	if !slices.Contains(rows, "frank@example.com api.revokeActivation") {
		t.Errorf("dave's history lacks frank's revocation: %v", rows)
	}
	if row := e.text(t, `#history-table tr[data-event="api.activateRole"]`); !strings.Contains(row, "INC-7 failover drill") || !strings.Contains(row, "projects/prod-payments-db") {
		t.Errorf("history row = %q", row)
	}
	e.screenshot(t, "history")
}

// TestFolderActivationInTheBrowser: the demo turns on activation on
// folders; a folder is picked like a project, and My access shows it.
func TestFolderActivationInTheBrowser(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.signIn(t, "alice@example.com", "/", "")
	e.pickProjectAndRole(t, "folders/1001", "folders/1001:roles/logging.viewer")
	e.run(t,
		chromedp.SendKeys(chromedp.ID("justification"), "INC-21 log dive"),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.Search(`//h2[@id="result-title" and text()="Access granted"]`)),
	)
	if row := e.text(t, "#result-table tbody tr"); !strings.Contains(row, "folders/1001") {
		t.Errorf("result row = %q", row)
	}
	if n := len(emutest.Activations(t, e.demo.Emulator.World, "folders/1001")); n != 1 {
		t.Errorf("%d bindings on folders/1001", n)
	}
	e.run(t,
		chromedp.Click(chromedp.ID("nav-my-access")),
		chromedp.WaitVisible(chromedp.CSS(`#myaccess-table tr[data-resource="folders/1001"][data-role="roles/logging.viewer"]`)),
	)
}
