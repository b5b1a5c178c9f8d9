// Package outbox is an SMTP server that keeps what it receives in memory,
// built on github.com/emersion/go-smtp. The demo uses it so that approval
// emails can be read in a browser, and tests use it to check that the
// mailer's real SMTP conversation (STARTTLS, AUTH) works. It never relays
// anything anywhere.
package outbox

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

const (
	// DefaultMaxMessages is how many messages a server keeps by default;
	// older ones are dropped, so a long demo cannot fill the memory.
	DefaultMaxMessages = 500
	maxMessageBytes    = 1 << 20
)

// Message is a received email.
type Message struct {
	ID   int    `json:"id"`
	From string `json:"from"` // the From header, decoded
	// To and CC are the bare addresses of the To and Cc headers.
	To []string `json:"to"`
	CC []string `json:"cc"`
	// Recipients are the envelope recipients (RCPT TO), which include
	// blind copies.
	Recipients []string `json:"recipients"`
	// Sender is the envelope sender (MAIL FROM).
	Sender   string      `json:"sender"`
	Subject  string      `json:"subject"`
	Text     string      `json:"text"`
	HTML     string      `json:"html"`
	Headers  mail.Header `json:"headers"`
	Received time.Time   `json:"received"`
}

// Options configure a Server.
type Options struct {
	// Username and Password, when set, are required (AUTH PLAIN, which
	// the server only accepts after STARTTLS).
	Username, Password string
	// NoTLS turns STARTTLS off, to test clients that must insist on it.
	NoTLS bool
	// AuthMechanisms are the AUTH mechanisms offered, of PLAIN and LOGIN;
	// nil offers PLAIN.
	AuthMechanisms []string
	// ImplicitTLS speaks TLS from the first byte, as on port 465
	// (SMTPS), instead of offering STARTTLS.
	ImplicitTLS bool
	// MaxMessages bounds the messages kept; 0 is DefaultMaxMessages.
	MaxMessages int
	// Logger receives the SMTP server's connection errors at debug
	// level (mostly clients hanging up); nil discards them.
	Logger *slog.Logger
}

// smtpLog adapts slog to go-smtp's Printf-style error log. go-smtp gives
// no context with its errors, so they are logged under the one Start was
// given (without its cancellation: the server outlives it).
type smtpLog struct {
	ctx context.Context //nolint:containedctx // go-smtp's Logger has no context parameter
	l   *slog.Logger
}

func (s smtpLog) Printf(format string, v ...any) {
	if s.l != nil {
		s.l.DebugContext(s.ctx, "outbox: SMTP connection error", slog.String("detail", strings.TrimSpace(fmt.Sprintf(format, v...))))
	}
}

func (s smtpLog) Println(v ...any) {
	if s.l != nil {
		s.l.DebugContext(s.ctx, "outbox: SMTP connection error", slog.String("detail", strings.TrimSpace(fmt.Sprintln(v...))))
	}
}

// Server is a running outbox.
type Server struct {
	smtp *smtp.Server
	lis  net.Listener
	opts Options
	cert tls.Certificate
	pool *x509.CertPool

	mu       sync.Mutex
	cond     chan struct{}
	messages []Message
	nextID   int
	conns    []*Connection
}

