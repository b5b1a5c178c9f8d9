package activation

import (
	"context"
	"log/slog"
	"slices"
	"sync"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// ListProjects lists the projects where the caller may have eligible
// roles, sorted.
func (s *Service) ListProjects(ctx context.Context, caller jit.Principal) ([]jit.ProjectID, error) {
	const op = "activation.ListProjects"
	projects, err := s.catalog.Projects(ctx, caller.Email)
	if err != nil {
		err = wrapUpstream(op, "Listing available projects failed", err)
		s.record(ctx, jit.Event{Kind: jit.EventListProjectsFailed, Actor: caller, Err: err})
		return nil, err
	}
	projects = slices.Clone(projects)
	slices.Sort(projects)
	projects = slices.Compact(projects)
	s.record(ctx, jit.Event{Kind: jit.EventProjectsListed, Actor: caller, Count: len(projects)})
	return projects, nil
}

// ListEntitlements lists the caller's eligible entitlements on a project.
func (s *Service) ListEntitlements(ctx context.Context, caller jit.Principal, project string) ([]jit.EligibleEntitlement, []string, error) {
	const op = "activation.ListEntitlements"
	p, err := s.parseScope(project)
	if err != nil {
		return nil, nil, err
	}
	// An activation often follows.
	s.policies.Prepare(ctx, p, nil)
	ents, warnings, err := s.catalog.EntitlementsAt(ctx, caller.Email, p)
	if err != nil {
		err = wrapUpstream(op, "Listing project roles failed", err)
		s.record(ctx, jit.Event{Kind: jit.EventListRolesFailed, Actor: caller, Project: p.Project(), Err: err})
		return nil, nil, err
	}
	// The catalog's answer may be its cache's: sorted and annotated here
	// on a copy.
	ents = slices.Clone(ents)
	slices.SortFunc(ents, func(a, b jit.EligibleEntitlement) int {
		if c := compareStrings(a.Role, b.Role); c != 0 {
			return c
		}
		return compareStrings(a.ResourceCondition, b.ResourceCondition)
	})
	if w := s.withApprovalRequirements(ctx, ents); w != "" {
		warnings = append(warnings, w)
	}
	return ents, warnings, nil
}

// maxRuleReads bounds the approval rules read at once for one list.
const maxRuleReads = 8

// withApprovalRequirements says, for each MPA entitlement, what its
// approval takes (dedicated approvers or peers, how many), so that a
// requester sees it before asking. A rule that cannot be read leaves its
// entitlement without one and returns a warning: the list is still
// useful, and the request form asks again.
func (s *Service) withApprovalRequirements(ctx context.Context, ents []jit.EligibleEntitlement) string {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed bool
	)
	sem := make(chan struct{}, maxRuleReads)
	for i := range ents {
		if ents[i].Type != jit.MPA {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			rule, err := s.approvalRule(ctx, ents[i].Entitlement)
			if err != nil {
				mu.Lock()
				failed = true
				mu.Unlock()
				s.opts.Logger.WarnContext(ctx, "reading an approval rule failed",
					slog.String("entitlement", ents[i].ID()), slog.Any("error", err))
				return
			}
			req := s.requirementOf(rule)
			ents[i].Approval = &req
		})
	}
	wg.Wait()
	if failed {
		return "Some roles do not show how many approvals they need: reading the approval policy failed."
	}
	return ""
}

// requirementOf is what a rule asks of a request, the deployment's default
// quorum applied where no approver binding declares one (as a request
// does, approverPolicy).
func (s *Service) requirementOf(rule jit.ApproverPolicy) jit.ApprovalRequirement {
	q := rule.Quorum
	if q <= 0 {
		q = max(s.opts.DefaultQuorum, 1)
	}
	return jit.ApprovalRequirement{Dedicated: rule.Dedicated, Required: q}
}

// ListPeers lists who could approve the caller's request for an
// entitlement: the other holders of the same MPA-eligible entitlement, or
// its dedicated approvers where approver bindings declare them; and what
// the approval takes (which of the two, how many must approve). The
// caller must hold it too, so that nobody can enumerate other teams.
func (s *Service) ListPeers(ctx context.Context, caller jit.Principal, project, entitlementID string) ([]jit.UserID, jit.ApprovalRequirement, error) {
	const op = "activation.ListPeers"
	p, err := s.parseScope(project)
	if err != nil {
		return nil, jit.ApprovalRequirement{}, err
	}
	if entitlementID == "" {
		return nil, jit.ApprovalRequirement{}, jit.Invalid(op, "A role is required")
	}
	ent, err := jit.ParseEntitlementID(entitlementID)
	if err != nil {
		return nil, jit.ApprovalRequirement{}, err
	}
	if jit.ScopeOf(ent) != p {
		return nil, jit.ApprovalRequirement{}, jit.Invalid(op, "The project ID does not match the current project")
	}
	fail := func(err error) ([]jit.UserID, jit.ApprovalRequirement, error) {
		s.record(ctx, jit.Event{Kind: jit.EventListPeersFailed, Actor: caller, Project: p.Project(), Entitlement: ent, Err: err})
		return nil, jit.ApprovalRequirement{}, err
	}
	// The caller's eligibility and the approvers do not depend on each
	// other: ask for both at once, and show the approvers only if the
	// caller is eligible.
	var (
		ap    jit.ApproverPolicy
		apErr error
		wg    sync.WaitGroup
	)
	wg.Go(func() { ap, apErr = s.approverPolicy(ctx, ent) })
	eligibleErr := s.requireEligible(ctx, caller.Email, ent, jit.MPA)
	wg.Wait()
	if eligibleErr != nil {
		return fail(eligibleErr)
	}
	if apErr != nil {
		return fail(apErr)
	}
	// Where dedicated approvers are declared, they are the ones to pick.
	holders := ap.Peers
	if ap.Dedicated {
		holders = ap.Approvers
	}
	peers := slices.DeleteFunc(slices.Clone(holders), func(u jit.UserID) bool { return u == caller.Email })
	slices.Sort(peers)
	// ap's quorum has the default applied already (approverPolicy).
	return slices.Compact(peers), jit.ApprovalRequirement{Dedicated: ap.Dedicated, Required: max(ap.Quorum, 1)}, nil
}

// requireEligible checks, as far as the catalog knows, that user may
// activate ent with typ: for what is shown and for requests, which write
// nothing (their approval confirms it in the live policies).
func (s *Service) requireEligible(ctx context.Context, user jit.UserID, ent jit.Entitlement, typ jit.ActivationType) error {
	_, err := s.eligibility(ctx, user, jit.ScopeOf(ent), []jit.Entitlement{ent}, typ)
	return err
}

// wrapUpstream keeps the kind of an adapter's error (so a Google outage is
// a 502/503, not a 403 as in the original) and prefixes its message.
func wrapUpstream(op, what string, err error) error {
	kind := jit.KindOf(err)
	msg := jit.MessageOf(err)
	switch {
	case kind == jit.KindInternal:
		return jit.E(op, jit.KindInternal, what+", see logs for details", err)
	case msg == "":
		return jit.E(op, kind, what+", see logs for details", err)
	default:
		return jit.E(op, kind, what+": "+msg, err)
	}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
