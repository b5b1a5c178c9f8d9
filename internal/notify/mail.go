package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// msgSendFailed is what a person is told when an email could not be sent;
// the cause goes to the logs only.
const msgSendFailed = "Sending the notification email failed"

// MailOptions are the original's SMTP_* settings.
type MailOptions struct {
	Host string
	Port int
	// StartTLS is SMTP_ENABLE_STARTTLS, JavaMail's
	// mail.smtp.starttls.enable: upgrade with STARTTLS when the server
	// offers it, and carry on in clear when it does not (a password is
	// never sent in clear, though). SMTP_OPTIONS
	// mail.smtp.starttls.required=true makes it mandatory. The certificate
	// is verified against Host unless SMTP_OPTIONS say otherwise.
	StartTLS      bool
	SenderName    string
	SenderAddress string
	// Username and Password authenticate when both are set, as in the
	// original, with AUTH LOGIN or PLAIN, whichever the server offers
	// (JavaMail's order: LOGIN first).
	Username string
	Password string
	// PasswordSource, when set, supplies the password instead (SMTP_SECRET:
	// a Secret Manager version). It is asked once, at the first email, and
	// its answer kept, as the original did; a failure is asked again next
	// time.
	PasswordSource func(ctx context.Context) (string, error)
	// AddressMapping is SMTP_ADDRESS_MAPPING: a CEL expression over
	// user.email that returns the address to mail; "" mails the user id.
	AddressMapping string
	// Properties are SMTP_OPTIONS, JavaMail property names. Those with a
	// meaning here are honoured (see smtpProperties); the others are
	// ignored and named by Warnings.
	Properties map[string]string
	Location   *time.Location // NOTIFICATION_TIMEZONE; nil is UTC
	// Timeout bounds one whole email (connect, TLS, AUTH, transfer) unless
	// the caller's context ends sooner; default 30 s.
	Timeout time.Duration
	// TLSConfig is the client's TLS configuration, so that tests and the
	// demo can trust their own CA; nil verifies Host against the system
	// roots.
	TLSConfig *tls.Config
}

// Mailer sends RequestActivation and ActivationApproved emails. Like the
// original, self-activation sends no email.
type Mailer struct {
	opts    MailOptions
	props   smtpProperties
	mapping *addressMapping // nil: identity

	pwMu     sync.Mutex
	password string
}

// NewMailer checks the options and compiles the address mapping, so that
// a bad setting fails at start-up, not at the first email.
func NewMailer(opts MailOptions) (*Mailer, error) {
	if opts.Host == "" || opts.Port <= 0 || opts.SenderAddress == "" {
		return nil, errors.New("notify: SMTP host, port and sender address are required")
	}
	if a, err := netmail.ParseAddress(opts.SenderAddress); err != nil || a.Address != opts.SenderAddress {
		return nil, fmt.Errorf("notify: sender address %q is not a plain email address", opts.SenderAddress)
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	props := parseProperties(opts.Properties, opts.Host)
	var err error
	m := &Mailer{opts: opts, props: props, password: opts.Password}
	if strings.TrimSpace(opts.AddressMapping) != "" {
		if m.mapping, err = compileMapping(opts.AddressMapping); err != nil {
			return nil, fmt.Errorf("notify: %w", err)
		}
	}
	return m, nil
}

// Warnings name the SMTP_OPTIONS that are not applied, and why, for the
// start-up log.
func (m *Mailer) Warnings() []string { return slices.Clone(m.props.warnings) }

// formatTime is the original's format: the configured zone, whole
// seconds, RFC 1123.
func (m *Mailer) formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(m.opts.Location).Truncate(time.Second).Format(time.RFC1123)
}

func joinUsers(us []jit.UserID) string {
	s := make([]string, len(us))
	for i, u := range us {
		s[i] = string(u)
	}
	return strings.Join(s, ", ")
}

// Send mails n, unless it is a kind without an email (self-activation).
// The context bounds the whole conversation, together with Timeout.
//
// Errors are *jit.Error with the message "Sending the notification email
// failed": KindUnavailable when the server could not be reached, refused
// TLS or our credentials, or failed temporarily; KindUpstream when it
// refused the message for good (e.g. an unknown recipient); KindInternal
// when the message could not be built (a mapping that yields no address).
// A password that could not be read from its source (SMTP_SECRET) is
// KindUnavailable with a message that says so.
func (m *Mailer) Send(ctx context.Context, n Notification) error {
	const op = "notify.Mailer.Send"
	if !hasEmail(n.Kind) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel() // also closes the connection, whatever happened on it
	msg, err := m.message(ctx, n)
	if err != nil {
		return jit.E(op, jit.KindInternal, msgSendFailed, err)
	}
	sess, err := m.open(ctx)
	if err != nil {
		return err
	}
	return sess.transfer(msg)
}

