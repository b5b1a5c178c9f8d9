package browsertest

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestApprovalPolicyBeforeAsking: for a role with 3 dedicated approvers
// and a quorum of 2, the roles table and the request form say so, and the
// form cannot be sent with fewer reviewers than the quorum; a peer role
// keeps the original's wording.
func TestApprovalPolicyBeforeAsking(t *testing.T) {
	t.Parallel()
	e := start(t)
	const sc = "security-tools:roles/securitycenter.admin"
	e.signIn(t, "frank@example.com", "/", "")
	e.pickProjectAndRole(t, "security-tools", sc)
	if got := e.text(t, `tr[data-id="`+sc+`"] .chip-mpa`); got != "2 approvers must approve" {
		t.Errorf("roles table = %q", got)
	}
	e.waitFor(t, `document.querySelectorAll('input.peer-check').length === 3 && document.getElementById('peers-intro').textContent.includes('2 of these approvers')`)
	if got := e.text(t, "#peers-intro"); got != "This role has dedicated approvers: 2 of these approvers must approve. Select who should review your request (at least 2):" {
		t.Errorf("form = %q", got)
	}
	if got := e.text(t, "#peers-when"); strings.Contains(got, "when a reviewer approves") || !strings.Contains(got, "the last of the 2 approvals") {
		t.Errorf("form says %q", got)
	}
	e.run(t,
		chromedp.SendKeys(chromedp.ID("justification"), "INC-11 triage"),
		chromedp.Click(chromedp.CSS(`input.peer-check[value="alice@example.com"]`)),
	)
	e.waitFor(t, `document.getElementById('submit').disabled`)
	e.run(t, chromedp.Click(chromedp.CSS(`input.peer-check[value="carol@example.com"]`)))
	e.waitFor(t, `!document.getElementById('submit').disabled`)
	e.screenshot(t, "approval-policy")

	e.signIn(t, "erin@example.com", "/", "")
	const run = "prod-payments-api:roles/run.developer"
	e.pickProjectAndRole(t, "prod-payments-api", run)
	if got := e.text(t, `tr[data-id="`+run+`"] .chip-mpa`); got != "Peer approval required" {
		t.Errorf("roles table for a peer role = %q", got)
	}
	e.waitFor(t, `document.querySelectorAll('input.peer-check').length === 1`)
	if got := e.text(t, "#peers-intro"); got != "This role needs the approval of a peer who holds it too. Select who should review your request:" {
		t.Errorf("form for a peer role = %q", got)
	}
}
