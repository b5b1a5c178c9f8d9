package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// kindStatus is the one table from error kind to HTTP status code, with
// the message shown when an error carries none of its own. Nothing else in
// the app maps errors to status codes.
func kindStatus(k jit.Kind) (status int, generic string) {
	switch k {
	case jit.KindInvalid:
		return http.StatusBadRequest, "The request is invalid"
	case jit.KindUnauthenticated:
		return http.StatusUnauthorized, "Authentication is required"
	case jit.KindDenied:
		return http.StatusForbidden, "Access denied"
	case jit.KindNotFound:
		return http.StatusNotFound, "Not found"
	case jit.KindConflict:
		return http.StatusConflict, "The request conflicts with a concurrent change, try again"
	case jit.KindTooMany:
		return http.StatusTooManyRequests, "Too many requests, try again later"
	case jit.KindUpstream:
		return http.StatusBadGateway, "A Google Cloud API request failed, see logs for details"
	case jit.KindUnavailable:
		return http.StatusServiceUnavailable, "The service is temporarily unavailable, try again later"
	default: // jit.KindInternal and anything unknown
		return http.StatusInternalServerError, "An internal error occurred, see logs for details"
	}
}

// Status returns the HTTP status code for an error, by its kind.
func Status(err error) int {
	status, _ := kindStatus(jit.KindOf(err))
	return status
}

// message returns the user-safe message for err: its own, or the generic
// one of its kind. err.Error() is never shown: it may hold upstream detail.
func message(err error) string {
	if m := jit.MessageOf(err); m != "" {
		return m
	}
	_, generic := kindStatus(jit.KindOf(err))
	return generic
}

// errorBody is the original's error response.
type errorBody struct {
	Message string `json:"message"`
}

// handlerFunc is the type of every handler: it returns an error instead of
// writing one.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts a handlerFunc to http.HandlerFunc, rendering its error.
func (s *Server) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tw := &trackingWriter{ResponseWriter: w}
		err := h(tw, r)
		if err == nil {
			return
		}
		if tw.wrote {
			// Too late for an error response; the log is all we can do.
			s.log.ErrorContext(r.Context(), "handler failed after writing the response", slog.Any("error", err))
			return
		}
		s.writeError(w, r, err)
	}
}

// writeError logs err (5xx at Error, 401/403/429 at Warn, other 4xx at
// Info) and writes the status of its kind and {"message": …}.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := Status(err)
	msg := message(err)
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusTooManyRequests:
		level = slog.LevelWarn
	}
	s.log.Log(r.Context(), level, "request failed: "+msg,
		slog.Int("status", status),
		slog.String("kind", jit.KindOf(err).String()),
		slog.Any("error", err))
	writeMessage(w, status, msg)
}

// writeMessage writes {"message": msg} with status. It is for responses
// that are not domain errors (405, the cache-buster 404); domain errors go
// through writeError.
func writeMessage(w http.ResponseWriter, status int, msg string) {
	// Marshalling a struct of one string cannot fail.
	_ = writeJSON(w, status, errorBody{Message: msg})
}

// writeJSON renders v into a buffer first, so that a marshalling failure
// becomes a clean 500 instead of a half-written body.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return jit.E("server.writeJSON", jit.KindInternal, "", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	// A failed write means the client went away; there is nobody to tell.
	_ = err
	return nil
}

// trackingWriter records whether a handler started its response.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackingWriter) WriteHeader(code int) {
	t.wrote = true
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }
