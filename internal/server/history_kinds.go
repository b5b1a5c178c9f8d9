package server

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// The kinds of history entry a client can ask for (GET /api/history?kind=),
// each a set of audit event ids. The ids are the audit log's public
// vocabulary (docs/api.md, log queries and alerts rely on them), so they
// are spelled here rather than imported from the adapter.
const (
	kindActivation = "activation" // access granted: self-activated, or approved
	kindRequest    = "request"    // approval requested
	kindDecision   = "decision"   // a reviewer's approval or rejection
	kindEnd        = "end"        // ended early, revoked
	kindExtension  = "extension"  // extended
	kindRead       = "read"       // listing and viewing: hidden unless asked for
	kindOther      = "other"      // an event this version does not know
	kindAll        = "all"        // everything, reads included
)

// eventKinds assigns each audit event id a kind; its entries are what
// a kind filter sends to Cloud Logging.
func eventKinds() map[string]string {
	return map[string]string{
		"api.activateRole":         kindActivation,
		"api.requestRole":          kindRequest,
		"api.approveRequest":       kindDecision,
		"api.rejectRequest":        kindDecision,
		"api.withdrawRequest":      kindRequest,
		"api.endActivation":        kindEnd,
		"api.revokeActivation":     kindEnd,
		"api.extendActivation":     kindExtension,
		"api.listProjects":         kindRead,
		"api.listEligibleRoles":    kindRead,
		"api.listPeers":            kindRead,
		"api.getActivationRequest": kindRead,
		"api.listActivations":      kindRead,
		"api.viewHistory":          kindRead,
	}
}

// historyEvents turns the kind parameters (repeated, or comma-separated)
// into the events to keep or to leave out. No kind means every entry
// but reads: listing projects and opening pages happen at every visit and
// would bury what changed access. "all" includes reads.
func historyEvents(params []string) (events, exclude []string, err error) {
	var kinds []string
	for _, p := range params {
		for k := range strings.SplitSeq(p, ",") {
			if k = strings.TrimSpace(k); k != "" {
				kinds = append(kinds, k)
			}
		}
	}
	// The kinds a client may name.
	names := []string{kindActivation, kindRequest, kindDecision, kindEnd, kindExtension, kindRead, kindAll}
	for _, k := range kinds {
		if !slices.Contains(names, k) {
			return nil, nil, jit.Invalid("server.getHistory", fmt.Sprintf("kind %q is not one of %s", clipParam(k), strings.Join(names, ", ")))
		}
	}
	byKind := map[string][]string{}
	for ev, k := range eventKinds() {
		byKind[k] = append(byKind[k], ev)
	}
	for _, evs := range byKind {
		slices.Sort(evs)
	}
	switch {
	case slices.Contains(kinds, kindAll):
		return nil, nil, nil
	case len(kinds) == 0:
		return nil, byKind[kindRead], nil
	}
	slices.Sort(kinds)
	for _, k := range slices.Compact(kinds) {
		events = append(events, byKind[k]...)
	}
	return events, nil, nil
}

func clipParam(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// historyTitle is the one name an entry has on screen and in jitctl: a
// past-tense phrase, "… failed" for failures. Approvals that granted
// access are written as api.activateRole with an approver, as 1.8.1 did.
func historyTitle(e jit.HistoryEntry, failed bool) string {
	type names struct{ ok, failed string }
	var n names
	switch e.Event {
	case "api.activateRole":
		n = names{"Activated", "Activation failed"}
		if e.Approver != "" {
			n = names{"Approved", "Approval failed"}
		}
	case "api.requestRole":
		n = names{"Requested approval", "Request failed"}
	case "api.approveRequest":
		n = names{"Approval recorded", "Approval failed"}
	case "api.rejectRequest":
		n = names{"Rejected", "Rejection failed"}
	case "api.withdrawRequest":
		n = names{"Withdrew a request", "Withdrawal failed"}
	case "api.endActivation":
		n = names{"Ended", "Ending failed"}
	case "api.revokeActivation":
		n = names{"Revoked", "Revocation failed"}
	case "api.extendActivation":
		n = names{"Extended", "Extension failed"}
	case "api.listProjects":
		n = names{"Listed projects", "Listing projects failed"}
	case "api.listEligibleRoles":
		n = names{"Listed roles", "Listing roles failed"}
	case "api.listPeers":
		n = names{"Listed reviewers", "Listing reviewers failed"}
	case "api.getActivationRequest":
		n = names{"Opened a request", "Opening a request failed"}
	case "api.listActivations":
		n = names{"Listed access", "Listing access failed"}
	case "api.viewHistory":
		n = names{"Viewed history", "Viewing history failed"}
	default:
		// An event of a newer version: its id, in words ("api.fooBar" → "Foo bar").
		s := humanize(strings.TrimPrefix(e.Event, "api."))
		n = names{s, s + " failed"}
	}
	if failed {
		return n.failed
	}
	return n.ok
}

// humanize turns a camelCase id into words: "withdrawRequest" →
// "Withdraw request".
func humanize(id string) string {
	var b strings.Builder
	for i, r := range id {
		switch {
		case i == 0:
			b.WriteRune(unicode.ToUpper(r))
		case unicode.IsUpper(r):
			b.WriteRune(' ')
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "Event"
	}
	return b.String()
}

// historyKind is the kind of an entry, kindOther for an unknown event.
func historyKind(event string) string {
	if k, ok := eventKinds()[event]; ok {
		return k
	}
	return kindOther
}
