package browsertest

import (
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestApproveWithCommentInTheBrowser: the reviewer adds a comment to the
// approval; the page shows it, and so does the requester's view of the
// request.
func TestApproveWithCommentInTheBrowser(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.requestInTheBrowser(t, "erin@example.com", "prod-payments-api", "prod-payments-api:roles/run.developer", "CHG-23 config change", "dave@example.com")
	e.openFromReviewList(t, "dave@example.com", "CHG-23 config change")
	link, err := chromedp.Run(e.ctx, chromedp.Evaluate[string](`window.location.href`))
	if err != nil {
		t.Fatal(err)
	}
	const comment = "Looks right, go ahead"
	e.run(t,
		chromedp.WaitVisible(chromedp.ID("approve-comment")),
		chromedp.SendKeys(chromedp.ID("approve-comment"), comment),
	)
	e.screenshot(t, "approve-with-comment")
	e.run(t,
		chromedp.Click(chromedp.ID("approve")),
		chromedp.WaitVisible(chromedp.Search(`//h2[@id="result-title" and text()="Access approved"]`)),
	)
	if got := e.text(t, "#request-comments"); got != "dave@example.com: "+comment {
		t.Errorf("comment after approving = %q", got)
	}
	e.waitFor(t, `document.getElementById('approve-comment-field').hidden`)

	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	e.signIn(t, "erin@example.com", u.RequestURI(), "")
	e.run(t, chromedp.WaitVisible(chromedp.ID("request-comments")))
	if got := e.text(t, "#request-comments"); got != "dave@example.com: "+comment {
		t.Errorf("the requester sees %q", got)
	}
}
