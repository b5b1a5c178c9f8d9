// Package logging emulates Cloud Logging (gRPC): writing and listing
// entries in memory with the filter subset the app uses, and the logging
// agents of App Engine and Cloud Run that turn stdout into entries.
package logging

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	ltype "google.golang.org/genproto/googleapis/logging/type"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/jitaccess/jitaccess/internal/emulator/wire"
	"github.com/jitaccess/jitaccess/internal/emulator/world"
)

// maxLogEntries bounds the emulator's memory; the oldest entries go first.
const maxLogEntries = 100000

var logNamePattern = regexp.MustCompile(`^(projects|organizations|folders|billingAccounts)/[^/]+/logs/[A-Za-z0-9_.%/-]{1,512}$`)

// Service serves Cloud Logging's write and list methods over gRPC, keeping
// entries in memory. ListLogEntries understands the filter subset the app
// uses: logName, labels.KEY, timestamp and severity comparisons joined by
// AND (or spaces); anything else is refused with INVALID_ARGUMENT.
type Service struct {
	loggingpb.UnimplementedLoggingServiceV2Server
	w *world.World

	mu      sync.Mutex
	entries []*loggingpb.LogEntry
	seq     int64
}

// New returns the Cloud Logging service of w.
func New(w *world.World) *Service { return &Service{w: w} }

// Register registers the service on a gRPC server.
func (l *Service) Register(s *grpc.Server) { loggingpb.RegisterLoggingServiceV2Server(s, l) }

// WriteLogEntries stores entries, filling in request-level defaults,
// insert ids and timestamps as Cloud Logging does.
func (l *Service) WriteLogEntries(ctx context.Context, req *loggingpb.WriteLogEntriesRequest) (*loggingpb.WriteLogEntriesResponse, error) {
	if err := l.w.Faults.Apply(ctx, "logging.WriteLogEntries"); err != nil {
		return nil, err
	}
	if len(req.GetEntries()) == 0 {
		return nil, wire.New(http.StatusBadRequest, "At least one log entry is required.")
	}
	now := l.w.Now()
	var out []*loggingpb.LogEntry
	for i, e := range req.GetEntries() {
		e = proto.Clone(e).(*loggingpb.LogEntry)
		if e.GetLogName() == "" {
			e.LogName = req.GetLogName()
		}
		if e.GetResource() == nil {
			e.Resource = req.GetResource()
		}
		if !logNamePattern.MatchString(e.GetLogName()) {
			return nil, wire.New(http.StatusBadRequest, fmt.Sprintf("entries[%d]: invalid log name %q", i, e.GetLogName()))
		}
		if e.GetResource() == nil || e.GetResource().GetType() == "" {
			return nil, wire.New(http.StatusBadRequest, fmt.Sprintf("entries[%d]: a monitored resource is required", i))
		}
		for k, v := range req.GetLabels() {
			if _, ok := e.GetLabels()[k]; !ok {
				if e.Labels == nil {
					e.Labels = map[string]string{}
				}
				e.Labels[k] = v
			}
		}
		if e.GetTimestamp() == nil {
			e.Timestamp = timestamppb.New(now)
		}
		e.ReceiveTimestamp = timestamppb.New(now)
		out = append(out, e)
	}
	if req.GetDryRun() {
		return &loggingpb.WriteLogEntriesResponse{}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range out {
		l.seq++
		if e.GetInsertId() == "" {
			e.InsertId = strconv.FormatInt(l.seq, 36)
		}
		l.entries = append(l.entries, e)
	}
	if over := len(l.entries) - maxLogEntries; over > 0 {
		l.entries = slices.Clone(l.entries[over:])
	}
	return &loggingpb.WriteLogEntriesResponse{}, nil
}

// Entries returns the stored entries of a log (all logs when logName is
// empty), oldest first; for tests.
func (l *Service) Entries(logName string) []*loggingpb.LogEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*loggingpb.LogEntry
	for _, e := range l.entries {
		if logName == "" || e.GetLogName() == logName {
			out = append(out, proto.Clone(e).(*loggingpb.LogEntry))
		}
	}
	return out
}

