package iam

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/api/cloudresourcemanager/v3"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// Every write rests on a jit.Confirmation, confirmed here, inside the
// read-modify-write: on the policy about to be written and on the live
// policies of the resource's ancestors (hierarchy.go), which were read
// beside it. So a stale cache or a lagging Cloud Asset index can say
// where to look, but never decide that a write may happen (DESIGN.md
// §10).

// errUnconfirmed refuses a write that nothing confirms: the use cases
// always say what a write rests on, and a write that says nothing is a
// programming error, not a user's.
func errUnconfirmed(op string) error {
	return jit.E(op, jit.KindInternal, "", fmt.Errorf("the write carries nothing to confirm"))
}

// confirmIn confirms conf for a write to resource, whose policy as it is
// about to be written is own, and returns the number of approvals the live
// policies require of a decision (0 for a grant). A policy that could not
// be read fails the confirmation with its error.
func confirmIn(resource string, own *cloudresourcemanager.Policy, h hierarchy, conf jit.Confirmation) (int, error) {
	if conf.Empty() {
		return 0, nil
	}
	var up []ancestor
	if needsAncestors(resource, conf) {
		var err error
		if up, err = h(); err != nil {
			return 0, err
		}
	}
	lv := livePolicies{resource: resource, own: own, up: up}
	for _, r := range conf.Eligible {
		if !lv.holds(r) {
			return 0, notAllowed(r)
		}
	}
	if conf.Decider == nil {
		return 0, nil
	}
	return lv.decider(*conf.Decider, conf.DefaultQuorum)
}

// needsAncestors reports whether confirming conf needs the policies above
// resource: a decision does (approver declarations are inherited), and so
// does an eligibility the catalog saw anywhere but on resource itself.
func needsAncestors(resource string, conf jit.Confirmation) bool {
	if conf.Decider != nil {
		return true
	}
	for _, r := range conf.Eligible {
		if len(r.Grounds) == 0 {
			return true
		}
		for _, g := range r.Grounds {
			if g.Resource != resource {
				return true
			}
		}
	}
	return false
}

func notAllowed(r jit.Requirement) error {
	return jit.Denied("iam.confirm", "The user "+string(r.User)+" is not allowed to activate "+r.Entitlement.ID()+" using "+string(r.Type))
}

// livePolicies are the policies a write confirms against: the resource's
// own (as about to be written) and its ancestors', nearest first.
type livePolicies struct {
	resource string
	own      *cloudresourcemanager.Policy
	up       []ancestor
}

// at is the live policy of res, or nil when res is neither the resource
// nor one of its ancestors now: grounds naming a folder the project has
// left no longer hold.
func (lv livePolicies) at(res string) *cloudresourcemanager.Policy {
	if res == lv.resource {
		return lv.own
	}
	for _, a := range lv.up {
		if a.name == res {
			return a.policy
		}
	}
	return nil
}

// each calls f for every binding of the resource and its ancestors.
func (lv livePolicies) each(f func(res string, b *cloudresourcemanager.Binding)) {
	visit := func(res string, p *cloudresourcemanager.Policy) {
		if p == nil {
			return
		}
		for _, b := range p.Bindings {
			if b != nil && b.Condition != nil {
				f(res, b)
			}
		}
	}
	visit(lv.resource, lv.own)
	for _, a := range lv.up {
		visit(a.name, a.policy)
	}
}

// holds reports whether one of r's grounds still holds: an eligible
// binding of r's entitlement and type, on the resource or an ancestor,
// that admits r's user.
func (lv livePolicies) holds(r jit.Requirement) bool {
	for _, g := range r.Grounds {
		p := lv.at(g.Resource)
		if p == nil {
			continue
		}
		for _, b := range p.Bindings {
			if b != nil && b.Condition != nil && eligibleFor(b, r.Entitlement, r.Type) && admits(b.Members, r.User, g.Principals) {
				return true
			}
		}
	}
	// A binding that names the user needs no grounds: the catalog may not
	// have seen it yet (the Asset index lags IAM), but it is there.
	found := false
	lv.each(func(_ string, b *cloudresourcemanager.Binding) {
		if !found && eligibleFor(b, r.Entitlement, r.Type) && admits(b.Members, r.User, nil) {
			found = true
		}
	})
	return found
}

// eligibleFor reports whether b makes its members eligible for ent with
// typ (an approver declaration does not).
func eligibleFor(b *cloudresourcemanager.Binding, ent jit.Entitlement, typ jit.ActivationType) bool {
	if b.Role != ent.Role || isApproverDeclaration(b.Condition.Expression) {
		return false
	}
	el, ok, err := condition.ParseEligibility(b.Condition.Expression)
	return err == nil && ok && el.Type == typ && el.ResourceCondition == ent.ResourceCondition
}

func isApproverDeclaration(expr string) bool {
	return strings.Contains(expr, "multiPartyApprovalConstraint.")
}

// declaredApprover parses b as an approver declaration for ent.
func declaredApprover(b *cloudresourcemanager.Binding, ent jit.Entitlement) (condition.Approver, bool) {
	if b.Role != ent.Role || !isApproverDeclaration(b.Condition.Expression) {
		return condition.Approver{}, false
	}
	a, ok, err := condition.ParseApprover(b.Condition.Expression)
	if err != nil || !ok || a.ResourceCondition != ent.ResourceCondition {
		return condition.Approver{}, false
	}
	return a, true
}

// decider confirms d's right to decide and returns the approvals the live
// policies require: where approver bindings of the entitlement apply, only
// an approver they admit decides, and their largest quorum counts;
// elsewhere a peer who still holds the MPA-eligible entitlement does.
func (lv livePolicies) decider(d jit.Decider, defaultQuorum int) (int, error) {
	const op = "iam.confirmDecider"
	dedicated, quorum, admitted := false, 0, false
	lv.each(func(res string, b *cloudresourcemanager.Binding) {
		a, ok := declaredApprover(b, d.Entitlement)
		if !ok {
			return
		}
		dedicated, quorum = true, max(quorum, a.Quorum)
		if admitted || admits(b.Members, d.User, nil) {
			admitted = true
			return
		}
		for _, g := range d.AsApprover {
			if g.Resource == res && len(g.Principals) > 0 && admits(b.Members, d.User, g.Principals) {
				admitted = true
				return
			}
		}
	})
	if quorum <= 0 {
		quorum = max(defaultQuorum, 1)
	}
	switch {
	case dedicated && admitted:
		return quorum, nil
	case dedicated || d.Dedicated:
		return 0, jit.Denied(op, fmt.Sprintf("%s is no longer an approver of %s", d.User, d.Entitlement.ID()))
	case lv.holds(jit.Requirement{User: d.User, Entitlement: d.Entitlement, Type: jit.MPA, Grounds: d.AsPeer}):
		return quorum, nil
	}
	return 0, jit.Denied(op, fmt.Sprintf("%s is no longer allowed to approve %s", d.User, d.Entitlement.ID()))
}

// admits reports whether a binding's members take in user: a member names
// them (their user principal, their domain, or everyone), or every one of
// the principals through which the catalog found them is still there
// (the user is in at least one of them).
func admits(members []string, user jit.UserID, via []string) bool {
	for _, m := range members {
		if user.NamedBy(m) {
			return true
		}
	}
	if len(via) == 0 {
		return false
	}
	return !slices.ContainsFunc(via, func(v string) bool {
		return !slices.ContainsFunc(members, func(m string) bool { return strings.EqualFold(m, v) })
	})
}
