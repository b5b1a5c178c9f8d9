package jit

import "time"

// ActivationRequest is a request for peer approval (MPA) of one
// entitlement. It is not stored anywhere: it travels, signed, in the link
// sent to the reviewers.
type ActivationRequest struct {
	ID            string // "mpa-…"; becomes the activation's id
	Beneficiary   UserID
	Reviewers     []UserID
	Entitlement   Entitlement
	Justification string
	Duration      time.Duration // length of the window, which starts at approval
	RequestedAt   time.Time
	ApproveBy     time.Time // the request expires after this
	// StartAt is the earliest start of the window (a scheduled request);
	// zero means at approval.
	StartAt time.Time
	// Required is how many distinct approvals the request needs (0 and 1
	// mean one, the original's rule).
	Required int
	// Dedicated is set when the reviewers are the role's dedicated
	// approvers rather than peers holding the same eligible role.
	Dedicated bool
	// Ancestry is the scope's folders and organization, nearest first, as
	// the requester's instance knew them: a hint that spares the
	// reviewer's instance a walk up the hierarchy. The decision verifies
	// every link live; nothing rests on it.
	Ancestry []string
}

// Quorum is how many distinct approvals the request needs, at least one.
func (r ActivationRequest) Quorum() int { return max(r.Required, 1) }

// IsReviewer reports whether u is one of the request's reviewers.
func (r ActivationRequest) IsReviewer(u UserID) bool {
	for _, x := range r.Reviewers {
		if x == u {
			return true
		}
	}
	return false
}
