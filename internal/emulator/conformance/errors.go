package conformance

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
)

// httpOfStatus is Google's mapping of canonical codes to HTTP status
// codes (google.rpc.Code, as documented in the API Design Guide, "Errors").
var httpOfStatus = map[string]int{
	"OK": 200, "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400, "DEADLINE_EXCEEDED": 504,
	"NOT_FOUND": 404, "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403, "UNAUTHENTICATED": 401,
	"RESOURCE_EXHAUSTED": 429, "FAILED_PRECONDITION": 400, "ABORTED": 409, "OUT_OF_RANGE": 400,
	"UNIMPLEMENTED": 501, "INTERNAL": 500, "UNAVAILABLE": 503, "DATA_LOSS": 500,
}

const errorInfoType = "type.googleapis.com/google.rpc.ErrorInfo"

var (
	// AIP-193: a reason is UPPER_SNAKE_CASE of at most 63 characters;
	// metadata keys are lowerCamelCase.
	reasonPattern      = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,61}[A-Z0-9]$`)
	metadataKeyPattern = regexp.MustCompile(`^[a-z][a-zA-Z0-9_-]{0,63}$`)
)

// checkError holds an error answer to Google's error model:
//
//	{"error": {"code": HTTP, "message": "…", "status": "CANONICAL", "details": [{"@type": …}, …]}}
//
// with the legacy "errors" list allowed, the status one that Google pairs
// with the HTTP code, details typed, an ErrorInfo well formed, and, for
// the APIs behind IAM (api names the discovery document), an ErrorInfo
// with the reason IAM_PERMISSION_DENIED on PERMISSION_DENIED, as Google
// gives one there.
func checkError(api string, httpCode int, body []byte) *Violation {
	bad := func(field, format string, args ...any) *Violation {
		return &Violation{Side: "error", Field: field, Problem: fmt.Sprintf(format, args...)}
	}
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(body, &outer); err != nil {
		return bad("", "is not Google's JSON error body: %v", err)
	}
	for k := range outer {
		if k != "error" {
			return bad(k, "is a field outside Google's error body")
		}
	}
	var e map[string]any
	if err := json.Unmarshal(outer["error"], &e); err != nil || e == nil {
		return bad("error", "is missing or not an object")
	}
	for _, k := range sortedKeys(e) {
		if !slices.Contains([]string{"code", "message", "status", "details", "errors"}, k) {
			return bad("error."+k, "is a field outside Google's error model")
		}
	}
	code, ok := e["code"].(float64)
	if !ok || code != math.Trunc(code) || int(code) != httpCode {
		return bad("error.code", "is %v, want the HTTP status %d", e["code"], httpCode)
	}
	if msg, ok := e["message"].(string); !ok || msg == "" {
		return bad("error.message", "is missing or empty")
	}
	status, ok := e["status"].(string)
	want, known := httpOfStatus[status]
	switch {
	case !ok:
		return bad("error.status", "is missing; Google names the canonical code")
	case !known:
		return bad("error.status", "is %q, not a canonical code", status)
	case want != httpCode && slices.Contains(mappedCodes(), httpCode):
		return bad("error.status", "is %s, which Google answers with HTTP %d, not %d", status, want, httpCode)
	}
	details, _ := e["details"].([]any)
	if _, present := e["details"]; present && details == nil {
		return bad("error.details", "is not an array")
	}
	hasIAMInfo := false
	for i, d := range details {
		at := fmt.Sprintf("error.details[%d]", i)
		obj, ok := d.(map[string]any)
		if !ok {
			return bad(at, "is not an object")
		}
		typ, _ := obj["@type"].(string)
		if typ == "" {
			return bad(at+".@type", "is missing; every detail names its type")
		}
		if typ != errorInfoType {
			continue
		}
		if v := checkErrorInfo(at, obj); v != nil {
			return v
		}
		if obj["reason"] == "IAM_PERMISSION_DENIED" {
			hasIAMInfo = true
		}
	}
	if errs, present := e["errors"]; present {
		if v := checkLegacyErrors(errs); v != nil {
			return v
		}
	}
	if status == "PERMISSION_DENIED" && (api == "cloudresourcemanager" || api == "iamcredentials") && !hasIAMInfo {
		return bad("error.details", "has no ErrorInfo with reason IAM_PERMISSION_DENIED; %s gives one with every permission error", api)
	}
	return nil
}

// mappedCodes are the HTTP codes the canonical codes map to; an answer
// with another code (405, 412, 413 …) may carry any canonical status.
func mappedCodes() []int {
	out := make([]int, 0, len(httpOfStatus))
	for _, c := range httpOfStatus {
		out = append(out, c)
	}
	return out
}

func checkErrorInfo(at string, obj map[string]any) *Violation {
	bad := func(field, format string, args ...any) *Violation {
		return &Violation{Side: "error", Field: field, Problem: fmt.Sprintf(format, args...)}
	}
	for _, k := range sortedKeys(obj) {
		if !slices.Contains([]string{"@type", "reason", "domain", "metadata"}, k) {
			return bad(at+"."+k, "is not a field of google.rpc.ErrorInfo")
		}
	}
	if r, _ := obj["reason"].(string); !reasonPattern.MatchString(r) {
		return bad(at+".reason", "is %q, want UPPER_SNAKE_CASE of at most 63 characters", obj["reason"])
	}
	if d, _ := obj["domain"].(string); d == "" {
		return bad(at+".domain", "is missing; an ErrorInfo names the service that gave it")
	}
	if md, present := obj["metadata"]; present {
		m, ok := md.(map[string]any)
		if !ok {
			return bad(at+".metadata", "is not a map of strings")
		}
		for _, k := range sortedKeys(m) {
			if _, ok := m[k].(string); !ok || !metadataKeyPattern.MatchString(k) {
				return bad(at+".metadata."+k, "must be a lowerCamelCase key with a string value")
			}
		}
	}
	return nil
}

func checkLegacyErrors(v any) *Violation {
	list, ok := v.([]any)
	if !ok {
		return &Violation{Side: "error", Field: "error.errors", Problem: "is not an array"}
	}
	for i, item := range list {
		obj, ok := item.(map[string]any)
		if !ok {
			return &Violation{Side: "error", Field: fmt.Sprintf("error.errors[%d]", i), Problem: "is not an object"}
		}
		for _, k := range sortedKeys(obj) {
			if !slices.Contains([]string{"message", "domain", "reason", "location", "locationType", "extendedHelp", "sendReport"}, k) {
				return &Violation{Side: "error", Field: fmt.Sprintf("error.errors[%d].%s", i, k), Problem: "is not a field of Google's legacy error item"}
			}
		}
	}
	return nil
}
