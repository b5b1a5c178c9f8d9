package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/wneessen/go-mail"

	"github.com/jitaccess/jitaccess/internal/jit"
)

//go:embed templates
var templates embed.FS

// MailOptions are the original's SMTP_* settings.
type MailOptions struct {
	Host          string
	Port          int
	StartTLS      bool
	SenderName    string
	SenderAddress string
	Username      string
	Password      string
	// PasswordSource, when set, supplies the password instead (SMTP_SECRET:
	// a Secret Manager version). It is asked once, at the first email, and
	// its answer kept, as the original did; a failure is asked again next
	// time.
	PasswordSource func(ctx context.Context) (string, error)
	// AddressMapping is SMTP_ADDRESS_MAPPING: a CEL expression over
	// user.email that returns the address to mail; "" mails the user id.
	AddressMapping string
	Location       *time.Location // NOTIFICATION_TIMEZONE
	Timeout        time.Duration
	TLSConfig      *tls.Config // nil: system roots, server name = Host
}

// Mailer sends RequestActivation and ActivationApproved emails. Like the
// original, self-activation sends no email.
type Mailer struct {
	opts     MailOptions
	pwMu     sync.Mutex
	password string
	mapping  cel.Program
	html     *htmltemplate.Template
	text     *texttemplate.Template
}

// NewMailer checks the options and compiles the address mapping.
func NewMailer(opts MailOptions) (*Mailer, error) {
	if opts.Host == "" || opts.Port <= 0 || opts.SenderAddress == "" {
		return nil, errors.New("notify: SMTP host, port and sender address are required")
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	m := &Mailer{opts: opts, password: opts.Password}
	if strings.TrimSpace(opts.AddressMapping) != "" {
		prg, err := compileMapping(opts.AddressMapping)
		if err != nil {
			return nil, err
		}
		m.mapping = prg
	}
	funcs := map[string]any{"time": m.formatTime, "join": joinUsers}
	var err error
	if m.html, err = htmltemplate.New("").Funcs(funcs).ParseFS(templates, "templates/*.html"); err != nil {
		return nil, fmt.Errorf("notify: HTML templates: %w", err)
	}
	if m.text, err = texttemplate.New("").Funcs(funcs).ParseFS(templates, "templates/*.txt"); err != nil {
		return nil, fmt.Errorf("notify: text templates: %w", err)
	}
	return m, nil
}

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

// compileMapping compiles SMTP_ADDRESS_MAPPING with the original's
// variable (user, a map with email) and extract() function.
func compileMapping(expr string) (cel.Program, error) {
	env, err := cel.NewEnv(
		cel.Variable("user", cel.MapType(cel.StringType, cel.StringType)),
		cel.Function("extract", cel.MemberOverload("string_extract_string",
			[]*cel.Type{cel.StringType, cel.StringType}, cel.StringType,
			cel.BinaryBinding(func(lhs, rhs ref.Val) ref.Val {
				s, ok1 := lhs.Value().(string)
				tmpl, ok2 := rhs.Value().(string)
				if !ok1 || !ok2 {
					return types.NewErr("extract() takes strings")
				}
				return types.String(Extract(s, tmpl))
			}))),
	)
	if err != nil {
		return nil, fmt.Errorf("notify: SMTP_ADDRESS_MAPPING environment: %w", err)
	}
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("notify: SMTP_ADDRESS_MAPPING is not valid CEL: %w", iss.Err())
	}
	if !ast.OutputType().IsExactType(cel.StringType) {
		return nil, fmt.Errorf("notify: SMTP_ADDRESS_MAPPING must return a string, not %v", ast.OutputType())
	}
	prg, err := env.Program(ast, cel.CostLimit(10000))
	if err != nil {
		return nil, fmt.Errorf("notify: SMTP_ADDRESS_MAPPING: %w", err)
	}
	return prg, nil
}

