package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// LogID is the log audit entries go to.
const LogID = "jitaccess-audit"

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

// Write stores e synchronously.
func (c *CloudLogger) Write(ctx context.Context, e Entry) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	payload := map[string]any{"message": e.Message, "event": e.Event}
	if e.Token != "" {
		payload["token"] = e.Token
	}
	err := c.logger.LogSync(ctx, logging.Entry{
		Timestamp: e.Time,
		Severity:  severity(e.Severity),
		Labels:    e.Labels,
		Payload:   payload,
	})
	if err != nil {
		return translate("audit.CloudLogger.Write", err)
	}
	return nil
}

// StdoutLogger writes entries as JSON lines in the original's shape, which
// Cloud Logging's agents on App Engine and Cloud Run also understand.
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

// History reads audit entries back from Cloud Logging.
type History struct {
	admin   *logadmin.Client
	project string
	timeout time.Duration // bounds one page read; 0 means 20 seconds
}

// NewHistory reads the audit log of project through admin.
func NewHistory(admin *logadmin.Client, project string) *History {
	return &History{admin: admin, project: project}
}

// Query selects entries; empty fields match anything.
type Query struct {
	User     jit.UserID
	Project  jit.ProjectID
	From, To time.Time
	Limit    int
}

// Entries returns matching entries, newest first.
func (h *History) Entries(ctx context.Context, q Query) ([]Entry, error) {
	filter := h.logFilter()
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
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	return h.list(ctx, filter, limit, logadmin.NewestFirst())
}

// list reads up to limit entries matching filter.
func (h *History) list(ctx context.Context, filter string, limit int, opts ...logadmin.EntriesOption) ([]Entry, error) {
	it := h.admin.Entries(ctx, append([]logadmin.EntriesOption{logadmin.Filter(filter)}, opts...)...)
	var out []Entry
	for len(out) < limit {
		e, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, translate("audit.History.Entries", err)
		}
		entry := Entry{Labels: e.Labels, Time: e.Timestamp, Event: e.Labels["event"], Severity: e.Severity.String()}
		if m, ok := e.Payload.(map[string]any); ok {
			entry.Message, _ = m["message"].(string)
			entry.Token, _ = m["token"].(string)
		}
		if s, ok := e.Payload.(interface{ AsMap() map[string]any }); ok {
			entry.Message, _ = s.AsMap()["message"].(string)
			entry.Token, _ = s.AsMap()["token"].(string)
		}
		out = append(out, entry)
	}
	return out, nil
}

// logFilter selects the audit log.
func (h *History) logFilter() string {
	return fmt.Sprintf(`logName = "projects/%s/logs/%s"`, h.project, LogID)
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
