package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// maxRequestEvents bounds what is read for one request (a request has a
// handful: the request, up to ten approvals, a rejection, refusals).
const maxRequestEvents = 200

// maxRequests bounds a list of requests.
const maxRequests = 200

// RequestEvents reads the events of approval request id since a time,
// oldest first: requested, each approval, the grant, a rejection or a
// withdrawal.
// Refusals (ERROR entries) are left out. An entry written a moment ago
// may not be readable yet (Cloud Logging ingests within seconds, rarely
// longer); callers treat the log as a second source next to IAM.
func (h *History) RequestEvents(ctx context.Context, id string, since time.Time) ([]jit.RequestEvent, error) {
	events, err := h.EventsOf(ctx, []string{id}, since)
	return events[id], err
}

// EventsOf reads the events of several approval requests since a time in
// one query, each request's oldest first, as RequestEvents does for one:
// a list of requests costs one read of the log, not one per request.
func (h *History) EventsOf(ctx context.Context, ids []string, since time.Time) (map[string][]jit.RequestEvent, error) {
	out := map[string][]jit.RequestEvent{}
	if len(ids) == 0 {
		return out, nil
	}
	terms := make([]string, 0, len(ids))
	want := map[string]bool{}
	for _, id := range ids {
		terms = append(terms, fmt.Sprintf("labels.activation_id = %q", id))
		want[id] = true
	}
	filter := fmt.Sprintf(`%s AND (%s) AND severity = INFO AND timestamp >= %q`,
		h.logFilter(), strings.Join(terms, " OR "), since.UTC().Format(time.RFC3339))
	entries, err := h.list(ctx, filter, min(maxRequestEvents*len(ids), maxListedEvents), false)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if ev, ok := requestEvent(e); ok && want[ev.RequestID] {
			out[ev.RequestID] = append(out[ev.RequestID], ev)
		}
	}
	for id := range out {
		slices.SortStableFunc(out[id], func(a, b jit.RequestEvent) int { return a.Time.Compare(b.Time) })
	}
	return out, nil
}

// maxListedEvents bounds what EventsOf reads for a list of requests.
const maxListedEvents = 2000

// Requests reads the requests made by q.Beneficiary, or naming
// q.Reviewer, since q.Since, newest first, with their tokens.
func (h *History) Requests(ctx context.Context, q jit.RequestQuery) ([]jit.RequestEvent, error) {
	filter := fmt.Sprintf(`%s AND labels.event = "api.requestRole" AND severity = INFO AND timestamp >= %q`,
		h.logFilter(), q.Since.UTC().Format(time.RFC3339))
	if q.Beneficiary != "" {
		filter += fmt.Sprintf(` AND labels.user = %q`, q.Beneficiary)
	}
	if q.Reviewer != "" {
		filter += fmt.Sprintf(` AND labels.reviewers : %q`, q.Reviewer)
	}
	entries, err := h.list(ctx, filter, maxRequests, true)
	if err != nil {
		return nil, err
	}
	var out []jit.RequestEvent
	for _, e := range entries {
		ev, ok := requestEvent(e)
		if !ok || ev.Kind != jit.EventRequested {
			continue
		}
		// ":" matches substrings; the token is checked by the caller.
		if q.Reviewer != "" && !slices.Contains(splitList(e.Labels["reviewers"]), string(q.Reviewer)) {
			continue
		}
		out = append(out, ev)
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// requestEvent maps an entry back to the event FromEvent wrote.
func requestEvent(e Entry) (jit.RequestEvent, bool) {
	id := e.Labels["activation_id"]
	if !jit.ValidRequestID(id) || (e.Severity != "" && e.Severity != SeverityInfo && e.Severity != "Info") {
		return jit.RequestEvent{}, false
	}
	ev := jit.RequestEvent{RequestID: id, Time: e.Time, Actor: jit.UserID(e.Labels["user"])}
	switch e.Labels["event"] {
	case "api.requestRole":
		ev.Kind, ev.Token = jit.EventRequested, e.Token
	case "api.approveRequest":
		ev.Kind, ev.Comment = jit.EventApprovalRecorded, e.Labels["comment"]
	case "api.activateRole":
		if e.Labels["approver"] == "" {
			return jit.RequestEvent{}, false
		}
		ev.Kind, ev.Comment = jit.EventApproved, e.Labels["comment"]
	case "api.rejectRequest":
		ev.Kind, ev.Reason = jit.EventRejected, e.Labels["reason"]
	case EventWithdrawRequest:
		ev.Kind = jit.EventWithdrawn
	default:
		return jit.RequestEvent{}, false
	}
	return ev, true
}
