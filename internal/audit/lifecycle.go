package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/logging"
	"cloud.google.com/go/logging/logadmin"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// Event ids of the lifecycle events, beyond the original's.
const (
	EventEndActivation    = "api.endActivation"
	EventRevokeActivation = "api.revokeActivation"
	EventExtendActivation = "api.extendActivation"
	EventListActivations  = "api.listActivations"
	EventViewHistory      = "api.viewHistory"
)

// lifecycleEntry fills in the entry of a lifecycle event; false for any
// other kind.
func lifecycleEntry(entry *Entry, l labels, e jit.Event, entitlements, cause string) bool {
	who := e.Actor.Email
	var beneficiary jit.UserID
	if len(e.Activations) > 0 {
		beneficiary = e.Activations[0].Beneficiary
	}
	switch e.Kind {
	case jit.EventEnded:
		entry.Event = EventEndActivation
		entry.Message = fmt.Sprintf("User %s ended their activation of %s", who, entitlements)
	case jit.EventRevoked:
		entry.Event = EventRevokeActivation
		entry.Message = fmt.Sprintf("Administrator %s revoked the activation of %s for %s", who, entitlements, beneficiary)
	case jit.EventEndFailed:
		entry.Event, entry.Severity = EventEndActivation, SeverityError
		entry.Message = fmt.Sprintf("User %s failed to end the activation of %s for %s: %s", who, entitlements, beneficiary, cause)
	case jit.EventExtended:
		entry.Event = EventExtendActivation
		entry.Message = fmt.Sprintf("User %s extended their activation of %s until %s", who, entitlements, e.Activations[0].End.UTC().Format(time.RFC3339))
	case jit.EventExtendFailed:
		entry.Event, entry.Severity = EventExtendActivation, SeverityError
		entry.Message = fmt.Sprintf("User %s failed to extend their activation of %s: %s", who, entitlements, cause)
	case jit.EventListedActivations:
		entry.Event = EventListActivations
		entry.Message = fmt.Sprintf("User %s listed the activations of %s", who, e.Detail["query_user"])
	case jit.EventViewedHistory:
		entry.Event = EventViewHistory
		entry.Message = fmt.Sprintf("User %s viewed the history of %s", who, e.Detail["query_user"])
	default:
		return false
	}
	if len(e.Activations) > 0 {
		l.request(e)
	}
	if e.Err != nil {
		l.failure(e.Err)
	}
	if beneficiary != "" {
		l["beneficiary"] = string(beneficiary)
	}
	for k, v := range e.Detail {
		l[k] = v
	}
	if r := e.Detail["resource"]; r != "" {
		// Folders and organizations have no project_id; the resource
		// label names every kind.
		l["resource"] = crmPrefix + r
	}
	return true
}

const crmPrefix = "//cloudresourcemanager.googleapis.com/"

// maxHistoryPage bounds one page of history.
const maxHistoryPage = 200

// History implements the history view's reader: one page of entries,
// newest first, filtered in Cloud Logging.
//
// The first page pins the upper time bound of the query (q.Now, or q.To
// when earlier), and the page token carries it with Cloud Logging's own
// token, so every page runs the same filter (Cloud Logging requires it)
// and an entry written while someone pages cannot push one already shown
// onto the next page. The token comes back from the client: it is read as
// hostile input (see pageToken), and what it can change is only the time
// bound, within what the caller may read anyway (user and resource
// filters come from the caller, not from the token).
//
// Errors: KindInvalid for a page token that is not one of ours or that
// Cloud Logging refuses, KindUnavailable while Cloud Logging is
// unreachable, KindTooMany when its read quota is exhausted.
func (h *History) History(ctx context.Context, q jit.HistoryQuery) ([]jit.HistoryEntry, string, error) {
	const op = "audit.History.History"
	ctx, cancel := context.WithTimeout(ctx, h.readTimeout())
	defer cancel()
	tok := pageToken{Until: q.Now}
	if tok.Until.IsZero() {
		tok.Until = time.Now()
	}
	if !q.To.IsZero() && q.To.Before(tok.Until) {
		tok.Until = q.To.Add(-time.Nanosecond) // To is exclusive
	}
	if q.PageToken != "" {
		var err error
		if tok, err = parsePageToken(q.PageToken); err != nil {
			return nil, "", jit.E(op, jit.KindInvalid, msgBadPageToken, err)
		}
	}
	filter := h.filter(q, tok.Until)
	size := q.PageSize
	if size <= 0 || size > maxHistoryPage {
		size = 50
	}
	it := h.admin.Entries(ctx, logadmin.Filter(filter), logadmin.NewestFirst())
	var page []*logging.Entry
	next, err := iterator.NewPager(it, size, tok.Page).NextPage(&page)
	if errors.Is(err, iterator.Done) {
		// logadmin reports a page without entries and without a next
		// page as Done: a user with no history yet, or the last page.
		next, err = "", nil
	}
	if err != nil {
		if strings.Contains(err.Error(), "page token") || strings.Contains(strings.ToLower(err.Error()), "invalid argument") {
			return nil, "", jit.E(op, jit.KindInvalid, msgBadPageToken, err)
		}
		return nil, "", readError(op, err)
	}
	out := make([]jit.HistoryEntry, 0, len(page))
	for _, e := range page {
		if e.Labels["event"] == "api.checkHealth" {
			continue // the app's own log line in a stdout log, not audit
		}
		out = append(out, historyEntry(e))
	}
	if next == "" {
		return out, "", nil
	}
	return out, pageToken{Until: tok.Until, Page: next}.String(), nil
}