// ListLogEntries lists entries of the named resources matching the filter.
func (l *Service) ListLogEntries(ctx context.Context, req *loggingpb.ListLogEntriesRequest) (*loggingpb.ListLogEntriesResponse, error) {
	if err := l.w.Faults.Apply(ctx, "logging.ListLogEntries"); err != nil {
		return nil, err
	}
	if len(req.GetResourceNames()) == 0 {
		return nil, wire.New(http.StatusBadRequest, "resource_names is required")
	}
	match, err := parseLogFilter(req.GetFilter())
	if err != nil {
		return nil, err
	}
	desc := false
	switch strings.ToLower(strings.Join(strings.Fields(req.GetOrderBy()), " ")) {
	case "", "timestamp asc", "timestamp":
	case "timestamp desc":
		desc = true
	default:
		return nil, wire.New(http.StatusBadRequest, fmt.Sprintf("Unsupported order_by %q; use \"timestamp asc\" or \"timestamp desc\".", req.GetOrderBy()))
	}
	// Matched under the lock and only the matches cloned: copying every
	// entry of every log for each query made reads the emulator's hot spot.
	var found []*loggingpb.LogEntry
	l.mu.Lock()
	for _, e := range l.entries {
		if !slices.ContainsFunc(req.GetResourceNames(), func(r string) bool { return strings.HasPrefix(e.GetLogName(), r+"/logs/") }) {
			continue
		}
		if match(e) {
			found = append(found, proto.Clone(e).(*loggingpb.LogEntry))
		}
	}
	l.mu.Unlock()
	sort.SliceStable(found, func(i, j int) bool {
		a, b := found[i].GetTimestamp().AsTime(), found[j].GetTimestamp().AsTime()
		if desc {
			return a.After(b)
		}
		return a.Before(b)
	})
	page, next, perr := wire.Paginate(found, req.GetPageSize(), req.GetPageToken())
	if perr != nil {
		return nil, perr
	}
	return &loggingpb.ListLogEntriesResponse{Entries: page, NextPageToken: next}, nil
}

// ListLogs lists the names of the logs that have entries.
func (l *Service) ListLogs(ctx context.Context, req *loggingpb.ListLogsRequest) (*loggingpb.ListLogsResponse, error) {
	if err := l.w.Faults.Apply(ctx, "logging.ListLogs"); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var names []string
	for _, e := range l.Entries("") {
		if strings.HasPrefix(e.GetLogName(), req.GetParent()+"/logs/") && !seen[e.GetLogName()] {
			seen[e.GetLogName()] = true
			names = append(names, e.GetLogName())
		}
	}
	sort.Strings(names)
	page, next, perr := wire.Paginate(names, req.GetPageSize(), req.GetPageToken())
	if perr != nil {
		return nil, perr
	}
	return &loggingpb.ListLogsResponse{LogNames: page, NextPageToken: next}, nil
}

// DeleteLog deletes a log's entries.
func (l *Service) DeleteLog(ctx context.Context, req *loggingpb.DeleteLogRequest) (*emptypb.Empty, error) {
	if err := l.w.Faults.Apply(ctx, "logging.DeleteLog"); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = slices.DeleteFunc(l.entries, func(e *loggingpb.LogEntry) bool { return e.GetLogName() == req.GetLogName() })
	return &emptypb.Empty{}, nil
}

var filterTerm = regexp.MustCompile(`^\s*(logName|severity|timestamp|resource\.type|resource\.labels\.[A-Za-z0-9_]+|labels\.[A-Za-z0-9_./-]+|jsonPayload\.[A-Za-z0-9_.]+)\s*(=|>=|<=|>|<|:)\s*("(?:[^"\\]|\\.)*"|[A-Za-z0-9_:.+-]+)\s*$`)

// parseLogFilter compiles the supported subset of the logging query
// language into a predicate: comparisons joined by AND, where a term may
// also be a parenthesised group of comparisons joined by OR, such as
// (labels.user = "a" OR labels.beneficiary = "a"), and NOT before a term
// or a group.
func parseLogFilter(filter string) (func(*loggingpb.LogEntry) bool, error) {
	var preds []func(*loggingpb.LogEntry) bool
	for _, term := range splitFilter(filter) {
		if negated, ok := strings.CutPrefix(term, "NOT "); ok {
			// NOT applies to the one term or group that follows it.
			p, err := parseLogFilter(negated)
			if err != nil {
				return nil, err
			}
			preds = append(preds, func(e *loggingpb.LogEntry) bool { return !p(e) })
			continue
		}
		if inner, ok := strings.CutPrefix(term, "("); ok && strings.HasSuffix(inner, ")") {
			var alts []func(*loggingpb.LogEntry) bool
			for _, alt := range splitOr(strings.TrimSuffix(inner, ")")) {
				p, err := parseLogFilter(alt)
				if err != nil {
					return nil, err
				}
				alts = append(alts, p)
			}
			preds = append(preds, func(e *loggingpb.LogEntry) bool {
				return slices.ContainsFunc(alts, func(p func(*loggingpb.LogEntry) bool) bool { return p(e) })
			})
			continue
		}
		m := filterTerm.FindStringSubmatch(term)
		if m == nil {
			return nil, wire.New(http.StatusBadRequest, fmt.Sprintf("Unsupported filter term %q: the emulator supports logName, resource.type, resource.labels.KEY, labels.KEY, jsonPayload.FIELD, timestamp and severity comparisons joined by AND, and parenthesised groups of them joined by OR, and NOT before a term or group.", term))
		}
		field, op, raw := m[1], m[2], m[3]
		value := raw
		if strings.HasPrefix(raw, `"`) {
			v, err := strconv.Unquote(raw)
			if err != nil {
				return nil, wire.New(http.StatusBadRequest, fmt.Sprintf("Invalid string in filter term %q", term))
			}
			value = v
		}
		p, err := termPredicate(field, op, value)
		if err != nil {
			return nil, err
		}
		preds = append(preds, p)
	}
	return func(e *loggingpb.LogEntry) bool {
		for _, p := range preds {
			if !p(e) {
				return false
			}
		}
		return true
	}, nil
}

