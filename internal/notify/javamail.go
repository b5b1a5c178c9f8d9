package notify

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wneessen/go-mail/smtp"
)

// smtpProperties is what we take from SMTP_OPTIONS, the JavaMail
// properties the original passed to its mail session (SmtpClient.Options:
// they were put after host, port and starttls.enable, so they win).
type smtpProperties struct {
	connectTimeout time.Duration // mail.smtp.connectiontimeout (ms)
	ioTimeout      time.Duration // mail.smtp.timeout / mail.smtp.writetimeout (ms)
	ssl            bool          // mail.smtp.ssl.enable: TLS from the first byte (port 465)
	helo           string        // mail.smtp.localhost: the name we greet with
	from           string        // mail.smtp.from: the envelope sender (MAIL FROM)
	// startTLS overrides SMTP_ENABLE_STARTTLS when set
	// (mail.smtp.starttls.enable).
	startTLS *bool
	// startTLSRequired makes STARTTLS mandatory (mail.smtp.starttls.required).
	startTLSRequired bool
	// mechanisms are the AUTH mechanisms we may use, in order of
	// preference: JavaMail's order, LOGIN before PLAIN, narrowed by
	// mail.smtp.auth.mechanisms and mail.smtp.auth.{login,plain}.disable.
	mechanisms []string
	// trustAll skips certificate verification for this host
	// (mail.smtp.ssl.trust "*" or a list naming SMTP_HOST).
	trustAll bool
	// noIdentityCheck verifies the chain but not the host name
	// (mail.smtp.ssl.checkserveridentity=false).
	noIdentityCheck bool
	// minTLS and maxTLS come from mail.smtp.ssl.protocols ("TLSv1.2 TLSv1.3").
	minTLS, maxTLS uint16
	// warnings name the options that are not honoured, and why.
	warnings []string
}

// supportedMechanisms are the AUTH mechanisms the mailer speaks, in
// JavaMail's default order (mail.smtp.auth.mechanisms).
var supportedMechanisms = []string{"LOGIN", "PLAIN"}

// ignoredProperties are JavaMail properties that have no meaning here, and
// what to do instead.
var ignoredProperties = map[string]string{
	"mail.smtp.host":                    "set SMTP_HOST instead",
	"mail.smtp.port":                    "set SMTP_PORT instead",
	"mail.smtp.auth":                    "authentication is used when SMTP_USERNAME and a password are set, as in 1.8.1, which overwrote this property",
	"mail.smtp.user":                    "set SMTP_USERNAME instead",
	"mail.smtp.ssl.socketFactory.class": "not applicable outside Java",
	"mail.smtp.socketFactory.class":     "not applicable outside Java",
	"mail.smtp.ssl.socketFactory":       "not applicable outside Java",
	"mail.smtp.socketFactory":           "not applicable outside Java",
}

// parseProperties reads the JavaMail properties the mailer honours. Like
// JavaMail, a boolean is true only when it says "true", and a number that
// is not one is not applied; such values, unknown properties and
// properties without a meaning here are reported in warnings, so that the
// app starts (as the original did) and says what it does not apply.
func parseProperties(p map[string]string, host string) smtpProperties {
	out := smtpProperties{mechanisms: slices.Clone(supportedMechanisms)}
	warn := func(k, format string, args ...any) {
		out.warnings = append(out.warnings, fmt.Sprintf("SMTP_OPTIONS %s: ", k)+fmt.Sprintf(format, args...))
	}
	millis := func(k, v string) time.Duration {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n <= 0 {
			warn(k, "%q is not a positive number of milliseconds and is ignored", v)
			return 0
		}
		return time.Duration(n) * time.Millisecond
	}
	boolean := func(k, v string) bool {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			return true
		case "false":
		default:
			warn(k, "%q is read as false, as JavaMail does", v)
		}
		return false
	}
	var disabled []string
	for _, k := range sortedKeys(p) {
		v := p[k]
		switch k {
		case "mail.smtp.connectiontimeout":
			out.connectTimeout = millis(k, v)
		case "mail.smtp.timeout", "mail.smtp.writetimeout":
			out.ioTimeout = max(out.ioTimeout, millis(k, v))
		case "mail.smtp.ssl.enable":
			out.ssl = boolean(k, v)
		case "mail.smtp.starttls.enable":
			b := boolean(k, v)
			out.startTLS = &b
		case "mail.smtp.starttls.required":
			out.startTLSRequired = boolean(k, v)
		case "mail.smtp.localhost":
			if strings.ContainsAny(v, " \r\n\t") || v == "" {
				warn(k, "%q is not a host name and is ignored", v)
				continue
			}
			out.helo = v
		case "mail.smtp.from":
			if !isPlainAddress(v) {
				warn(k, "%q is not a plain email address and is ignored", v)
				continue
			}
			out.from = v
		case "mail.smtp.auth.mechanisms":
			var want, unknown []string
			for _, m := range strings.Fields(strings.ReplaceAll(strings.ToUpper(v), ",", " ")) {
				if slices.Contains(supportedMechanisms, m) {
					want = append(want, m)
				} else {
					unknown = append(unknown, m)
				}
			}
			if len(unknown) > 0 {
				warn(k, "%s not supported (jitaccess speaks %s)", strings.Join(unknown, ", "), strings.Join(supportedMechanisms, " and "))
			}
			if len(want) > 0 {
				out.mechanisms = want
			}
		case "mail.smtp.auth.login.disable":
			if boolean(k, v) {
				disabled = append(disabled, "LOGIN")
			}
		case "mail.smtp.auth.plain.disable":
			if boolean(k, v) {
				disabled = append(disabled, "PLAIN")
			}
		case "mail.smtp.ssl.trust":
			trusted := strings.Fields(v)
			if slices.Contains(trusted, "*") || slices.ContainsFunc(trusted, func(h string) bool { return strings.EqualFold(h, host) }) {
				out.trustAll = true
				warn(k, "the certificate of %s is not verified, as configured", host)
			}
		case "mail.smtp.ssl.checkserveridentity":
			out.noIdentityCheck = !boolean(k, v)
		case "mail.smtp.ssl.protocols":
			lo, hi, bad := tlsVersions(v)
			for _, b := range bad {
				warn(k, "%s is not a TLS version this build speaks and is ignored", b)
			}
			out.minTLS, out.maxTLS = lo, hi
		default:
			if why, ok := ignoredProperties[k]; ok {
				warn(k, "ignored: %s", why)
			} else {
				warn(k, "ignored: jitaccess does not implement this JavaMail property")
			}
		}
	}
	out.mechanisms = slices.DeleteFunc(out.mechanisms, func(m string) bool { return slices.Contains(disabled, m) })
	return out
}

