package activation

import (
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// Result describes activations or a request, from the caller's view.
type Result struct {
	Beneficiary   jit.UserID
	Reviewers     []jit.UserID
	IsBeneficiary bool
	IsReviewer    bool
	Justification string
	Items         []Item
	// Warnings are things the caller should know that did not stop the
	// operation, such as a notification that could not be sent.
	Warnings []string
	// Request is the state of an approval request, for the request views.
	Request                *jit.RequestState
	RequestID              string
	RequestedAt, ExpiresAt time.Time
}

// Item is one entitlement of a Result.
type Item struct {
	ActivationID string
	Entitlement  jit.Entitlement
	Status       jit.Status
	Start, End   time.Time
}

func resultOf(caller jit.UserID, req *jit.ActivationRequest, acts []jit.Activation, status jit.Status) Result {
	r := Result{IsBeneficiary: true}
	if req != nil {
		r.Beneficiary = req.Beneficiary
		r.Reviewers = req.Reviewers
		r.Justification = req.Justification
		r.IsBeneficiary = caller == req.Beneficiary
		r.IsReviewer = req.IsReviewer(caller)
	}
	for _, a := range acts {
		if req == nil {
			r.Beneficiary, r.Justification = a.Beneficiary, a.Justification
		}
		r.Items = append(r.Items, Item{ActivationID: a.ID, Entitlement: a.Entitlement, Status: status, Start: a.Start, End: a.End})
	}
	return r
}
