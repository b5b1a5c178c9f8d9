package jit

import "strings"

// NamedBy reports whether an IAM member is u's own principal or one that
// takes in every user of its kind (u's domain, allUsers,
// allAuthenticatedUsers): a binding with it holds for u whatever their
// groups.
func (u UserID) NamedBy(member string) bool {
	kind, id, _ := strings.Cut(member, ":")
	switch strings.ToLower(kind) {
	case "user":
		return strings.EqualFold(id, string(u))
	case "domain":
		_, domain, _ := strings.Cut(string(u), "@")
		return domain != "" && strings.EqualFold(id, domain)
	case "allusers", "allauthenticatedusers":
		return id == ""
	}
	return false
}

// Grounds say where a catalog saw an eligible binding, so that a write can
// confirm it in the live IAM policy (fresher than the Cloud Asset index,
// which lags IAM by minutes) instead of asking Cloud Asset again.
type Grounds struct {
	// Resource holds the policy with the binding: "projects/ID",
	// "folders/N" or "organizations/N".
	Resource string
	// Principals are members of the binding through which the user holds
	// it: the user itself ("user:EMAIL"), or groups (or a domain) the
	// catalog found the user in. The user is in at least one of them; a
	// live binding still holds the eligibility if it names the user, or
	// every one of these principals.
	Principals []string
}

// Requirement is one eligibility a write depends on: User must hold
// Entitlement with Type, as the Grounds say, in the live policies.
type Requirement struct {
	User        UserID
	Entitlement Entitlement
	Type        ActivationType
	Grounds     []Grounds
}

// Confirmation is what a write rests on. The writer (internal/iam)
// confirms it inside its read-modify-write, on the policy it is about to
// write and on the live policies of the scope's ancestors, read beside
// it: a cache, the Cloud Asset index or the client only say where to
// look, never whether the write may happen. A write with an empty
// Confirmation is refused.
type Confirmation struct {
	// Eligible are the eligibilities that must hold: the beneficiary's.
	Eligible []Requirement
	// Decider, set for an approval or a rejection, is who decides and
	// where the catalog saw their right to.
	Decider *Decider
	// DefaultQuorum is the approvals a request needs where no approver
	// binding declares a quorum (ACTIVATION_REQUEST_APPROVALS); 0 means 1.
	DefaultQuorum int
	// Requester, set for a withdrawal, is the caller, who withdraws their
	// own request: the write confirms that they are the beneficiary the
	// request's signed token names, and a write resting on it may record
	// that withdrawal and nothing else. A withdrawal needs no eligibility
	// (it only takes a pending request away, and a requester who lost
	// their eligibility may still withdraw), so nothing in the live
	// policies is read for it. It does not make a Confirmation non-Empty:
	// a grant can never rest on it.
	Requester UserID
}

// Decider is a reviewer's claim to decide a request for Entitlement.
// Which right counts is read from the live policies: where approver
// bindings of the entitlement apply (on the scope or above it), only a
// dedicated approver decides, and the largest quorum they declare holds;
// elsewhere any peer holding the same MPA-eligible entitlement does.
type Decider struct {
	User        UserID
	Entitlement Entitlement
	// AsPeer are where the catalog saw User hold Entitlement as
	// MPA-eligible; AsApprover where it saw User in approver bindings of
	// it. Either may be empty: a binding that names User directly holds
	// without grounds.
	AsPeer, AsApprover []Grounds
	// Dedicated is set when the request was made under dedicated
	// approvers: peers may not decide it, even if the declaration has
	// since been removed.
	Dedicated bool
}

// Empty reports whether there is nothing to confirm.
func (c Confirmation) Empty() bool { return len(c.Eligible) == 0 && c.Decider == nil }
