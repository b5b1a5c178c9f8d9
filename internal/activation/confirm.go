package activation

import (
	"context"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// ConfirmingGrants is implemented by Grants that confirm, inside the
// write, that eligible bindings still hold in the live IAM policies
// (internal/iam): then a write needs no fresh Cloud Asset query, only the
// grounds the catalog (cached) found.
type ConfirmingGrants interface {
	GrantConfirmed(ctx context.Context, activations []jit.Activation, reqs []jit.Requirement) error
}

// GroundsCatalog is implemented by catalogs that say where users hold an
// entitlement (users who do not are left out of the answer).
type GroundsCatalog interface {
	GroundsOf(ctx context.Context, users []jit.UserID, ent jit.Entitlement, typ jit.ActivationType) (map[jit.UserID][]jit.Grounds, error)
}

// EligibilityCatalog is implemented by catalogs that can list a user's
// eligible entitlements with their grounds without reading the project's
// policy for their status: the write reads it anyway, once.
type EligibilityCatalog interface {
	Eligibility(ctx context.Context, user jit.UserID, project jit.ProjectID) ([]jit.EligibleEntitlement, error)
}

// RuleReader is implemented by Approvers that can tell whether an
// entitlement has dedicated approvers, and its quorum, without listing
// anyone (which takes AssetInventory more round trips).
type RuleReader interface {
	ApprovalRule(ctx context.Context, ent jit.Entitlement) (jit.ApproverPolicy, error)
}

// approvalRule is ent's rule (dedicated or not, quorum), listing people
// only when the adapter cannot tell the rule without.
func (s *Service) approvalRule(ctx context.Context, ent jit.Entitlement) (jit.ApproverPolicy, error) {
	if r, ok := s.opts.Approvers.(RuleReader); ok {
		ap, err := r.ApprovalRule(ctx, ent)
		if err != nil {
			return jit.ApproverPolicy{}, wrapUpstream("activation.approvalRule", "Checking the reviewers failed", err)
		}
		return ap, nil
	}
	return s.approverPolicy(ctx, ent)
}

// writeFunc writes activations once their eligibility is established.
type writeFunc func(ctx context.Context, acts []jit.Activation) error

// selfGrant checks that user may activate every entitlement with typ and
// returns how to write them. With ConfirmingGrants, the check uses the
// (possibly cached) catalog only to find where each eligible binding is,
// and the write confirms it in the live policies; otherwise an uncached
// catalog decides before the write.
func (s *Service) selfGrant(ctx context.Context, user jit.UserID, project jit.ProjectID, ents []jit.Entitlement, typ jit.ActivationType) (writeFunc, error) {
	const op = "activation.selfGrant"
	cg, ok := s.grants.(ConfirmingGrants)
	if !ok {
		if err := s.requireAllEligibleNow(ctx, user, project, ents, typ); err != nil {
			return nil, err
		}
		return s.grants.Grant, nil
	}
	var available []jit.EligibleEntitlement
	var err error
	if ec, ok := s.catalog.(EligibilityCatalog); ok {
		available, err = ec.Eligibility(ctx, user, project)
	} else {
		available, _, err = s.catalog.Entitlements(ctx, user, project)
	}
	if err != nil {
		return nil, wrapUpstream(op, "Checking eligibility failed", err)
	}
	grounds := map[jit.Entitlement][]jit.Grounds{}
	for _, a := range available {
		if a.Type == typ {
			grounds[a.Entitlement] = a.Grounds
		}
	}
	reqs := make([]jit.Requirement, 0, len(ents))
	for _, e := range ents {
		g, ok := grounds[e]
		if !ok {
			return nil, jit.Denied(op, "The user "+string(user)+" is not allowed to activate "+e.ID()+" using "+string(typ))
		}
		reqs = append(reqs, jit.Requirement{User: user, Entitlement: e, Type: typ, Grounds: g})
	}
	return func(ctx context.Context, acts []jit.Activation) error { return cg.GrantConfirmed(ctx, acts, reqs) }, nil
}

// ConfirmingDecisions is implemented by Decisions that confirm
// eligibilities in the live policies inside the decision's
// read-modify-write (internal/iam).
type ConfirmingDecisions interface {
	DecideConfirmed(ctx context.Context, req jit.ActivationRequest, reqs []jit.Requirement, decide func(jit.RequestRecord) (jit.Decision, error)) (jit.RequestRecord, error)
}

// decideFunc applies a decision once the eligibilities it rests on are
// established.
type decideFunc func(ctx context.Context, req jit.ActivationRequest, decide func(jit.RequestRecord) (jit.Decision, error)) (jit.RequestRecord, error)

// approvalDecision checks that the beneficiary may activate ent with peer
// approval and returns how to record the approval. With
// ConfirmingDecisions and a GroundsCatalog, the catalog (possibly cached)
// only finds where the beneficiary's eligible binding is — and the
// approver's, when they approve as a peer — and the decision confirms
// both in the live policies; otherwise an uncached catalog decides about
// the beneficiary first. (Dedicated approvers are checked by
// checkDecider.)
func (s *Service) approvalDecision(ctx context.Context, beneficiary, approver jit.UserID, ent jit.Entitlement) (decideFunc, error) {
	const op = "activation.approvalDecision"
	if ent.Node != "" {
		// Live confirmation covers a project's policy and its ancestors;
		// a folder's or the organization's own eligibility is checked with
		// the catalog that caches nothing, and the decision's write
		// (internal/iam) is on that node's policy.
		if err := s.writeService().requireEligible(ctx, beneficiary, ent, jit.MPA); err != nil {
			return nil, err
		}
		return s.opts.Decisions.Decide, nil
	}
	cd, ok := s.opts.Decisions.(ConfirmingDecisions)
	gc, ok2 := s.catalog.(GroundsCatalog)
	if !ok || !ok2 {
		if err := s.requireAllEligibleNow(ctx, beneficiary, ent.Project, []jit.Entitlement{ent}, jit.MPA); err != nil {
			return nil, err
		}
		return s.opts.Decisions.Decide, nil
	}
	grounds, err := gc.GroundsOf(ctx, []jit.UserID{beneficiary, approver}, ent, jit.MPA)
	if err != nil {
		return nil, wrapUpstream(op, "Checking eligibility failed", err)
	}
	bg, ok := grounds[beneficiary]
	if !ok {
		return nil, jit.Denied(op, "The user "+string(beneficiary)+" is not allowed to activate "+ent.ID()+" using "+string(jit.MPA))
	}
	reqs := []jit.Requirement{{User: beneficiary, Entitlement: ent, Type: jit.MPA, Grounds: bg}}
	if ag, ok := grounds[approver]; ok {
		reqs = append(reqs, jit.Requirement{User: approver, Entitlement: ent, Type: jit.MPA, Grounds: ag})
	}
	return func(ctx context.Context, req jit.ActivationRequest, decide func(jit.RequestRecord) (jit.Decision, error)) (jit.RequestRecord, error) {
		return cd.DecideConfirmed(ctx, req, reqs, decide)
	}, nil
}

// prefetchGrounds warms the catalog's cache with where the beneficiary
// and the reviewer hold ent, for the approval that usually follows a
// reviewer's view of a request. The view does not wait for it (it may take more round trips
// than the view itself); it runs detached, bounded by the catalog's own
// timeouts.
func (s *Service) prefetchGrounds(ctx context.Context, users []jit.UserID, ent jit.Entitlement) {
	gc, ok := s.catalog.(GroundsCatalog)
	if !ok {
		return
	}
	ctx = context.WithoutCancel(ctx)
	go func() {
		_, _ = gc.GroundsOf(ctx, users, ent, jit.MPA) // a failure shows again, and matters, at approval
	}()
}
