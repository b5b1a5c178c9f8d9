package browsertest

import (
	_ "embed"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// axeSource is axe-core's rules engine (testdata/README.md says where it
// comes from and under which licence).
//
//go:embed testdata/axe.min.js
var axeSource string

// axeTags are the rule sets a screen must pass: WCAG 2.0, 2.1 and 2.2 at
// levels A and AA, and Deque's best practices.
const axeTags = `['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']`

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  string `json:"target"`
		HTML    string `json:"html"`
		Summary string `json:"summary"`
	} `json:"nodes"`
}

// checkAccessibility runs axe-core on the page as it is now and fails the
// test with every violation, its rule id and the elements it found.
func (e *env) checkAccessibility(t *testing.T, screen string) {
	t.Helper()
	e.checkAccessibilityOf(t, screen, "document")
}

// checkAccessibilityOf checks only the part of the page that the
// JavaScript expression (an axe-core context) selects.
func (e *env) checkAccessibilityOf(t *testing.T, screen, context string) {
	t.Helper()
	// A page's CSP does not apply to what DevTools evaluates, so the
	// engine runs on the app's pages as they are served.
	loaded, err := chromedp.Run(e.ctx, chromedp.Evaluate[bool](`typeof axe !== 'undefined'`))
	if err == nil && !loaded {
		_, err = chromedp.Run(e.ctx, chromedp.Evaluate[bool](axeSource+"\n;true"))
	}
	if err != nil {
		t.Fatalf("%s: inject axe-core: %v", screen, err)
	}
	// Results axe-core cannot decide alone ("incomplete", such as text
	// whose colour equals its background) fail too: nobody reviews them
	// by hand here.
	vs, err := chromedp.Run(e.ctx, chromedp.Evaluate[[]axeViolation](`axe.run(`+context+`, {runOnly: {type: 'tag', values: `+axeTags+`}, resultTypes: ['violations', 'incomplete']})
		.then((r) => [...r.violations, ...r.incomplete.map((v) => ({...v, id: v.id + ' (needs review)'}))].map((v) => ({id: v.id, impact: v.impact || '', help: v.help,
			nodes: v.nodes.map((n) => ({target: n.target.join(' '), html: n.html, summary: n.failureSummary || ''}))})))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: run axe-core: %v", screen, err)
	}
	if len(vs) == 0 {
		return
	}
	var b strings.Builder
	n := 0
	for _, v := range vs {
		n += len(v.Nodes)
		fmt.Fprintf(&b, "\n  %s (%s): %s", v.ID, v.Impact, v.Help)
		for _, node := range v.Nodes {
			fmt.Fprintf(&b, "\n    %s  %s\n      %s", node.Target, node.HTML, strings.ReplaceAll(node.Summary, "\n", "\n      "))
		}
	}
	t.Errorf("%s: %d axe-core rules fail on %d elements:%s", screen, len(vs), n, b.String())
}

// The screens are checked in three tests, each within one browser
// session's time budget: axe-core takes seconds a page on a busy machine.

// TestAccessibilityOfTheRequester: the demo's sign-in, home, the roles
// with the request form (peers ticked) and the submitted request.
func TestAccessibilityOfTheRequester(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.run(t,
		chromedp.Navigate(e.demo.URL+"/_demo/signin?next=/"),
		chromedp.WaitVisible(chromedp.CSS(`button[data-email="erin@example.com"]`)),
	)
	e.checkAccessibility(t, "the demo's sign-in")
	e.run(t, chromedp.Click(chromedp.CSS(`button[data-email="erin@example.com"]`)))
	e.run(t, chromedp.WaitVisible(chromedp.ID("project-input")))
	e.waitFor(t, `document.querySelector('#project-hint').textContent !== '' && !document.querySelector('#project-list').hidden`)
	// The open project list covers the cards below it, whose contrast
	// axe-core then cannot tell: the list alone, then the page with the
	// list closed, as Escape closes it.
	e.checkAccessibilityOf(t, "the project list", `{include: [['#project-input'], ['#project-list']]}`)
	e.run(t, chromedp.KeyEvent(kb.Escape))
	e.waitFor(t, `document.querySelector('#project-list').hidden`)
	e.checkAccessibility(t, "home")

	e.pickProjectAndRole(t, "prod-payments-api", "prod-payments-api:roles/run.developer")
	e.run(t,
		chromedp.WaitVisible(chromedp.CSS(`input.peer-check[value="dave@example.com"]`)),
		chromedp.Click(chromedp.CSS(`input.peer-check[value="dave@example.com"]`)),
		chromedp.SendKeys(chromedp.ID("justification"), "CHG-7 hotfix deploy"),
	)
	e.checkAccessibility(t, "roles with the request form")
	e.run(t,
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.Search(`//h2[@id="result-title" and text()="Request submitted"]`)),
	)
	e.checkAccessibility(t, "request submitted")
}

// TestAccessibilityOfTheReviewer: a request under review, from the list
// waiting for review on the start page, its reject form, and the start
// page listing it.
func TestAccessibilityOfTheReviewer(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.requestInTheBrowser(t, "erin@example.com", "prod-payments-api", "prod-payments-api:roles/run.developer", "CHG-7 hotfix deploy", "dave@example.com")
	e.openFromReviewList(t, "dave@example.com", "CHG-7 hotfix deploy")
	e.run(t, chromedp.WaitVisible(chromedp.ID("approve")))
	e.checkAccessibility(t, "a request under review")
	e.run(t,
		chromedp.Click(chromedp.ID("reject")),
		chromedp.WaitVisible(chromedp.ID("reject-reason")),
	)
	e.checkAccessibility(t, "the reject form")
	e.run(t,
		chromedp.Navigate(e.demo.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#review-requests li`)),
		chromedp.WaitVisible(chromedp.ID("project-input")),
		chromedp.Focus(chromedp.ID("project-input")),
		chromedp.KeyEvent(kb.Escape),
	)
	e.waitFor(t, `document.querySelector('#project-list').hidden`)
	e.checkAccessibility(t, "home with a request waiting for review")
}

// TestAccessibilityOfMyAccessAndHistory: access granted, My access with
// an activation, the end dialog, and History with entries.
func TestAccessibilityOfMyAccessAndHistory(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.selfActivateInBrowser(t, "dave@example.com")
	e.checkAccessibility(t, "access granted")
	e.run(t,
		chromedp.Click(chromedp.ID("nav-my-access")),
		chromedp.WaitVisible(chromedp.CSS(daveRow)),
	)
	e.checkAccessibility(t, "My access")
	e.run(t,
		chromedp.Click(chromedp.CSS(daveRow+" button.end-button")),
		chromedp.WaitVisible(chromedp.ID("end-dialog")),
	)
	e.checkAccessibility(t, "the end dialog")
	e.run(t,
		chromedp.Click(chromedp.ID("end-cancel")),
		chromedp.WaitNotVisible(chromedp.ID("end-dialog")),
		chromedp.Click(chromedp.ID("nav-history")),
		chromedp.WaitVisible(chromedp.CSS(`#history-table tr[data-event="api.activateRole"]`)),
	)
	e.checkAccessibility(t, "History")
}
