package notify_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/pstest"
	"github.com/google/go-cmp/cmp"

	"github.com/jitaccess/jitaccess/internal/jit"
	"github.com/jitaccess/jitaccess/internal/notify"
	"github.com/jitaccess/jitaccess/internal/outbox"
)

// waitConn waits, with a generous fallback, until the outbox has seen a
// connection that matches.
func waitConn(t *testing.T, ob *outbox.Server, match func(outbox.Connection) bool) outbox.Connection {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c, err := ob.WaitForConnection(ctx, match)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitAllClosed waits until every connection the outbox has seen ended.
func waitAllClosed(t *testing.T, ob *outbox.Server) []outbox.Connection {
	t.Helper()
	for _, c := range ob.Connections() {
		waitConn(t, ob, func(x outbox.Connection) bool { return x.ID == c.ID && x.Closed })
	}
	return ob.Connections()
}

func ready(c outbox.Connection) bool  { return c.Authenticated && !c.Closed }
func closed(c outbox.Connection) bool { return c.Closed }

// TestPreparedSessionCarriesTheMessage: Prepare sets the session up
// (STARTTLS, AUTH) before the notification exists; Send then sends only
// the message on it and ends it.
func TestPreparedSessionCarriesTheMessage(t *testing.T) {
	t.Parallel()
	ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
	d := newMailer(t, ob, nil).Prepare(t.Context(), notify.RequestActivation)
	if c := waitConn(t, ob, ready); !c.TLS || c.Mails != 0 {
		t.Errorf("prepared session = %+v, want it encrypted and without MAIL FROM", c)
	}
	if err := d.Send(t.Context(), requestNotification(nil)); err != nil {
		t.Fatal(err)
	}
	waitConn(t, ob, closed)
	want := []outbox.Connection{{ID: 1, TLS: true, Authenticated: true, Mails: 1, Messages: 1, Closed: true}}
	if diff := cmp.Diff(want, ob.Connections()); diff != "" {
		t.Errorf("connections (-want +got):\n%s", diff)
	}
	if msgs := ob.Messages(); len(msgs) != 1 || msgs[0].Subject != "alice@example.com requests access to project prod-payments-api" {
		t.Errorf("messages = %+v", msgs)
	}
	if err := d.Send(t.Context(), requestNotification(nil)); err == nil {
		t.Error("a second Send on one delivery succeeded")
	}
	if n := len(ob.Messages()); n != 1 {
		t.Errorf("%d messages after a second Send, want 1", n)
	}
}

// TestDiscardedSessionSendsNothing: a discarded session ends without MAIL
// FROM, whether it was ready or still being set up (a server that never
// greets: Discard closes the connection instead of waiting for it).
func TestDiscardedSessionSendsNothing(t *testing.T) {
	t.Parallel()
	t.Run("ready", func(t *testing.T) {
		t.Parallel()
		ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
		d := newMailer(t, ob, nil).Prepare(t.Context(), notify.RequestActivation)
		waitConn(t, ob, ready)
		d.Discard()
		d.Discard()
		waitConn(t, ob, closed)
		want := []outbox.Connection{{ID: 1, TLS: true, Authenticated: true, Closed: true}}
		if diff := cmp.Diff(want, ob.Connections()); diff != "" {
			t.Errorf("connections (-want +got):\n%s", diff)
		}
		if err := d.Send(t.Context(), requestNotification(nil)); err == nil || len(ob.Messages()) != 0 {
			t.Errorf("Send after Discard = %v with %d messages, want an error and none", err, len(ob.Messages()))
		}
	})
	t.Run("still_being_set_up", func(t *testing.T) {
		t.Parallel()
		silent := listenSilently(t)
		ob := startOutbox(t, outbox.Options{})
		m := newMailer(t, ob, func(o *notify.MailOptions) {
			o.Port = silent.port
			o.Timeout = time.Hour // only Discard ends it
		})
		d := m.Prepare(t.Context(), notify.RequestActivation)
		conn := <-silent.accepted
		d.Discard()
		if err := waitEOF(conn); err != nil {
			t.Errorf("the connection was not closed by Discard: %v", err)
		}
	})
}

// silentServer accepts connections and never says a word.
type silentServer struct {
	port     int
	accepted chan net.Conn
}

func listenSilently(t *testing.T) silentServer {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	s := silentServer{port: l.Addr().(*net.TCPAddr).Port, accepted: make(chan net.Conn, 4)}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
			s.accepted <- c
		}
	}()
	return s
}

