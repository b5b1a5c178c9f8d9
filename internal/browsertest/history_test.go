package browsertest

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// historyRows returns, per row of the history table, its data-kind and
// data-event, its Event, Details and Justification cells.
func (e *env) historyRows(t *testing.T) [][]string {
	t.Helper()
	rows, err := chromedp.Run(e.ctx, chromedp.Evaluate[[][]string](`[...document.querySelectorAll('#history-table tr[data-testid="history-row"]')].map((r) => [r.dataset.kind, r.dataset.event, r.cells[1].textContent, r.cells[6].textContent, r.cells[5].textContent])`))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestHistoryKindsInTheBrowser: History leaves out reads unless asked
// for, filters by kind, names every entry in words (never an event id),
// and shows why an action failed.
func TestHistoryKindsInTheBrowser(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.selfActivateInBrowser(t, "dave@example.com")
	// A refused justification, for a failure with its reason.
	e.run(t,
		chromedp.Navigate(e.demo.URL+"/?projectId=prod-payments-db"),
		chromedp.WaitVisible(chromedp.CSS(`input.role-check[data-id="prod-payments-db:roles/cloudsql.client"]`)),
		chromedp.Click(chromedp.CSS(`input.role-check[data-id="prod-payments-db:roles/cloudsql.client"]`)),
		chromedp.SendKeys(chromedp.ID("justification"), "because I said so"),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("error")),
		chromedp.Navigate(e.demo.URL+"/#history"),
		chromedp.WaitVisible(chromedp.CSS(`#history-table tr[data-event="api.activateRole"]`)),
	)
	var sawActivated, sawFailure bool
	for _, r := range e.historyRows(t) {
		kind, event, title, details, justification := r[0], r[1], r[2], r[3], r[4]
		if kind == "read" {
			t.Errorf("the default history shows a read: %v", r)
		}
		if strings.HasPrefix(title, "api.") || title == "" {
			t.Errorf("an entry named by its id: %v", r)
		}
		sawActivated = sawActivated || (event == "api.activateRole" && title == "Activated" && justification == "INC-7 failover drill")
		if title == "Activation failed" {
			// A failure says why, and shows no window: nothing was granted.
			sawFailure = strings.HasPrefix(details, "Failed: ") && !strings.Contains(details, "–")
		}
	}
	if !sawActivated || !sawFailure {
		t.Errorf("activated %v, failure with its reason %v: %v", sawActivated, sawFailure, e.historyRows(t))
	}

	e.run(t,
		chromedp.SetValue(chromedp.ID("history-kind"), "read"),
		chromedp.Click(chromedp.ID("history-apply")),
		chromedp.WaitVisible(chromedp.CSS(`#history-table tr[data-event="api.listProjects"]`)),
	)
	rows := e.historyRows(t)
	for _, r := range rows {
		if r[0] != "read" {
			t.Errorf("Reads shows %v", r)
		}
	}
	if got := e.text(t, `#history-table tr[data-event="api.listProjects"] td:nth-child(2)`); got != "Listed projects" {
		t.Errorf("api.listProjects is named %q", got)
	}
	e.checkAccessibility(t, "History, reads")
}