// Extract returns the part of s that stands where "{…}" stands in
// template: Extract("alice@example.com", "{handle}@example.com") is
// "alice". Without braces it returns s; without a match, "".
func Extract(s, template string) string {
	open, closing := strings.Index(template, "{"), strings.Index(template, "}")
	if open < 0 || closing < open {
		return s
	}
	prefix, suffix := template[:open], template[closing+1:]
	i := strings.Index(s, prefix)
	if i < 0 {
		return ""
	}
	rest := s[i+len(prefix):]
	if suffix == "" {
		return rest
	}
	j := strings.Index(rest, suffix)
	if j < 0 {
		return ""
	}
	return rest[:j]
}

// address maps a user id to the address to mail.
func (m *Mailer) address(u jit.UserID) (string, error) {
	if m.mapping == nil {
		return string(u), nil
	}
	out, _, err := m.mapping.Eval(map[string]any{"user": map[string]string{"email": string(u)}})
	if err != nil {
		return "", fmt.Errorf("SMTP_ADDRESS_MAPPING failed for %s: %w", u, err)
	}
	s, ok := out.Value().(string)
	if !ok || s == "" {
		return "", fmt.Errorf("SMTP_ADDRESS_MAPPING returned no address for %s", u)
	}
	return s, nil
}

// Send mails n, unless it is a self-activation.
func (m *Mailer) Send(ctx context.Context, n Notification) error {
	const op = "notify.Mailer.Send"
	if n.Type == TypeActivationSelfApproved {
		return nil
	}
	msg, err := m.message(n)
	if err != nil {
		return jit.E(op, jit.KindInternal, "", err)
	}
	opts := []mail.Option{mail.WithPort(m.opts.Port), mail.WithTimeout(m.opts.Timeout)}
	if m.opts.StartTLS {
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	} else {
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	}
	if m.opts.TLSConfig != nil {
		opts = append(opts, mail.WithTLSConfig(m.opts.TLSConfig))
	} else {
		opts = append(opts, mail.WithTLSConfig(&tls.Config{ServerName: m.opts.Host, MinVersion: tls.VersionTLS12}))
	}
	password, err := m.smtpPassword(ctx)
	if err != nil {
		return jit.E(op, jit.KindUnavailable, "The SMTP password could not be read from Secret Manager", err)
	}
	if m.opts.Username != "" && password != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(m.opts.Username), mail.WithPassword(password))
	}
	client, err := mail.NewClient(m.opts.Host, opts...)
	if err != nil {
		return jit.E(op, jit.KindInternal, "", err)
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return jit.E(op, jit.KindUnavailable, "Sending the notification email failed", err)
	}
	return nil
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

func (m *Mailer) message(n Notification) (*mail.Msg, error) {
	msg := mail.NewMsg()
	if err := msg.FromFormat(m.opts.SenderName, m.opts.SenderAddress); err != nil {
		return nil, fmt.Errorf("sender: %w", err)
	}
	to, err := m.addresses(n.To)
	if err != nil {
		return nil, err
	}
	if err := msg.To(to...); err != nil {
		return nil, fmt.Errorf("recipients: %w", err)
	}
	if len(n.CC) > 0 {
		cc, err := m.addresses(n.CC)
		if err != nil {
			return nil, err
		}
		if err := msg.Cc(cc...); err != nil {
			return nil, fmt.Errorf("cc: %w", err)
		}
	}
	msg.Subject(n.Subject)
	msg.SetGenHeader(mail.HeaderPrecedence, "bulk")
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetMessageID()
	msg.SetDate()
	var text, html bytes.Buffer
	name := string(n.Type)
	if err := m.text.ExecuteTemplate(&text, name+".txt", n); err != nil {
		return nil, fmt.Errorf("text body: %w", err)
	}
	if err := m.html.ExecuteTemplate(&html, name+".html", n); err != nil {
		return nil, fmt.Errorf("HTML body: %w", err)
	}
	msg.SetBodyString(mail.TypeTextPlain, text.String())
	msg.AddAlternativeString(mail.TypeTextHTML, html.String())
	return msg, nil
}

func (m *Mailer) addresses(us []jit.UserID) ([]string, error) {
	out := make([]string, 0, len(us))
	for _, u := range us {
		a, err := m.address(u)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}
