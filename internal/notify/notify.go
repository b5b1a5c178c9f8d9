// Package notify tells people what happened: reviewers get an email with
// the approval link when someone asks for their approval, the requester
// gets one when a reviewer approves, and every event can be published to
// Pub/Sub for other tools (chat bots, ticketing). Email goes through a
// maintained SMTP client (github.com/wneessen/go-mail: STARTTLS, AUTH,
// header-injection-safe address handling); bodies are rendered from
// embedded templates with html/template, so every value is escaped.
package notify

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// Type is the original's notification type.
type Type string

// Notification types.
const (
	TypeRequestActivation      Type = "RequestActivation"
	TypeActivationApproved     Type = "ActivationApproved"
	TypeActivationSelfApproved Type = "ActivationSelfApproved"
)

// Notification is what a channel sends.
type Notification struct {
	Type              Type
	To, CC            []jit.UserID
	Subject           string
	Beneficiary       jit.UserID
	Approver          jit.UserID
	Reviewers         []jit.UserID
	Project           jit.ProjectID
	Roles             []string
	ResourceCondition string
	Start, End        time.Time
	RequestExpiry     time.Time
	Justification     string
	BaseURL           string
	ActionURL         string
}

// FromEvent builds the notification of an event; ok is false for events
// nobody is notified about (failures, refusals).
func FromEvent(e jit.Event) (Notification, bool) {
	var n Notification
	if len(e.Activations) > 0 {
		a := e.Activations[0]
		n.Project, n.ResourceCondition = a.Entitlement.Project, a.Entitlement.ResourceCondition
		n.Start, n.End, n.Justification, n.Beneficiary = a.Start, a.End, a.Justification, a.Beneficiary
		for _, x := range e.Activations {
			n.Roles = append(n.Roles, x.Entitlement.Role)
		}
	}
	if r := e.Request; r != nil {
		n.Beneficiary, n.Reviewers, n.Justification = r.Beneficiary, slices.Clone(r.Reviewers), r.Justification
		n.RequestExpiry = r.ApproveBy
	}
	n.ActionURL = e.ActionURL
	if i := strings.Index(e.ActionURL, "/?"); i > 0 {
		n.BaseURL = e.ActionURL[:i+1]
	}
	subject := string(n.Beneficiary) + " requests access to project " + string(n.Project)
	switch e.Kind {
	case jit.EventRequested:
		n.Type, n.To, n.CC, n.Subject = TypeRequestActivation, n.Reviewers, []jit.UserID{n.Beneficiary}, subject
	case jit.EventApproved:
		n.Type, n.To, n.CC, n.Subject = TypeActivationApproved, []jit.UserID{n.Beneficiary}, n.Reviewers, "Re: "+subject
		n.Approver = e.Actor.Email
	case jit.EventSelfActivated:
		quoted := make([]string, len(n.Roles))
		for i, r := range n.Roles {
			quoted[i] = "'" + r + "'"
		}
		n.Type, n.To = TypeActivationSelfApproved, []jit.UserID{n.Beneficiary}
		n.Subject = "Activated roles " + strings.Join(quoted, ", ") + " on '" + string(n.Project) + "'"
	default:
		return Notification{}, false
	}
	return n, true
}

// Channel sends notifications one way.
type Channel interface {
	Send(ctx context.Context, n Notification) error
}

// Notifier sends each event's notification on every channel; one failing
// channel does not stop the others.
type Notifier struct {
	channels []Channel
}

// New returns a Notifier over channels (nil entries are skipped).
func New(channels ...Channel) *Notifier {
	n := &Notifier{}
	for _, c := range channels {
		if c != nil {
			n.channels = append(n.channels, c)
		}
	}
	return n
}

// Notify sends the event's notification, if it has one.
func (n *Notifier) Notify(ctx context.Context, e jit.Event) error {
	msg, ok := FromEvent(e)
	if !ok {
		return nil
	}
	var errs []error
	for _, c := range n.channels {
		if err := c.Send(ctx, msg); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