// session is an SMTP session that is ready for MAIL FROM: connected,
// greeted, upgraded to TLS and authenticated as configured.
type session struct {
	m      *Mailer
	client *mail.Client
	conn   *smtp.Client
}

// open sets a session up. It ends, and its connection is closed, when ctx
// ends, also in the middle of a command: go-mail bounds its commands by
// I/O timeouts only, and a prepared session waits between them.
//
// Its errors are Send's for the same failures.
func (m *Mailer) open(ctx context.Context) (*session, error) {
	const op = "notify.Mailer.Send"
	password, err := m.smtpPassword(ctx)
	if err != nil {
		return nil, jit.E(op, jit.KindUnavailable, "The SMTP password could not be read from Secret Manager", err)
	}
	client, err := m.client(password, m.dialer(ctx))
	if err != nil {
		return nil, jit.E(op, jit.KindUnavailable, msgSendFailed, err)
	}
	conn, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return nil, jit.E(op, jit.KindUnavailable, msgSendFailed,
			fmt.Errorf("SMTP server %s:%d (connect, TLS or authentication): %w", m.opts.Host, m.opts.Port, err))
	}
	return &session{m: m, client: client, conn: conn}, nil
}

// dialer returns the dial function of one session: TCP (or TLS from the
// first byte on port 465), with a connection that is closed when ctx ends.
// go-mail's own dialing is bound to a context that ends with the dial.
func (m *Mailer) dialer(ctx context.Context) mail.DialContextFunc {
	d := &net.Dialer{Timeout: m.props.connectTimeout}
	dial := d.DialContext
	if m.implicitTLS() {
		dial = (&tls.Dialer{NetDialer: d, Config: m.props.tlsConfig(m.opts.TLSConfig, m.opts.Host)}).DialContext
	}
	return func(dialCtx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(dialCtx, network, addr)
		if err != nil {
			return nil, err
		}
		context.AfterFunc(ctx, func() { _ = c.Close() })
		return c, nil
	}
}

// transfer sends msg (MAIL, RCPT, DATA) and ends the session (QUIT).
func (s *session) transfer(msg *mail.Msg) error {
	const op = "notify.Mailer.Send"
	err := s.client.SendWithSMTPClient(s.conn, msg)
	closeErr := s.client.CloseWithSMTPClient(s.conn)
	if err != nil {
		kind := jit.KindUnavailable
		var se *mail.SendError
		if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 && refusedMessage(se.Reason) {
			kind = jit.KindUpstream
		}
		return jit.E(op, kind, msgSendFailed, fmt.Errorf("SMTP server %s:%d refused the message: %w", s.m.opts.Host, s.m.opts.Port, err))
	}
	// The server accepted the message before QUIT failed: it was sent.
	_ = closeErr
	return nil
}

// quit ends the session without sending anything.
func (s *session) quit() { _ = s.client.CloseWithSMTPClient(s.conn) }

// refusedMessage is whether a permanent failure at this step refused the
// message itself (a recipient, the content) rather than us: a refused MAIL
// FROM means our sender or credentials are wrong, which is configuration.
func refusedMessage(r mail.SendErrReason) bool {
	return r == mail.ErrSMTPRcptTo || r == mail.ErrSMTPData || r == mail.ErrSMTPDataClose
}

func hasEmail(k Kind) bool {
	return k == RequestActivation || k == ActivationApproved || k == ActivationRejected || k == ActivationApprovalAdded || k == ActivationWithdrawn
}

func (m *Mailer) implicitTLS() bool { return m.props.ssl || m.opts.Port == 465 }