// waitEOF reads until the peer closes; the deadline is only a fallback.
func waitEOF(c net.Conn) error {
	if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return err
	}
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return err
			}
			return nil
		}
	}
}

// TestPreparedSessionEndsWithItsContextAndTimeout: a prepared session
// that is not used ends when Prepare's context ends, or when Timeout has
// passed since Prepare, and Send then fails as for a server that went
// away.
func TestPreparedSessionEndsWithItsContextAndTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		cancel  bool
	}{
		{name: "context_cancelled", timeout: time.Hour, cancel: true},
		{name: "timeout_passed", timeout: 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
			m := newMailer(t, ob, func(o *notify.MailOptions) { o.Timeout = tc.timeout })
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			d := m.Prepare(ctx, notify.RequestActivation)
			if tc.cancel {
				waitConn(t, ob, ready)
				cancel()
			}
			// Ready or not by then, the session ends by itself.
			waitConn(t, ob, closed)
			err := d.Send(t.Context(), requestNotification(nil))
			if jit.KindOf(err) != jit.KindUnavailable || jit.MessageOf(err) != "Sending the notification email failed" {
				t.Errorf("Send on an ended session = %v (kind %v), want unavailable", err, jit.KindOf(err))
			}
			if c := ob.Connections(); len(c) != 1 || c[0].Mails != 0 || len(ob.Messages()) != 0 {
				t.Errorf("connections %+v, %d messages; want one without MAIL FROM, none", c, len(ob.Messages()))
			}
		})
	}
}

// TestPreparationNeedsNothingForKindsWithoutEmail: a self-activation has
// no email, so nothing connects, and Send sends nothing.
func TestPreparationNeedsNothingForKindsWithoutEmail(t *testing.T) {
	t.Parallel()
	ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
	d := newMailer(t, ob, nil).Prepare(t.Context(), notify.ActivationSelfApproved)
	if err := d.Send(t.Context(), notify.NewActivationSelfApproved([]jit.Activation{newActivation(newRequest())})); err != nil {
		t.Fatal(err)
	}
	if c := ob.Connections(); len(c) != 0 || len(ob.Messages()) != 0 {
		t.Errorf("connections %+v and %d messages for a self-activation, want none", c, len(ob.Messages()))
	}
}

