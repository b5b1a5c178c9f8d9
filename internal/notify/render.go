package notify

import (
	"fmt"
	"strconv"
	"strings"
)

// The bodies are written in Go rather than with text/template or
// html/template: executing a template makes the linker keep every exported
// method of every type in the binary (templates call methods by name at
// run time), which made cmd/jitaccess a third larger and its idle memory
// several megabytes higher (docs/performance.md). There are four emails
// with fixed shapes; the only dynamic parts are values, each of which goes
// through esc (HTML) or href (a URL).

// htmlEscaper escapes text and double-quoted attribute values exactly as
// html/template's text context does, so the emails did not change when
// the renderer did (testdata/emails).
var htmlEscaper = strings.NewReplacer(
	"\x00", "\uFFFD", `"`, "&#34;", "&", "&amp;", "'", "&#39;", "+", "&#43;", "<", "&lt;", ">", "&gt;",
)

func esc(s string) string { return htmlEscaper.Replace(s) }

// href is a URL for an href attribute, treated as html/template treats
// one: a scheme other than http, https or mailto (javascript:, data:)
// becomes the inert "#ZgotmplZ"; bytes that may not appear in a URL are
// percent-encoded (existing escapes kept); then it is escaped as an
// attribute value. The links are EXTERNAL_URL's, so this is a second line
// of defence, not the first.
func href(raw string) string {
	if scheme, _, ok := strings.Cut(raw, ":"); ok && !strings.Contains(scheme, "/") &&
		!strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") && !strings.EqualFold(scheme, "mailto") {
		return "#ZgotmplZ"
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if urlSafe(c) || c == '%' && i+2 < len(raw) && isHex(raw[i+1]) && isHex(raw[i+2]) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02x", c)
	}
	return esc(b.String())
}

// urlSafe is RFC 3986's unreserved and reserved characters less the single
// quote and parentheses.
func urlSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!#$&*+,/:;=?@[]", c) >= 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// render returns the text and the HTML body of n.
func (m *Mailer) render(n Notification) (string, string, error) {
	e := email{m: m, n: n}
	var text, html string
	switch n.Kind {
	case RequestActivation:
		text, html = e.requestActivation()
	case ActivationApproved:
		text, html = e.activationApproved()
	case ActivationRejected:
		text, html = e.activationRejected()
	case ActivationApprovalAdded:
		text, html = e.activationApprovalAdded()
	case ActivationWithdrawn:
		text, html = e.activationWithdrawn()
	default:
		return "", "", fmt.Errorf("no email for notifications of kind %q", n.Kind)
	}
	return text, html, nil
}

// email renders one notification.
type email struct {
	m *Mailer
	n Notification
}

func (e *email) requestActivation() (string, string) {
	n := e.n
	who := string(n.Beneficiary)
	why := "are eligible for the same role"
	if n.Dedicated {
		why = "are an approver of this role"
	}
	quorum := "Any one of the reviewers can approve the request."
	if n.Required > 1 {
		quorum = strconv.Itoa(n.Required) + " of the reviewers must approve the request, and any one can reject it."
	}
	var t strings.Builder
	t.WriteString("Access request\n\n")
	t.WriteString(who + " requests your approval to access the Google Cloud " + n.ScopeNoun() + " " + string(n.Project) + ".\n")
	t.WriteString(e.textDetails())
	if n.ActionURL != "" {
		t.WriteString("\nView request: " + n.ActionURL + "\n")
	}
	t.WriteString("\nThis request automatically expires on " + e.m.formatTime(n.RequestExpiry) + ". " + e.startsIfApproved() + "\n\n")
	t.WriteString("Why am I seeing this?\n")
	t.WriteString(who + " selected you as a reviewer because you " + why + ". " + quorum + " If you don't know why " + who + " needs this access, don't approve it.\n")
	t.WriteString(e.textFooter())

	var h strings.Builder
	h.WriteString(htmlHeader("Access request"))
	h.WriteString("\n<p style=\"margin: 0\"><b>" + esc(who) + "</b> requests your approval to access the Google Cloud " + n.ScopeNoun() + " <b>" + esc(string(n.Project)) + "</b>.</p>\n")
	h.WriteString(e.htmlDetails())
	h.WriteString("\n")
	if n.ActionURL != "" {
		link := href(n.ActionURL)
		h.WriteString(`<p style="margin: 24px 0"><a href="` + link + `" style="display: inline-block; background: #1a73e8; color: #ffffff; padding: 10px 24px; border-radius: 4px; text-decoration: none; font-weight: 500">View request</a></p>` + "\n")
		h.WriteString(`<p style="margin: 0 0 16px; font-size: 12px; color: #5f6368">Or open this link: <a href="` + link + `" style="color: #1a73e8; word-break: break-all">` + esc(n.ActionURL) + "</a></p>")
	}
	h.WriteString("\n<p style=\"margin: 0 0 16px\">This request automatically expires on " + esc(e.m.formatTime(n.RequestExpiry)) + ". " + esc(e.startsIfApproved()) + "</p>\n")
	h.WriteString(htmlWhy(esc(who) + " selected you as a reviewer because you " + why + ". " + quorum + " If you don't know why " + esc(who) + " needs this access, don't approve it."))
	h.WriteString(e.htmlFooter())
	return t.String(), h.String()
}

