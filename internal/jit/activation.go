package jit

import (
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"
)

// ActivationType says how an entitlement is activated.
type ActivationType string

// Activation types, named as in the original's JSON.
const (
	JIT ActivationType = "JIT" // self-approval with a justification
	MPA ActivationType = "MPA" // approval by a peer
)

// Status of an entitlement for a user, named as in the original's JSON.
type Status string

// Statuses.
const (
	StatusInactive          Status = "INACTIVE"
	StatusActive            Status = "ACTIVE"
	StatusActivationPending Status = "ACTIVATION_PENDING"
)

// Principal is an authenticated caller, as IAP vouched for them.
type Principal struct {
	Email        UserID
	Subject      string   // IAP "sub", e.g. "accounts.google.com:1234"
	DeviceID     string   // google.device_id, empty when unknown
	AccessLevels []string // google.access_levels
}

// EligibleEntitlement is an entitlement a user may activate, and its state.
type EligibleEntitlement struct {
	Entitlement
	Type       ActivationType
	Status     Status
	ValidUntil time.Time // set when Status is StatusActive
	// Grounds are where the eligible binding was seen (for Type), for a
	// write to confirm in the live policies.
	Grounds []Grounds
	// Approval is, for an MPA entitlement, what its approval takes, for
	// requesters to see before they ask; nil where it is not known (a
	// JIT entitlement, or the catalog could not say).
	Approval *ApprovalRequirement
}

// ApprovalRequirement is what the approval of an MPA entitlement takes, as
// far as the catalog knows: shown, never decided on (a decision reads
// the live policies, which may declare more).
type ApprovalRequirement struct {
	// Dedicated is set when approver bindings declare who approves: the
	// reviewers are the role's dedicated approvers, not its peers.
	Dedicated bool
	// Required is how many distinct approvals a request needs, at least 1.
	Required int
}

// Activation is a time-bound grant of one entitlement to one user.
type Activation struct {
	ID            string // "jit-…" or "mpa-…"
	Type          ActivationType
	Beneficiary   UserID
	Entitlement   Entitlement
	Justification string
	Approver      UserID // empty for self-approval
	// Approvers are all who approved, in order, when the request needed
	// more than one approval; Approver is the last of them.
	Approvers  []UserID
	Start, End time.Time
}

// Description is the IAM condition description the original writes.
func (a Activation) Description() string {
	if a.Approver == "" {
		return "Self-approved, justification: " + a.Justification
	}
	by := string(a.Approver)
	if len(a.Approvers) > 1 {
		names := make([]string, len(a.Approvers))
		for i, u := range a.Approvers {
			names[i] = string(u)
		}
		by = strings.Join(names, ", ")
	}
	head := fmt.Sprintf(approvedPrefix+"%s, justification: %s", by, a.Justification)
	if !ValidRequestID(a.ID) {
		return head
	}
	// The request id makes the binding recognisable as this request's
	// decision, so that the request is never approved twice (see
	// RequestIDOf); the original ignores the description.
	return fitDescription(head, requestSuffix+a.ID+")")
}

// Duration is the length of the activation window.
func (a Activation) Duration() time.Duration { return a.End.Sub(a.Start) }

// NewActivationID returns "jit-…" or "mpa-…" followed by 12 random bytes in
// standard base64, like the original.
func NewActivationID(t ActivationType, random io.Reader) (string, error) {
	var b [12]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", E("jit.NewActivationID", KindInternal, "", err)
	}
	return strings.ToLower(string(t)) + "-" + base64.StdEncoding.EncodeToString(b[:]), nil
}
