package jit

import "time"

// Lifecycle event kinds: what happens to an activation after it was
// granted, and who looked at what.
const (
	EventEnded             EventKind = "Ended"             // api.endActivation: the beneficiary ended it
	EventRevoked           EventKind = "Revoked"           // api.revokeActivation: an administrator ended someone else's
	EventEndFailed         EventKind = "EndFailed"         // api.endActivation (error)
	EventExtended          EventKind = "Extended"          // api.extendActivation
	EventExtendFailed      EventKind = "ExtendFailed"      // api.extendActivation (error)
	EventListedActivations EventKind = "ListedActivations" // api.listActivations
	EventViewedHistory     EventKind = "ViewedHistory"     // api.viewHistory
)

// GrantActivation turns a grant found in IAM into the Activation shape
// audit and notifications speak.
func GrantActivation(g Grant) Activation {
	a := Activation{
		ID: g.ID(), Type: JIT, Beneficiary: g.Beneficiary, Justification: g.Justification,
		Approver: g.Approver, Start: g.Start, End: g.End,
		Entitlement: Entitlement{Project: ProjectOfResource(g.Resource), Role: g.Role, ResourceCondition: g.ResourceCondition},
	}
	if ValidNode(g.Resource) {
		a.Entitlement.Node = g.Resource
	}
	if g.Approver != "" {
		a.Type = MPA
	}
	return a
}

// ProjectOfResource returns P of "projects/P", or "".
func ProjectOfResource(resource string) ProjectID {
	if len(resource) > len("projects/") && resource[:len("projects/")] == "projects/" {
		return ProjectID(resource[len("projects/"):])
	}
	return ""
}

// HistoryQuery selects audit entries for the history view. Empty fields
// match anything.
type HistoryQuery struct {
	User      UserID
	Resource  string // "projects/P", …
	Role      string
	From, To  time.Time
	PageSize  int
	PageToken string
	// Now is when the query is made. The first page pins it as the upper
	// time bound of every page that follows (the page token carries it),
	// so that entries written while someone pages do not push entries
	// already shown onto the next page again. Zero means the reader's
	// clock.
	Now time.Time
	// Events, when not empty, keeps only entries of these audit event ids
	// ("api.activateRole", …); ExcludeEvents drops entries of these.
	Events, ExcludeEvents []string
}

// HistoryEntry is one audit entry as the history view shows it.
type HistoryEntry struct {
	Time          time.Time
	Event         string // the audit event id, e.g. "api.activateRole"
	Severity      string
	Message       string
	User          UserID // who acted
	Beneficiary   UserID
	Resource      string
	Role          string
	Justification string
	Approver      UserID
	Reason        string // the error or refusal, for failures
	Comment       string // an approver's comment, for approvals
	ActivationID  string
	Start, End    time.Time
}
