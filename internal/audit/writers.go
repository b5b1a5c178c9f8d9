package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/logging"
	"cloud.google.com/go/logging/logadmin"
	"google.golang.org/api/iterator"
	mrpb "google.golang.org/genproto/googleapis/api/monitoredres"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// LogID is the log CloudLogger writes to.
const LogID = "jitaccess-audit"

// The logs App Engine and Cloud Run put a container's stdout in, where
// StdoutLogger's entries (and the original's) end up.
const (
	AppEngineStdoutLog = "stdout"
	CloudRunStdoutLog  = "run.googleapis.com%2Fstdout"
)

// CloudLogger writes entries to Cloud Logging.
type CloudLogger struct {
	logger  *logging.Logger
	timeout time.Duration
}

// NewCloudLogger writes to LogID through client, attributing entries to
// resource (e.g. gae_app or cloud_run_revision; nil means "global").
func NewCloudLogger(client *logging.Client, resource *mrpb.MonitoredResource, timeout time.Duration) *CloudLogger {
	var opts []logging.LoggerOption
	if resource != nil {
		opts = append(opts, logging.CommonResource(resource))
	} else {
		opts = append(opts, logging.CommonResource(&mrpb.MonitoredResource{Type: "global"}))
	}
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &CloudLogger{logger: client.Logger(LogID, opts...), timeout: timeout}
}

func severity(s string) logging.Severity {
	switch s {
	case SeverityWarning:
		return logging.Warning
	case SeverityError:
		return logging.Error
	}
	return logging.Info
}