func (e *email) activationApproved() (string, string) {
	n := e.n
	const why = "You requested this access, or you were one of its reviewers."
	var t strings.Builder
	t.WriteString("Your request was approved\n\n")
	t.WriteString(string(n.Approver) + " approved the request of " + string(n.Beneficiary) + " to access the Google Cloud " + n.ScopeNoun() + " " + string(n.Project) + ". " + e.activeWhen() + "\n")
	t.WriteString(e.textComment())
	t.WriteString(e.textDetails())
	t.WriteString("\nWhy am I seeing this?\n" + why + "\n")
	t.WriteString(e.textFooter())

	var h strings.Builder
	h.WriteString(htmlHeader("Your request was approved"))
	h.WriteString("\n<p style=\"margin: 0\"><b>" + esc(string(n.Approver)) + "</b> approved the request of " + esc(string(n.Beneficiary)) + " to access the Google Cloud " + n.ScopeNoun() + " <b>" + esc(string(n.Project)) + "</b>. " + esc(e.activeWhen()) + "</p>\n")
	h.WriteString(e.htmlComment())
	h.WriteString(e.htmlDetails())
	h.WriteString("\n")
	h.WriteString(htmlWhy(why))
	h.WriteString(e.htmlFooter())
	return t.String(), h.String()
}

func (e *email) activationRejected() (string, string) {
	n := e.n
	const why = "You requested this access, or you were one of its reviewers. A rejection by any one reviewer ends the request; to ask again, make a new request."
	var t strings.Builder
	t.WriteString("Your request was rejected\n\n")
	t.WriteString(string(n.Approver) + " rejected the request of " + string(n.Beneficiary) + " to access the Google Cloud " + n.ScopeNoun() + " " + string(n.Project) + ". No access was granted.")
	if n.Reason != "" {
		t.WriteString("\n\nReason: " + n.Reason)
	}
	t.WriteString("\n" + e.textDetails())
	t.WriteString("\nWhy am I seeing this?\n" + why + "\n")
	t.WriteString(e.textFooter())

	var h strings.Builder
	h.WriteString(htmlHeader("Your request was rejected"))
	h.WriteString("\n<p style=\"margin: 0\"><b>" + esc(string(n.Approver)) + "</b> rejected the request of " + esc(string(n.Beneficiary)) + " to access the Google Cloud " + n.ScopeNoun() + " <b>" + esc(string(n.Project)) + "</b>. No access was granted.</p>\n")
	if n.Reason != "" {
		h.WriteString(`<p style="margin: 16px 0 0"><b>Reason:</b> ` + esc(n.Reason) + "</p>")
	}
	h.WriteString("\n" + e.htmlDetails())
	h.WriteString("\n")
	h.WriteString(htmlWhy(why))
	h.WriteString(e.htmlFooter())
	return t.String(), h.String()
}