// Connection is what the server saw of one client connection, so that
// tests can check what a client did besides sending messages: that it
// set a session up before it knew what to send, or that it closed a
// session it did not use.
type Connection struct {
	ID int `json:"id"`
	// TLS is whether a greeting (EHLO) came over TLS: after STARTTLS or
	// with implicit TLS.
	TLS bool `json:"tls"`
	// Authenticated is whether AUTH succeeded.
	Authenticated bool `json:"authenticated"`
	// Mails counts the MAIL FROM commands accepted, Messages the messages
	// received.
	Mails    int `json:"mails"`
	Messages int `json:"messages"`
	// Closed is whether the connection has ended (after QUIT, or dropped
	// by either side).
	Closed bool `json:"closed"`
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves until Close.
func Start(ctx context.Context, addr string, opts Options) (*Server, error) {
	cert, pool, err := selfSigned()
	if err != nil {
		return nil, err
	}
	if opts.MaxMessages <= 0 {
		opts.MaxMessages = DefaultMaxMessages
	}
	s := &Server{opts: opts, cert: cert, pool: pool, cond: make(chan struct{})}
	s.smtp = smtp.NewServer(s)
	s.smtp.Domain = "localhost"
	s.smtp.ErrorLog = smtpLog{ctx: context.WithoutCancel(ctx), l: opts.Logger}
	s.smtp.MaxMessageBytes = maxMessageBytes
	s.smtp.MaxRecipients = 50
	s.smtp.ReadTimeout = 30 * time.Second
	s.smtp.WriteTimeout = 30 * time.Second
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if !opts.NoTLS && !opts.ImplicitTLS {
		s.smtp.TLSConfig = serverTLS
	}
	var lc net.ListenConfig
	s.lis, err = lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("outbox: listen on %s: %w", addr, err)
	}
	s.lis = trackingListener{Listener: s.lis, srv: s}
	if opts.ImplicitTLS {
		s.lis = tls.NewListener(s.lis, serverTLS)
	}
	go func() { _ = s.smtp.Serve(s.lis) }()
	return s, nil
}

// Addr is where the server listens.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// TLSConfig is a client configuration that trusts the server's
// certificate, for the mailer's STARTTLS.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

// Close stops the server.
func (s *Server) Close() error { return s.smtp.Close() }

// Messages returns the received messages, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

// Message returns a message by id.
func (s *Server) Message(id int) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.messages {
		if m.ID == id {
			return m, true
		}
	}
	return Message{}, false
}

// WaitFor waits until a message satisfying match arrives (or has).
func (s *Server) WaitFor(ctx context.Context, match func(Message) bool) (Message, error) {
	for {
		s.mu.Lock()
		for _, m := range s.messages {
			if match(m) {
				s.mu.Unlock()
				return m, nil
			}
		}
		changed := s.cond
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return Message{}, fmt.Errorf("outbox: no matching message: %w", ctx.Err())
		case <-changed:
		}
	}
}

// Connections returns what the server saw of each connection, oldest
// first.
func (s *Server) Connections() []Connection {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Connection, len(s.conns))
	for i, c := range s.conns {
		out[i] = *c
	}
	return out
}

// WaitForConnection waits until a connection satisfying match is seen (or
// has been), and returns it as it was then.
func (s *Server) WaitForConnection(ctx context.Context, match func(Connection) bool) (Connection, error) {
	for {
		s.mu.Lock()
		for _, c := range s.conns {
			if seen := *c; match(seen) {
				s.mu.Unlock()
				return seen, nil
			}
		}
		changed := s.cond
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return Connection{}, fmt.Errorf("outbox: no matching connection: %w", ctx.Err())
		case <-changed:
		}
	}
}

// changeConn applies f to connection id under the lock and wakes the
// waiters.
func (s *Server) changeConn(id int, f func(*Connection)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		if c.ID == id {
			f(c)
		}
	}
	s.changed()
}

// changed wakes WaitFor and WaitForConnection; s.mu must be held.
func (s *Server) changed() {
	close(s.cond)
	s.cond = make(chan struct{})
}

// trackingListener records each accepted connection and its end.
type trackingListener struct {
	net.Listener
	srv *Server
}

func (l trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	s := l.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	id := len(s.conns) + 1
	s.conns = append(s.conns, &Connection{ID: id})
	if len(s.conns) > s.opts.MaxMessages {
		// As many as messages are kept: enough for any test, bounded for
		// a long demo.
		s.conns = slices.Clone(s.conns[len(s.conns)-s.opts.MaxMessages:])
	}
	s.changed()
	return &trackedConn{Conn: c, id: id, srv: s}, nil
}

