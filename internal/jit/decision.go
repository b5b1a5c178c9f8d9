package jit

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// RequestStatus is the state of an approval request. Nothing stores it: it
// is derived from the project's IAM policy (the binding written for the
// request, or the request's record binding) and the audit log.
type RequestStatus string

// Request states, named as in the API.
const (
	RequestPending  RequestStatus = "PENDING"
	RequestApproved RequestStatus = "APPROVED"
	RequestRejected RequestStatus = "REJECTED"
	RequestExpired  RequestStatus = "EXPIRED"
	// RequestWithdrawn: the requester withdrew the request before it was
	// decided; nothing can be approved after.
	RequestWithdrawn RequestStatus = "WITHDRAWN"
)

// MaxQuorum bounds the approvals a role can require; the record of the
// approvals so far has to fit an IAM condition's description.
const MaxQuorum = 10

// MaxDescriptionLength is IAM's limit for a condition's description.
const MaxDescriptionLength = 256

// MaxReasonLength bounds a rejection's reason, in characters.
const MaxReasonLength = 200

// Approval is one approver's approval of a request.
type Approval struct {
	By UserID
	At time.Time // zero when only the IAM record is known (no time there)
	// Comment is the approver's comment, read from the audit log (IAM
	// does not keep it); "" when there was none or the log has not
	// ingested it yet.
	Comment string
}

// RequestRecord is what a project's IAM policy says about one request: the
// binding written when it was approved, or the record binding that holds
// its approvals so far or its rejection. The zero value means nothing was
// decided yet.
type RequestRecord struct {
	// Granted is the activation written for the request, window and all;
	// set once the request is approved, and kept (even past its end) for
	// as long as the request's token could still be presented.
	Granted *Activation
	// Approvers are the approvals collected so far, in order, for a
	// request that needs several. Long addresses may be kept as a
	// fingerprint (see ApproverKey), which is enough to count them.
	Approvers []string
	// RejectedBy is set when an approver rejected the request.
	RejectedBy UserID
	// Withdrawn is set when the requester withdrew the request. The record
	// binding keeps it as a rejection by the requester (who can never
	// reject their own request otherwise), so that instances of earlier
	// versions, which know rejections only, refuse to approve it too.
	Withdrawn bool
	// Required is, during a decision, the number of distinct approvals
	// the live policies require (the request's own quorum, or more if
	// its role's declared quorum has grown since); 0 outside decisions.
	Required int
	// Unconfirmed is set, during a decision, when an earlier attempt of
	// the same decision may have been written although Google's answer was
	// lost: a decision found in the record may then be the caller's own.
	Unconfirmed bool
}

// Decided reports whether the request was approved or rejected.
func (r RequestRecord) Decided() bool { return r.Granted != nil || r.RejectedBy != "" || r.Withdrawn }

// HasApproved reports whether u's approval is among the approvals so far.
func (r RequestRecord) HasApproved(u UserID) bool {
	for _, a := range r.Approvers {
		if a == string(u) || a == ApproverKey(u) {
			return true
		}
	}
	return false
}

// Decision is a change to a request's record, decided by the use case on
// the record read in the same read-modify-write as the write itself.
type Decision struct {
	// Approve adds an approval; Grant, when set, is the activation to write
	// because this approval completes the quorum.
	Approve UserID
	Grant   *Activation
	// Reject records a rejection.
	Reject UserID
	// Withdraw records the requester's withdrawal; it rests on a
	// Confirmation whose Requester is the request's beneficiary.
	Withdraw UserID
	// Landed says the record already holds this caller's decision: an
	// earlier attempt's write reached Google although its answer was
	// lost. Nothing is written, and the decision counts as made.
	Landed bool
}