// Write stores e synchronously, so that an activation is not reported
// done before its record is stored. Only the record of a successful
// project listing, which the original wrote on every page load and which
// says nothing about access, is buffered (and flushed when the client
// closes), so that listing does not wait for Cloud Logging.
func (c *CloudLogger) Write(ctx context.Context, e Entry) error {
	payload := map[string]any{"message": e.Message, "event": e.Event}
	if e.Token != "" {
		payload["token"] = e.Token
	}
	le := logging.Entry{
		Timestamp: e.Time,
		Severity:  severity(e.Severity),
		Labels:    e.Labels,
		Trace:     e.Trace,
		Payload:   payload,
	}
	if e.Event == EventListProjects && e.Severity == SeverityInfo {
		c.logger.Log(le)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	err := c.logger.LogSync(ctx, le)
	if err != nil {
		return translate("audit.CloudLogger.Write", err)
	}
	return nil
}

// StdoutLogger writes entries as JSON lines in the original's shape
// (LogAdapter.LogEntry): severity, message, logging.googleapis.com/labels
// and logging.googleapis.com/trace, plus the time. App Engine and Cloud
// Run ingest them into the platform's stdout log as structured entries;
// nothing needs a permission or an API call.
type StdoutLogger struct {
	mu sync.Mutex
	w  io.Writer
}

// NewStdoutLogger writes to w.
func NewStdoutLogger(w io.Writer) *StdoutLogger { return &StdoutLogger{w: w} }

// Write writes e as one line.
func (s *StdoutLogger) Write(_ context.Context, e Entry) error {
	line := map[string]any{
		"severity":                      e.Severity,
		"message":                       e.Message,
		"time":                          e.Time.UTC().Format(time.RFC3339Nano),
		"logging.googleapis.com/labels": e.Labels,
	}
	if e.Trace != "" {
		line["logging.googleapis.com/trace"] = e.Trace
	}
	if e.Token != "" {
		line["token"] = e.Token
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(line); err != nil {
		return fmt.Errorf("encode audit entry: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write audit entry: %w", err)
	}
	return nil
}

// History reads audit entries back from Cloud Logging: from the log
// CloudLogger writes and from the platforms' stdout logs, where
// StdoutLogger's entries and those of the original 1.8.1 are, so that the
// history survives switching writers and includes what happened before
// the switch.
type History struct {
	admin   *logadmin.Client
	project string
	logs    []string
	timeout time.Duration // bounds one read (a page, a request's events); 0 means 20 seconds
	// resource restricts every read to the entries of one monitored
	// resource (this deployment's service); "" reads every entry.
	resource string
}

// HistoryOption configures a History.
type HistoryOption func(*History)

// FromLogs reads only these log ids (e.g. LogID and AppEngineStdoutLog);
// the default reads LogID, AppEngineStdoutLog and CloudRunStdoutLog.
func FromLogs(ids ...string) HistoryOption {
	return func(h *History) { h.logs = slices.Clone(ids) }
}

// OfService reads only the entries attributed to one service: resource
// type ("gae_app", "cloud_run_revision") and the label that names the
// service there ("module_id", "service_name"). Every service of a
// project prints into the same stdout log, so without it a line another
// service prints in the shape of an audit entry is read as one: a forged
// approval would block the real reviewer's decision, a forged activation
// would appear in someone's history. The platform attributes stdout lines
// to the service that printed them, and CloudLogger writes with the same
// resource.
func OfService(resourceType, label, service string) HistoryOption {
	return func(h *History) {
		h.resource = fmt.Sprintf(`resource.type = %q AND resource.labels.%s = %q`, resourceType, label, service)
	}
}

// NewHistory reads the audit logs of project through admin.
func NewHistory(admin *logadmin.Client, project string, opts ...HistoryOption) *History {
	h := &History{admin: admin, project: project, logs: []string{LogID, AppEngineStdoutLog, CloudRunStdoutLog}}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Query selects entries; empty fields match anything.
type Query struct {
	User     jit.UserID
	Project  jit.ProjectID
	From, To time.Time
	Limit    int
	// Events keeps only these events (e.g. EventActivateRole); empty
	// means every audit event.
	Events []string
}

// Entries returns matching entries, newest first. The stdout logs also
// hold the app's own log lines, which carry some of the same labels:
// only entries whose event is an API event (api.*) are audit entries
// there, and api.checkHealth is the app's, not the audit trail's.
func (h *History) Entries(ctx context.Context, q Query) ([]Entry, error) {
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	filter := h.logFilter()
	if len(q.Events) == 1 {
		filter += fmt.Sprintf(` AND labels.event = %q`, q.Events[0])
	}
	if q.User != "" {
		filter += fmt.Sprintf(` AND labels.user = %q`, q.User)
	}
	if q.Project != "" {
		filter += fmt.Sprintf(` AND labels.project_id = %q`, q.Project)
	}
	if !q.From.IsZero() {
		filter += fmt.Sprintf(` AND timestamp >= %q`, q.From.UTC().Format(time.RFC3339))
	}
	if !q.To.IsZero() {
		filter += fmt.Sprintf(` AND timestamp <= %q`, q.To.UTC().Format(time.RFC3339))
	}
	return h.list(ctx, filter, limit, true, q.Events...)
}

// logFilter selects audit entries in any of the logs History reads: the
// stdout logs also hold the app's own lines, and only entries whose event
// is an API event are the audit trail's. list adds the log's name.
func (h *History) logFilter() string {
	if h.resource != "" {
		return h.resource + ` AND labels.event:"api."`
	}
	return `labels.event:"api."`
}

// list reads up to limit entries matching filter from each log, one query
// per log and concurrently (a filter on one logName is what Cloud Logging
// answers fastest), and merges them, newest first or oldest first. Only
// the given events are kept when events is not empty; api.checkHealth is
// the app's, not the audit trail's.
func (h *History) list(ctx context.Context, filter string, limit int, newestFirst bool, events ...string) ([]Entry, error) {
	ctx, cancel := context.WithTimeout(ctx, h.readTimeout())
	defer cancel()
	results := make([][]Entry, len(h.logs))
	errs := make([]error, len(h.logs))
	var wg sync.WaitGroup
	for i, id := range h.logs {
		wg.Go(func() {
			logFilter := fmt.Sprintf(`logName = "projects/%s/logs/%s" AND %s`, h.project, id, filter)
			results[i], errs[i] = h.read(ctx, logFilter, limit, newestFirst, events)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []Entry
	for _, r := range results {
		out = append(out, r...)
	}
	slices.SortStableFunc(out, func(a, b Entry) int {
		if newestFirst {
			return b.Time.Compare(a.Time)
		}
		return a.Time.Compare(b.Time)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// read returns up to limit audit entries of one log matching filter.
func (h *History) read(ctx context.Context, filter string, limit int, newestFirst bool, events []string) ([]Entry, error) {
	opts := []logadmin.EntriesOption{logadmin.Filter(filter)}
	if newestFirst {
		opts = append(opts, logadmin.NewestFirst())
	}
	it := h.admin.Entries(ctx, opts...)
	var out []Entry
	for len(out) < limit {
		e, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, translateRead("audit.History.Entries", err)
		}
		event := e.Labels["event"]
		if event == "api.checkHealth" || (len(events) > 0 && !slices.Contains(events, event)) {
			continue
		}
		entry := Entry{Labels: e.Labels, Time: e.Timestamp, Event: event, Severity: strings.ToUpper(e.Severity.String()), Trace: e.Trace}
		var payload map[string]any
		if m, ok := e.Payload.(map[string]any); ok {
			payload = m
		}
		if s, ok := e.Payload.(interface{ AsMap() map[string]any }); ok {
			payload = s.AsMap()
		}
		entry.Message, _ = payload["message"].(string)
		entry.Token, _ = payload["token"].(string)
		out = append(out, entry)
	}
	return out, nil
}

func translate(op string, err error) error {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return jit.E(op, jit.KindUnavailable, "The audit log is unavailable, try again", err)
	case codes.ResourceExhausted:
		return jit.E(op, jit.KindTooMany, "The audit log's quota is exhausted, try again later", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return jit.E(op, jit.KindUnavailable, "The audit log is unavailable, try again", err)
	}
	return jit.E(op, jit.KindUpstream, "Writing the audit log failed", err)
}

// translateRead is translate for reading the log back: the same kinds,
// and a message about reading (a person seeing "writing failed" while
// listing requests would look in the wrong place).
func translateRead(op string, err error) error {
	e := translate(op, err)
	if je, ok := errors.AsType[*jit.Error](e); ok && je.Kind == jit.KindUpstream {
		je.Msg = "Reading the audit log from Cloud Logging failed"
		if status.Code(err) == codes.PermissionDenied {
			je.Msg = "Cloud Logging does not let the app read the audit log; its service account needs roles/logging.viewer on the app's project"
		}
	}
	return e
}
