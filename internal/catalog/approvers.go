package catalog

import (
	"context"
	"strings"
	"sync"

	"cloud.google.com/go/asset/apiv1/assetpb"
	"golang.org/x/sync/errgroup"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// approverOf parses a binding's condition as an approver declaration for
// ent: the same role and resource condition, with the approver marker
// (see condition.ParseApprover). Malformed markers are ignored, which
// leaves the original's peer rule in place for that binding; discovery
// warns about them once per period (Options.noteApprovers), not here on
// every request.
func approverOf(ent jit.Entitlement, role, expr string) (condition.Approver, bool) {
	if role != ent.Role || !mentionsApproverMarker(expr) {
		return condition.Approver{}, false
	}
	a, ok, err := condition.ParseApprover(expr)
	if err != nil || !ok || a.ResourceCondition != ent.ResourceCondition {
		return condition.Approver{}, false
	}
	return a, true
}

// approvers returns ent's dedicated approvers and quorum, declared by
// approver bindings on the project or inherited, with groups expanded by
// Policy Analyzer (nested groups too), and the peers (Holders of the
// MPA-eligible entitlement) from the same analysis. With no approver
// binding the policy is the original's: any one peer.
func (c *PolicyAnalyzer) approvers(ctx context.Context, ent jit.Entitlement) (jit.ApproverPolicy, error) {
	const op = "catalog.PolicyAnalyzer.Approvers"
	analysis, err := c.analyze(ctx, &assetpb.IamPolicyAnalysisQuery{
		ResourceSelector: &assetpb.IamPolicyAnalysisQuery_ResourceSelector{FullResourceName: ent.FullResourceName()},
		AccessSelector:   &assetpb.IamPolicyAnalysisQuery_AccessSelector{Roles: []string{ent.Role}},
		// The group edges say through which group of a binding each user
		// holds it, for a decision to confirm in the live policies.
		Options: &assetpb.IamPolicyAnalysisQuery_Options{ExpandGroups: true, OutputGroupEdges: true},
	})
	if err != nil {
		return jit.ApproverPolicy{}, translate(op, c.opts.Scope, err)
	}
	out := jit.ApproverPolicy{ApproverGrounds: map[jit.UserID][]jit.Grounds{}, PeerGrounds: map[jit.UserID][]jit.Grounds{}}
	var decl declaration
	var seen []*binding
	for _, r := range analysis.GetAnalysisResults() {
		b := r.GetIamBinding()
		seen = append(seen, &binding{role: b.GetRole(), members: b.GetMembers(), expr: b.GetCondition().GetExpression(), resource: r.GetAttachedResourceFullName()})
		var into *[]jit.UserID
		grounds := out.PeerGrounds
		if a, ok := approverOf(ent, b.GetRole(), b.GetCondition().GetExpression()); ok {
			grounds = out.ApproverGrounds
			out.Dedicated = true
			if a.Quorum > out.Quorum || decl.resource == "" {
				decl = declaration{resource: r.GetAttachedResourceFullName(), expr: b.GetCondition().GetExpression(), members: b.GetMembers()}
			}
			out.Quorum = max(out.Quorum, a.Quorum)
			into = &out.Approvers
		} else if el, ok := eligibilityAt(at(ent), b.GetRole(), b.GetCondition().GetExpression()); ok && el.typ == jit.MPA && el.ent == ent {
			// The same analysis answers Holders' question: peers.
			into = &out.Peers
		} else {
			continue
		}
		via := viaGroups(b.GetMembers(), r.GetIdentityList().GetGroupEdges())
		for _, id := range r.GetIdentityList().GetIdentities() {
			if email, ok := strings.CutPrefix(id.GetName(), "user:"); ok {
				if u, err := jit.ParseUserID(email); err == nil {
					*into = append(*into, u)
					grounds[u] = append(grounds[u], groundsOf(r.GetAttachedResourceFullName(), b.GetMembers(), u, via[strings.ToLower(id.GetName())])...)
				}
			}
		}
	}
	out.Approvers, out.Peers = sortedUnique(out.Approvers), sortedUnique(out.Peers)
	// The analysis holds every binding of the role that applies to ent:
	// enough to prove an approver binding on ent's project useless.
	c.opts.noteApprovers(ctx, at(ent), seen)
	c.opts.noteQuorum(ctx, ent, out, decl)
	return out, nil
}

// approvers returns ent's dedicated approvers and quorum from the
// project's effective policies, groups expanded as for Holders, and where
// each approver and peer holds their binding.
func (c *AssetInventory) approvers(ctx context.Context, ent jit.Entitlement) (jit.ApproverPolicy, error) {
	const op = "catalog.AssetInventory.Approvers"
	bindings, err := c.effectiveBindings(ctx, at(ent))
	if err != nil {
		return jit.ApproverPolicy{}, translate(op, c.opts.Scope, err)
	}
	out := jit.ApproverPolicy{ApproverGrounds: map[jit.UserID][]jit.Grounds{}, PeerGrounds: map[jit.UserID][]jit.Grounds{}}
	var decl declaration
	approvers, peers := &members{groups: map[string][]string{}}, &members{groups: map[string][]string{}}
	for _, b := range bindings {
		into := peers
		if a, ok := approverOf(ent, b.role, b.expr); ok {
			out.Dedicated = true
			if a.Quorum > out.Quorum || decl.resource == "" {
				decl = declaration{resource: b.resource, expr: b.expr, members: b.members}
			}
			out.Quorum = max(out.Quorum, a.Quorum)
			into = approvers
		} else if el, ok := eligibilityAt(at(ent), b.role, b.expr); !ok || el.typ != jit.MPA || el.ent != ent {
			continue
		}
		resource := strings.TrimPrefix(b.resource, crmPrefix)
		for _, m := range b.members {
			kind, id, _ := strings.Cut(m, ":")
			switch kind {
			case "user":
				if u, err := jit.ParseUserID(id); err == nil {
					into.users = append(into.users, u)
					into.grounds(u, jit.Grounds{Resource: resource, Principals: []string{m}})
				}
			case "group":
				grp := strings.ToLower(id)
				into.groups[grp] = append(into.groups[grp], resource)
			}
		}
	}
	var complete bool
	out.Approvers, complete = c.expand(ctx, approvers)
	out.Peers, _ = c.expand(ctx, peers)
	out.ApproverGrounds, out.PeerGrounds = approvers.found, peers.found
	if complete {
		// A group that could not be read is logged as such; counting
		// without it would blame the quorum.
		c.opts.noteQuorum(ctx, ent, out, decl)
	}
	return out, nil
}

// members are users and groups still to expand, and where each user
// found so far holds the binding.
type members struct {
	users  []jit.UserID
	groups map[string][]string // group → resources of the bindings naming it
	found  map[jit.UserID][]jit.Grounds
}

func (m *members) grounds(u jit.UserID, g jit.Grounds) {
	if m.found == nil {
		m.found = map[jit.UserID][]jit.Grounds{}
	}
	m.found[u] = append(m.found[u], g)
}

// expand adds the groups' members to the users, as Holders does, with
// their grounds; complete is false when a group could not be read.
func (c *AssetInventory) expand(ctx context.Context, m *members) (users []jit.UserID, complete bool) {
	users, complete = m.users, true
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxGroupExpansions)
	for grp, resources := range m.groups {
		g.Go(func() error {
			found, err := c.membersOf(gctx, grp)
			if err != nil {
				c.opts.Logger.WarnContext(gctx, "expanding a group failed", "group", grp, "error", err)
				mu.Lock()
				complete = false
				mu.Unlock()
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			users = append(users, found...)
			for _, u := range found {
				for _, r := range resources {
					m.grounds(u, jit.Grounds{Resource: r, Principals: []string{"group:" + grp}})
				}
			}
			return nil
		})
	}
	_ = g.Wait()
	return sortedUnique(users), complete
}
