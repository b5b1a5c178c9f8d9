package activation

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// A write says what it rests on in a jit.Confirmation, and Policies
// confirms it in the live policies inside the write. The catalog, cached
// or not, only says where each eligibility was seen; an answer it no
// longer has refuses early (a stale cache may show too little), an
// answer it still has is confirmed or refused by the write (a stale cache
// may show too much, but never grants).

// eligibility checks that the catalog shows user eligible for every
// entitlement with typ on scope and returns what the write must confirm.
func (s *Service) eligibility(ctx context.Context, user jit.UserID, scope jit.Scope, ents []jit.Entitlement, typ jit.ActivationType) (jit.Confirmation, error) {
	const op = "activation.eligibility"
	available, err := s.catalog.EligibilityAt(ctx, user, scope)
	if err != nil {
		return jit.Confirmation{}, wrapUpstream(op, "Checking eligibility failed", err)
	}
	grounds := map[jit.Entitlement][]jit.Grounds{}
	for _, a := range available {
		if a.Type == typ {
			grounds[a.Entitlement] = append(grounds[a.Entitlement], a.Grounds...)
		}
	}
	var conf jit.Confirmation
	for _, e := range ents {
		g, ok := grounds[e]
		if !ok {
			return jit.Confirmation{}, notEligible(op, user, e, typ)
		}
		conf.Eligible = append(conf.Eligible, jit.Requirement{User: user, Entitlement: e, Type: typ, Grounds: g})
	}
	return conf, nil
}

func notEligible(op string, user jit.UserID, e jit.Entitlement, typ jit.ActivationType) error {
	return jit.Denied(op, "The user "+string(user)+" is not allowed to activate "+e.ID()+" using "+string(typ))
}

// decision checks that caller may decide (approve or reject, verb) req as
// far as the catalog knows, and returns what the decision's write must
// confirm — the beneficiary's eligibility and the caller's right, peer or
// dedicated approver — and the approvals the request needs as far as the
// catalog knows (the write may find more).
func (s *Service) decision(ctx context.Context, caller jit.Principal, req jit.ActivationRequest, verb string) (jit.Confirmation, int, error) {
	const op = "activation.decision"
	switch {
	case caller.Email == req.Beneficiary:
		return jit.Confirmation{}, 0, jit.Denied(op, "You cannot "+verb+" your own request")
	case !req.IsReviewer(caller.Email):
		noun := "approval"
		if verb == "reject" {
			noun = "rejection"
		}
		return jit.Confirmation{}, 0, jit.Denied(op, "The request does not permit "+noun+" by "+string(caller.Email))
	}
	ent := req.Entitlement
	s.policies.Prepare(ctx, jit.ScopeOf(ent), req.Ancestry)
	// Where each of the two holds the entitlement, and the role's rule,
	// do not depend on each other: one round of catalog reads.
	var (
		grounds map[jit.UserID][]jit.Grounds
		rule    jit.ApproverPolicy
		gErr    error
		rErr    error
		wg      sync.WaitGroup
	)
	wg.Go(func() { rule, rErr = s.approvalRule(ctx, ent) })
	grounds, gErr = s.catalog.GroundsOf(ctx, []jit.UserID{req.Beneficiary, caller.Email}, ent, jit.MPA)
	wg.Wait()
	if gErr != nil {
		return jit.Confirmation{}, 0, wrapUpstream(op, "Checking eligibility failed", gErr)
	}
	if rErr != nil {
		return jit.Confirmation{}, 0, rErr
	}
	bg, ok := grounds[req.Beneficiary]
	if !ok {
		return jit.Confirmation{}, 0, notEligible(op, req.Beneficiary, ent, jit.MPA)
	}
	d := &jit.Decider{User: caller.Email, Entitlement: ent, AsPeer: grounds[caller.Email], Dedicated: req.Dedicated}
	if rule.Dedicated || req.Dedicated {
		ap, err := s.approverPolicy(ctx, ent)
		if err != nil {
			return jit.Confirmation{}, 0, err
		}
		if !ap.Dedicated || !slices.Contains(ap.Approvers, caller.Email) {
			return jit.Confirmation{}, 0, jit.Denied(op, fmt.Sprintf("%s is no longer an approver of %s", caller.Email, ent.ID()))
		}
		d.AsApprover = ap.ApproverGrounds[caller.Email]
		rule.Quorum = max(rule.Quorum, ap.Quorum)
	} else if _, ok := grounds[caller.Email]; !ok {
		return jit.Confirmation{}, 0, jit.Denied(op, fmt.Sprintf("The selected reviewers are not allowed to approve %s: %s", ent.ID(), caller.Email))
	}
	conf := jit.Confirmation{
		Eligible:      []jit.Requirement{{User: req.Beneficiary, Entitlement: ent, Type: jit.MPA, Grounds: bg}},
		Decider:       d,
		DefaultQuorum: s.opts.DefaultQuorum,
	}
	return conf, max(req.Quorum(), rule.Quorum), nil
}

// approvalRule is ent's rule (dedicated or not, quorum), listing no one.
func (s *Service) approvalRule(ctx context.Context, ent jit.Entitlement) (jit.ApproverPolicy, error) {
	ap, err := s.catalog.ApprovalRule(ctx, ent)
	if err != nil {
		return jit.ApproverPolicy{}, wrapUpstream("activation.approvalRule", "Checking the reviewers failed", err)
	}
	return ap, nil
}

// prefetchGrounds warms the catalog's cache with where the beneficiary
// and the reviewer hold ent, for the approval that usually follows a
// reviewer's view of a request. The view does not wait for it (it may
// take more round trips than the view itself); it runs detached, bounded
// by the catalog's own timeouts.
func (s *Service) prefetchGrounds(ctx context.Context, users []jit.UserID, ent jit.Entitlement) {
	ctx = context.WithoutCancel(ctx)
	go func() {
		_, _ = s.catalog.GroundsOf(ctx, users, ent, jit.MPA) // a failure shows again, and matters, at approval
	}()
}
