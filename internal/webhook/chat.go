package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/jitaccess/jitaccess/internal/notify"
)

// Chat posts a message to a Google Chat space through an incoming webhook
// for approval requests and their decisions, with the request's link, so
// that reviewers who read mail once a day see it where they work.
// Self-activations need nobody's attention and are not posted.
type Chat struct {
	url string
	loc *time.Location
	q   *queue
}

// NewChat posts to a Chat incoming webhook URL (it carries the webhook's
// key and token: never logged). Times are shown in loc (nil: UTC). Call
// Close to stop.
func NewChat(url string, loc *time.Location, opts Options) *Chat {
	if loc == nil {
		loc = time.UTC
	}
	return &Chat{url: url, loc: loc, q: newQueue("chat", opts)}
}

// Send queues the message of n and returns at once.
func (c *Chat) Send(ctx context.Context, n notify.Notification) error {
	text, ok := ChatText(n, c.loc)
	if !ok {
		return nil
	}
	body, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		return fmt.Errorf("chat: encode the message: %w", err)
	}
	id, err := newID()
	if err != nil {
		return err
	}
	c.q.enqueue(ctx, message{id: id, request: func(ctx context.Context, _ time.Time) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
		return req, nil
	}})
	return nil
}

// Close stops the queue; see Options.DrainTimeout.
func (c *Chat) Close() { c.q.close() }