// ApproverKey is the short form of an approver's address kept in a record
// when the address itself does not fit: "#" and 12 hex digits of a
// non-cryptographic FNV-1a hash, enough to tell a handful of approvers
// apart (a collision could only make two approvers count as one).
func ApproverKey(u UserID) string {
	h := uint64(14695981039346656037)
	for i := 0; i < len(u); i++ {
		h ^= uint64(u[i])
		h *= 1099511628211
	}
	return fmt.Sprintf("#%012x", h&0xffffffffffff)
}

// requestSuffix marks the request an approved activation's binding was
// written for, at the end of its description.
const requestSuffix = " (request "

// approvedPrefix starts the description of an approved activation.
const approvedPrefix = "Approved by "

// RequestIDOf returns the request id an activation binding's description
// carries, or "". The app writes the id only after an approval's
// "Approved by …, justification: J", as the description's last part:
// a self-approval never carries one, whatever its justification says,
// and in an approval the last mark is the app's, after the user's text.
// (Justifications may not carry the mark, CheckJustification; bindings
// of deployments that let it through are read safely all the same.)
// Callers still match the binding's member and role with the request's.
func RequestIDOf(description string) string {
	if !strings.HasPrefix(description, approvedPrefix) {
		return ""
	}
	i := strings.LastIndex(description, requestSuffix)
	if i < 0 || !strings.HasSuffix(description, ")") {
		return ""
	}
	id := description[i+len(requestSuffix) : len(description)-1]
	if !ValidRequestID(id) {
		return ""
	}
	return id
}

// ValidRequestID reports whether id has the form of an approval request's
// id: "mpa-" and up to 60 base64 characters.
func ValidRequestID(id string) bool {
	rest, ok := strings.CutPrefix(id, "mpa-")
	if !ok || rest == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '+' && c != '/' && c != '=' && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// fitDescription shortens head so that head+tail fits IAM's limit; tail
// (the request id) always survives.
func fitDescription(head, tail string) string {
	room := MaxDescriptionLength - utf8.RuneCountInString(tail)
	if utf8.RuneCountInString(head) > room {
		r := []rune(head)
		head = string(r[:room-1]) + "…"
	}
	return head + tail
}

// RequestEvent is an approval request's event as read back from the audit
// log.
type RequestEvent struct {
	Kind      EventKind // Requested, ApprovalRecorded, Approved, Rejected or Withdrawn
	Time      time.Time
	Actor     UserID
	RequestID string
	Reason    string // Rejected
	Comment   string // ApprovalRecorded, Approved
	Token     string // Requested, when the entry kept it
}

// RequestQuery selects requests in the audit log: those made by
// Beneficiary, or those naming Reviewer, since Since.
type RequestQuery struct {
	Beneficiary UserID
	Reviewer    UserID
	Since       time.Time
}

// ApproverPolicy is who may approve requests for an entitlement, and how
// many of them must.
type ApproverPolicy struct {
	// Dedicated is set when approver bindings are declared for the
	// entitlement; Approvers are then their members (groups expanded),
	// and peers holding the same eligible role no longer approve.
	Dedicated bool
	Approvers []UserID
	// Quorum is the number of distinct approvals required; 0 where no
	// approver binding declares one (the deployment's default applies).
	Quorum int
	// Peers hold the same MPA-eligible entitlement: the approvers where
	// none are dedicated (found by the same query, to save one).
	Peers []UserID
	// ApproverGrounds and PeerGrounds say, for each of Approvers and
	// Peers, where the catalog saw them, so that a decision can confirm
	// their right in the live policies (see Decider).
	ApproverGrounds, PeerGrounds map[UserID][]Grounds
}

// RequestState is what is known about a request: derived, never stored.
type RequestState struct {
	Status    RequestStatus
	Approvals []Approval
	Required  int
	// DecidedBy and DecidedAt say who approved (the approval that
	// completed the quorum), rejected or withdrew the request, and when.
	DecidedBy    UserID
	DecidedAt    time.Time
	RejectReason string
	// Granted is the activation written, when approved.
	Granted *Activation
}
