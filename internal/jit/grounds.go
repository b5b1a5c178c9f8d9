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