type trackedConn struct {
	net.Conn
	id   int
	srv  *Server
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.srv.changeConn(c.id, func(x *Connection) { x.Closed = true }) })
	return c.Conn.Close()
}

// connID is the id of the connection a session runs on.
func connID(c *smtp.Conn) int {
	nc := c.Conn()
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	if t, ok := nc.(*trackedConn); ok {
		return t.id
	}
	return 0
}

func (s *Server) store(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	m.ID = s.nextID
	s.messages = append(s.messages, m)
	if len(s.messages) > s.opts.MaxMessages {
		s.messages = slices.Clone(s.messages[len(s.messages)-s.opts.MaxMessages:])
	}
	s.changed()
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	ss := &session{srv: s, conn: connID(c)}
	if _, ok := c.TLSConnectionState(); ok {
		s.changeConn(ss.conn, func(x *Connection) { x.TLS = true })
	}
	return ss, nil
}

type session struct {
	srv    *Server
	conn   int // Connection.ID
	authed bool
	from   string
	to     []string
}

func (ss *session) AuthMechanisms() []string {
	if ss.srv.opts.Username == "" {
		return nil
	}
	if m := ss.srv.opts.AuthMechanisms; m != nil {
		return slices.Clone(m)
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != ss.srv.opts.Username || pass != ss.srv.opts.Password {
			return errors.New("invalid username or password")
		}
		ss.authed = true
		ss.srv.changeConn(ss.conn, func(x *Connection) { x.Authenticated = true })
		return nil
	}
	if !slices.Contains(ss.AuthMechanisms(), mech) {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	if mech == sasl.Login {
		return &loginServer{check: check}, nil
	}
	return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
}

// loginServer is the server side of AUTH LOGIN (draft-murchison-sasl-login),
// which go-sasl does not provide: "Username:", then "Password:".
type loginServer struct {
	check    func(user, pass string) error
	step     int
	username string
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		l.step = 1
		if response == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough // the username came with AUTH LOGIN
	case 1:
		l.username, l.step = string(response), 2
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.username, string(response))
	}
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.srv.opts.Username != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	ss.srv.changeConn(ss.conn, func(x *Connection) { x.Mails++ })
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(io.LimitReader(r, maxMessageBytes))
	if err != nil {
		return err
	}
	m, err := parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "cannot parse message: " + err.Error()}
	}
	m.Recipients = slices.Clone(ss.to)
	m.Sender = ss.from
	m.Received = time.Now()
	ss.srv.store(m)
	ss.srv.changeConn(ss.conn, func(x *Connection) { x.Messages++ })
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// parse reads the subject and the text and HTML parts of a message.
func parse(raw []byte) (Message, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, err
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		subject = msg.Header.Get("Subject")
	}
	from, err := dec.DecodeHeader(msg.Header.Get("From"))
	if err != nil {
		from = msg.Header.Get("From")
	}
	m := Message{From: from, Subject: subject, Headers: msg.Header, To: addresses(msg.Header, "To"), CC: addresses(msg.Header, "Cc")}
	err = walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, &m, 0)
	return m, err
}

// addresses returns the bare addresses of an address header; a header
// that does not parse is kept whole, so a test sees what arrived.
func addresses(h mail.Header, name string) []string {
	if h.Get(name) == "" {
		return nil
	}
	list, err := h.AddressList(name)
	if err != nil {
		return []string{h.Get(name)}
	}
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.Address
	}
	return out
}

func walk(contentType, encoding string, body io.Reader, m *Message, depth int) error {
	if depth > 5 {
		return errors.New("too deeply nested")
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, m, depth+1); err != nil {
				return err
			}
		}
	}
	r := body
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64Reader(body)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	switch mt {
	case "text/html":
		m.HTML = string(b)
	case "text/plain":
		m.Text = string(b)
	}
	return nil
}

func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool, nil
}
