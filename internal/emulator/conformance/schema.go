package conformance

import (
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// checkValue checks a decoded JSON value against a discovery schema and
// returns the first problem: the field's path (e.g.
// "bindings[0].condition.title") and what is wrong, or "" and "" when the
// value conforms. response says which side of the exchange it is: Google
// never answers null, while a client may send null to clear a field.
func (d *document) checkValue(v any, s *schema, at, methodID string, response bool) (field, problem string) {
	s = d.resolve(s)
	if s == nil {
		return at, "has no schema in Google's document"
	}
	if v == nil {
		if response {
			return at, "is null; Google omits a field it has no value for"
		}
		return "", ""
	}
	switch s.Type {
	case "any", "":
		return "", ""
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return at, fmt.Sprintf("is %s, want an object", jsonKind(v))
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sub, ok := s.Properties[k]
			if !ok && s.AdditionalProperties != nil {
				sub, ok = s.AdditionalProperties, true
			}
			if !ok {
				if s.Properties == nil {
					continue // an object Google leaves open
				}
				return join(at, k), "is a field Google's schema does not define"
			}
			if f, p := d.checkValue(obj[k], sub, join(at, k), methodID, response); p != "" {
				return f, p
			}
		}
		names := make([]string, 0, len(s.Properties))
		for k := range s.Properties {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if _, present := obj[k]; !present && s.Properties[k].required(methodID) {
				return join(at, k), "is required by Google's schema but missing"
			}
		}
		return "", ""
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return at, fmt.Sprintf("is %s, want an array", jsonKind(v))
		}
		for i, e := range arr {
			if f, p := d.checkValue(e, s.Items, fmt.Sprintf("%s[%d]", at, i), methodID, response); p != "" {
				return f, p
			}
		}
		return "", ""
	case "string":
		str, ok := v.(string)
		if !ok {
			return at, fmt.Sprintf("is %s, want a string (format %q)", jsonKind(v), s.Format)
		}
		if p := checkStringFormat(str, s.Format); p != "" {
			return at, p
		}
		if len(s.Enum) > 0 && !slices.Contains(s.Enum, str) {
			return at, fmt.Sprintf("is %q, not one of Google's values %s", str, strings.Join(s.Enum, ", "))
		}
		return "", ""
	case "integer":
		n, ok := v.(float64)
		if !ok || n != math.Trunc(n) {
			return at, fmt.Sprintf("is %s, want an integer (format %q)", jsonKind(v), s.Format)
		}
		if (s.Format == "int32" && (n < math.MinInt32 || n > math.MaxInt32)) || (s.Format == "uint32" && (n < 0 || n > math.MaxUint32)) {
			return at, fmt.Sprintf("is %v, outside %s", n, s.Format)
		}
		return "", ""
	case "number":
		if _, ok := v.(float64); !ok {
			return at, fmt.Sprintf("is %s, want a number", jsonKind(v))
		}
		return "", ""
	case "boolean":
		if _, ok := v.(bool); !ok {
			return at, fmt.Sprintf("is %s, want a boolean", jsonKind(v))
		}
		return "", ""
	}
	return at, fmt.Sprintf("has the unknown schema type %q", s.Type)
}

// checkStringFormat checks the formats Google encodes as JSON strings.
func checkStringFormat(s, format string) string {
	switch format {
	case "int64":
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			return fmt.Sprintf("is %q, want an int64 in a string", s)
		}
	case "uint64":
		if _, err := strconv.ParseUint(s, 10, 64); err != nil {
			return fmt.Sprintf("is %q, want a uint64 in a string", s)
		}
	case "google-datetime", "date-time":
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Sprintf("is %q, want an RFC 3339 timestamp", s)
		}
	case "byte":
		_, errStd := base64.StdEncoding.DecodeString(s)
		_, errURL := base64.URLEncoding.DecodeString(s)
		if errStd != nil && errURL != nil {
			return fmt.Sprintf("is %q, want base64 bytes", s)
		}
	case "google-duration":
		if !strings.HasSuffix(s, "s") {
			return fmt.Sprintf("is %q, want a duration such as \"3.5s\"", s)
		}
	}
	return ""
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

func join(at, k string) string {
	if at == "" {
		return k
	}
	return at + "." + k
}
