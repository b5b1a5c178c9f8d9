package jit

// EventKind names what happened, for the audit trail and notifications.
type EventKind string

// Event kinds. Adapters map them to the original's log event ids and
// notification types.
const (
	EventSelfActivated       EventKind = "SelfActivated"       // api.activateRole, ActivationSelfApproved
	EventSelfActivateFailed  EventKind = "SelfActivateFailed"  // api.activateRole (error)
	EventRequested           EventKind = "Requested"           // api.requestRole, RequestActivation
	EventRequestInvalid      EventKind = "RequestInvalid"      // api.activateRole (error): a request refused before it was signed
	EventRequestFailed       EventKind = "RequestFailed"       // api.requestRole (error): signing or notifying failed
	EventApproved            EventKind = "Approved"            // api.activateRole, ActivationApproved
	EventApproveFailed       EventKind = "ApproveFailed"       // api.activateRole (error); without Request: the token was refused
	EventRequestAccessDenied EventKind = "RequestAccessDenied" // api.getActivationRequest (error)
	EventProjectsListed      EventKind = "ProjectsListed"      // api.listProjects
	EventListProjectsFailed  EventKind = "ListProjectsFailed"  // api.listProjects (error)
	EventListRolesFailed     EventKind = "ListRolesFailed"     // api.listEligibleRoles (error)
	EventListPeersFailed     EventKind = "ListPeersFailed"     // api.listPeers (error)
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
	// Project and Entitlement say what a list or a refused request was
	// about when there is no activation to tell (list events,
	// RequestInvalid); Count is how many things a list found.
	Project     ProjectID
	Entitlement Entitlement
	Count       int
}