// client builds a go-mail client for one session, dialing with dial.
// Clients are cheap, and a fresh one per email keeps a slow or broken
// connection from affecting the next email.
func (m *Mailer) client(password string, dial mail.DialContextFunc) (*mail.Client, error) {
	tlsConfig := m.props.tlsConfig(m.opts.TLSConfig, m.opts.Host)
	ioTimeout := m.opts.Timeout
	if m.props.ioTimeout > 0 {
		ioTimeout = m.props.ioTimeout
	}
	startTLS := m.opts.StartTLS
	if m.props.startTLS != nil {
		startTLS = *m.props.startTLS
	}
	opts := []mail.Option{
		mail.WithPort(m.opts.Port), mail.WithTimeout(ioTimeout), mail.WithTLSConfig(tlsConfig),
		// Implicit TLS is in dial (go-mail skips its own TLS dialing when
		// given a dialer).
		mail.WithDialContextFunc(dial),
		// A session carries one message, right after it was set up: a NOOP
		// before MAIL FROM would only cost a round trip (a dead connection
		// fails MAIL FROM just the same), and an RSET after the accepted
		// message one more, with a failure that would report a sent
		// message as not sent.
		mail.WithoutNoop(), mail.WithoutRset(),
	}
	switch {
	case m.implicitTLS():
		// Port 465 speaks TLS from the first byte; STARTTLS would never
		// be offered there.
		opts = append(opts, mail.WithSSL())
	case m.props.startTLSRequired:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case startTLS:
		// JavaMail's starttls.enable: upgrade if offered, else carry on.
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	}
	if m.props.helo != "" {
		opts = append(opts, mail.WithHELO(m.props.helo))
	}
	if m.opts.Username != "" && password != "" {
		// LOGIN and PLAIN send the password as it is, so neither is used
		// without TLS (except to localhost).
		opts = append(opts, mail.WithSMTPAuthCustom(&negotiatedAuth{
			mechanisms: m.props.mechanisms, user: m.opts.Username, password: password, hostname: m.opts.Host,
		}))
	}
	c, err := mail.NewClient(m.opts.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("SMTP client: %w", err)
	}
	return c, nil
}

// smtpPassword returns the password, reading it from its source once.
func (m *Mailer) smtpPassword(ctx context.Context) (string, error) {
	if m.opts.PasswordSource == nil {
		return m.opts.Password, nil
	}
	m.pwMu.Lock()
	defer m.pwMu.Unlock()
	if m.password != "" {
		return m.password, nil
	}
	p, err := m.opts.PasswordSource(ctx)
	if err != nil {
		return "", err
	}
	m.password = p
	return p, nil
}

// message builds the email: headers through go-mail's setters (which
// parse addresses and encode values, so nothing can add a header), a text
// part and an HTML alternative.
func (m *Mailer) message(ctx context.Context, n Notification) (*mail.Msg, error) {
	msg := mail.NewMsg()
	msg.FromMailAddress(&netmail.Address{Name: m.opts.SenderName, Address: m.opts.SenderAddress})
	if m.props.from != "" {
		if err := msg.EnvelopeFrom(m.props.from); err != nil {
			return nil, fmt.Errorf("envelope sender: %w", err)
		}
	}
	to, err := m.addresses(ctx, n.To)
	if err != nil {
		return nil, err
	}
	if len(to) == 0 {
		return nil, errors.New("the notification has no recipient")
	}
	if err := msg.To(to...); err != nil {
		return nil, fmt.Errorf("recipients: %w", err)
	}
	if len(n.CC) > 0 {
		cc, err := m.addresses(ctx, n.CC)
		if err != nil {
			return nil, err
		}
		if err := msg.Cc(cc...); err != nil {
			return nil, fmt.Errorf("cc: %w", err)
		}
	}
	msg.Subject(n.MailSubject())
	// Bulk and auto-generated: out-of-office replies and auto-responders
	// stay quiet (RFC 3834), as the original's Precedence header intended.
	msg.SetGenHeader(mail.HeaderPrecedence, "bulk")
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetMessageID()
	msg.SetDate()
	text, html, err := m.render(n)
	if err != nil {
		return nil, err
	}
	msg.SetBodyString(mail.TypeTextPlain, text)
	msg.AddAlternativeString(mail.TypeTextHTML, html)
	return msg, nil
}

// addresses maps user ids to the addresses to mail.
func (m *Mailer) addresses(ctx context.Context, us []jit.UserID) ([]string, error) {
	out := make([]string, 0, len(us))
	for _, u := range us {
		a := string(u)
		if m.mapping != nil {
			var err error
			if a, err = m.mapping.address(ctx, u); err != nil {
				return nil, err
			}
		}
		// A bare address only: a display name or a second address would
		// mail someone the user id did not name.
		if p, err := netmail.ParseAddress(a); err != nil || p.Address != a {
			return nil, fmt.Errorf("%q (for %s) is not a plain email address", a, u)
		}
		out = append(out, a)
	}
	return out, nil
}

func isPlainAddress(s string) bool {
	a, err := netmail.ParseAddress(s)
	return err == nil && a.Address == s
}
