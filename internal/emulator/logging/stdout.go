package logging

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	mrpb "google.golang.org/genproto/googleapis/api/monitoredres"
	ltype "google.golang.org/genproto/googleapis/logging/type"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// StdoutWriter returns a writer that does what App Engine's and Cloud
// Run's logging agents do with a container's stdout: each line becomes an
// entry of logName ("projects/P/logs/stdout" on App Engine,
// "projects/P/logs/run.googleapis.com%2Fstdout" on Cloud Run) attributed
// to resource. A line that is a JSON object is a structured entry:
// "severity", "time", "logging.googleapis.com/labels",
// "logging.googleapis.com/trace", "logging.googleapis.com/spanId" and
// "logging.googleapis.com/insertId" become the entry's fields and are
// removed from the payload; everything else, "message" included, is the
// jsonPayload. Any other line is a textPayload. Faults set for
// logging.WriteLogEntries do not apply: no API is called.
//
// Not modelled: the agents' size limits and their special handling of
// "httpRequest" and "logging.googleapis.com/sourceLocation".
func (l *Service) StdoutWriter(logName string, resource *mrpb.MonitoredResource) io.Writer {
	return &stdoutWriter{l: l, logName: logName, resource: resource}
}

type stdoutWriter struct {
	l        *Service
	logName  string
	resource *mrpb.MonitoredResource

	mu      sync.Mutex
	pending []byte
}

func (w *stdoutWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = append(w.pending, p...)
	for {
		i := bytes.IndexByte(w.pending, '\n')
		if i < 0 {
			break
		}
		line := w.pending[:i]
		w.pending = w.pending[i+1:]
		if len(bytes.TrimSpace(line)) > 0 {
			w.l.ingest(w.entry(line))
		}
	}
	return len(p), nil
}

func (w *stdoutWriter) entry(line []byte) *loggingpb.LogEntry {
	now := w.l.w.Now()
	e := &loggingpb.LogEntry{LogName: w.logName, Resource: w.resource, ReceiveTimestamp: timestamppb.New(now), Timestamp: timestamppb.New(now)}
	var fields map[string]any
	if err := json.Unmarshal(line, &fields); err != nil || fields == nil {
		e.Payload = &loggingpb.LogEntry_TextPayload{TextPayload: strings.TrimRight(string(line), "\r")}
		return e
	}
	if s, ok := fields["severity"].(string); ok {
		if v, ok := ltype.LogSeverity_value[strings.ToUpper(s)]; ok {
			e.Severity = ltype.LogSeverity(v)
		}
		delete(fields, "severity")
	}
	if s, ok := fields["time"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			e.Timestamp = timestamppb.New(t)
			delete(fields, "time")
		}
	}
	if m, ok := fields["logging.googleapis.com/labels"].(map[string]any); ok {
		e.Labels = map[string]string{}
		for k, v := range m {
			if s, ok := v.(string); ok {
				e.Labels[k] = s
			}
		}
		delete(fields, "logging.googleapis.com/labels")
	}
	for key, set := range map[string]func(string){
		"logging.googleapis.com/trace":    func(s string) { e.Trace = s },
		"logging.googleapis.com/spanId":   func(s string) { e.SpanId = s },
		"logging.googleapis.com/insertId": func(s string) { e.InsertId = s },
	} {
		if s, ok := fields[key].(string); ok {
			set(s)
			delete(fields, key)
		}
	}
	if b, ok := fields["logging.googleapis.com/trace_sampled"].(bool); ok {
		e.TraceSampled = b
		delete(fields, "logging.googleapis.com/trace_sampled")
	}
	payload, err := structpb.NewStruct(fields)
	if err != nil {
		e.Payload = &loggingpb.LogEntry_TextPayload{TextPayload: string(line)}
		return e
	}
	e.Payload = &loggingpb.LogEntry_JsonPayload{JsonPayload: payload}
	return e
}

// ingest stores an entry that did not come through the API.
func (l *Service) ingest(e *loggingpb.LogEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	if e.GetInsertId() == "" {
		e.InsertId = strconv.FormatInt(l.seq, 36)
	}
	l.entries = append(l.entries, e)
	if over := len(l.entries) - maxLogEntries; over > 0 {
		l.entries = l.entries[over:]
	}
}