func (e *email) activationApprovalAdded() (string, string) {
	n := e.n
	const why = "You are one of the request's reviewers who have not approved it yet, or you requested it."
	progress, by := n.Progress(), joinUsers(n.Approvals)
	var t strings.Builder
	t.WriteString("Approval added: " + progress + "\n\n")
	t.WriteString(string(n.Approver) + " approved the request of " + string(n.Beneficiary) + " to access the Google Cloud " + n.ScopeNoun() + " " + string(n.Project) + ". It has " + progress + " (by " + by + "); access is granted when the last one needed arrives.\n")
	t.WriteString(e.textComment())
	t.WriteString(e.textDetails())
	if n.ActionURL != "" {
		t.WriteString("\nView request: " + n.ActionURL + "\n")
	}
	t.WriteString("\nThis request automatically expires on " + e.m.formatTime(n.RequestExpiry) + ".\n\n")
	t.WriteString("Why am I seeing this?\nYou are one of the request's reviewers who have not approved it yet, or you requested it.\n")
	t.WriteString(e.textFooter())

	var h strings.Builder
	h.WriteString(htmlHeader("Approval added: " + progress))
	h.WriteString("\n<p style=\"margin: 0\"><b>" + esc(string(n.Approver)) + "</b> approved the request of " + esc(string(n.Beneficiary)) + " to access the Google Cloud " + n.ScopeNoun() + " <b>" + esc(string(n.Project)) + "</b>. It has <b>" + esc(progress) + "</b> (by " + esc(by) + "); access is granted when the last one needed arrives.</p>\n")
	h.WriteString(e.htmlComment())
	h.WriteString(e.htmlDetails())
	h.WriteString("\n")
	if n.ActionURL != "" {
		h.WriteString(`<p style="margin: 24px 0"><a href="` + href(n.ActionURL) + `" style="display: inline-block; background: #1a73e8; color: #ffffff; padding: 10px 24px; border-radius: 4px; text-decoration: none; font-weight: 500">View request</a></p>`)
	}
	h.WriteString("\n<p style=\"margin: 0 0 16px\">This request automatically expires on " + esc(e.m.formatTime(n.RequestExpiry)) + ".</p>\n")
	h.WriteString(htmlWhy(why))
	h.WriteString(e.htmlFooter())
	return t.String(), h.String()
}

func (e *email) activationWithdrawn() (string, string) {
	n := e.n
	const why = "You were one of the request's reviewers, or you requested it."
	var t strings.Builder
	t.WriteString("Request withdrawn\n\n")
	t.WriteString(string(n.Beneficiary) + " withdrew their request to access the Google Cloud " + n.ScopeNoun() + " " + string(n.Project) + ". It can no longer be approved, and no access was granted.\n")
	t.WriteString(e.textDetails())
	if n.ActionURL != "" {
		t.WriteString("\nView request: " + n.ActionURL + "\n")
	}
	t.WriteString("\nWhy am I seeing this?\n" + why + "\n")
	t.WriteString(e.textFooter())

	var h strings.Builder
	h.WriteString(htmlHeader("Request withdrawn"))
	h.WriteString("\n<p style=\"margin: 0\"><b>" + esc(string(n.Beneficiary)) + "</b> withdrew their request to access the Google Cloud " + n.ScopeNoun() + " <b>" + esc(string(n.Project)) + "</b>. It can no longer be approved, and no access was granted.</p>\n")
	h.WriteString(e.htmlDetails())
	h.WriteString("\n")
	if n.ActionURL != "" {
		h.WriteString(`<p style="margin: 24px 0"><a href="` + href(n.ActionURL) + `" style="color: #1a73e8">View request</a></p>` + "\n")
	}
	h.WriteString(htmlWhy(why))
	h.WriteString(e.htmlFooter())
	return t.String(), h.String()
}

// textComment is an approval's comment, as a paragraph of its own; ""
// when it has none, so that such emails read as they always did.
func (e *email) textComment() string {
	if e.n.Comment == "" {
		return ""
	}
	return "\nComment: " + e.n.Comment + "\n"
}

func (e *email) htmlComment() string {
	if e.n.Comment == "" {
		return ""
	}
	return `<p style="margin: 16px 0 0"><b>Comment:</b> ` + esc(e.n.Comment) + "</p>\n"
}

// startsIfApproved says when a requested window would begin.
func (e *email) startsIfApproved() string {
	if e.n.Scheduled {
		return "If you approve it, access starts on " + e.m.formatTime(e.n.Start) + " (or when you approve, if that is later) and lasts for the requested time."
	}
	return "If you approve it, access starts when you approve and lasts for the requested time."
}

// activeWhen says whether an approved window has begun.
func (e *email) activeWhen() string {
	if e.n.Scheduled {
		return "The access starts on " + e.m.formatTime(e.n.Start) + "; it is not active before then."
	}
	return "The access is active now."
}

// scopeLabel names the Project row: "Project", "Folder" or "Organization".
func scopeLabel(n Notification) string {
	noun := n.ScopeNoun()
	return strings.ToUpper(noun[:1]) + noun[1:]
}

