package notify

import (
	"context"
	"errors"
	"sync"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// Preparer is a Channel that can set up, before the notification exists,
// what sending it needs: the Mailer's SMTP session (connect, EHLO,
// STARTTLS, AUTH), which depends on nothing in the message. An approval
// request prepares it while its token is being signed, so that only MAIL,
// RCPT and DATA follow the signature.
type Preparer interface {
	Channel
	// Prepare starts setting up for a notification of kind k and returns
	// at once; the set-up runs until the Delivery is used, ctx ends, or
	// the channel's own time limit passes.
	Prepare(ctx context.Context, k Kind) Delivery
}

// Delivery is a send that was prepared. Exactly one of Send and Discard
// is to be called; later calls do nothing (Send fails).
type Delivery interface {
	// Send sends n on what was prepared, and fails as the channel's Send
	// would, for a failure of the set-up too. ctx bounds what is left of
	// the set-up and the send, together with the preparation's context
	// and time limit.
	Send(ctx context.Context, n Notification) error
	// Discard gives up what was prepared without sending anything (for an
	// SMTP session: QUIT, or, while still being set up, closing the
	// connection), and returns when it is released.
	Discard()
}

// errDeliveryUsed is a Delivery sent or discarded before: a bug of the
// caller, never the user's.
var errDeliveryUsed = errors.New("notify: the prepared delivery was already used")

// Prepare prepares c if it is a Preparer; any other channel has nothing to
// prepare and sends when the Delivery does.
func Prepare(ctx context.Context, c Channel, k Kind) Delivery {
	if p, ok := c.(Preparer); ok {
		return p.Prepare(ctx, k)
	}
	return &later{c: c}
}

// later is the Delivery of a channel that prepares nothing.
type later struct {
	c    Channel
	used sync.Once
}

func (d *later) Send(ctx context.Context, n Notification) error {
	err := errDeliveryUsed
	d.used.Do(func() { err = d.c.Send(ctx, n) })
	return err
}

func (d *later) Discard() { d.used.Do(func() {}) }

// Prepare implements Preparer: every channel prepares at once, and Send
// sends on all of them (also when one's set-up failed) and joins the
// failures, as Multi.Send does.
func (m Multi) Prepare(ctx context.Context, k Kind) Delivery {
	ds := make(multiDelivery, len(m))
	for i, c := range m {
		ds[i] = Prepare(ctx, c, k)
	}
	return ds
}

type multiDelivery []Delivery

func (ds multiDelivery) Send(ctx context.Context, n Notification) error {
	return all(len(ds), func(i int) error { return ds[i].Send(ctx, n) })
}

func (ds multiDelivery) Discard() {
	for _, d := range ds {
		d.Discard()
	}
}

// Prepare starts setting up every channel for the notification of an
// event of kind k (for a request for approval: the SMTP session, while the
// token is being signed), and returns at once. send notifies e on what was
// prepared, as Notify would, with the same errors, set-up failures
// included; discard gives it up without sending anything. Exactly one of
// them is to be called.
//
// The functions, rather than a type, let the use cases declare what they
// consume without importing this package.
func (n *Notifier) Prepare(ctx context.Context, k jit.EventKind) (send func(context.Context, jit.Event) error, discard func()) {
	kind, ok := kindOf(k)
	if !ok {
		// Nothing to prepare for an event nobody hears about; Notify
		// decides as always.
		var used sync.Once
		send = func(ctx context.Context, e jit.Event) error {
			err := errDeliveryUsed
			used.Do(func() { err = n.Notify(ctx, e) })
			return err
		}
		return send, func() { used.Do(func() {}) }
	}
	d := n.channels.Prepare(ctx, kind)
	send = func(ctx context.Context, e jit.Event) error {
		msg, ok := FromEvent(e)
		if !ok || msg.Kind != kind {
			// Not what was prepared for (an approval whose reviewers all
			// approved already has nobody to tell): release it, and send
			// what the event has, if anything.
			d.Discard()
			if !ok {
				return nil
			}
			return n.channels.Send(ctx, msg)
		}
		return d.Send(ctx, msg)
	}
	return send, d.Discard
}

// kindOf is the kind of notification an event of kind k has, if any (see
// FromEvent, which decides it for a complete event).
func kindOf(k jit.EventKind) (Kind, bool) {
	switch k {
	case jit.EventRequested:
		return RequestActivation, true
	case jit.EventApproved:
		return ActivationApproved, true
	case jit.EventRejected:
		return ActivationRejected, true
	case jit.EventWithdrawn:
		return ActivationWithdrawn, true
	case jit.EventApprovalRecorded:
		return ActivationApprovalAdded, true
	case jit.EventSelfActivated:
		return ActivationSelfApproved, true
	}
	return "", false
}

// Prepare implements Preparer: for a kind with an email, it opens the SMTP
// session in the background, bounded by ctx and Timeout from now on (the
// session and the message that follows). Set-up failures are reported by
// Send, as Send reports them.
func (m *Mailer) Prepare(ctx context.Context, k Kind) Delivery {
	if !hasEmail(k) {
		return &later{c: m}
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	d := &mailDelivery{m: m, kind: k, cancel: cancel, ready: make(chan struct{})}
	go func() {
		defer close(d.ready)
		d.sess, d.err = m.open(ctx)
	}()
	return d
}

// mailDelivery is an SMTP session being set up, or ready for a message.
type mailDelivery struct {
	m      *Mailer
	kind   Kind
	cancel context.CancelFunc // ends the session (Prepare's context with Timeout)
	ready  chan struct{}      // closed when open returned
	sess   *session           // after ready: the session, or nil and err
	err    error
	used   sync.Once
}

func (d *mailDelivery) Send(ctx context.Context, n Notification) error {
	const op = "notify.Mailer.Send"
	err := errDeliveryUsed
	d.used.Do(func() {
		defer d.cancel() // also closes the connection, whatever happened on it
		if n.Kind != d.kind {
			d.release()
			err = d.m.Send(ctx, n)
			return
		}
		// The caller's context bounds the rest too: when it ends, so does
		// the session (and a set-up still under way).
		stop := context.AfterFunc(ctx, d.cancel)
		defer stop()
		msg, msgErr := d.m.message(ctx, n)
		if msgErr != nil {
			d.release()
			err = jit.E(op, jit.KindInternal, msgSendFailed, msgErr)
			return
		}
		<-d.ready
		if d.err != nil {
			err = d.err
			return
		}
		err = d.sess.transfer(msg)
	})
	return err
}

func (d *mailDelivery) Discard() {
	d.used.Do(func() {
		d.release()
		d.cancel()
	})
}

// release ends the session unused: QUIT if it is ready; if it is still
// being set up, there is no one to wait for, so the connection is closed.
func (d *mailDelivery) release() {
	select {
	case <-d.ready:
	default:
		d.cancel()
		<-d.ready
	}
	if d.sess != nil {
		d.sess.quit()
	}
}
