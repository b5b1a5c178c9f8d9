// Package conformance holds the emulator's answers to Google's published
// schemas. The real client libraries decode a misnamed or misplaced JSON
// field silently as empty, so a test can pass against an answer Google
// never gives; a Checker sees every REST exchange and every gRPC answer
// the emulator gives while it is switched on (emulator.Options.Conformance,
// on in every test that starts the emulator through emutest) and records
// each departure from Google's discovery document (an unknown field, a
// wrong JSON type or enum value, a missing required field, an error body
// outside Google's error model) or, for gRPC, from the resource name
// formats Google documents, naming the method and the field.
package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// Violation is one departure from Google's published schema.
type Violation struct {
	Method  string // Google's method id, e.g. cloudresourcemanager.projects.getIamPolicy
	Side    string // "request", "response", "error" or "query"
	Field   string // the JSON path, e.g. bindings[0].condition; "" for the whole body
	Problem string
}

func (v Violation) String() string {
	field := v.Field
	if field == "" {
		field = "(body)"
	}
	return fmt.Sprintf("%s: %s %s %s", v.Method, v.Side, field, v.Problem)
}

// Checker checks exchanges against Google's discovery documents and
// records what departs from them. It is safe for concurrent use.
type Checker struct {
	methods []*method

	mu         sync.Mutex
	violations []Violation
	checked    map[string]int
}

// parsed holds the embedded documents, parsed once per process: they are
// immutable, and every emulator a test suite starts (hundreds) checks
// against the same ones; parsing takes tens of milliseconds.
var parsed = sync.OnceValues(func() ([]*method, error) {
	_, methods, err := loadDocuments()
	return methods, err
})

// New returns a Checker over the embedded discovery documents.
func New() (*Checker, error) {
	methods, err := parsed()
	if err != nil {
		return nil, err
	}
	return &Checker{methods: methods, checked: map[string]int{}}, nil
}

// Violations returns what departed from Google's schemas so far, in the
// order it happened.
func (c *Checker) Violations() []Violation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.violations)
}

// Checked returns how many exchanges were checked, by Google's method id
// (gRPC methods by their full name), so a test can tell that a method was
// covered.
func (c *Checker) Checked() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.checked))
	for k, v := range c.checked {
		out[k] = v
	}
	return out
}

func (c *Checker) record(method string, v *Violation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checked[method]++
	if v != nil {
		v.Method = method
		c.violations = append(c.violations, *v)
	}
}

// find returns the method a request calls, or nil.
func (c *Checker) find(verb, urlPath string) *method {
	for _, m := range c.methods {
		if m.HTTPMethod == verb && strings.HasPrefix(urlPath, m.prefix) && m.pattern.MatchString(urlPath) {
			return m
		}
	}
	return nil
}

// Wrap returns next with every exchange checked. Paths that no discovery
// document describes (IAP's and the service accounts' keys, OAuth's token
// endpoint, the control API) are passed through; their error answers are
// still held to Google's error model, except OAuth's, which has its own.
func (c *Checker) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var reqBody []byte
		if r.Body != nil && r.Body != http.NoBody {
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(r.Body) // route has read it into memory already
			reqBody = buf.Bytes()
			r.Body = readCloser{bytes.NewReader(reqBody)}
		}
		rec := &recorder{ResponseWriter: rw, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		m := c.find(r.Method, r.URL.Path)
		name := r.Method + " " + r.URL.Path
		if m != nil {
			name = m.ID
		}
		if m == nil && (r.URL.Path == "/token" || strings.HasPrefix(r.URL.Path, "/oauth2/")) {
			return
		}
		if rec.status >= 400 {
			api := ""
			if m != nil {
				api = m.doc.Name
			}
			c.record(name, checkError(api, rec.status, rec.body.Bytes()))
			return
		}
		if m == nil {
			return
		}
		c.record(name, c.checkExchange(m, r, reqBody, rec.body.Bytes()))
	})
}

// checkExchange checks an accepted request and its answer.
func (c *Checker) checkExchange(m *method, r *http.Request, reqBody, respBody []byte) *Violation {
	q := r.URL.Query()
	for _, k := range sortedKeys(q) {
		p, ok := m.Parameters[k]
		if !ok || p.Location != "query" {
			p, ok = m.doc.Parameters[k]
		}
		if !ok {
			return &Violation{Side: "query", Field: k, Problem: "is a parameter Google's method does not define"}
		}
		for _, v := range q[k] {
			if len(p.Enum) > 0 && !slices.Contains(p.Enum, v) {
				return &Violation{Side: "query", Field: k, Problem: fmt.Sprintf("is %q, not one of Google's values %s", v, strings.Join(p.Enum, ", "))}
			}
		}
	}
	for _, k := range sortedKeys(m.Parameters) {
		if p := m.Parameters[k]; p.Required && p.Location == "query" && !q.Has(k) {
			return &Violation{Side: "query", Field: k, Problem: "is required by Google's method but missing"}
		}
	}
	if len(bytes.TrimSpace(reqBody)) > 0 {
		if m.Request == nil {
			return &Violation{Side: "request", Problem: "has a body, but Google's method takes none"}
		}
		if v := m.doc.checkBody(reqBody, m.Request, m.ID, false); v != nil {
			v.Side = "request"
			return v
		}
	}
	if m.Response == nil {
		if b := bytes.TrimSpace(respBody); len(b) > 0 && string(b) != "{}" {
			return &Violation{Side: "response", Problem: "has a body, but Google's method answers none"}
		}
		return nil
	}
	if v := m.doc.checkBody(respBody, m.Response, m.ID, true); v != nil {
		v.Side = "response"
		return v
	}
	return nil
}

func (d *document) checkBody(body []byte, s *schema, methodID string, response bool) *Violation {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return &Violation{Problem: "is not JSON: " + err.Error()}
	}
	if field, problem := d.checkValue(v, s, "", methodID, response); problem != "" {
		return &Violation{Field: field, Problem: problem}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// recorder keeps a copy of the answer while it is written.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}