// ChatText is the message of n in Google Chat's text format (*bold*,
// `code`, <url|label> links); ok is false for notifications that are not
// posted. Values are people's input: the characters of Chat's markup are
// taken out of them so that a justification cannot forge a link, and free
// text is made inert so that Chat does not link what it contains.
func ChatText(n notify.Notification, loc *time.Location) (string, bool) {
	roles := make([]string, len(n.Roles))
	for i, r := range n.Roles {
		roles[i] = "`" + clean(r) + "`"
	}
	what := strings.Join(roles, ", ") + " on " + n.ScopeNoun() + " `" + clean(string(n.Project)) + "`"
	if n.ResourceCondition != "" {
		what += " (with a resource condition)"
	}
	var b strings.Builder
	switch n.Kind {
	case notify.ActivationSelfApproved:
		return "", false
	case notify.RequestActivation:
		fmt.Fprintf(&b, "*%s* asks for %s", clean(string(n.Beneficiary)), what)
		if !n.Start.IsZero() && !n.End.IsZero() {
			fmt.Fprintf(&b, " for %s", n.End.Sub(n.Start).Round(time.Minute))
			if n.Scheduled {
				fmt.Fprintf(&b, " from %s", n.Start.In(loc).Format("2006-01-02 15:04 MST"))
			}
		}
		fmt.Fprintf(&b, ".\nJustification: %s\nReviewers: %s", inert(n.Justification), people(n.Reviewers))
		if !n.RequestExpiry.IsZero() {
			fmt.Fprintf(&b, "\nOpen until %s", n.RequestExpiry.In(loc).Format("2006-01-02 15:04 MST"))
		}
		if n.ActionURL != "" {
			fmt.Fprintf(&b, "\n<%s|Review the request>", n.ActionURL)
		}
	case notify.ActivationApproved:
		fmt.Fprintf(&b, "*%s* approved the request of *%s* for %s", clean(string(n.Approver)), clean(string(n.Beneficiary)), what)
		switch {
		case n.Scheduled && !n.Start.IsZero():
			fmt.Fprintf(&b, ", active from %s until %s", n.Start.In(loc).Format("2006-01-02 15:04 MST"), n.End.In(loc).Format("2006-01-02 15:04 MST"))
		case !n.End.IsZero():
			fmt.Fprintf(&b, ", active until %s", n.End.In(loc).Format("2006-01-02 15:04 MST"))
		}
		fmt.Fprintf(&b, ".\nJustification: %s", inert(n.Justification))
		if n.Comment != "" {
			fmt.Fprintf(&b, "\nComment: %s", inert(n.Comment))
		}
		if n.BaseURL != "" {
			fmt.Fprintf(&b, "\n<%s|Open JIT Access>", n.BaseURL)
		}
	case notify.ActivationRejected:
		fmt.Fprintf(&b, "*%s* rejected the request of *%s* for %s.", clean(string(n.Approver)), clean(string(n.Beneficiary)), what)
		if n.Reason != "" {
			fmt.Fprintf(&b, "\nReason: %s", inert(n.Reason))
		}
		if n.Justification != "" {
			fmt.Fprintf(&b, "\nJustification: %s", inert(n.Justification))
		}
		if n.BaseURL != "" {
			fmt.Fprintf(&b, "\n<%s|Open JIT Access>", n.BaseURL)
		}
	case notify.ActivationWithdrawn:
		fmt.Fprintf(&b, "*%s* withdrew their request for %s: it can no longer be approved.", clean(string(n.Beneficiary)), what)
		if n.Justification != "" {
			fmt.Fprintf(&b, "\nJustification: %s", inert(n.Justification))
		}
		if len(n.Reviewers) > 0 {
			fmt.Fprintf(&b, "\nReviewers: %s", people(n.Reviewers))
		}
		if n.BaseURL != "" {
			fmt.Fprintf(&b, "\n<%s|Open JIT Access>", n.BaseURL)
		}
	case notify.ActivationApprovalAdded:
		fmt.Fprintf(&b, "*%s* approved the request of *%s* for %s: %s", clean(string(n.Approver)), clean(string(n.Beneficiary)), what, n.Progress())
		if len(n.Approvals) > 0 {
			fmt.Fprintf(&b, " (by %s)", people(n.Approvals))
		}
		b.WriteString(".")
		if n.Comment != "" {
			fmt.Fprintf(&b, "\nComment: %s", inert(n.Comment))
		}
		if len(n.To) > 0 {
			fmt.Fprintf(&b, "\nStill to approve: %s", people(n.To))
		}
		if n.Justification != "" {
			fmt.Fprintf(&b, "\nJustification: %s", inert(n.Justification))
		}
		if n.ActionURL != "" {
			fmt.Fprintf(&b, "\n<%s|Review the request>", n.ActionURL)
		}
	default:
		// Decisions added later (a rejection, for one) are posted with
		// their subject rather than left out.
		fmt.Fprintf(&b, "*%s*: %s", clean(string(n.Kind)), inert(n.MailSubject()))
		if n.Justification != "" {
			fmt.Fprintf(&b, "\nJustification: %s", inert(n.Justification))
		}
		if link := firstNonEmpty(n.ActionURL, n.BaseURL); link != "" {
			fmt.Fprintf(&b, "\n<%s|Open the request>", link)
		}
	}
	return b.String(), true
}

// inert is clean for free text people typed (a justification, a
// rejection reason), which Chat would otherwise turn into links: Chat
// links a plain URL and anything that looks like a domain name by itself,
// whatever markup surrounds it (its documentation promises no exception
// for monospace, so a code span is not relied on). The text is therefore
// "defanged" as security teams share indicators: "://" becomes "[:]//"
// and a dot between two name characters "[.]" (also the ideographic and
// full-width dots that IDNA reads as dots), so that nothing in it has the
// shape of a URL, a host name or an email address, while a person still
// reads what was written.
func inert(s string) string {
	s = strings.ReplaceAll(clean(s), "://", "[:]//")
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		switch r {
		case '.', '\u3002', '\uff0e', '\uff61':
			if i > 0 && i+1 < len(rs) && nameChar(rs[i-1]) && nameChar(rs[i+1]) {
				b.WriteString("[.]")
				continue
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

// nameChar is a character that can stand next to a dot in a host name.
func nameChar(r rune) bool {
	return r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// clean takes out Chat's markup characters and line breaks.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '<', '>', '|', '*', '_', '`', '~':
			return ' '
		}
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func people[T ~string](us []T) string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = clean(string(u))
	}
	return strings.Join(out, ", ")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
