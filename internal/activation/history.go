package activation

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// HistoryInput is a history query as the client sent it.
type HistoryInput struct {
	User, Resource, Role string
	From, To             string // RFC 3339, optional
	PageSize             int
	PageToken            string
	// Events and ExcludeEvents select entries by audit event id
	// (jit.HistoryQuery); the caller builds them from kinds it offers.
	Events, ExcludeEvents []string
}

// maxPageToken bounds a page token from a client; Cloud Logging's are far
// shorter.
const maxPageToken = 4096

// History returns a page of the audit trail, newest first: the caller's
// own entries (what they did: activations, requests, approvals, ends), or
// anyone's for auditors, filtered by user, resource, role and time.
//
// The trail is read back from Cloud Logging, so it reaches as far back
// as the log bucket's retention (30 days in _Default unless changed), and
// an entry written a moment ago may take a few seconds to appear. While
// Cloud Logging is unreachable the answer is KindUnavailable and the rest
// of the app is unaffected.
func (l *Lifecycle) History(ctx context.Context, caller jit.Principal, in HistoryInput) ([]jit.HistoryEntry, string, error) {
	const op = "activation.History"
	q := jit.HistoryQuery{Role: in.Role, PageSize: in.PageSize, PageToken: in.PageToken, Now: l.svc.opts.Clock().UTC(),
		Events: in.Events, ExcludeEvents: in.ExcludeEvents}
	if in.PageSize < 0 || in.PageSize > 200 {
		return nil, "", jit.Invalid(op, "pageSize must be between 1 and 200")
	}
	if len(in.PageToken) > maxPageToken {
		return nil, "", jit.Invalid(op, "The page token is not valid; start again from the first page")
	}
	if in.Resource != "" {
		if !jit.ValidResource(in.Resource) {
			return nil, "", jit.Invalid(op, fmt.Sprintf("%q is not a resource name such as projects/my-project, folders/123 or organizations/123", clip(in.Resource)))
		}
		q.Resource = in.Resource
	}
	if in.Role != "" && !jit.ValidRole(in.Role) {
		return nil, "", jit.Invalid(op, fmt.Sprintf("%q is not a role name such as roles/viewer", clip(in.Role)))
	}
	var err error
	if q.From, err = optionalTime(op, "from", in.From); err != nil {
		return nil, "", err
	}
	if q.To, err = optionalTime(op, "to", in.To); err != nil {
		return nil, "", err
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return nil, "", jit.Invalid(op, "from must be before to")
	}
	auditor, err := l.IsAuditor(ctx, caller)
	if err != nil {
		return nil, "", err
	}
	switch {
	case in.User != "":
		u, err := jit.ParseUserID(in.User)
		if err != nil {
			return nil, "", err
		}
		q.User = u
	case !auditor:
		q.User = caller.Email
	}
	if q.User != caller.Email && !auditor {
		return nil, "", jit.Denied(op, "Only auditors can read other users' history")
	}
	if l.history == nil {
		return nil, "", jit.E(op, jit.KindUnavailable, "The history is not available: the audit trail is not written to Cloud Logging in this deployment", nil)
	}
	entries, next, err := l.history.History(ctx, q)
	if err != nil {
		return nil, "", wrapUpstream(op, "Reading the history failed", err)
	}
	detail := map[string]string{"query_user": string(q.User), "query_resource": q.Resource, "query_role": q.Role}
	if q.User == "" {
		detail["query_user"] = "*"
	}
	l.svc.record(ctx, jit.Event{Kind: jit.EventViewedHistory, Actor: caller, Detail: detail})
	return entries, next, nil
}

func optionalTime(op, name, v string) (time.Time, error) {
	if strings.TrimSpace(v) == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, jit.Invalid(op, fmt.Sprintf("%s must be an RFC 3339 time such as 2026-01-31T12:00:00Z", name))
	}
	return t.UTC(), nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
