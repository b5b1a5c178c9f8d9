package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/jitaccess/jitaccess/internal/jit"
	"github.com/jitaccess/jitaccess/internal/notify"
	"github.com/jitaccess/jitaccess/internal/outbox"
)

const (
	smtpUser     = "jit"
	smtpPassword = "secret"
	actionURL    = "https://jit.example.com/?activation=abc&projectId=prod-payments-api"
)

var start = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func newRequest() jit.ActivationRequest {
	return jit.ActivationRequest{
		ID: "mpa-1", Beneficiary: "alice@example.com", Reviewers: []jit.UserID{"bob@example.com", "carol@example.com"},
		Entitlement:   jit.Entitlement{Project: "prod-payments-api", Role: "roles/run.developer"},
		Justification: "CHG-1 deploy", Duration: time.Hour, RequestedAt: start, ApproveBy: start.Add(30 * time.Minute),
	}
}

func newActivation(r jit.ActivationRequest) jit.Activation {
	return jit.Activation{ID: r.ID, Type: jit.MPA, Beneficiary: r.Beneficiary, Entitlement: r.Entitlement,
		Justification: r.Justification, Start: start, End: start.Add(r.Duration)}
}

// requestNotification is a RequestActivation, changed by mutate.
func requestNotification(mutate func(*notify.Notification)) notify.Notification {
	r := newRequest()
	n := notify.NewRequestActivation(r, start, start.Add(time.Hour), "https://jit.example.com/", actionURL)
	if mutate != nil {
		mutate(&n)
	}
	return n
}

