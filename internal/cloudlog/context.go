package cloudlog

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
)

type (
	traceKey  struct{}
	labelsKey struct{}
)

type traceInfo struct {
	trace   string // projects/P/traces/T
	spanID  string // 16 hex digits
	sampled bool
}

// WithTrace returns a context whose log records carry the trace of
// header, a value of the X-Cloud-Trace-Context request header
// ("TRACE_ID/SPAN_ID;o=OPTIONS"), as "projects/PROJECT/traces/TRACE_ID".
// A header that is not a well-formed trace context, or an empty project,
// leaves ctx unchanged: the header comes from the client when the app is
// reached without a Google front end, and is not worth an error.
func WithTrace(ctx context.Context, project, header string) context.Context {
	t, ok := parseTraceContext(project, header)
	if !ok {
		return ctx
	}
	return context.WithValue(ctx, traceKey{}, t)
}

// Trace returns the trace name set by WithTrace ("projects/P/traces/T"), or
// "".
func Trace(ctx context.Context) string {
	t, _ := ctx.Value(traceKey{}).(traceInfo)
	return t.trace
}

// parseTraceContext parses "TRACE_ID[/SPAN_ID][;o=0|1]". TRACE_ID is 32 hex
// digits; SPAN_ID is a decimal uint64, which Cloud Logging wants as 16 hex
// digits.
func parseTraceContext(project, header string) (traceInfo, bool) {
	if project == "" || header == "" || len(header) > 128 {
		return traceInfo{}, false
	}
	ids, options, _ := strings.Cut(header, ";")
	traceID, span, hasSpan := strings.Cut(ids, "/")
	if len(traceID) != 32 || !isHex(traceID) || strings.Trim(traceID, "0") == "" {
		return traceInfo{}, false
	}
	t := traceInfo{trace: "projects/" + project + "/traces/" + strings.ToLower(traceID)}
	if hasSpan {
		n, err := strconv.ParseUint(span, 10, 64)
		if err == nil && n != 0 {
			t.spanID = strconv.FormatUint(n, 16)
			t.spanID = strings.Repeat("0", 16-len(t.spanID)) + t.spanID
		}
	}
	t.sampled = options == "o=1"
	return t, true
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

// WithLabels returns a context whose log records carry these labels in
// addition to their own. Values are logged as strings.
func WithLabels(ctx context.Context, labels ...slog.Attr) context.Context {
	if len(labels) == 0 {
		return ctx
	}
	prev, _ := ctx.Value(labelsKey{}).([]slog.Attr)
	return context.WithValue(ctx, labelsKey{}, append(slices.Clip(prev), labels...))
}

func labelsFrom(ctx context.Context) []slog.Attr {
	l, _ := ctx.Value(labelsKey{}).([]slog.Attr)
	return l
}

// HTTPRequest is Cloud Logging's HttpRequest, logged under "httpRequest" so
// that the Logs Explorer shows access-log lines as requests.
type HTTPRequest struct {
	Method       string
	URL          string
	Status       int
	RequestSize  int64
	ResponseSize int64
	UserAgent    string
	RemoteIP     string
	Referer      string
	Protocol     string
	Latency      time.Duration
}

// LogValue renders the LogEntry.HttpRequest field names; sizes are strings
// because they are int64 in the proto's JSON form, and latency is a
// protobuf Duration ("0.012s").
func (h HTTPRequest) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("requestMethod", h.Method),
		slog.String("requestUrl", h.URL),
		slog.Int("status", h.Status),
		slog.String("responseSize", strconv.FormatInt(h.ResponseSize, 10)),
		slog.String("latency", strconv.FormatFloat(h.Latency.Seconds(), 'f', 9, 64)+"s"),
	}
	if h.RequestSize > 0 {
		attrs = append(attrs, slog.String("requestSize", strconv.FormatInt(h.RequestSize, 10)))
	}
	for _, kv := range [...]struct{ k, v string }{
		{"userAgent", h.UserAgent}, {"remoteIp", h.RemoteIP}, {"referer", h.Referer}, {"protocol", h.Protocol},
	} {
		if kv.v != "" {
			attrs = append(attrs, slog.String(kv.k, kv.v))
		}
	}
	return slog.GroupValue(attrs...)
}

// Attr returns the attribute to log: slog.Any("httpRequest", h).
func (h HTTPRequest) Attr() slog.Attr { return slog.Any(KeyHTTPRequest, h) }
