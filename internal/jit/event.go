package jit

// EventKind names what happened, for the audit trail and notifications.
type EventKind string

// Event kinds. Adapters map them to the original's log event ids and
// notification types.
const (
	EventSelfActivated       EventKind = "SelfActivated"       // api.activateRole, ActivationSelfApproved
	EventSelfActivateFailed  EventKind = "SelfActivateFailed"  // api.activateRole (error)
	EventRequested           EventKind = "Requested"           // api.requestRole, RequestActivation
	EventRequestFailed       EventKind = "RequestFailed"       // api.requestRole (error)
	EventApproved            EventKind = "Approved"            // api.activateRole, ActivationApproved
	EventApproveFailed       EventKind = "ApproveFailed"       // api.activateRole (error)
	EventRequestAccessDenied EventKind = "RequestAccessDenied" // api.getActivationRequest (error)
)

// Event is something that happened to an activation or a request.
type Event struct {
	Kind        EventKind
	Actor       Principal
	Activations []Activation       // what was (or was to be) granted
	Request     *ActivationRequest // MPA events
	ActionURL   string             // the approval link, for Requested
	BaseURL     string             // the app's root ("https://host/"), for links in notifications
	Err         error              // failure events
	Detail      map[string]string  // extra audit labels (lifecycle events: the query, the previous window)
}
