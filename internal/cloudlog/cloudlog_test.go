package cloudlog

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// newTestLogger returns a logger writing to a buffer, and a function that
// decodes what was written, one map per line, without the time field.
func newTestLogger(t *testing.T, level slog.Level) (*slog.Logger, func() []map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	l := slog.New(NewHandler(&buf, &HandlerOptions{Level: level}))
	return l, func() []map[string]any {
		t.Helper()
		var out []map[string]any
		for line := range strings.Lines(buf.String()) {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("line %q is not JSON: %v", line, err)
			}
			ts, ok := m[KeyTime].(string)
			if !ok {
				t.Fatalf("line %q has no time", line)
			}
			if p, err := time.Parse(time.RFC3339Nano, ts); err != nil || p.Location() != time.UTC {
				t.Errorf("time %q is not RFC 3339 in UTC (%v)", ts, err)
			}
			delete(m, KeyTime)
			out = append(out, m)
		}
		return out
	}
}

const traceHeader = "105445aa7843bc8bf206b12000100000/1;o=1"

func TestHandler(t *testing.T) {
	t.Parallel()
	traced := WithTrace(t.Context(), "my-project", traceHeader)
	tests := []struct {
		name string
		log  func(context.Context, *slog.Logger)
		want []map[string]any
	}{
		{
			name: "severities",
			log: func(ctx context.Context, l *slog.Logger) {
				l.DebugContext(ctx, "d")
				l.InfoContext(ctx, "i")
				l.WarnContext(ctx, "w")
				l.ErrorContext(ctx, "e")
				l.Log(ctx, slog.LevelError+4, "c")
			},
			want: []map[string]any{
				{"severity": "DEBUG", "message": "d"},
				{"severity": "INFO", "message": "i"},
				{"severity": "WARNING", "message": "w"},
				{"severity": "ERROR", "message": "e"},
				{"severity": "ERROR", "message": "c"},
			},
		},
		{
			name: "attrs_stay_top_level",
			log: func(ctx context.Context, l *slog.Logger) {
				l.InfoContext(ctx, "m", "count", 3, slog.Group("g", "a", "b"))
			},
			want: []map[string]any{{"severity": "INFO", "message": "m", "count": 3.0, "g": map[string]any{"a": "b"}}},
		},
		{
			name: "labels_merged_and_stringified",
			log: func(ctx context.Context, l *slog.Logger) {
				ctx = WithLabels(ctx, slog.String("request_id", "r1"), slog.String("event", "from-ctx"))
				l = l.With(slog.Group(LabelsGroup, slog.String("service", "jit"), slog.String("event", "from-logger")))
				l.InfoContext(ctx, "m", slog.Group(LabelsGroup, slog.String("event", "api.activateRole"), slog.Int("n", 2)))
			},
			want: []map[string]any{{
				"severity": "INFO", "message": "m",
				KeyLabels: map[string]any{"service": "jit", "event": "api.activateRole", "request_id": "r1", "n": "2"},
			}},
		},
		{
			name: "trace_from_context",
			log: func(_ context.Context, l *slog.Logger) {
				l.InfoContext(traced, "m")
			},
			want: []map[string]any{{
				"severity": "INFO", "message": "m",
				KeyTrace:        "projects/my-project/traces/105445aa7843bc8bf206b12000100000",
				KeySpanID:       "0000000000000001",
				KeyTraceSampled: true,
			}},
		},
		{
			name: "trace_and_labels_top_level_inside_group",
			log: func(_ context.Context, l *slog.Logger) {
				ctx := WithLabels(traced, slog.String("event", "x"))
				l.With("a", 1).WithGroup("g").With("b", 2).InfoContext(ctx, "m", "c", 3)
			},
			want: []map[string]any{{
				"severity": "INFO", "message": "m",
				KeyTrace:        "projects/my-project/traces/105445aa7843bc8bf206b12000100000",
				KeySpanID:       "0000000000000001",
				KeyTraceSampled: true,
				KeyLabels:       map[string]any{"event": "x"},
				"a":             1.0,
				"g":             map[string]any{"b": 2.0, "c": 3.0},
			}},
		},
		{
			name: "labels_group_inside_group_is_not_labels",
			log: func(ctx context.Context, l *slog.Logger) {
				l.WithGroup("g").InfoContext(ctx, "m", slog.Group(LabelsGroup, "k", 1))
			},
			want: []map[string]any{{"severity": "INFO", "message": "m", "g": map[string]any{"labels": map[string]any{"k": 1.0}}}},
		},
		{
			name: "http_request",
			log: func(ctx context.Context, l *slog.Logger) {
				l.InfoContext(ctx, "GET /api/policy", HTTPRequest{
					Method: "GET", URL: "/api/policy", Status: 200, RequestSize: 10, ResponseSize: 123,
					UserAgent: "curl/8", RemoteIP: "127.0.0.1", Protocol: "HTTP/1.1",
					Latency: 1500 * time.Millisecond,
				}.Attr())
			},
			want: []map[string]any{{
				"severity": "INFO", "message": "GET /api/policy",
				"httpRequest": map[string]any{
					"requestMethod": "GET", "requestUrl": "/api/policy", "status": 200.0,
					"requestSize": "10", "responseSize": "123", "latency": "1.500000000s",
					"userAgent": "curl/8", "remoteIp": "127.0.0.1", "protocol": "HTTP/1.1",
				},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, lines := newTestLogger(t, slog.LevelDebug)
			tt.log(t.Context(), l)
			if diff := cmp.Diff(tt.want, lines()); diff != "" {
				t.Errorf("log lines mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHandlerLevel(t *testing.T) {
	t.Parallel()
	l, lines := newTestLogger(t, slog.LevelWarn)
	l.InfoContext(t.Context(), "hidden")
	l.WarnContext(t.Context(), "shown")
	if diff := cmp.Diff([]map[string]any{{"severity": "WARNING", "message": "shown"}}, lines()); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	var buf bytes.Buffer
	if !slog.New(NewHandler(&buf, nil)).Enabled(t.Context(), slog.LevelInfo) ||
		slog.New(NewHandler(&buf, nil)).Enabled(t.Context(), slog.LevelDebug) {
		t.Error("nil options should log Info and above")
	}
}

func TestWithTrace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, project, header string
		want                  traceInfo
		ok                    bool
	}{
		{"full", "p", traceHeader, traceInfo{"projects/p/traces/105445aa7843bc8bf206b12000100000", "0000000000000001", true}, true},
		{"no_span", "p", "105445AA7843BC8BF206B12000100000", traceInfo{trace: "projects/p/traces/105445aa7843bc8bf206b12000100000"}, true},
		{"not_sampled", "p", "105445aa7843bc8bf206b12000100000/18446744073709551615;o=0",
			traceInfo{"projects/p/traces/105445aa7843bc8bf206b12000100000", "ffffffffffffffff", false}, true},
		{"bad_span_ignored", "p", "105445aa7843bc8bf206b12000100000/x", traceInfo{trace: "projects/p/traces/105445aa7843bc8bf206b12000100000"}, true},
		{"empty", "p", "", traceInfo{}, false},
		{"no_project", "", traceHeader, traceInfo{}, false},
		{"short", "p", "abc/1", traceInfo{}, false},
		{"not_hex", "p", "z05445aa7843bc8bf206b12000100000/1", traceInfo{}, false},
		{"all_zero", "p", "00000000000000000000000000000000/1", traceInfo{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := WithTrace(t.Context(), tt.project, tt.header)
			got, ok := ctx.Value(traceKey{}).(traceInfo)
			if ok != tt.ok || got != tt.want {
				t.Errorf("WithTrace(%q, %q) = %+v, %v; want %+v, %v", tt.project, tt.header, got, ok, tt.want, tt.ok)
			}
			if Trace(ctx) != tt.want.trace {
				t.Errorf("Trace() = %q, want %q", Trace(ctx), tt.want.trace)
			}
		})
	}
}

func FuzzParseTraceContext(f *testing.F) {
	f.Add("p", traceHeader)
	f.Add("p", "105445aa7843bc8bf206b12000100000/;o=")
	f.Fuzz(func(t *testing.T, project, header string) {
		got, ok := parseTraceContext(project, header)
		if !ok {
			return
		}
		if !strings.HasPrefix(got.trace, "projects/"+project+"/traces/") || len(got.trace) != len("projects/"+project+"/traces/")+32 {
			t.Errorf("trace %q malformed", got.trace)
		}
		if got.spanID != "" && (len(got.spanID) != 16 || !isHex(got.spanID)) {
			t.Errorf("span %q malformed", got.spanID)
		}
	})
}

// TestFailuresQuotingAURLAreRedacted: an HTTP client's error quotes the
// URL it failed on ("Post \"https://…?token=…\": …"); logged as an error,
// a string, a *url.URL, in the message or inside a group, the line keeps
// the host and the parameter names and loses the credentials.
func TestFailuresQuotingAURLAreRedacted(t *testing.T) {
	t.Parallel()
	const hook = "http://admin:pw-1@127.0.0.1:1/in?token=tok-s3cr3t&key=AIzaKey99"
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, hook, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, postErr := http.DefaultClient.Do(req) // port 1 on loopback refuses
	if postErr == nil {
		_ = resp.Body.Close()
		t.Fatal("posting to a closed port succeeded")
	}
	u, _ := url.Parse(hook)
	l, lines := newTestLogger(t, slog.LevelInfo)
	ctx := WithLabels(t.Context(), slog.String("target", hook))
	l.ErrorContext(ctx, "Delivering to "+hook+" failed", slog.Any("error", postErr), slog.String("url", hook),
		slog.Any("parsed", u), slog.Group("webhook", slog.String("url", hook)))
	got := lines()
	b, _ := json.Marshal(got)
	for _, secret := range []string{"tok-s3cr3t", "AIzaKey99", "pw-1"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("the log line holds %q: %s", secret, b)
		}
	}
	if want := "http://REDACTED@127.0.0.1:1/in?token=REDACTED&key=REDACTED"; !strings.Contains(got[0]["error"].(string), want) || got[0]["url"] != want {
		t.Errorf("line = %s, want the URL as %s", b, want)
	}
}
