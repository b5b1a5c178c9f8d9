package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// decodeJSON decodes the request body, a single JSON value, into v (a
// pointer). Every failure a client can cause is a KindInvalid error with a
// message a person understands; unknown fields are refused so that a typo
// in a field name is not silently ignored.
func decodeJSON(r *http.Request, v any) error {
	const op = "server.decodeJSON"
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return jit.Invalid(op, "The request body must be JSON (Content-Type: application/json)")
		}
	}
	if r.Body == nil || r.Body == http.NoBody {
		return jit.Invalid(op, "The request body is empty")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(op, err)
	}
	// Exactly one value: "{}{}" or "{} x" is a client bug worth reporting.
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return nil
	case isTooLarge(err):
		return decodeError(op, err)
	default:
		return jit.E(op, jit.KindInvalid, "The request body must contain a single JSON value", err)
	}
}

func isTooLarge(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}

func decodeError(op string, err error) error {
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		mb        *http.MaxBytesError
		invalid   *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &mb):
		return jit.E(op, jit.KindInvalid, fmt.Sprintf("The request body is too large (the limit is %d bytes)", mb.Limit), err)
	case errors.Is(err, io.EOF):
		return jit.E(op, jit.KindInvalid, "The request body is empty", err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return jit.E(op, jit.KindInvalid, "The request body is not valid JSON: it ends too early", err)
	case errors.As(err, &syntaxErr):
		return jit.E(op, jit.KindInvalid, fmt.Sprintf("The request body is not valid JSON (at byte %d)", syntaxErr.Offset), err)
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return jit.E(op, jit.KindInvalid, fmt.Sprintf("The request body must be %s, not a JSON %s", jsonKind(typeErr.Type), typeErr.Value), err)
		}
		return jit.E(op, jit.KindInvalid, fmt.Sprintf("Wrong type for field %q: expected %s, got a JSON %s", typeErr.Field, jsonKind(typeErr.Type), typeErr.Value), err)
	case errors.As(err, &invalid):
		return jit.E(op, jit.KindInternal, "", err) // a programming error: v is not a pointer
	}
	// encoding/json has no typed error for unknown fields.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return jit.E(op, jit.KindInvalid, "Unknown field "+name, err)
	}
	return jit.E(op, jit.KindInvalid, "The request body could not be read", err)
}

// jsonKind describes a Go type in JSON terms, for error messages.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a different type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	default:
		return "a different type"
	}
}
