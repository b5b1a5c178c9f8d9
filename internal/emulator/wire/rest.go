package wire

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// MaxRequestBody bounds request bodies; a policy at Google's limit of
// 1,500 principals is well under 1 MiB.
const MaxRequestBody = 4 << 20

// InvalidArgument is a 400 INVALID_ARGUMENT with a formatted message.
func InvalidArgument(format string, args ...any) *Error {
	return New(http.StatusBadRequest, fmt.Sprintf(format, args...))
}

// PermissionDenied is IAM's 403 for a permission the caller lacks on a
// resource, or a resource that does not exist: Google does not tell the
// two apart. Like Google, it carries an ErrorInfo with the reason
// IAM_PERMISSION_DENIED naming the permission and the resource.
func PermissionDenied(permission, resource string) *Error {
	on := "resource"
	md := map[string]string{"permission": permission}
	if resource != "" {
		on = "resource '" + resource + "'"
		md["resource"] = resource
	}
	e := New(http.StatusForbidden, fmt.Sprintf("Permission '%s' denied on %s (or it may not exist).", permission, on))
	e.Info = &ErrorInfo{Reason: "IAM_PERMISSION_DENIED", Domain: "iam.googleapis.com", Metadata: md}
	return e
}

// NotFoundPath is the 404 for a path no emulated method serves.
func NotFoundPath(r *http.Request) *Error {
	return New(http.StatusNotFound, fmt.Sprintf(
		"The requested URL %s was not found on this server (method %s); the emulator implements only the methods listed in docs/emulator.md.",
		r.URL.Path, r.Method))
}

// CheckStandardParams accepts the system parameters the generated clients
// send: alt=json and prettyPrint. Partial responses ("fields") are not
// applied; the full resource is returned.
func CheckStandardParams(r *http.Request) *Error {
	q := r.URL.Query()
	if alt := q.Get("alt"); alt != "" && alt != "json" {
		return InvalidArgument("Invalid value for alt: %q; the emulator serves only alt=json.", alt)
	}
	if pp := q.Get("prettyPrint"); pp != "" {
		if _, err := strconv.ParseBool(pp); err != nil {
			return InvalidArgument("Invalid value for prettyPrint: %q.", pp)
		}
	}
	return nil
}

// ResourceEtag is a stable etag for a resource's metadata (not its policy).
func ResourceEtag(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "W/\"" + base64.RawURLEncoding.EncodeToString(sum[:9]) + "\""
}

// PageParams parses the pageSize and pageToken parameters.
func PageParams(size, token string) (int32, string, *Error) {
	if size == "" {
		return 0, token, nil
	}
	n, err := strconv.ParseInt(size, 10, 32)
	if err != nil || n < 0 {
		return 0, "", InvalidArgument("Invalid value for pageSize: %q.", size)
	}
	return int32(n), token, nil
}

// Paginate cuts a page out of results: size 0 (or above 500) means 100,
// and the token is the offset of the page, opaque to clients.
func Paginate[T any](results []T, size int32, token string) ([]T, string, *Error) {
	if size <= 0 || size > 500 {
		size = 100
	}
	start := 0
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 || n > len(results) {
			return nil, "", New(http.StatusBadRequest, "Invalid page token")
		}
		start = n
	}
	end := min(start+int(size), len(results))
	next := ""
	if end < len(results) {
		next = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
	}
	return results[start:end], next, nil
}

// DecodeBody decodes a JSON request body strictly, as Google does: an
// unknown field or malformed JSON is 400 INVALID_ARGUMENT. An empty body
// leaves v unchanged.
func DecodeBody(rw http.ResponseWriter, r *http.Request, v any) *Error {
	dec := json.NewDecoder(http.MaxBytesReader(rw, r.Body, MaxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return New(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body is larger than %d bytes.", MaxRequestBody))
		}
		return InvalidArgument("Invalid JSON payload received. %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return InvalidArgument("Invalid JSON payload received. Unexpected data after the JSON object.")
	}
	return nil
}
