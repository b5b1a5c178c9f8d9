package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/jitaccess/jitaccess/internal/jit"
)

type decodeTarget struct {
	EntitlementIDs    []string `json:"entitlementIds"`
	Justification     string   `json:"justification"`
	ActivationTimeout int      `json:"activationTimeout"`
	Nested            struct {
		Flag bool `json:"flag"`
	} `json:"nested"`
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		body        string
		contentType string
		limit       int64
		want        decodeTarget
		msg         string // empty: success
	}{
		{name: "ok", body: `{"entitlementIds":["p:roles/x"],"justification":"b/1","activationTimeout":30}`, contentType: "application/json; charset=utf-8",
			want: decodeTarget{EntitlementIDs: []string{"p:roles/x"}, Justification: "b/1", ActivationTimeout: 30}},
		{name: "ok_without_content_type", body: `{"justification":"x"}`, want: decodeTarget{Justification: "x"}},
		{name: "ok_trailing_whitespace", body: "{}\n\t ", contentType: "application/json"},
		{name: "wrong_content_type", body: `{}`, contentType: "text/plain", msg: "The request body must be JSON (Content-Type: application/json)"},
		{name: "form_content_type", body: `a=b`, contentType: "application/x-www-form-urlencoded", msg: "The request body must be JSON (Content-Type: application/json)"},
		{name: "empty", body: "", msg: "The request body is empty"},
		{name: "malformed", body: `{"justification": }`, msg: "The request body is not valid JSON (at byte 19)"},
		{name: "truncated", body: `{"justification": "x"`, msg: "The request body is not valid JSON: it ends too early"},
		{name: "wrong_type_number", body: `{"activationTimeout":"30"}`, msg: `Wrong type for field "activationTimeout": expected a whole number, got a JSON string`},
		{name: "wrong_type_fraction", body: `{"activationTimeout":1.5}`, msg: `Wrong type for field "activationTimeout": expected a whole number, got a JSON number 1.5`},
		{name: "wrong_type_list", body: `{"entitlementIds":"p:roles/x"}`, msg: `Wrong type for field "entitlementIds": expected a list, got a JSON string`},
		{name: "wrong_type_list_item", body: `{"entitlementIds":[1]}`, msg: `Wrong type for field "entitlementIds": expected a string, got a JSON number`},
		{name: "wrong_type_nested", body: `{"nested":{"flag":"yes"}}`, msg: `Wrong type for field "nested.flag": expected true or false, got a JSON string`},
		{name: "not_an_object", body: `[1,2]`, msg: `The request body must be an object, not a JSON array`},
		{name: "unknown_field", body: `{"justification":"x","role":"admin"}`, msg: `Unknown field "role"`},
		{name: "trailing_value", body: `{}{}`, msg: "The request body must contain a single JSON value"},
		{name: "trailing_garbage", body: `{} x`, msg: "The request body must contain a single JSON value"},
		{name: "too_large", body: `{"justification":"` + strings.Repeat("x", 100) + `"}`, limit: 50, msg: "The request body is too large (the limit is 50 bytes)"},
		{name: "too_large_after_value", body: `{}` + strings.Repeat(" ", 100) + `1`, limit: 50, msg: "The request body is too large (the limit is 50 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequestWithContext(t.Context(), "POST", "/api/x", strings.NewReader(tt.body))
			if tt.body == "" {
				r.Body = http.NoBody
			}
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			limit := tt.limit
			if limit == 0 {
				limit = DefaultMaxBodyBytes
			}
			r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, limit)
			var got decodeTarget
			err := decodeJSON(r, &got)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("decodeJSON() = %v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("decoded mismatch (-want +got):\n%s", diff)
				}
				return
			}
			if jit.KindOf(err) != jit.KindInvalid || jit.MessageOf(err) != tt.msg {
				t.Errorf("decodeJSON() = %v (kind %v, message %q), want KindInvalid %q", err, jit.KindOf(err), jit.MessageOf(err), tt.msg)
			}
		})
	}
}

// TestBodyLimitMiddleware checks that Options.MaxBodyBytes reaches handlers.
func TestBodyLimitMiddleware(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, func(o *Options) { o.MaxBodyBytes = 10 })
	h := s.limitBody(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		var v map[string]any
		if err := decodeJSON(r, &v); err != nil {
			return err
		}
		return writeJSON(w, 200, v)
	}))
	w := serve(h, httptest.NewRequestWithContext(t.Context(), "POST", "/x", strings.NewReader(`{"a":"0123456789"}`)))
	if diff := cmp.Diff(map[string]any{"message": "The request body is too large (the limit is 10 bytes)"}, decodeBody(t, w)); w.Code != 400 || diff != "" {
		t.Errorf("status %d, body mismatch (-want +got):\n%s", w.Code, diff)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add(`{"entitlementIds":["a"],"justification":"x","activationTimeout":1}`)
	f.Add(`{"nested":{"flag":true}}`)
	f.Add(`{} {}`)
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequestWithContext(t.Context(), "POST", "/x", strings.NewReader(body))
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 1024)
		var v decodeTarget
		err := decodeJSON(r, &v)
		if err != nil && (jit.KindOf(err) != jit.KindInvalid || jit.MessageOf(err) == "") {
			t.Fatalf("decodeJSON(%q) = %v: not a KindInvalid error with a message", body, err)
		}
	})
}