// textDetails is the table of facts every email carries.
func (e *email) textDetails() string {
	n := e.n
	cond := n.ResourceCondition
	if cond == "" {
		cond = "None"
	}
	var b strings.Builder
	b.WriteString("\nUser:               " + string(n.Beneficiary))
	b.WriteString(fmt.Sprintf("\n%-20s", scopeLabel(n)+":") + string(n.Project))
	b.WriteString("\nRole:               " + strings.Join(n.Roles, ", "))
	b.WriteString("\nResource condition: " + cond)
	b.WriteString("\nStart:              " + e.m.formatTime(n.Start))
	b.WriteString("\nEnd:                " + e.m.formatTime(n.End))
	b.WriteString("\nJustification:      " + n.Justification)
	if len(n.Reviewers) > 0 {
		b.WriteString("\nReviewers:          " + joinUsers(n.Reviewers))
	}
	b.WriteString("\n")
	return b.String()
}

func (e *email) textFooter() string {
	s := "\n-- \nThis email was sent by JIT Access"
	if e.n.BaseURL != "" {
		s += " (" + e.n.BaseURL + ")"
	}
	return s + ".\n\n"
}

func htmlHeader(title string) string {
	t := esc(title)
	return "<!doctype html>\n" +
		`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>` + t + "</title></head>\n" +
		`<body style="margin: 0; padding: 24px; background: #f1f3f4; font-family: Roboto, Arial, sans-serif; font-size: 14px; line-height: 20px; color: #202124">` + "\n" +
		`<div style="max-width: 600px; margin: 0 auto; background: #ffffff; border: 1px solid #dadce0; border-radius: 8px; padding: 24px 32px">` + "\n" +
		`<h1 style="margin: 0 0 16px; font-size: 22px; line-height: 28px; font-weight: 400">` + t + "</h1>\n"
}

// htmlWhy is the closing explanation; body is HTML already.
func htmlWhy(body string) string {
	return `<h2 style="margin: 24px 0 8px; font-size: 16px; font-weight: 500">Why am I seeing this?</h2>` + "\n" +
		`<p style="margin: 0; color: #5f6368">` + body + "</p>\n"
}

const detailsRow = `<tr><th scope="row" style="text-align: left; vertical-align: top; padding: 4px 16px 4px 0; font-weight: 400; color: #5f6368; white-space: nowrap">`

func (e *email) htmlDetails() string {
	n := e.n
	row := func(b *strings.Builder, name, value string) {
		b.WriteString(detailsRow + name + `</th><td style="padding: 4px 0">` + value + "</td></tr>")
	}
	roles := make([]string, len(n.Roles))
	for i, r := range n.Roles {
		roles[i] = "<code>" + esc(r) + "</code>"
	}
	cond := "None"
	if n.ResourceCondition != "" {
		cond = "<code>" + esc(n.ResourceCondition) + "</code>"
	}
	var b strings.Builder
	b.WriteString(`<table role="presentation" style="border-collapse: collapse; margin: 16px 0; width: 100%">` + "\n")
	row(&b, "User", esc(string(n.Beneficiary)))
	b.WriteString("\n")
	row(&b, scopeLabel(n), esc(string(n.Project)))
	b.WriteString("\n")
	row(&b, "Role", strings.Join(roles, ", "))
	b.WriteString("\n")
	row(&b, "Resource condition", cond)
	b.WriteString("\n")
	row(&b, "Start", esc(e.m.formatTime(n.Start)))
	b.WriteString("\n")
	row(&b, "End", esc(e.m.formatTime(n.End)))
	b.WriteString("\n")
	row(&b, "Justification", esc(n.Justification))
	b.WriteString("\n")
	if len(n.Reviewers) > 0 {
		row(&b, "Reviewers", esc(joinUsers(n.Reviewers)))
	}
	b.WriteString("\n</table>\n")
	return b.String()
}

func (e *email) htmlFooter() string {
	sender := "JIT Access"
	if e.n.BaseURL != "" {
		sender = `<a href="` + href(e.n.BaseURL) + `" style="color: #1a73e8">JIT Access</a>`
	}
	return "</div>\n" +
		`<p style="max-width: 600px; margin: 16px auto 0; font-size: 12px; line-height: 16px; color: #5f6368; text-align: center">This email was sent by ` + sender + ".</p>\n" +
		"</body></html>\n\n"
}
