// Package cloudlog writes log/slog records as the JSON lines that Cloud
// Logging's agents on App Engine and Cloud Run understand.
//
// It exists so that the app's logs arrive in Cloud Logging as structured
// entries: with a severity, grouped under their request's trace, and with
// labels that can be filtered on. The field names are those of the
// structured-logging contract: "severity", "message", "time",
// "logging.googleapis.com/labels", "logging.googleapis.com/trace",
// "logging.googleapis.com/spanId", "logging.googleapis.com/trace_sampled"
// and "httpRequest".
//
// Attributes in a top-level group named "labels" become labels (their
// values turned into strings, as Cloud Logging requires); labels from the
// logger (With), from the context (WithLabels) and from the record are
// merged into one object, later ones winning. Trace information travels in
// the context (WithTrace), so every log call made with a request's context
// is attached to that request.
package cloudlog

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"

	"github.com/jitaccess/jitaccess/internal/redact"
)

// Field names of Cloud Logging's structured-logging contract.
const (
	KeySeverity     = "severity"
	KeyMessage      = "message"
	KeyTime         = "time"
	KeyLabels       = "logging.googleapis.com/labels"
	KeyTrace        = "logging.googleapis.com/trace"
	KeySpanID       = "logging.googleapis.com/spanId"
	KeyTraceSampled = "logging.googleapis.com/trace_sampled"
	KeyHTTPRequest  = "httpRequest"
)

// LabelsGroup is the name of the slog group whose attributes become labels:
// slog.Group(cloudlog.LabelsGroup, slog.String("event", "api.activateRole")).
const LabelsGroup = "labels"

// HandlerOptions configures NewHandler.
type HandlerOptions struct {
	// Level is the minimum level logged; nil means slog.LevelInfo.
	Level slog.Leveler
}

// NewHandler returns a handler writing one JSON object per record to w.
func NewHandler(w io.Writer, opts *HandlerOptions) slog.Handler {
	var level slog.Leveler = slog.LevelInfo
	if opts != nil && opts.Level != nil {
		level = opts.Level
	}
	base := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: replaceAttr})
	return &handler{base: base, inner: base}
}

// Severity maps a slog level to Cloud Logging's severity names.
func Severity(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARNING"
	default:
		return "ERROR"
	}
}

func replaceAttr(groups []string, a slog.Attr) slog.Attr {
	a = redacted(a)
	if len(groups) == 0 {
		switch a.Key {
		case slog.TimeKey:
			if a.Value.Kind() == slog.KindTime {
				return slog.Time(KeyTime, a.Value.Time().UTC())
			}
		case slog.LevelKey:
			if l, ok := a.Value.Any().(slog.Level); ok {
				return slog.String(KeySeverity, Severity(l))
			}
		case slog.MessageKey:
			return slog.Attr{Key: KeyMessage, Value: a.Value}
		}
		return a
	}
	if len(groups) == 1 && groups[0] == KeyLabels {
		// Cloud Logging labels are a map of strings.
		return slog.String(a.Key, a.Value.String())
	}
	return a
}

// redacted takes credentials out of the URLs in a value: whatever logs a
// URL, or an error quoting one (net/http's "Post \"https://…?token=…\""),
// the line that reaches Cloud Logging holds no key, token or password.
func redacted(a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); strings.Contains(s, "://") {
			a.Value = slog.StringValue(redact.Text(s))
		}
	case slog.KindAny:
		switch v := a.Value.Any().(type) {
		case *url.URL:
			a.Value = slog.StringValue(redact.Parsed(v))
		case error:
			if s := v.Error(); strings.Contains(s, "://") {
				a.Value = slog.StringValue(redact.Text(s))
			}
		}
	}
	return a
}

// op is a WithAttrs or WithGroup call, kept so that a handler inside a group
// can still add top-level fields (trace, labels) by replaying them.
type op struct {
	group string
	attrs []slog.Attr
}

type handler struct {
	base   slog.Handler // the JSON handler without any With calls
	inner  slog.Handler // base with ops applied
	ops    []op
	labels []slog.Attr // top-level labels from WithAttrs
	groups int         // number of open groups
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	c := *h
	var rest []slog.Attr
	if h.groups == 0 {
		c.labels = slices.Clip(c.labels)
		for _, a := range attrs {
			if isLabels(a) {
				c.labels = append(c.labels, a.Value.Group()...)
			} else {
				rest = append(rest, a)
			}
		}
	} else {
		rest = attrs
	}
	if len(rest) > 0 {
		c.inner = h.inner.WithAttrs(rest)
		c.ops = append(slices.Clip(h.ops), op{attrs: rest})
	}
	return &c
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.inner = h.inner.WithGroup(name)
	c.ops = append(slices.Clip(h.ops), op{group: name})
	c.groups++
	return &c
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	labels := slices.Clone(h.labels)
	labels = append(labels, labelsFrom(ctx)...)

	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if h.groups == 0 && isLabels(a) {
			labels = append(labels, a.Value.Group()...)
		} else {
			out.AddAttrs(a)
		}
		return true
	})

	var top []slog.Attr
	if t, ok := ctx.Value(traceKey{}).(traceInfo); ok {
		top = append(top, slog.String(KeyTrace, t.trace))
		if t.spanID != "" {
			top = append(top, slog.String(KeySpanID, t.spanID))
		}
		if t.sampled {
			top = append(top, slog.Bool(KeyTraceSampled, true))
		}
	}
	if len(labels) > 0 {
		top = append(top, slog.Attr{Key: KeyLabels, Value: slog.GroupValue(dedupe(labels)...)})
	}
	if len(top) == 0 {
		return h.inner.Handle(ctx, out)
	}
	if h.groups == 0 {
		out.AddAttrs(top...)
		return h.inner.Handle(ctx, out)
	}
	// Inside a group, record attributes would land in the group: build a
	// handler with the top-level fields first, then replay the With calls.
	hh := h.base.WithAttrs(top)
	for _, o := range h.ops {
		if o.group != "" {
			hh = hh.WithGroup(o.group)
		} else {
			hh = hh.WithAttrs(o.attrs)
		}
	}
	return hh.Handle(ctx, out)
}

func isLabels(a slog.Attr) bool {
	return a.Key == LabelsGroup && a.Value.Kind() == slog.KindGroup
}

// dedupe keeps the last value of each key, in first-seen order, because a
// JSON object with duplicate keys is read differently by different parsers.
func dedupe(attrs []slog.Attr) []slog.Attr {
	idx := make(map[string]int, len(attrs))
	out := make([]slog.Attr, 0, len(attrs))
	for _, a := range attrs {
		a.Value = a.Value.Resolve()
		if i, ok := idx[a.Key]; ok {
			out[i] = a
			continue
		}
		idx[a.Key] = len(out)
		out = append(out, a)
	}
	return out
}