const msgBadPageToken = "The page token is not valid; start again from the first page"

// maxLoggingPageToken bounds Cloud Logging's token inside ours; its tokens
// are a few hundred characters.
const maxLoggingPageToken = 2048

// pageToken is the history's page token: the pinned upper time bound and
// Cloud Logging's token for the next page of the query with that bound.
type pageToken struct {
	Until time.Time `json:"until"`
	Page  string    `json:"page"`
}

const pageTokenPrefix = "h1."

func (p pageToken) String() string {
	b, _ := json.Marshal(p) // a time and a string: cannot fail
	return pageTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// parsePageToken reads a token a client sent back: our prefix, base64url,
// a JSON object with exactly our two fields, a time, and a Cloud Logging
// token of printable ASCII of bounded length (it is passed on to Cloud
// Logging, which refuses one that is not its own).
func parsePageToken(s string) (pageToken, error) {
	rest, ok := strings.CutPrefix(s, pageTokenPrefix)
	if !ok {
		return pageToken{}, errors.New("not a history page token")
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return pageToken{}, fmt.Errorf("page token: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p pageToken
	if err := dec.Decode(&p); err != nil {
		return pageToken{}, fmt.Errorf("page token: not our JSON: %w", err)
	}
	if dec.More() {
		return pageToken{}, errors.New("page token: data after the JSON object")
	}
	switch {
	case p.Until.IsZero(), p.Until.Year() < 2000, p.Until.Year() > 9999:
		return pageToken{}, errors.New("page token: no valid time bound")
	case p.Page == "", len(p.Page) > maxLoggingPageToken:
		return pageToken{}, errors.New("page token: no valid Cloud Logging token")
	}
	for i := 0; i < len(p.Page); i++ {
		if c := p.Page[i]; c < 0x21 || c > 0x7e {
			return pageToken{}, errors.New("page token: Cloud Logging token is not printable ASCII")
		}
	}
	return p, nil
}

// WithTimeout bounds each read (BACKEND_READ_TIMEOUT): a page of
// History, and the request events and lists of RequestEvents and
// Requests. The client library retries an unavailable Cloud Logging for a
// minute unless the deadline ends it first, and approvals wait for these
// reads.
func (h *History) WithTimeout(d time.Duration) *History {
	h.timeout = d
	return h
}

// readTimeout is the bound of one read; 20 seconds unless WithTimeout.
func (h *History) readTimeout() time.Duration {
	if h.timeout <= 0 {
		return 20 * time.Second
	}
	return h.timeout
}

// filter is the Cloud Logging filter of q. Values are quoted with %q,
// which escapes quotes and backslashes the way the filter language does.
func (h *History) filter(q jit.HistoryQuery, until time.Time) string {
	var b strings.Builder
	// Every log History reads (the Logging API writer's and the
	// platforms' stdout logs), in one query so that Cloud Logging's page
	// token pages through all of them; only audit events (api.*).
	logs := h.logs
	if len(logs) == 0 {
		logs = []string{LogID}
	}
	b.WriteString("(")
	for i, id := range logs {
		if i > 0 {
			b.WriteString(" OR ")
		}
		fmt.Fprintf(&b, `logName = "projects/%s/logs/%s"`, h.project, id)
	}
	b.WriteString(") AND " + h.logFilter())
	if q.User != "" {
		// What the user did, and what was done for them (a peer's
		// approval of their request, an administrator's revocation).
		fmt.Fprintf(&b, ` AND (labels.user = %q OR labels.beneficiary = %q)`, q.User, q.User)
	}
	if q.Resource != "" {
		fmt.Fprintf(&b, ` AND labels.resource = %q`, crmPrefix+q.Resource)
	}
	if q.Role != "" {
		fmt.Fprintf(&b, ` AND labels.role = %q`, q.Role)
	}
	if len(q.Events) > 0 {
		fmt.Fprintf(&b, ` AND %s`, eventsFilter(q.Events))
	}
	if len(q.ExcludeEvents) > 0 {
		fmt.Fprintf(&b, ` AND NOT %s`, eventsFilter(q.ExcludeEvents))
	}
	if !q.From.IsZero() {
		fmt.Fprintf(&b, ` AND timestamp >= %q`, q.From.UTC().Format(time.RFC3339))
	}
	// The pinned bound; it includes To (exclusive) when To is earlier.
	fmt.Fprintf(&b, ` AND timestamp <= %q`, until.UTC().Format(time.RFC3339Nano))
	return b.String()
}

// eventsFilter matches entries of any of the event ids.
func eventsFilter(events []string) string {
	terms := make([]string, len(events))
	for i, ev := range events {
		terms[i] = fmt.Sprintf(`labels.event = %q`, ev)
	}
	return "(" + strings.Join(terms, " OR ") + ")"
}

func historyEntry(e *logging.Entry) jit.HistoryEntry {
	l := e.Labels
	he := jit.HistoryEntry{
		Time: e.Timestamp.UTC(), Event: l["event"], Severity: e.Severity.String(),
		User: jit.UserID(l["user"]), Beneficiary: jit.UserID(l["beneficiary"]),
		Role: l["role"], Justification: l["justification"], Approver: jit.UserID(l["approver"]),
		ActivationID: l["activation_id"], Comment: l["comment"],
	}
	if r, ok := strings.CutPrefix(l["resource"], crmPrefix); ok {
		he.Resource = r
	}
	switch {
	case l["error_message"] != "":
		// The cause as the user saw it, whole.
		he.Reason = l["error_message"]
	case l["reason"] != "":
		// A rejection's reason.
		he.Reason = l["reason"]
	case l["error"] != "":
		he.Reason = l["error"]
	}
	he.Start, _ = ParseTime(l["activation_start"])
	he.End, _ = ParseTime(l["activation_end"])
	switch p := e.Payload.(type) {
	case map[string]any:
		he.Message, _ = p["message"].(string)
	case interface{ AsMap() map[string]any }:
		he.Message, _ = p.AsMap()["message"].(string)
	case string:
		he.Message = p
	}
	if l["error_message"] == "" && l["error"] != "" && he.Message != "" {
		// Entries written before the cause had a label of its own: the
		// message ends with it after ": ", which the cause itself may
		// contain, so this may be its tail only.
		if i := strings.LastIndex(he.Message, ": "); i >= 0 {
			he.Reason = he.Message[i+2:]
		}
	}
	return he
}

// readError translates a failure to read the log: the rest of the app
// does not depend on reading it, so the message says only history is
// affected.
func readError(op string, err error) error {
	e := translate(op, err)
	var je *jit.Error
	if errors.As(e, &je) {
		switch je.Kind {
		case jit.KindUnavailable:
			je.Msg = "The history is unavailable because Cloud Logging cannot be reached; activations are not affected. Try again later."
		case jit.KindUpstream:
			je.Msg = "Reading the history from Cloud Logging failed; activations are not affected. Try again later."
			if status.Code(err) == codes.PermissionDenied {
				je.Msg = "The history cannot be read: Cloud Logging does not let the app read the audit log (its service account needs roles/logging.viewer on the app's project); activations are not affected."
			}
		}
	}
	return e
}
