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
	// An approval that does not yet complete the quorum of a request that
	// needs several.
	EventApprovalRecorded EventKind = "ApprovalRecorded" // api.approveRequest, ActivationApprovalRecorded
	EventRejected         EventKind = "Rejected"         // api.rejectRequest, ActivationRejected
	EventRejectFailed     EventKind = "RejectFailed"     // api.rejectRequest (error)
	// The requester withdrew a pending request.
	EventWithdrawn      EventKind = "Withdrawn"      // api.withdrawRequest, ActivationWithdrawn
	EventWithdrawFailed EventKind = "WithdrawFailed" // api.withdrawRequest (error)
)

// Event is something that happened to an activation or a request.
type Event struct {
	Kind        EventKind
	Actor       Principal
	Activations []Activation       // what was (or was to be) granted
	Request     *ActivationRequest // MPA events
	ActionURL   string             // the approval link, for Requested
	// Token is the signed request, for Requested: kept in the audit entry's
	// payload so that the lists of open requests can link to them (it is
	// verified again when read back, so a forged entry cannot add one).
	Token string
	// Reason is a rejection's reason, for Rejected.
	Reason string
	// Comment is an approver's comment, for ApprovalRecorded and Approved
	// (and their failures).
	Comment string
	// Approvals are the approvals so far, for ApprovalRecorded and Approved
	// of a request that needs several; Required is how many it needs.
	Approvals []Approval
	Required  int
	// BaseURL is the app's root ("https://host/"), for links in notifications.
	BaseURL string
	Err     error // failure events
	// Project and Entitlement say what a list or a refused request was
	// about when there is no activation to tell (list events,
	// RequestInvalid); Count is how many things a list found.
	Project     ProjectID
	Entitlement Entitlement
	Count       int
	// Detail holds extra audit labels (lifecycle events: the query, the
	// previous window).
	Detail map[string]string
}
