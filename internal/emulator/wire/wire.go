// Package wire holds what every emulated Google API shares on the wire:
// Google's error model (the REST JSON error body and the matching gRPC
// status), strict JSON request bodies, the system parameters the generated
// clients send, and page tokens. API packages build on it so that an error
// or a page looks the same whichever API gives it, as at Google.
package wire

import (
	"encoding/json"
	"net/http"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is an error as Google returns it: an HTTP code, a canonical
// status name and a message. REST services render it as Google's JSON error
// body; gRPC services as a status with the matching code.
type Error struct {
	HTTPCode int    // e.g. 409
	Status   string // canonical code name, e.g. "ABORTED"
	Message  string
	// Info is the google.rpc.ErrorInfo detail, for the errors Google
	// gives one with; nil for the others.
	Info *ErrorInfo
}

// ErrorInfo is google.rpc.ErrorInfo: why an error happened, as a
// machine-readable reason in a domain, with metadata.
type ErrorInfo struct {
	Reason   string            `json:"reason"`
	Domain   string            `json:"domain"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

func (e *Error) Error() string { return e.Status + ": " + e.Message }

// GRPCStatus lets status.FromError and the gRPC server map the error.
// An ErrorInfo travels as a status detail, as Google sends it over gRPC.
func (e *Error) GRPCStatus() *status.Status {
	st := status.New(grpcCode(e.Status), e.Message)
	if e.Info == nil {
		return st
	}
	withInfo, err := st.WithDetails(&errdetails.ErrorInfo{Reason: e.Info.Reason, Domain: e.Info.Domain, Metadata: e.Info.Metadata})
	if err != nil {
		return st
	}
	return withInfo
}

func grpcCode(name string) codes.Code {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if canonicalName(c) == name {
			return c
		}
	}
	return codes.Unknown
}

// canonicalName is the upper-snake name Google uses in REST error bodies.
func canonicalName(c codes.Code) string {
	switch c {
	case codes.OK:
		return "OK"
	case codes.Canceled:
		return "CANCELLED"
	case codes.Unknown:
		return "UNKNOWN"
	case codes.InvalidArgument:
		return "INVALID_ARGUMENT"
	case codes.DeadlineExceeded:
		return "DEADLINE_EXCEEDED"
	case codes.NotFound:
		return "NOT_FOUND"
	case codes.AlreadyExists:
		return "ALREADY_EXISTS"
	case codes.PermissionDenied:
		return "PERMISSION_DENIED"
	case codes.ResourceExhausted:
		return "RESOURCE_EXHAUSTED"
	case codes.FailedPrecondition:
		return "FAILED_PRECONDITION"
	case codes.Aborted:
		return "ABORTED"
	case codes.OutOfRange:
		return "OUT_OF_RANGE"
	case codes.Unimplemented:
		return "UNIMPLEMENTED"
	case codes.Internal:
		return "INTERNAL"
	case codes.Unavailable:
		return "UNAVAILABLE"
	case codes.DataLoss:
		return "DATA_LOSS"
	case codes.Unauthenticated:
		return "UNAUTHENTICATED"
	}
	return "UNKNOWN"
}

// statusForHTTP is the canonical status Google pairs with an HTTP code.
func statusForHTTP(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ABORTED"
	case http.StatusPreconditionFailed:
		return "FAILED_PRECONDITION"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	return "INTERNAL"
}

// New builds an Error for an HTTP code with Google's status name.
func New(httpCode int, msg string) *Error {
	return &Error{HTTPCode: httpCode, Status: statusForHTTP(httpCode), Message: msg}
}

// WriteError renders err as Google's JSON error body,
// {"error":{"code":N,"message":"…","status":"…"}}, which the REST client
// libraries decode into *googleapi.Error.
func WriteError(w http.ResponseWriter, err *Error) {
	e := map[string]any{
		"code":    err.HTTPCode,
		"message": err.Message,
		"status":  err.Status,
	}
	if err.Info != nil {
		e["details"] = []any{struct {
			Type string `json:"@type"`
			ErrorInfo
		}{"type.googleapis.com/google.rpc.ErrorInfo", *err.Info}}
	}
	body := map[string]any{"error": e}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(err.HTTPCode)
	_ = json.NewEncoder(w).Encode(body)
}

// WriteJSON renders v as a 200 JSON response. It encodes into a buffer
// first, so that an encoding failure becomes a clean 500 rather than a
// truncated 200.
func WriteJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		WriteError(w, New(http.StatusInternalServerError, "encode response: "+err.Error()))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = w.Write(append(body, '\n'))
}