func startOutbox(t *testing.T, opts outbox.Options) *outbox.Server {
	t.Helper()
	s, err := outbox.Start(t.Context(), "127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// mailOptions are options that reach ob with STARTTLS and AUTH.
func mailOptions(t *testing.T, ob *outbox.Server) notify.MailOptions {
	t.Helper()
	host, portText, err := net.SplitHostPort(ob.Addr())
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatal(err)
	}
	return notify.MailOptions{
		Host: host, Port: port, StartTLS: true, SenderName: "JIT Access", SenderAddress: "jit@example.com",
		Username: smtpUser, Password: smtpPassword, TLSConfig: ob.TLSConfig(), Location: time.UTC, Timeout: 10 * time.Second,
	}
}

func newMailer(t *testing.T, ob *outbox.Server, mutate func(*notify.MailOptions)) *notify.Mailer {
	t.Helper()
	opts := mailOptions(t, ob)
	if mutate != nil {
		mutate(&opts)
	}
	m, err := notify.NewMailer(opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// mustSend sends n and returns the one message the outbox received.
func mustSend(t *testing.T, ob *outbox.Server, m *notify.Mailer, n notify.Notification) outbox.Message {
	t.Helper()
	if err := m.Send(t.Context(), n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := ob.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages in the outbox, want 1", len(msgs))
	}
	return msgs[0]
}

type recipients struct{ To, CC, Envelope []string }

func recipientsOf(m outbox.Message) recipients {
	return recipients{To: m.To, CC: m.CC, Envelope: m.Recipients}
}

func TestRequestEmailOverSTARTTLSWithAuth(t *testing.T) {
	t.Parallel()
	ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
	m := mustSend(t, ob, newMailer(t, ob, nil), requestNotification(nil))

	if m.Subject != "alice@example.com requests access to project prod-payments-api" {
		t.Errorf("subject = %q", m.Subject)
	}
	want := recipients{
		To:       []string{"bob@example.com", "carol@example.com"},
		CC:       []string{"alice@example.com"},
		Envelope: []string{"bob@example.com", "carol@example.com", "alice@example.com"},
	}
	if diff := cmp.Diff(want, recipientsOf(m)); diff != "" {
		t.Errorf("recipients (-want +got):\n%s", diff)
	}
	if m.From != `"JIT Access" <jit@example.com>` {
		t.Errorf("From = %q", m.From)
	}
	if ct := m.Headers.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative") {
		t.Errorf("Content-Type = %q, want multipart/alternative", ct)
	}
	for h, v := range map[string]string{"Precedence": "bulk", "Auto-Submitted": "auto-generated"} {
		if got := m.Headers.Get(h); got != v {
			t.Errorf("%s = %q, want %q", h, got, v)
		}
	}
	for _, s := range []string{
		"alice@example.com requests your approval to access the Google Cloud project prod-payments-api",
		"roles/run.developer", "CHG-1 deploy", "View request: " + actionURL,
		"This request automatically expires on Wed, 25 Nov 2026 10:30:00 UTC.",
		"Start:              Wed, 25 Nov 2026 10:00:00 UTC", "Why am I seeing this?", "https://jit.example.com/",
	} {
		if !strings.Contains(m.Text, s) {
			t.Errorf("text part lacks %q:\n%s", s, m.Text)
		}
	}
	for _, s := range []string{
		"<b>alice@example.com</b> requests your approval to access the Google Cloud project <b>prod-payments-api</b>",
		`href="https://jit.example.com/?activation=abc&amp;projectId=prod-payments-api"`, ">View request</a>",
		"This request automatically expires on Wed, 25 Nov 2026 10:30:00 UTC.", `<a href="https://jit.example.com/"`,
	} {
		if !strings.Contains(m.HTML, s) {
			t.Errorf("HTML part lacks %q:\n%s", s, m.HTML)
		}
	}
}

func TestApprovedEmailIsAReplyToTheBeneficiary(t *testing.T) {
	t.Parallel()
	ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
	r := newRequest()
	n := notify.NewActivationApproved(newActivation(r), "bob@example.com", r.Reviewers, "https://jit.example.com/")
	m := mustSend(t, ob, newMailer(t, ob, nil), n)

	if m.Subject != "Re: alice@example.com requests access to project prod-payments-api" {
		t.Errorf("subject = %q", m.Subject)
	}
	want := recipients{
		To:       []string{"alice@example.com"},
		CC:       []string{"bob@example.com", "carol@example.com"},
		Envelope: []string{"alice@example.com", "bob@example.com", "carol@example.com"},
	}
	if diff := cmp.Diff(want, recipientsOf(m)); diff != "" {
		t.Errorf("recipients (-want +got):\n%s", diff)
	}
	for _, part := range []string{m.Text, m.HTML} {
		if !strings.Contains(part, "Your request was approved") || !strings.Contains(part, "approved the request of alice@example.com") ||
			!strings.Contains(part, "Wed, 25 Nov 2026 11:00:00 UTC") {
			t.Errorf("approval email lacks its heading, approver or end time:\n%s", part)
		}
	}
}

func TestSelfActivationSendsNoEmail(t *testing.T) {
	t.Parallel()
	ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
	m := newMailer(t, ob, nil)
	n := notify.NewActivationSelfApproved([]jit.Activation{newActivation(newRequest())})
	if err := m.Send(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	if got := len(ob.Messages()); got != 0 {
		t.Errorf("%d emails for a self-activation, want 0", got)
	}
}

func TestSendFailures(t *testing.T) {
	t.Parallel()
	var lc net.ListenConfig
	closed, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().(*net.TCPAddr)
	_ = closed.Close()

	for _, tc := range []struct {
		name   string
		server outbox.Options
		mutate func(*notify.MailOptions)
		want   string // in the error, for the logs
	}{
		{name: "wrong_password", mutate: func(o *notify.MailOptions) { o.Password = "wrong" }, want: "invalid username or password"},
		{name: "no_credentials", mutate: func(o *notify.MailOptions) { o.Username, o.Password = "", "" }, want: "authenticate"},
		{name: "starttls_not_offered_password_kept", server: outbox.Options{NoTLS: true}, want: "did not offer STARTTLS"},
		{name: "starttls_required", server: outbox.Options{NoTLS: true}, mutate: func(o *notify.MailOptions) {
			o.Properties = map[string]string{"mail.smtp.starttls.required": "true"}
		}, want: "STARTTLS"},
		{name: "no_common_mechanism", server: outbox.Options{AuthMechanisms: []string{"PLAIN"}}, mutate: func(o *notify.MailOptions) {
			o.Properties = map[string]string{"mail.smtp.auth.mechanisms": "LOGIN"}
		}, want: "offers AUTH PLAIN; jitaccess may use LOGIN"},
		{name: "name_mismatch", mutate: func(o *notify.MailOptions) { o.TLSConfig.ServerName = "smtp.example.com" }, want: "certificate"},
		{name: "untrusted_certificate", mutate: func(o *notify.MailOptions) { o.TLSConfig = nil }, want: "certificate"},
		{name: "connection_refused", mutate: func(o *notify.MailOptions) { o.Port = closedAddr.Port }, want: "refused"},
	} {
		// A session prepared ahead of the message fails the same way.
		for _, via := range []string{"send", "prepared"} {
			t.Run(tc.name+"/"+via, func(t *testing.T) {
				t.Parallel()
				srv := tc.server
				srv.Username, srv.Password = smtpUser, smtpPassword
				ob := startOutbox(t, srv)
				m := newMailer(t, ob, tc.mutate)
				var err error
				if via == "send" {
					err = m.Send(t.Context(), requestNotification(nil))
				} else {
					err = m.Prepare(t.Context(), notify.RequestActivation).Send(t.Context(), requestNotification(nil))
				}
				if jit.KindOf(err) != jit.KindUnavailable || jit.MessageOf(err) != "Sending the notification email failed" {
					t.Errorf("Send = %v (kind %v), want an unavailable error with a safe message", err, jit.KindOf(err))
				}
				if err != nil && !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Send = %v, want the cause %q in the error", err, tc.want)
				}
				if got := len(ob.Messages()); got != 0 {
					t.Errorf("%d messages delivered, want 0", got)
				}
				// A session that failed is not left open.
				waitAllClosed(t, ob)
			})
		}
	}
}

func TestSendHonoursTheContext(t *testing.T) {
	t.Parallel()
	ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := newMailer(t, ob, nil).Send(ctx, requestNotification(nil))
	if jit.KindOf(err) != jit.KindUnavailable {
		t.Errorf("Send with a cancelled context = %v", err)
	}
}

func TestImplicitTLSAndSMTPOptions(t *testing.T) {
	t.Parallel()
	ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword, ImplicitTLS: true})
	m := newMailer(t, ob, func(o *notify.MailOptions) {
		o.Properties = map[string]string{
			"mail.smtp.ssl.enable": "true", "mail.smtp.connectiontimeout": "5000", "mail.smtp.timeout": "5000",
			"mail.smtp.localhost": "jit.example.com", "mail.smtp.unknown": "ignored",
		}
	})
	mustSend(t, ob, m, requestNotification(nil))
}

func TestNewMailerRejectsBadSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mutate func(*notify.MailOptions)
		want   string
	}{
		{name: "no_host", mutate: func(o *notify.MailOptions) { o.Host = "" }, want: "required"},
		{name: "sender_with_name", mutate: func(o *notify.MailOptions) { o.SenderAddress = "JIT <jit@example.com>" }, want: "plain email address"},
		{name: "mapping_syntax", mutate: func(o *notify.MailOptions) { o.AddressMapping = "user.email +" }, want: "not a valid CEL expression"},
		{name: "mapping_returns_int", mutate: func(o *notify.MailOptions) { o.AddressMapping = "1 + 1" }, want: "must return a string"},
		{name: "mapping_unknown_variable", mutate: func(o *notify.MailOptions) { o.AddressMapping = "principal.email" }, want: "undeclared reference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := notify.MailOptions{Host: "smtp.example.com", Port: 587, SenderAddress: "jit@example.com"}
			tc.mutate(&opts)
			_, err := notify.NewMailer(opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewMailer = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestAddressMapping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		mapping string
		want    []string // envelope recipients; nil when sending must fail
	}{
		{name: "identity", mapping: "", want: []string{"bob@example.com", "carol@example.com", "alice@example.com"}},
		{
			name:    "docs_extract",
			mapping: `user.email.extract('{handle}@example.com') + '@test.example.com'`,
			want:    []string{"bob@test.example.com", "carol@test.example.com", "alice@test.example.com"},
		},
		{
			name:    "docs_conditional",
			mapping: `user.email.endsWith('@example.com') ? user.email.extract('{handle}@example.com') + '@example.org' : user.email`,
			want:    []string{"bob@example.org", "carol@example.org", "alice@example.org"},
		},
		{name: "dyn_string", mapping: `dyn(user)['email']`, want: []string{"bob@example.com", "carol@example.com", "alice@example.com"}},
		{name: "dyn_not_a_string", mapping: `dyn(user.email.size())`},
		{name: "empty_result", mapping: `user.email.extract('{handle}@other.com')`},
		{name: "not_an_address", mapping: `user.email.extract('{handle}@example.com')`},
		{name: "header_injection", mapping: `user.email + '\r\nBcc: eve@example.com'`},
		{name: "second_address", mapping: `user.email + ', eve@example.com'`},
		{name: "display_name", mapping: `'Eve <eve@example.com>'`},
		{name: "missing_key", mapping: `user['phone']`},
		{
			// 10^4 iterations cost more than the limit allows.
			name: "cost_limit",
			mapping: `[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, ` +
				`[1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, true)))) ? user.email : ''`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
			m := newMailer(t, ob, func(o *notify.MailOptions) { o.AddressMapping = tc.mapping })
			err := m.Send(t.Context(), requestNotification(nil))
			if tc.want == nil {
				if err == nil || jit.MessageOf(err) != "Sending the notification email failed" || len(ob.Messages()) != 0 {
					t.Errorf("Send = %v with %d messages, want a failure and none", err, len(ob.Messages()))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, ob.Messages()[0].Recipients); diff != "" {
				t.Errorf("recipients (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTimesInTheConfiguredZone(t *testing.T) {
	t.Parallel()
	ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
	for _, tc := range []struct{ zone, start, expiry string }{
		{"UTC", "Wed, 25 Nov 2026 10:00:00 UTC", "Wed, 25 Nov 2026 10:30:00 UTC"},
		{"Europe/Berlin", "Wed, 25 Nov 2026 11:00:00 CET", "Wed, 25 Nov 2026 11:30:00 CET"},
		{"Asia/Kolkata", "Wed, 25 Nov 2026 15:30:00 IST", "Wed, 25 Nov 2026 16:00:00 IST"},
		{"America/Los_Angeles", "Wed, 25 Nov 2026 02:00:00 PST", "Wed, 25 Nov 2026 02:30:00 PST"},
	} {
		loc, err := time.LoadLocation(tc.zone)
		if err != nil {
			t.Fatal(err)
		}
		m := newMailer(t, ob, func(o *notify.MailOptions) { o.Location = loc })
		// Fractions of a second are dropped, as in the original.
		n := requestNotification(func(n *notify.Notification) { n.Start = n.Start.Add(400 * time.Millisecond) })
		if err := m.Send(t.Context(), n); err != nil {
			t.Fatal(err)
		}
		msg, err := ob.WaitFor(t.Context(), func(m outbox.Message) bool { return strings.Contains(m.Text, tc.start) })
		if err != nil {
			t.Fatalf("%s: %v", tc.zone, err)
		}
		for _, part := range []string{msg.Text, msg.HTML} {
			if !strings.Contains(part, tc.expiry) {
				t.Errorf("%s: expiry %q missing:\n%s", tc.zone, tc.expiry, part)
			}
		}
	}
}

func TestHTMLEscapesEveryValue(t *testing.T) {
	t.Parallel()
	ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
	n := requestNotification(func(n *notify.Notification) {
		n.Justification = `<script>alert(1)</script>`
		n.Roles = []string{`roles/x"><img src=x onerror=alert(2)>`, "roles/viewer"}
		n.ResourceCondition = `resource.name.startsWith("<b>")`
		n.ActionURL = "javascript:alert(3)"
	})
	m := mustSend(t, ob, newMailer(t, ob, nil), n)
	for _, bad := range []string{"<script>", "<img", `href="javascript:`, "<b>\""} {
		if strings.Contains(m.HTML, bad) {
			t.Errorf("HTML part contains %q unescaped:\n%s", bad, m.HTML)
		}
	}
	for _, good := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(2)&gt;", "&lt;b&gt;", `href="#ZgotmplZ"`} {
		if !strings.Contains(m.HTML, good) {
			t.Errorf("HTML part lacks %q:\n%s", good, m.HTML)
		}
	}
	// The plain part shows the text as it is: it is never interpreted.
	if !strings.Contains(m.Text, "<script>alert(1)</script>") {
		t.Errorf("text part altered the justification:\n%s", m.Text)
	}
}

func TestHeaderInjectionIsImpossible(t *testing.T) {
	t.Parallel()
	const inject = "\r\nBcc: eve@example.com\r\nX-Injected: yes"
	for _, tc := range []struct {
		name   string
		mutate func(*notify.Notification)
		fails  bool
	}{
		{name: "justification", mutate: func(n *notify.Notification) { n.Justification += inject }},
		{name: "subject", mutate: func(n *notify.Notification) { n.Subject += inject }},
		{name: "project_in_subject", mutate: func(n *notify.Notification) {
			*n = notify.NewRequestActivation(jit.ActivationRequest{
				Beneficiary: "alice@example.com", Reviewers: []jit.UserID{"bob@example.com"},
				Entitlement: jit.Entitlement{Project: jit.ProjectID("prod" + inject), Role: "roles/viewer"},
			}, start, start, "", actionURL)
		}},
		{name: "mime_boundary", mutate: func(n *notify.Notification) {
			n.Justification = "x\r\n\r\n--boundary\r\nContent-Type: text/html\r\n\r\n<script>alert(1)</script>"
		}},
		{name: "recipient", mutate: func(n *notify.Notification) { n.To = []jit.UserID{"bob@example.com" + inject} }, fails: true},
		{name: "cc", mutate: func(n *notify.Notification) { n.CC = []jit.UserID{"alice@example.com>, <eve@example.com"} }, fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
			n := requestNotification(tc.mutate)
			err := newMailer(t, ob, nil).Send(t.Context(), n)
			if tc.fails {
				if jit.KindOf(err) != jit.KindInternal || len(ob.Messages()) != 0 {
					t.Errorf("Send = %v with %d messages, want a refusal and none", err, len(ob.Messages()))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := ob.Messages()[0]
			for _, r := range m.Recipients {
				if strings.Contains(r, "eve") {
					t.Errorf("eve received the email: %v", m.Recipients)
				}
			}
			if m.Headers.Get("Bcc") != "" || m.Headers.Get("X-Injected") != "" {
				t.Errorf("injected headers arrived: %v", m.Headers)
			}
			if strings.Contains(m.HTML, "<script>") {
				t.Errorf("a part was injected:\n%s", m.HTML)
			}
		})
	}
}

func TestNotificationsOfEvents(t *testing.T) {
	t.Parallel()
	r := newRequest()
	act := newActivation(r)
	second := act
	second.Entitlement.Role = "roles/viewer"
	for _, tc := range []struct {
		name  string
		event jit.Event
		want  notify.Notification
	}{
		{
			name: "requested",
			event: jit.Event{Kind: jit.EventRequested, Actor: jit.Principal{Email: r.Beneficiary}, Request: &r,
				Activations: []jit.Activation{act}, ActionURL: actionURL},
			want: notify.Notification{
				Kind: notify.RequestActivation, To: r.Reviewers, CC: []jit.UserID{r.Beneficiary},
				Subject: "alice@example.com requests access to project prod-payments-api", Beneficiary: r.Beneficiary,
				Reviewers: r.Reviewers, Project: r.Entitlement.Project, Roles: []string{"roles/run.developer"},
				Start: act.Start, End: act.End, RequestExpiry: r.ApproveBy, Justification: r.Justification,
				BaseURL: "https://jit.example.com/", ActionURL: actionURL,
			},
		},
		{
			name: "approved",
			event: jit.Event{Kind: jit.EventApproved, Actor: jit.Principal{Email: "bob@example.com"}, Request: &r,
				Activations: []jit.Activation{act}},
			want: notify.Notification{
				Kind: notify.ActivationApproved, To: []jit.UserID{r.Beneficiary}, CC: r.Reviewers, IsReply: true,
				Subject: "alice@example.com requests access to project prod-payments-api", Beneficiary: r.Beneficiary,
				Approver: "bob@example.com", Reviewers: r.Reviewers, Project: r.Entitlement.Project,
				Roles: []string{"roles/run.developer"}, Start: act.Start, End: act.End, Justification: r.Justification,
			},
		},
		{
			name:  "self_activated",
			event: jit.Event{Kind: jit.EventSelfActivated, Actor: jit.Principal{Email: r.Beneficiary}, Activations: []jit.Activation{act, second}},
			want: notify.Notification{
				Kind: notify.ActivationSelfApproved, To: []jit.UserID{r.Beneficiary}, IsReply: true,
				Subject:     "Activated roles 'roles/run.developer', 'roles/viewer' on 'prod-payments-api'",
				Beneficiary: r.Beneficiary, Project: r.Entitlement.Project, Roles: []string{"roles/run.developer", "roles/viewer"},
				Start: act.Start, End: act.End, Justification: r.Justification,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := notify.FromEvent(tc.event)
			if !ok {
				t.Fatal("no notification")
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("notification (-want +got):\n%s", diff)
			}
		})
	}
	for _, k := range []jit.EventKind{jit.EventRequestFailed, jit.EventApproveFailed, jit.EventSelfActivateFailed, jit.EventRequestAccessDenied} {
		if _, ok := notify.FromEvent(jit.Event{Kind: k, Request: &r, Activations: []jit.Activation{act}}); ok {
			t.Errorf("%s has a notification", k)
		}
	}
	if got := notify.NewActivationApproved(act, "bob@example.com", nil, "").MailSubject(); got != "Re: alice@example.com requests access to project prod-payments-api" {
		t.Errorf("MailSubject = %q", got)
	}
}

func TestExtract(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ s, tmpl, want string }{
		{"alice@example.com", "{handle}@example.com", "alice"},
		{"alice@example.com", "no braces", "alice@example.com"},
		{"alice@other.com", "{handle}@example.com", ""},
		{"projects/p/zones/z", "projects/p/zones/{zone}", "z"},
		{"//storage.googleapis.com/projects/_/buckets/b/objects/o", "/buckets/{name}/", "b"},
		{"abc", "}{", "abc"},
		{"", "{x}", ""},
	} {
		if got := notify.Extract(tc.s, tc.tmpl); got != tc.want {
			t.Errorf("Extract(%q, %q) = %q, want %q", tc.s, tc.tmpl, got, tc.want)
		}
	}
}

func FuzzExtract(f *testing.F) {
	f.Add("alice@example.com", "{handle}@example.com")
	f.Add("projects/p/zones/z", "projects/p/zones/{zone}")
	f.Add("a", "}{")
	f.Fuzz(func(t *testing.T, s, tmpl string) {
		got := notify.Extract(s, tmpl)
		if !strings.Contains(s, got) {
			t.Errorf("Extract(%q, %q) = %q, which is not part of the input", s, tmpl, got)
		}
		if !strings.Contains(tmpl, "{") && got != s {
			t.Errorf("Extract(%q, %q) = %q, want the input for a template without braces", s, tmpl, got)
		}
	})
}

// newPubSub is a Pub/Sub client on a pstest server with topic created.
func newPubSub(t *testing.T, topic string, opts ...pstest.ServerReactorOption) (*pstest.Server, *pubsub.Client) {
	t.Helper()
	srv := pstest.NewServer(opts...)
	t.Cleanup(func() { _ = srv.Close() })
	if _, err := srv.GServer.CreateTopic(t.Context(), &pubsubpb.Topic{Name: topic}); err != nil {
		t.Fatal(err)
	}
	client, err := pubsub.NewClient(t.Context(), "jitaccess-app", option.WithEndpoint(srv.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return srv, client
}

func newPublisher(t *testing.T, client *pubsub.Client, topic string) *notify.PubSub {
	t.Helper()
	p := notify.NewPubSub(client, topic, 5*time.Second)
	t.Cleanup(p.Stop)
	return p
}

type pubsubMessage struct {
	Type       string         `json:"type"`
	Attributes map[string]any `json:"attributes"`
}

func TestPubSubPublishesTheOriginalsJSON(t *testing.T) {
	t.Parallel()
	const topic = "projects/jitaccess-app/topics/jit-events"
	r := newRequest()
	act := newActivation(r)
	for _, tc := range []struct {
		name string
		n    notify.Notification
		want pubsubMessage
	}{
		{
			name: "request",
			n:    requestNotification(nil),
			want: pubsubMessage{Type: "RequestActivation", Attributes: map[string]any{
				"beneficiary": "alice@example.com", "reviewers": []any{"bob@example.com", "carol@example.com"},
				"project_id": "prod-payments-api", "role": "roles/run.developer", "resource_condition": "",
				"start_time": "2026-11-25T10:00:00Z", "end_time": "2026-11-25T11:00:00Z", "request_expiry_time": "2026-11-25T10:30:00Z",
				"justification": "CHG-1 deploy", "base_url": "https://jit.example.com/", "action_url": actionURL,
			}},
		},
		{
			name: "approved",
			n:    notify.NewActivationApproved(act, "bob@example.com", r.Reviewers, "https://jit.example.com/"),
			want: pubsubMessage{Type: "ActivationApproved", Attributes: map[string]any{
				"beneficiary": "alice@example.com", "reviewers": []any{"bob@example.com", "carol@example.com"}, "approver": "bob@example.com",
				"project_id": "prod-payments-api", "role": "roles/run.developer", "resource_condition": "",
				"start_time": "2026-11-25T10:00:00Z", "end_time": "2026-11-25T11:00:00Z",
				"justification": "CHG-1 deploy", "base_url": "https://jit.example.com/",
			}},
		},
		{
			name: "self_approved",
			n:    notify.NewActivationSelfApproved([]jit.Activation{act}),
			want: pubsubMessage{Type: "ActivationSelfApproved", Attributes: map[string]any{
				"beneficiary": "alice@example.com", "project_id": "prod-payments-api", "role": "roles/run.developer",
				"start_time": "2026-11-25T10:00:00Z", "end_time": "2026-11-25T11:00:00Z", "justification": "CHG-1 deploy",
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, client := newPubSub(t, topic)
			if err := newPublisher(t, client, topic).Send(t.Context(), tc.n); err != nil {
				t.Fatal(err)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages, want 1", len(msgs))
			}
			var got pubsubMessage
			if err := json.Unmarshal(msgs[0].Data, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if len(msgs[0].Attributes) != 0 {
				t.Errorf("message attributes = %v, want none (the original puts everything in the data)", msgs[0].Attributes)
			}
		})
	}
}

func TestPubSubFailures(t *testing.T) {
	t.Parallel()
	const topic = "projects/jitaccess-app/topics/jit-events"
	for _, tc := range []struct {
		name    string
		opts    []pstest.ServerReactorOption
		publish string // topic to publish to
		kind    jit.Kind
		msg     string
	}{
		{name: "missing_topic", publish: "projects/jitaccess-app/topics/missing", kind: jit.KindUnavailable,
			msg: "Pub/Sub topic 'projects/jitaccess-app/topics/missing' cannot be accessed or does not exist"},
		{name: "permission_denied", opts: []pstest.ServerReactorOption{pstest.WithErrorInjection("Publish", codes.PermissionDenied, "no")},
			publish: topic, kind: jit.KindUnavailable, msg: "Pub/Sub topic '" + topic + "' cannot be accessed or does not exist"},
		{name: "invalid_argument", opts: []pstest.ServerReactorOption{pstest.WithErrorInjection("Publish", codes.InvalidArgument, "bad")},
			publish: topic, kind: jit.KindUnavailable, msg: "Publishing the notification failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, client := newPubSub(t, topic, tc.opts...)
			err := newPublisher(t, client, tc.publish).Send(t.Context(), requestNotification(nil))
			if jit.KindOf(err) != tc.kind || jit.MessageOf(err) != tc.msg {
				t.Errorf("Send = %v (kind %v, message %q), want kind %v, message %q", err, jit.KindOf(err), jit.MessageOf(err), tc.kind, tc.msg)
			}
		})
	}
}

// TestOneFailingChannelDoesNotStopTheOthers sends through a mailer whose
// server refuses our password and a working Pub/Sub topic.
func TestOneFailingChannelDoesNotStopTheOthers(t *testing.T) {
	t.Parallel()
	const topic = "projects/jitaccess-app/topics/jit-events"
	ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
	mailer := newMailer(t, ob, func(o *notify.MailOptions) { o.Password = "wrong" })
	srv, client := newPubSub(t, topic)
	r := newRequest()
	n := notify.New(mailer, nil, newPublisher(t, client, topic))
	err := n.Notify(t.Context(), jit.Event{Kind: jit.EventRequested, Request: &r, Activations: []jit.Activation{newActivation(r)}, ActionURL: actionURL})
	if jit.KindOf(err) != jit.KindUnavailable || jit.MessageOf(err) != "Sending the notification email failed" {
		t.Errorf("Notify = %v, want the mailer's failure", err)
	}
	if got := len(srv.Messages()); got != 1 {
		t.Errorf("%d Pub/Sub messages, want 1 despite the failed email", got)
	}
	// Events without a notification send nothing and cannot fail.
	if err := n.Notify(t.Context(), jit.Event{Kind: jit.EventRequestFailed}); err != nil || len(srv.Messages()) != 1 {
		t.Errorf("Notify(RequestFailed) = %v, %d messages", err, len(srv.Messages()))
	}
}

// TestPasswordSourceIsReadOnceItWorks: SMTP_SECRET's password is read at
// the first email, asked again after a failure, then kept.
func TestPasswordSourceIsReadOnceItWorks(t *testing.T) {
	t.Parallel()
	ob := startOutbox(t, outbox.Options{Username: smtpUser, Password: smtpPassword})
	var calls int
	m := newMailer(t, ob, func(o *notify.MailOptions) {
		o.Password = ""
		o.PasswordSource = func(context.Context) (string, error) {
			calls++
			if calls == 1 {
				return "", errors.New("secret not found")
			}
			return smtpPassword, nil
		}
	})
	err := m.Prepare(t.Context(), notify.RequestActivation).Send(t.Context(), requestNotification(nil))
	if jit.KindOf(err) != jit.KindUnavailable || jit.MessageOf(err) != "The SMTP password could not be read from Secret Manager" {
		t.Errorf("first Send (of a prepared session) = %v", err)
	}
	for range 2 {
		if err := m.Send(t.Context(), requestNotification(nil)); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 2 || len(ob.Messages()) != 2 {
		t.Errorf("%d reads of the password and %d emails, want 2 and 2", calls, len(ob.Messages()))
	}
}

// TestPubSubJSONOfEventsAsTheOriginal follows events the way the use cases
// send them (jit.Event → Notifier → Pub/Sub) and compares the published
// JSON with 1.8.1's: a multi-role self-activation joins roles with ", "
// (RequestAndSelfApproveAction), and an approval carries base_url, which
// the use case takes from the approving request (ApproveActivationRequestAction).
func TestPubSubJSONOfEventsAsTheOriginal(t *testing.T) {
	t.Parallel()
	const topic = "projects/jitaccess-app/topics/jit-events"
	r := newRequest()
	act := newActivation(r)
	act.Approver = "bob@example.com"
	second := act
	second.ID, second.Type, second.Approver = "jit-2", jit.JIT, ""
	second.Entitlement.Role = "roles/run.viewer"
	first := second
	first.ID, first.Entitlement.Role = "jit-1", "roles/run.developer"
	for _, tc := range []struct {
		name string
		e    jit.Event
		want pubsubMessage
	}{
		{
			name: "self_approved_two_roles",
			e:    jit.Event{Kind: jit.EventSelfActivated, Actor: jit.Principal{Email: "alice@example.com"}, Activations: []jit.Activation{first, second}},
			want: pubsubMessage{Type: "ActivationSelfApproved", Attributes: map[string]any{
				"beneficiary": "alice@example.com", "project_id": "prod-payments-api", "role": "roles/run.developer, roles/run.viewer",
				"start_time": "2026-11-25T10:00:00Z", "end_time": "2026-11-25T11:00:00Z", "justification": "CHG-1 deploy",
			}},
		},
		{
			name: "approved_has_base_url",
			e: jit.Event{Kind: jit.EventApproved, Actor: jit.Principal{Email: "bob@example.com"}, Request: &r,
				Activations: []jit.Activation{act}, BaseURL: "https://jit.example.com/"},
			want: pubsubMessage{Type: "ActivationApproved", Attributes: map[string]any{
				"beneficiary": "alice@example.com", "reviewers": []any{"bob@example.com", "carol@example.com"}, "approver": "bob@example.com",
				"project_id": "prod-payments-api", "role": "roles/run.developer", "resource_condition": "",
				"start_time": "2026-11-25T10:00:00Z", "end_time": "2026-11-25T11:00:00Z",
				"justification": "CHG-1 deploy", "base_url": "https://jit.example.com/",
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, client := newPubSub(t, topic)
			if err := notify.New(newPublisher(t, client, topic)).Notify(t.Context(), tc.e); err != nil {
				t.Fatal(err)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages, want 1", len(msgs))
			}
			var got pubsubMessage
			if err := json.Unmarshal(msgs[0].Data, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSMTPAsTheOriginalConfiguredIt: JavaMail's behaviour under the
// original's settings, against the outbox's real SMTP server.
func TestSMTPAsTheOriginalConfiguredIt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		server outbox.Options
		mutate func(*notify.MailOptions)
		check  func(t *testing.T, m outbox.Message)
	}{
		{name: "starttls_opportunistic_without_tls", server: outbox.Options{NoTLS: true},
			mutate: func(o *notify.MailOptions) { o.Username, o.Password = "", "" }}, // a relay that trusts the sender's address
		{name: "starttls_used_when_offered", server: outbox.Options{Username: smtpUser, Password: smtpPassword}},
		{name: "auth_login", server: outbox.Options{Username: smtpUser, Password: smtpPassword, AuthMechanisms: []string{"LOGIN"}}},
		{name: "login_preferred_as_javamail", server: outbox.Options{Username: smtpUser, Password: smtpPassword, AuthMechanisms: []string{"PLAIN", "LOGIN"}}},
		{name: "plain_when_login_disabled", server: outbox.Options{Username: smtpUser, Password: smtpPassword, AuthMechanisms: []string{"LOGIN", "PLAIN"}},
			mutate: func(o *notify.MailOptions) { o.Properties = map[string]string{"mail.smtp.auth.login.disable": "true"} }},
		{name: "starttls_disabled_by_option", server: outbox.Options{},
			mutate: func(o *notify.MailOptions) {
				o.Username, o.Password = "", ""
				o.TLSConfig = nil // would fail verification if STARTTLS were used
				o.Properties = map[string]string{"mail.smtp.starttls.enable": "false"}
			}},
		{name: "ssl_trust_star", server: outbox.Options{Username: smtpUser, Password: smtpPassword},
			mutate: func(o *notify.MailOptions) {
				o.TLSConfig = nil
				o.Properties = map[string]string{"mail.smtp.ssl.trust": "*"}
			}},
		{name: "no_server_identity_check", server: outbox.Options{Username: smtpUser, Password: smtpPassword},
			mutate: func(o *notify.MailOptions) {
				o.TLSConfig.ServerName = "smtp.example.com" // the certificate does not name it; the chain still verifies
				o.Properties = map[string]string{"mail.smtp.ssl.checkserveridentity": "false"}
			}},
		{name: "envelope_from", server: outbox.Options{Username: smtpUser, Password: smtpPassword},
			mutate: func(o *notify.MailOptions) {
				o.Properties = map[string]string{"mail.smtp.from": "bounces@example.com", "mail.smtp.ssl.protocols": "TLSv1.2 TLSv1.3"}
			},
			check: func(t *testing.T, m outbox.Message) {
				if m.Sender != "bounces@example.com" {
					t.Errorf("envelope sender = %q, want mail.smtp.from", m.Sender)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ob := startOutbox(t, tc.server)
			m := newMailer(t, ob, func(o *notify.MailOptions) {
				o.TLSConfig = o.TLSConfig.Clone()
				if tc.mutate != nil {
					tc.mutate(o)
				}
			})
			got := mustSend(t, ob, m, requestNotification(nil))
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

func TestIgnoredSMTPOptionsAreNamed(t *testing.T) {
	t.Parallel()
	m, err := notify.NewMailer(notify.MailOptions{Host: "smtp.example.com", Port: 587, SenderAddress: "jit@example.com", Properties: map[string]string{
		"mail.smtp.sasl.enable": "true", "mail.smtp.port": "2525", "mail.smtp.ssl.enable": "yes please",
		"mail.smtp.connectiontimeout": "soon", "mail.smtp.auth.mechanisms": "XOAUTH2 LOGIN", "mail.smtp.timeout": "5000",
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`SMTP_OPTIONS mail.smtp.auth.mechanisms: XOAUTH2 not supported (jitaccess speaks LOGIN and PLAIN)`,
		`SMTP_OPTIONS mail.smtp.connectiontimeout: "soon" is not a positive number of milliseconds and is ignored`,
		`SMTP_OPTIONS mail.smtp.port: ignored: set SMTP_PORT instead`,
		`SMTP_OPTIONS mail.smtp.sasl.enable: ignored: jitaccess does not implement this JavaMail property`,
		`SMTP_OPTIONS mail.smtp.ssl.enable: "yes please" is read as false, as JavaMail does`,
	}
	if diff := cmp.Diff(want, m.Warnings()); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}
