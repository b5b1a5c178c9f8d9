// Package redact takes credentials out of URLs before they reach a log.
//
// It exists because the URLs the app is configured with carry secrets in
// every part a URL has: a Google Chat incoming webhook its key and token
// in the query, a Slack or Discord webhook its token in the path, a
// receiver behind basic authentication its password in the userinfo. The
// start-up log prints the configuration, and errors of HTTP clients quote
// the URL they failed on; both end up in Cloud Logging, readable by anyone
// with roles/logging.viewer, who must not be able to post as the app.
//
// What is kept is what an operator needs to recognise the URL: scheme,
// host, port, the query's parameter names and path segments that do not
// look like tokens.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mark replaces each redacted part.
const Mark = "REDACTED"

// minTokenSegment is the shortest path segment treated as a token when it
// mixes letters and digits: Slack's webhook secrets have 24 characters,
// Discord's tokens 68; resource names such as "spaces/AAAAb3xkZ1E" (11) or
// "v1" stay readable.
const minTokenSegment = 20

// tokenPaths are path prefixes, per host, after which every segment is a
// credential, whatever it looks like.
var tokenPaths = map[string]string{
	"hooks.slack.com":       "/services/",
	"discord.com":           "/api/webhooks/",
	"discordapp.com":        "/api/webhooks/",
	"hooks.zapier.com":      "/hooks/catch/",
	"outlook.office.com":    "/webhook/",
	"outlook.office365.com": "/webhook/",
}

// URL returns raw with its userinfo, fragment, every query value and every
// token-like path segment replaced by Mark. A value that is not a URL is
// returned as it is when it has no "://", and otherwise reduced to its
// scheme: something that failed to parse may still hold a secret.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		if scheme, _, ok := strings.Cut(raw, "://"); ok {
			return scheme + "://" + Mark
		}
		return raw
	}
	return Parsed(u)
}

// Parsed is URL for a parsed URL; u is not changed.
func Parsed(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	if c.User != nil {
		c.User = url.User(Mark)
	}
	if c.Fragment != "" || c.RawFragment != "" {
		c.Fragment, c.RawFragment = Mark, ""
	}
	if c.RawQuery != "" {
		c.RawQuery = query(c.RawQuery)
	}
	c.Path, c.RawPath = path(strings.ToLower(c.Hostname()), c.EscapedPath())
	return c.String()
}

// query keeps the parameter names in their order and replaces the values.
func query(raw string) string {
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		if name, _, ok := strings.Cut(p, "="); ok {
			parts[i] = name + "=" + Mark
		}
	}
	return strings.Join(parts, "&")
}

// path redacts the escaped path's token segments; it returns the path and
// its escaped form for url.URL.
func path(host, escaped string) (string, string) {
	after := -1
	if prefix, ok := tokenPaths[host]; ok && strings.HasPrefix(escaped, prefix) {
		after = strings.Count(prefix, "/") // the index of the first segment after it
	}
	segs := strings.Split(escaped, "/")
	for i, s := range segs {
		if s != "" && (after >= 0 && i >= after || looksLikeToken(s)) {
			segs[i] = Mark
		}
	}
	out := strings.Join(segs, "/")
	p, err := url.PathUnescape(out)
	if err != nil {
		return out, ""
	}
	return p, out
}

// looksLikeToken: long, of URL-safe characters, with letters and digits.
func looksLikeToken(s string) bool {
	if len(s) < minTokenSegment {
		return false
	}
	var letter, digit bool
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
			letter = true
		case '0' <= r && r <= '9':
			digit = true
		case r == '-', r == '_', r == '.', r == '~', r == '%':
		default:
			return false
		}
	}
	return letter && digit
}

// inText finds URLs in free text: a scheme, "://", and everything up to
// white space or a character that ends a quoted URL.
var inText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>` + "`" + `]+`)

// Text redacts every URL in s (an error message, a log line).
func Text(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return inText.ReplaceAllStringFunc(s, URL)
}