// TestNotifierPrepareSendsOnEveryChannel: the Notifier prepares the
// email while Pub/Sub needs nothing prepared; a failed set-up is reported
// as Notify reports it, and does not stop Pub/Sub.
func TestNotifierPrepareSendsOnEveryChannel(t *testing.T) {
	t.Parallel()
	const topic = "projects/jitaccess-app/topics/jit-events"
	r := newRequest()
	e := jit.Event{Kind: jit.EventRequested, Request: &r, Activations: []jit.Activation{newActivation(r)}, ActionURL: actionURL}
	for _, tc := range []struct {
		name     string
		password string
		wantErr  bool
	}{
		{name: "email_and_pubsub", password: smtpPassword},
		{name: "email_fails", password: "wrong", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
			mailer := newMailer(t, ob, func(o *notify.MailOptions) { o.Password = tc.password })
			srv, client := newPubSub(t, topic)
			n := notify.New(mailer, newPublisher(t, client, topic))
			send, _ := n.Prepare(t.Context(), jit.EventRequested)
			err := send(t.Context(), e)
			if tc.wantErr {
				if jit.KindOf(err) != jit.KindUnavailable || jit.MessageOf(err) != "Sending the notification email failed" {
					t.Errorf("send = %v, want the mailer's failure", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			wantMails := 1
			if tc.wantErr {
				wantMails = 0
			}
			if len(ob.Messages()) != wantMails || len(srv.Messages()) != 1 {
				t.Errorf("%d emails and %d Pub/Sub messages, want %d and 1", len(ob.Messages()), len(srv.Messages()), wantMails)
			}
		})
	}
	t.Run("discarded", func(t *testing.T) {
		t.Parallel()
		ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
		srv, client := newPubSub(t, topic)
		n := notify.New(newMailer(t, ob, nil), newPublisher(t, client, topic))
		_, discard := n.Prepare(t.Context(), jit.EventRequested)
		waitConn(t, ob, ready)
		discard()
		if c := waitAllClosed(t, ob); len(c) != 1 || c[0].Mails != 0 || len(ob.Messages()) != 0 || len(srv.Messages()) != 0 {
			t.Errorf("after discard: connections %+v, %d emails, %d Pub/Sub messages; want nothing sent", c, len(ob.Messages()), len(srv.Messages()))
		}
	})
	t.Run("event_without_notification", func(t *testing.T) {
		t.Parallel()
		ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
		n := notify.New(newMailer(t, ob, nil))
		// An approval that everyone already approved has nobody left to
		// tell: the prepared session is given up.
		send, _ := n.Prepare(t.Context(), jit.EventApprovalRecorded)
		req := newRequest()
		req.Reviewers = []jit.UserID{"bob@example.com"}
		err := send(t.Context(), jit.Event{Kind: jit.EventApprovalRecorded, Request: &req, Actor: jit.Principal{Email: "bob@example.com"}, Required: 2})
		if err != nil {
			t.Fatal(err)
		}
		waitAllClosed(t, ob)
		if len(ob.Messages()) != 0 {
			t.Errorf("%d emails, want none", len(ob.Messages()))
		}
	})
}

// holdUntilMailed is a pstest reactor that holds every Publish until the
// outbox has received an email (or a generous fallback passed), and
// remembers whether it had.
type holdUntilMailed struct {
	ob    *outbox.Server
	ctx   context.Context //nolint:containedctx // the test's, for the fallback
	mails chan bool
}

func (h holdUntilMailed) React(any) (bool, any, error) {
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	_, err := h.ob.WaitFor(ctx, func(outbox.Message) bool { return true })
	h.mails <- err == nil
	return false, nil, nil
}

// TestChannelsSendAtOnce: the email does not wait for the Pub/Sub
// publish (which waits for its server's answer), prepared or not: the
// publish is held until the email has arrived, so channels sent one after
// the other would never get there.
func TestChannelsSendAtOnce(t *testing.T) {
	t.Parallel()
	const topic = "projects/jitaccess-app/topics/jit-events"
	for _, prepared := range []bool{false, true} {
		t.Run(map[bool]string{false: "send", true: "prepared"}[prepared], func(t *testing.T) {
			t.Parallel()
			ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
			hold := holdUntilMailed{ob: ob, ctx: t.Context(), mails: make(chan bool, 1)}
			_, client := newPubSub(t, topic, pstest.ServerReactorOption{FuncName: "Publish", Reactor: hold})
			// Pub/Sub first: in order, it would be waited for before the email.
			n := notify.New(newPublisher(t, client, topic), newMailer(t, ob, nil))
			r := newRequest()
			e := jit.Event{Kind: jit.EventRequested, Request: &r, Activations: []jit.Activation{newActivation(r)}, ActionURL: actionURL}
			var err error
			if prepared {
				send, _ := n.Prepare(t.Context(), jit.EventRequested)
				err = send(t.Context(), e)
			} else {
				err = n.Notify(t.Context(), e)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !<-hold.mails {
				t.Error("the publish was answered before the email was sent: the channels sent one after the other")
			}
		})
	}
}
