package browsertest

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestWithdrawInTheBrowser: the requester withdraws one request from "Your
// requests" and another from its page; the reviewer's link then says
// "withdrawn" and offers no approval.
func TestWithdrawInTheBrowser(t *testing.T) {
	t.Parallel()
	e := start(t)
	const role = "prod-payments-api:roles/run.developer"
	e.requestInTheBrowser(t, "erin@example.com", "prod-payments-api", role, "CHG-41 config change", "dave@example.com")

	// From the list.
	e.signIn(t, "erin@example.com", "/", "")
	item := `//ul[@id="my-requests"]/li[contains(., "CHG-41 config change")]`
	e.run(t,
		chromedp.WaitVisible(chromedp.Search(item+`//button[contains(@class, "withdraw-button")]`)),
		chromedp.WaitVisible(chromedp.ID("project-input")),
		chromedp.Focus(chromedp.ID("project-input")),
		chromedp.KeyEvent(kb.Escape),
	)
	e.screenshot(t, "my-requests-withdraw")
	e.run(t,
		chromedp.Click(chromedp.Search(item+`//button[contains(@class, "withdraw-button")]`)),
		chromedp.WaitVisible(chromedp.Search(`//ul[@id="my-requests"]/li[@data-status="WITHDRAWN" and contains(., "CHG-41 config change")]`)),
	)
	if got := e.text(t, `#my-requests li[data-status="WITHDRAWN"]`); !strings.Contains(got, "Withdrawn") || strings.Contains(got, "Withdraw\n") {
		t.Errorf("erin's list = %q", got)
	}
	e.waitFor(t, `!document.querySelector('#my-requests li[data-status="WITHDRAWN"] button.withdraw-button')`)

	// From the request's page. The start page would open the project
	// picked last time, and the helper types it in again.
	if _, err := chromedp.Run(e.ctx, chromedp.Evaluate[bool](`localStorage.clear(), true`)); err != nil {
		t.Fatal(err)
	}
	e.requestInTheBrowser(t, "erin@example.com", "prod-payments-api", role, "CHG-42 config change", "dave@example.com")
	e.signIn(t, "erin@example.com", "/", "")
	link := `//ul[@id="my-requests"]/li[contains(., "CHG-42 config change")]//a`
	e.run(t,
		chromedp.WaitVisible(chromedp.Search(link)),
		chromedp.WaitVisible(chromedp.ID("project-input")),
		chromedp.Focus(chromedp.ID("project-input")),
		chromedp.KeyEvent(kb.Escape),
		chromedp.Click(chromedp.Search(link)),
		chromedp.WaitVisible(chromedp.ID("withdraw")),
	)
	href, err := chromedp.Run(e.ctx, chromedp.Evaluate[string](`window.location.pathname + window.location.search`))
	if err != nil {
		t.Fatal(err)
	}
	e.run(t,
		chromedp.Click(chromedp.ID("withdraw")),
		chromedp.WaitVisible(chromedp.Search(`//h2[@id="result-title" and text()="Request withdrawn"]`)),
	)
	if got := e.text(t, "#request-state"); got != "Withdrawn by erin@example.com" {
		t.Errorf("state after withdrawing = %q", got)
	}
	e.waitFor(t, `document.getElementById('withdraw').hidden`)

	e.signIn(t, "dave@example.com", href, "")
	e.run(t, chromedp.WaitVisible(chromedp.Search(`//h2[@id="result-title" and text()="Request withdrawn"]`)))
	e.waitFor(t, `document.getElementById('approve').hidden && document.getElementById('reject').hidden && document.getElementById('approve-comment-field').hidden`)
	e.screenshot(t, "request-withdrawn")
}
