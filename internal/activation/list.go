package activation

import (
	"context"
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
	slices.SortFunc(ents, func(a, b jit.EligibleEntitlement) int {
		if c := compareStrings(a.Role, b.Role); c != 0 {
			return c
		}
		return compareStrings(a.ResourceCondition, b.ResourceCondition)
	})
	return ents, warnings, nil
}

// ListPeers lists who could approve the caller's request for an
// entitlement: the other holders of the same MPA-eligible entitlement. The
// caller must hold it too, so that nobody can enumerate other teams.
func (s *Service) ListPeers(ctx context.Context, caller jit.Principal, project, entitlementID string) ([]jit.UserID, error) {
	const op = "activation.ListPeers"
	p, err := s.parseScope(project)
	if err != nil {
		return nil, err
	}
	if entitlementID == "" {
		return nil, jit.Invalid(op, "A role is required")
	}
	ent, err := jit.ParseEntitlementID(entitlementID)
	if err != nil {
		return nil, err
	}
	if jit.ScopeOf(ent) != p {
		return nil, jit.Invalid(op, "The project ID does not match the current project")
	}
	fail := func(err error) ([]jit.UserID, error) {
		s.record(ctx, jit.Event{Kind: jit.EventListPeersFailed, Actor: caller, Project: p.Project(), Entitlement: ent, Err: err})
		return nil, err
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
	return slices.Compact(peers), nil
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