// tlsVersions parses JavaMail's protocol names ("TLSv1.2 TLSv1.3").
func tlsVersions(v string) (lo, hi uint16, bad []string) {
	names := map[string]uint16{"TLSv1": tls.VersionTLS10, "TLSv1.1": tls.VersionTLS11, "TLSv1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13}
	for _, f := range strings.Fields(strings.ReplaceAll(v, ",", " ")) {
		n, ok := names[f]
		if !ok {
			bad = append(bad, f)
			continue
		}
		if lo == 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
	}
	return lo, hi, bad
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// tlsConfig applies the TLS properties to base (nil: verify host against
// the system roots).
func (p smtpProperties) tlsConfig(base *tls.Config, host string) *tls.Config {
	var c *tls.Config
	if base != nil {
		c = base.Clone()
	} else {
		c = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	if p.minTLS != 0 {
		c.MinVersion, c.MaxVersion = p.minTLS, p.maxTLS
	}
	switch {
	case p.trustAll:
		c.InsecureSkipVerify = true // mail.smtp.ssl.trust, as configured; warned at start-up
	case p.noIdentityCheck:
		// Verify the chain, not the name: JavaMail's checkserveridentity=false.
		roots := c.RootCAs
		c.InsecureSkipVerify = true // the chain is verified in VerifyConnection
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the SMTP server sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, ic := range cs.PeerCertificates[1:] {
				inter.AddCert(ic)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	}
	return c
}

// negotiatedAuth picks the first of our mechanisms that the server
// offers, as JavaMail does, and never sends a password over an
// unencrypted connection (except to localhost).
type negotiatedAuth struct {
	mechanisms               []string
	user, password, hostname string
	chosen                   smtp.Auth
}

func (a *negotiatedAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if len(server.Auth) == 0 {
		if !server.TLS {
			return "", nil, errors.New("the connection is not encrypted (the SMTP server did not offer STARTTLS) and offers no AUTH over it; the password is not sent in clear")
		}
		return "", nil, errors.New("the SMTP server offers no AUTH mechanism, but SMTP_USERNAME is set")
	}
	for _, m := range a.mechanisms {
		if !slices.ContainsFunc(server.Auth, func(s string) bool { return strings.EqualFold(s, m) }) {
			continue
		}
		switch m {
		case "LOGIN":
			a.chosen = smtp.LoginAuth(a.user, a.password, a.hostname, false)
		case "PLAIN":
			a.chosen = smtp.PlainAuth("", a.user, a.password, a.hostname, false)
		}
		return a.chosen.Start(server)
	}
	return "", nil, fmt.Errorf("the SMTP server offers AUTH %s; jitaccess may use %s (SMTP_OPTIONS mail.smtp.auth.mechanisms)",
		strings.Join(server.Auth, " "), strings.Join(a.mechanisms, " "))
}

func (a *negotiatedAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if a.chosen == nil {
		return nil, errors.New("SMTP AUTH was not started")
	}
	return a.chosen.Next(fromServer, more)
}