// splitOr splits the inside of a parenthesised group at OR outside quotes.
func splitOr(group string) []string {
	var alts []string
	var cur strings.Builder
	inQuote, escaped := false, false
	for i := 0; i < len(group); i++ {
		c := group[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\' && inQuote:
			escaped = true
		case c == '"':
			inQuote = !inQuote
		case !inQuote && strings.HasPrefix(group[i:], " OR "):
			alts = append(alts, cur.String())
			cur.Reset()
			i += len(" OR ") - 1
			continue
		}
		cur.WriteByte(c)
	}
	return append(alts, cur.String())
}

// splitFilter splits on AND and on whitespace outside quotes and
// parentheses.
func splitFilter(filter string) []string {
	var terms []string
	var cur strings.Builder
	inQuote, escaped := false, false
	depth := 0
	flush := func() {
		if t := strings.TrimSpace(cur.String()); t != "" && t != "AND" {
			terms = append(terms, t)
		}
		cur.Reset()
	}
	for _, r := range filter {
		switch {
		case escaped:
			escaped = false
		case r == '\\' && inQuote:
			escaped = true
		case r == '"':
			inQuote = !inQuote
		case !inQuote && r == '(':
			depth++
		case !inQuote && r == ')':
			depth--
		case !inQuote && depth > 0:
			// Inside a group: kept whole, split by parseLogFilter.
		case !inQuote && (r == ' ' || r == '\n' || r == '\t'):
			// A space ends a term unless the term is still missing its
			// operator or value ("labels.x = y" has spaces around "=").
			s := strings.TrimSpace(cur.String())
			if s == "AND" {
				cur.Reset()
				continue
			}
			if s != "" && completeTerm(s) {
				flush()
				continue
			}
		}
		cur.WriteRune(r)
	}
	flush()
	return terms
}

// completeTerm reports whether s is a whole term of a filter: a
// comparison, a parenthesised group, or NOT before one of them.
func completeTerm(s string) bool {
	s = strings.TrimPrefix(s, "NOT ")
	return filterTerm.MatchString(s) || (strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")"))
}

func termPredicate(field, op, value string) (func(*loggingpb.LogEntry) bool, error) {
	switch {
	case field == "logName":
		if op != "=" {
			return nil, wire.New(http.StatusBadRequest, "logName supports only =")
		}
		want, _ := url.PathUnescape(value)
		return func(e *loggingpb.LogEntry) bool {
			got, _ := url.PathUnescape(e.GetLogName())
			return got == want
		}, nil
	case field == "severity":
		return func(e *loggingpb.LogEntry) bool {
			return compareInts(int64(e.GetSeverity()), int64(severityValue(value)), op)
		}, nil
	case field == "timestamp":
		t, err := time.Parse(time.RFC3339Nano, value)
		if err != nil {
			return nil, wire.New(http.StatusBadRequest, fmt.Sprintf("Invalid timestamp %q in filter", value))
		}
		return func(e *loggingpb.LogEntry) bool {
			return compareInts(e.GetTimestamp().AsTime().UnixNano(), t.UnixNano(), op)
		}, nil
	case field == "resource.type":
		return func(e *loggingpb.LogEntry) bool { return compareStrings(e.GetResource().GetType(), value, op) }, nil
	case strings.HasPrefix(field, "resource.labels."):
		key := strings.TrimPrefix(field, "resource.labels.")
		return func(e *loggingpb.LogEntry) bool { return compareStrings(e.GetResource().GetLabels()[key], value, op) }, nil
	case strings.HasPrefix(field, "labels."):
		key := strings.TrimPrefix(field, "labels.")
		return func(e *loggingpb.LogEntry) bool { return compareStrings(e.GetLabels()[key], value, op) }, nil
	default: // jsonPayload.FIELD
		key := strings.TrimPrefix(field, "jsonPayload.")
		return func(e *loggingpb.LogEntry) bool {
			v, ok := e.GetJsonPayload().GetFields()[key]
			return ok && compareStrings(v.GetStringValue(), value, op)
		}, nil
	}
}

// severityValue is google.logging.type.LogSeverity of a name or number.
func severityValue(s string) int32 {
	if v, ok := ltype.LogSeverity_value[strings.ToUpper(s)]; ok {
		return v
	}
	n, _ := strconv.Atoi(s)
	return int32(n) //nolint:gosec // severities are small
}

func compareInts(a, b int64, op string) bool {
	switch op {
	case "=", ":":
		return a == b
	case ">=":
		return a >= b
	case "<=":
		return a <= b
	case ">":
		return a > b
	}
	return a < b
}

func compareStrings(a, b, op string) bool {
	switch op {
	case "=":
		return a == b
	case ":":
		return strings.Contains(a, b)
	case ">=":
		return a >= b
	case "<=":
		return a <= b
	case ">":
		return a > b
	}
	return a < b
}
