package jit

import (
	"errors"
	"fmt"
)

// Kind classifies an error by what the caller can do about it. The server
// maps kinds to HTTP status codes in exactly one place.
type Kind int

// Error kinds, from the caller's point of view.
const (
	// KindInternal is a bug or an unexpected state; never shown in detail.
	KindInternal Kind = iota
	// KindInvalid is bad input from the caller (HTTP 400).
	KindInvalid
	// KindUnauthenticated means no or no valid identity (HTTP 401).
	KindUnauthenticated
	// KindDenied means the caller is known but not allowed (HTTP 403).
	KindDenied
	// KindNotFound means the named thing does not exist (HTTP 404).
	KindNotFound
	// KindConflict means a concurrent change won and retries ran out (HTTP 409).
	KindConflict
	// KindTooMany means a rate or quota limit was hit (HTTP 429).
	KindTooMany
	// KindUpstream means a Google API failed in a way a retry may fix (HTTP 502).
	KindUpstream
	// KindUnavailable means a dependency timed out or is not configured (HTTP 503).
	KindUnavailable
)

var kindNames = [...]string{
	KindInternal:        "internal",
	KindInvalid:         "invalid",
	KindUnauthenticated: "unauthenticated",
	KindDenied:          "denied",
	KindNotFound:        "not_found",
	KindConflict:        "conflict",
	KindTooMany:         "too_many",
	KindUpstream:        "upstream",
	KindUnavailable:     "unavailable",
}

func (k Kind) String() string {
	if int(k) >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is the error type of the domain and its adapters. Msg is safe to show
// to the person who made the request; Err carries the detail for the logs.
type Error struct {
	Op   string // operation that failed, e.g. "iam.AddBinding"
	Kind Kind
	Msg  string // message for the user; empty means a generic one for Kind
	Err  error  // underlying cause, for logs only
}

func (e *Error) Error() string {
	var s string
	switch {
	case e.Op != "" && e.Msg != "":
		s = e.Op + ": " + e.Msg
	case e.Op != "":
		s = e.Op
	default:
		s = e.Msg
	}
	if e.Err != nil {
		if s == "" {
			return e.Err.Error()
		}
		return s + ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an *Error.
func E(op string, kind Kind, msg string, err error) *Error {
	return &Error{Op: op, Kind: kind, Msg: msg, Err: err}
}

// Invalid is shorthand for a KindInvalid error with a user message.
func Invalid(op, msg string) *Error { return E(op, KindInvalid, msg, nil) }

// Denied is shorthand for a KindDenied error with a user message.
func Denied(op, msg string) *Error { return E(op, KindDenied, msg, nil) }

// KindOf returns the kind of the outermost *Error in err's chain whose kind
// is not KindInternal, or KindInternal.
func KindOf(err error) Kind {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return KindInternal
		}
		if e.Kind != KindInternal {
			return e.Kind
		}
		err = e.Err
	}
	return KindInternal
}

// MessageOf returns the first user-safe message in err's chain, or "".
func MessageOf(err error) string {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return ""
		}
		if e.Msg != "" {
			return e.Msg
		}
		err = e.Err
	}
	return ""
}
