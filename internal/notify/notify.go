// Package notify tells people what happened: reviewers get an email with
// the approval link when someone asks for their approval, the requester
// gets one when a reviewer approves, and every event can be published to
// Pub/Sub for other tools (chat bots, ticketing). It exists so that the use
// cases only say "this happened" (a jit.Event) while the wording, the
// recipients and the wire formats of the original's notifications
// (reference §6) live in one place.
//
// Email goes through a maintained SMTP client (github.com/wneessen/go-mail:
// STARTTLS, AUTH, RFC 5322 address parsing and header encoding, so values
// cannot inject headers); bodies are written in Go (render.go), every value
// of the HTML part escaped as html/template would.
package notify

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// Kind is the original's notification type; it names the email template
// and is the "type" of the Pub/Sub message.
type Kind string

// Notification kinds.
const (
	RequestActivation      Kind = "RequestActivation"
	ActivationApproved     Kind = "ActivationApproved"
	ActivationSelfApproved Kind = "ActivationSelfApproved"
)

// Notification is what a channel sends: who hears about it, and the facts.
type Notification struct {
	Kind   Kind
	To, CC []jit.UserID
	// Subject is the subject without the reply prefix; MailSubject adds
	// it, as the original's mail service did for replies.
	Subject           string
	IsReply           bool
	Beneficiary       jit.UserID
	Approver          jit.UserID // ActivationApproved only
	Reviewers         []jit.UserID
	Project           jit.ProjectID
	Roles             []string
	ResourceCondition string
	Start, End        time.Time
	RequestExpiry     time.Time // RequestActivation only
	Justification     string
	BaseURL           string // the app's root, e.g. https://jit.example.com/
	ActionURL         string // the approval link, RequestActivation only
	// Reason is a rejection's reason (ActivationRejected); Approvals and
	// Required the progress of a request needing several approvals.
	Reason string
	// Comment is the approver's comment (ActivationApproved,
	// ActivationApprovalAdded), "" for none.
	Comment   string
	Approvals []jit.UserID
	Required  int
	// Dedicated is set when the reviewers are the role's dedicated
	// approvers rather than peers.
	Dedicated bool
	// Scheduled is set when the window starts at a time the requester
	// chose, later than the decision: the access is not active yet.
	Scheduled bool
}

// ScopeNoun is what Project names: "project", or "folder" and
// "organization" for the resource names of those ("folders/F").
func (n Notification) ScopeNoun() string {
	switch {
	case strings.HasPrefix(string(n.Project), "folders/"):
		return "folder"
	case strings.HasPrefix(string(n.Project), "organizations/"):
		return "organization"
	}
	return "project"
}

// MailSubject is the subject line of the email: "Re: " before replies,
// and any line break (which no value should contain, but the subject is a
// header) turned into a space.
func (n Notification) MailSubject() string {
	s := n.Subject
	if n.IsReply {
		s = "Re: " + s
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// requestSubject is the subject of a request and, as a reply, of its
// approval, so that mail clients thread them.
func requestSubject(beneficiary jit.UserID, project jit.ProjectID) string {
	if strings.Contains(string(project), "/") { // a folder or the organization
		return string(beneficiary) + " requests access to " + string(project)
	}
	return string(beneficiary) + " requests access to project " + string(project)
}

// scopeOf is the project of an entitlement, or for an entitlement on a
// folder or the organization its resource name ("folders/F"), which the
// templates show where they show the project.
func scopeOf(e jit.Entitlement) jit.ProjectID {
	if e.Node != "" {
		return jit.ProjectID(e.Node)
	}
	return e.Project
}

// NewRequestActivation is the notification that asks the reviewers of r to
// approve it: To the reviewers, CC the beneficiary. start and end are the
// window the beneficiary asked for (ours starts at approval, so they are
// indicative), actionURL is the approval link.
func NewRequestActivation(r jit.ActivationRequest, start, end time.Time, baseURL, actionURL string) Notification {
	return Notification{
		Kind:              RequestActivation,
		To:                slices.Clone(r.Reviewers),
		CC:                []jit.UserID{r.Beneficiary},
		Subject:           requestSubject(r.Beneficiary, scopeOf(r.Entitlement)),
		Beneficiary:       r.Beneficiary,
		Reviewers:         slices.Clone(r.Reviewers),
		Project:           scopeOf(r.Entitlement),
		Roles:             []string{r.Entitlement.Role},
		ResourceCondition: r.Entitlement.ResourceCondition,
		Start:             start,
		End:               end,
		RequestExpiry:     r.ApproveBy,
		Justification:     r.Justification,
		BaseURL:           baseURL,
		ActionURL:         actionURL,
		Scheduled:         !r.StartAt.IsZero() && r.StartAt.After(r.RequestedAt),
	}
}

// NewActivationApproved is the notification that approver granted a: To
// the beneficiary, CC the reviewers, as a reply to the request.
func NewActivationApproved(a jit.Activation, approver jit.UserID, reviewers []jit.UserID, baseURL string) Notification {
	return Notification{
		Kind:              ActivationApproved,
		To:                []jit.UserID{a.Beneficiary},
		CC:                slices.Clone(reviewers),
		Subject:           requestSubject(a.Beneficiary, scopeOf(a.Entitlement)),
		IsReply:           true,
		Beneficiary:       a.Beneficiary,
		Approver:          approver,
		Reviewers:         slices.Clone(reviewers),
		Project:           scopeOf(a.Entitlement),
		Roles:             []string{a.Entitlement.Role},
		ResourceCondition: a.Entitlement.ResourceCondition,
		Start:             a.Start,
		End:               a.End,
		Justification:     a.Justification,
		BaseURL:           baseURL,
	}
}

// NewActivationSelfApproved is the notification of a self-activation of
// one or more roles on one project: To the beneficiary. The original marks
// it a reply but has no email template for it, so it only goes to Pub/Sub.
func NewActivationSelfApproved(as []jit.Activation) Notification {
	n := Notification{Kind: ActivationSelfApproved, IsReply: true}
	if len(as) == 0 {
		return n
	}
	a := as[0]
	n.To = []jit.UserID{a.Beneficiary}
	n.Beneficiary, n.Project, n.Justification = a.Beneficiary, scopeOf(a.Entitlement), a.Justification
	n.ResourceCondition, n.Start, n.End = a.Entitlement.ResourceCondition, a.Start, a.End
	quoted := make([]string, len(as))
	for i, x := range as {
		n.Roles = append(n.Roles, x.Entitlement.Role)
		quoted[i] = "'" + x.Entitlement.Role + "'"
	}
	n.Subject = "Activated roles " + strings.Join(quoted, ", ") + " on '" + string(n.Project) + "'"
	return n
}

// baseURL derives the app's root from an approval link
// (https://host/?activation=…), which is the only place the use cases put
// the external URL: the original took it from the incoming request too.
func baseURL(actionURL string) string {
	if i := strings.Index(actionURL, "/?"); i > 0 {
		return actionURL[:i+1]
	}
	return ""
}

// FromEvent builds the notification of an event; ok is false for events
// nobody is notified about (failures, refusals).
func FromEvent(e jit.Event) (Notification, bool) {
	switch e.Kind {
	case jit.EventRequested:
		if e.Request == nil {
			return Notification{}, false
		}
		var start, end time.Time
		if len(e.Activations) > 0 {
			start, end = e.Activations[0].Start, e.Activations[0].End
		}
		n := NewRequestActivation(*e.Request, start, end, baseURL(e.ActionURL), e.ActionURL)
		n.Dedicated = e.Request.Dedicated
		if q := e.Request.Quorum(); q > 1 {
			n.Required = q
		}
		return n, true
	case jit.EventApproved:
		if len(e.Activations) == 0 {
			return Notification{}, false
		}
		var reviewers []jit.UserID
		if e.Request != nil {
			reviewers = e.Request.Reviewers
		}
		base := e.BaseURL
		if base == "" {
			base = baseURL(e.ActionURL)
		}
		n := NewActivationApproved(e.Activations[0], e.Actor.Email, reviewers, base)
		// A window that begins at the request's scheduled start rather
		// than at the approval has not begun yet.
		n.Scheduled = e.Request != nil && !e.Request.StartAt.IsZero() && e.Activations[0].Start.Equal(e.Request.StartAt)
		for _, a := range e.Approvals {
			n.Approvals = append(n.Approvals, a.By)
		}
		n.Required = e.Required
		n.Comment = e.Comment
		return n, true
	case jit.EventRejected, jit.EventApprovalRecorded, jit.EventWithdrawn:
		return decisionFromEvent(e)
	case jit.EventSelfActivated:
		if len(e.Activations) == 0 {
			return Notification{}, false
		}
		return NewActivationSelfApproved(e.Activations), true
	}
	return Notification{}, false
}

// Channel sends notifications one way (email, Pub/Sub).
type Channel interface {
	Send(ctx context.Context, n Notification) error
}

// Multi sends on every channel it holds, all of them even when one fails,
// and joins the failures. The channels send at once: an email and a
// Pub/Sub publish (which waits for the server's answer) do not wait for
// each other.
type Multi []Channel

// Send implements Channel.
func (m Multi) Send(ctx context.Context, n Notification) error {
	return all(len(m), func(i int) error { return m[i].Send(ctx, n) })
}

// all runs send for 0..n-1 at once and joins the failures in that order.
func all(n int, send func(i int) error) error {
	if n == 1 {
		return send(0)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = send(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Notifier turns events into notifications and sends them on every
// channel; it is what the activation use cases consume.
type Notifier struct {
	channels Multi
}

// New returns a Notifier over channels (nil entries are skipped, so that
// unconfigured channels can be passed as they are).
func New(channels ...Channel) *Notifier {
	n := &Notifier{}
	for _, c := range channels {
		if c != nil {
			n.channels = append(n.channels, c)
		}
	}
	return n
}

// Notify sends the event's notification, if it has one. The error joins
// every channel's failure; each is a *jit.Error.
func (n *Notifier) Notify(ctx context.Context, e jit.Event) error {
	msg, ok := FromEvent(e)
	if !ok {
		return nil
	}
	return n.channels.Send(ctx, msg)
}
