package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/internal/cloudlog"
	"github.com/jitaccess/jitaccess/internal/jit"
)

type (
	requestIDKey struct{}
	principalKey struct{}
)

// Header names.
const (
	headerXSRF         = "X-JITACCESS"
	headerIAPAssertion = "x-goog-iap-jwt-assertion" //nolint:gosec // G101: a header name, not a credential
	headerTrace        = "X-Cloud-Trace-Context"
	headerRequestID    = "X-Request-Id"
)

// contentSecurityPolicy allows only the app's own scripts, styles and API;
// no inline script, no framing (clickjacking), no <base> tricks.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// recoverPanics turns a panic into a logged 500 with a JSON body, unless the
// response had already started. http.ErrAbortHandler keeps its meaning.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &trackingWriter{ResponseWriter: w}
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler { //nolint:errorlint // the sentinel is compared, as net/http does
				panic(p)
			}
			s.log.ErrorContext(r.Context(), "panic serving request",
				slog.String("panic", fmt.Sprint(p)),
				slog.String("stack", string(debug.Stack())),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path))
			if !tw.wrote {
				_, generic := kindStatus(jit.KindInternal)
				writeMessage(w, http.StatusInternalServerError, generic)
			}
		}()
		next.ServeHTTP(tw, r)
	})
}

// requestContext gives each request an id (also returned in X-Request-Id)
// and attaches it, and the Cloud Trace context, to every log record made
// with the request's context.
func (s *Server) requestContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		w.Header().Set(headerRequestID, id)
		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		ctx = cloudlog.WithTrace(ctx, s.opts.TraceProject, r.Header.Get(headerTrace))
		ctx = cloudlog.WithLabels(ctx, slog.String("request_id", id))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// RequestIDFrom returns the id requestContext gave the request, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// accessLog writes one line per request with Cloud Logging's httpRequest
// fields. Health checks are logged at Debug, since load balancers and
// platforms call them constantly. A request whose handler panicked is logged
// as a 500 before the panic continues to recoverPanics.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		completed := false
		defer func() {
			status := rec.status
			if !completed {
				status = http.StatusInternalServerError
			} else if status == 0 {
				status = http.StatusOK
			}
			level := slog.LevelInfo
			if strings.HasPrefix(r.URL.Path, "/health/") {
				level = slog.LevelDebug
			}
			s.log.LogAttrs(r.Context(), level, r.Method+" "+r.URL.Path, cloudlog.HTTPRequest{
				Method:       r.Method,
				URL:          redactedURL(r.URL),
				Status:       status,
				RequestSize:  max(r.ContentLength, 0),
				ResponseSize: rec.size,
				UserAgent:    r.UserAgent(),
				RemoteIP:     remoteIP(r.RemoteAddr),
				Referer:      r.Referer(),
				Protocol:     r.Proto,
				Latency:      time.Since(start),
			}.Attr())
			if s.opts.ObserveRequest != nil {
				s.opts.ObserveRequest(routePattern(r), r.Method, status, time.Since(start))
			}
		}()
		next.ServeHTTP(rec, r)
		completed = true
	})
}

// redactedURL hides the values of query parameters that must not reach
// the logs: approval tokens grant nothing alone, but they name people and
// justifications.
func redactedURL(u *url.URL) string {
	if u.RawQuery == "" {
		return u.EscapedPath()
	}
	q := u.Query()
	for _, p := range []string{"activation", "token"} {
		if q.Has(p) {
			q.Set(p, "REDACTED")
		}
	}
	return u.EscapedPath() + "?" + q.Encode()
}

func remoteIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// recorder captures the status and size of a response for the access log.
type recorder struct {
	http.ResponseWriter
	status int
	size   int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.size += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// securityHeaders sets the headers every response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		// The original sent no-cache on everything: responses depend on the
		// signed-in user and on IAM state that changes at any time.
		h.Set("Cache-Control", "no-cache")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// crossOrigin refuses cross-site state-changing requests from browsers,
// using net/http's Sec-Fetch-Site and Origin checks. It backs up the
// X-JITACCESS header check, which only covers /api.
func (s *Server) crossOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := cop.Check(r); err != nil {
			s.writeError(w, r, jit.E("server.crossOrigin", jit.KindDenied, "Cross-origin requests are not allowed", err))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody caps request bodies; reads past the limit fail with
// *http.MaxBytesError, which decodeJSON reports.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// requireXSRFHeader demands X-JITACCESS: 1 on /api, exactly as the
// original: a cross-site page cannot add a custom header without a CORS
// preflight, which this app never grants.
func (s *Server) requireXSRFHeader(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(headerXSRF) != "1" {
			s.writeError(w, r, jit.Invalid("server.requireXSRFHeader", "Missing header: "+headerXSRF))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate verifies the IAP assertion and puts the principal in the
// request context. Details of a failed verification go to the log only
// (the original's issue #73). A missing or invalid assertion is a 403, as
// in the original (its IapRequestFilter threw ForbiddenException):
// monitors and clients of 1.8.1 key on it, and IAP's own 401 for an
// expired session never reaches the app.
func (s *Server) authenticate(next http.Handler) http.Handler {
	const op = "server.authenticate"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assertion := r.Header.Get(headerIAPAssertion)
		if assertion == "" {
			err := jit.E(op, jit.KindDenied,
				"Identity-Aware Proxy must be enabled for this application", fmt.Errorf("missing %s header, IAP might be disabled", headerIAPAssertion))
			s.recordAuthFailure(r.Context(), err)
			s.writeError(w, r, err)
			return
		}
		p, err := s.opts.Verifier.Verify(r.Context(), assertion)
		if err != nil {
			switch jit.KindOf(err) {
			case jit.KindUnavailable, jit.KindUpstream, jit.KindTooMany:
				// The assertion may be fine; we could not check it.
				s.writeError(w, r, err)
			default:
				s.recordAuthFailure(r.Context(), err)
				s.writeError(w, r, jit.E(op, jit.KindDenied, "Invalid IAP assertion", err))
			}
			return
		}
		ctx := context.WithValue(r.Context(), principalKey{}, p)
		// The original's base labels, so that every log line of the request
		// says who made it.
		ctx = cloudlog.WithLabels(ctx,
			slog.String("user", string(p.Email)),
			slog.String("user_id", p.Subject),
			slog.String("device_id", p.DeviceID),
			slog.String("device_access_levels", strings.Join(p.AccessLevels, ",")))
		s.log.DebugContext(ctx, "Authenticated IAP principal", slog.Group(cloudlog.LabelsGroup, slog.String("event", "iap.authenticate")))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// rateLimit refuses a user's request over RATE_LIMIT_REQUESTS with 429,
// before any handler (and so any Google API call) runs.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	if s.opts.RequestLimit == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r.Context())
		if ok {
			if allowed, retry := s.opts.RequestLimit.Allow(string(p.Email), 1); !allowed {
				secs := int64((retry + time.Second - 1) / time.Second)
				w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
				s.writeError(w, r, jit.E("server.rateLimit", jit.KindTooMany,
					fmt.Sprintf("Too many requests from %s: try again in %d seconds", p.Email, secs), nil))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// recordAuthFailure puts a refused assertion in the audit trail; failing
// to do so is logged, and the request is refused either way.
func (s *Server) recordAuthFailure(ctx context.Context, cause error) {
	if s.opts.AuthFailures == nil {
		return
	}
	if err := s.opts.AuthFailures.AuthenticationFailed(ctx, cause); err != nil {
		s.log.ErrorContext(ctx, "recording an authentication failure failed", slog.Any("error", err))
	}
}

// PrincipalFrom returns the principal authenticate verified.
func PrincipalFrom(ctx context.Context) (jit.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(jit.Principal)
	return p, ok
}

// principal returns the request's principal, or a KindUnauthenticated
// error when a handler runs outside authenticate (a routing bug).
func principal(r *http.Request) (jit.Principal, error) {
	p, ok := PrincipalFrom(r.Context())
	if !ok || p.Email == "" {
		return jit.Principal{}, jit.E("server.principal", jit.KindUnauthenticated, "", fmt.Errorf("no principal in context for %s", r.URL.Path))
	}
	return p, nil
}
