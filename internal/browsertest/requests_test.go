package browsertest

import (
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/jitaccess/jitaccess/internal/condition"
)

// requestInTheBrowser makes a request as user for role with the given
// reviewers through the UI.
func (e *env) requestInTheBrowser(t *testing.T, user, project, roleID, justification string, reviewers ...string) {
	t.Helper()
	e.signIn(t, user, "/", "")
	e.pickProjectAndRole(t, project, roleID)
	for _, r := range reviewers {
		e.run(t,
			chromedp.WaitVisible(chromedp.CSS(`input.peer-check[value="`+r+`"]`)),
			chromedp.Click(chromedp.CSS(`input.peer-check[value="`+r+`"]`)),
		)
	}
	e.run(t,
		chromedp.SendKeys(chromedp.ID("justification"), justification),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.Search(`//h2[@id="result-title" and text()="Request submitted"]`)),
	)
}

// openFromReviewList signs in as reviewer, finds the request in "Waiting
// for your review" on the start page and opens it.
func (e *env) openFromReviewList(t *testing.T, reviewer, justification string) {
	t.Helper()
	e.signIn(t, reviewer, "/", "")
	item := `//ul[@id="review-requests"]/li[contains(., "` + justification + `")]`
	e.run(t, chromedp.WaitVisible(chromedp.Search(item)))
	// Once the page has the projects, nothing opens the project list by
	// itself any more.
	e.waitFor(t, `document.querySelector('#project-hint').textContent !== ''`)
	e.run(t,
		// The project list opens on the focused picker and may cover the
		// card; a person closes it first, as Escape does.
		chromedp.WaitVisible(chromedp.ID("project-input")),
		chromedp.Focus(chromedp.ID("project-input")),
		chromedp.KeyEvent(kb.Escape),
		chromedp.Click(chromedp.Search(item+`//a`)),
		chromedp.WaitVisible(chromedp.ID("request-state")),
	)
}

// TestRejectInTheBrowser: the reviewer finds the request in the list
// waiting for their review, rejects it with a reason; the page says so,
// and the requester's list shows it rejected.
func TestRejectInTheBrowser(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.requestInTheBrowser(t, "erin@example.com", "prod-payments-api", "prod-payments-api:roles/run.developer", "CHG-8 config change", "dave@example.com")
	e.openFromReviewList(t, "dave@example.com", "CHG-8 config change")
	if got := e.text(t, "#request-state"); got != "Waiting for approval: 0 of 1 approval" {
		t.Errorf("state = %q", got)
	}
	e.screenshot(t, "review-with-reject")
	e.run(t,
		chromedp.Click(chromedp.ID("reject")),
		chromedp.WaitVisible(chromedp.ID("reject-reason")),
		chromedp.SendKeys(chromedp.ID("reject-reason"), "Please use the staging project first"),
		chromedp.Click(chromedp.ID("reject-confirm")),
		chromedp.WaitVisible(chromedp.Search(`//h2[@id="result-title" and text()="Request rejected"]`)),
	)
	if got := e.text(t, "#request-state"); got != "Rejected by dave@example.com" {
		t.Errorf("state after rejecting = %q", got)
	}
	if details := e.text(t, "#result-details"); !strings.Contains(details, "Please use the staging project first") {
		t.Errorf("details do not show the reason: %q", details)
	}
	e.waitFor(t, `document.getElementById('approve').hidden && document.getElementById('reject').hidden`)
	// The requester sees it rejected in their list.
	e.signIn(t, "erin@example.com", "/", "")
	e.run(t, chromedp.WaitVisible(chromedp.CSS(`#my-requests li[data-status="REJECTED"]`)))
	if got := e.text(t, `#my-requests li[data-status="REJECTED"]`); !strings.Contains(got, "Rejected by dave@example.com") {
		t.Errorf("erin's list = %q", got)
	}
	e.screenshot(t, "my-requests")
}

// TestTwoApprovalsInTheBrowser: a role of the demo world needs two of its
// dedicated approvers; the first approval shows the progress, the second
// grants, and the binding is written once.
func TestTwoApprovalsInTheBrowser(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.requestInTheBrowser(t, "frank@example.com", "security-tools", "security-tools:roles/securitycenter.admin", "INC-9 alert triage",
		"alice@example.com", "carol@example.com")

	e.openFromReviewList(t, "alice@example.com", "INC-9 alert triage")
	e.run(t,
		chromedp.Click(chromedp.ID("approve")),
		chromedp.WaitVisible(chromedp.Search(`//h2[@id="result-title" and text()="Approval recorded"]`)),
	)
	if got := e.text(t, "#request-state"); got != "Waiting for approval: 1 of 2 approvals (by alice@example.com)" {
		t.Errorf("state after the first approval = %q", got)
	}
	e.screenshot(t, "one-of-two")
	if n := activationsOf(t, e, "projects/security-tools", "user:frank@example.com"); n != 0 {
		t.Fatalf("%d bindings after one of two approvals", n)
	}

	e.openFromReviewList(t, "carol@example.com", "INC-9 alert triage")
	e.run(t,
		chromedp.Click(chromedp.ID("approve")),
		chromedp.WaitVisible(chromedp.Search(`//h2[@id="result-title" and text()="Access approved"]`)),
	)
	if got := e.text(t, "#request-state"); !strings.HasPrefix(got, "Approved by carol@example.com at ") {
		t.Errorf("state after the second approval = %q", got)
	}
	if n := activationsOf(t, e, "projects/security-tools", "user:frank@example.com"); n != 1 {
		t.Errorf("%d bindings after two of two approvals, want 1", n)
	}
}

func activationsOf(t *testing.T, e *env, resource, member string) int {
	t.Helper()
	p, _ := e.demo.Emulator.World.Policy(resource)
	return len(slices.DeleteFunc(slices.Clone(p.Bindings), func(b emulatorBinding) bool {
		if b.Condition == nil || len(b.Members) != 1 || b.Members[0] != member {
			return true
		}
		_, ok := condition.ParseActivation(b.Condition.Title, b.Condition.Expression)
		return !ok
	}))
}
