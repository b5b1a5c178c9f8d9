package catalog

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// An approver binding (condition.ParseApprover) only matters where a
// request for its role can be made: where the same role with the same
// resource condition is eligible for peer approval. Both kinds of binding
// are inherited downward, so an approver binding on N applies to the
// entitlements on N and below it, and an eligible binding on E creates
// entitlements on E and below it; the two meet exactly when E is N, above
// N, or below N. An approver binding that meets none has no effect, which
// an administrator cannot see in IAM: this file finds those declarations
// (and the other mistakes that leave approvers without effect), for the
// scope-wide report and for the warnings logged at discovery.

// ApproverProblem says why an approver declaration has no (or not the
// intended) effect.
type ApproverProblem string

// The problems an approver declaration can have.
const (
	// ApproverMalformed: the condition mentions an approval marker but is
	// not a valid approver declaration; the binding is ignored.
	ApproverMalformed ApproverProblem = "malformed"
	// ApproverNoEligibleBinding: no binding makes the role (with the same
	// resource condition) eligible for peer approval on the resource,
	// above it or below it.
	ApproverNoEligibleBinding ApproverProblem = "no_eligible_binding"
	// ApproverSelfApprovalOnly: the role is eligible there, but only for
	// self-approval, which needs no approver.
	ApproverSelfApprovalOnly ApproverProblem = "self_approval_only"
	// ApproverQuorumUnreachable: the quorum is larger than the number of
	// people the approver bindings name, so no request is ever approved.
	ApproverQuorumUnreachable ApproverProblem = "quorum_unreachable"
	// ApproverQuorumUnchecked: as ApproverQuorumUnreachable unless the
	// approver bindings' groups hold enough people, which could not be
	// checked.
	ApproverQuorumUnchecked ApproverProblem = "quorum_unchecked"
)

// ApproverIssue is one approver declaration that has no effect, or not
// the effect it was written for.
type ApproverIssue struct {
	// Resource is the full resource name the approver binding is
	// attached to (for a quorum, the binding that declares it).
	Resource  string
	Role      string
	Members   []string
	Condition string
	Problem   ApproverProblem
	// Fix says in plain words what is wrong and what to change.
	Fix string
}

// policyNode is one resource's IAM policy as the checks see it.
type policyNode struct {
	// key names the resource in ancestry lists: "projects/NUMBER" (or
	// "projects/ID" where the number is unknown), "folders/N",
	// "organizations/N".
	key string
	// fullName is the resource's full resource name, for messages.
	fullName string
	// crm is set for projects, folders and organizations, the only
	// resources whose policies the catalogs read eligibility from.
	crm bool
	// ancestors are the keys of the folders and organization above it.
	ancestors []string
	bindings  []policyBinding
}

type policyBinding struct {
	role    string
	members []string
	expr    string
}

// parsedBinding is a binding read as eligibility or as approvers.
type parsedBinding struct {
	node    int // index into the view's nodes
	binding policyBinding
	// eligible is set for an eligible binding, approver for an approver
	// binding; err for a malformed approver declaration.
	eligible *condition.Eligibility
	approver *condition.Approver
	err      error
	// timeBound is set for an eligible binding that cannot be activated
	// because its condition reads request.time.
	timeBound *condition.Eligibility
}

// policyView is a set of policies and how their resources nest.
type policyView struct {
	nodes  []policyNode
	parsed []parsedBinding
}

// mentionsApproverMarker is a cheap test, before any parsing, for a
// condition that may declare approvers: one that names the approval
// marker at all. (Not "multiPartyApprovalConstraint.": CEL allows spaces
// and comments around the dot.)
func mentionsApproverMarker(expr string) bool {
	return strings.Contains(strings.ToLower(expr), "multipartyapprovalconstraint")
}

// mentionsEligibilityMarker is the same test for eligibility.
func mentionsEligibilityMarker(expr string) bool {
	return mentionsApproverMarker(expr) || strings.Contains(strings.ToLower(expr), "jitaccessconstraint")
}

// parsedCondition is what one condition says, parsed once however many
// bindings carry it: across a scope, a few conditions repeat on
// thousands of bindings.
type parsedCondition struct {
	eligible, timeBound *condition.Eligibility
	declaration         *condition.Approver
	err                 error
}

// parseDeclaration reads a condition as an approver declaration.
func parseDeclaration(expr string) parsedCondition {
	var pc parsedCondition
	if !mentionsApproverMarker(expr) {
		return pc
	}
	a, ok, err := condition.ParseApprover(expr)
	switch {
	case err != nil:
		pc.err = err
	case ok:
		pc.declaration = &a
	}
	return pc
}

// parseEligibility reads a condition that declares no approvers as an
// eligibility.
func parseEligibility(expr string) parsedCondition {
	var pc parsedCondition
	el, ok, err := condition.ParseEligibility(expr)
	switch {
	case err == nil && ok:
		pc.eligible = &el
	case errors.Is(err, condition.ErrTimeBoundEligibility):
		pc.timeBound = &el
	}
	return pc
}

// newPolicyView parses the bindings of nodes. It returns nil when no
// binding declares approvers (or tries to): then there is nothing to
// check, and no eligibility is parsed.
func newPolicyView(nodes []policyNode) *policyView {
	v := &policyView{nodes: nodes}
	declarations := map[string]parsedCondition{}
	declares := false
	for i, n := range nodes {
		for _, b := range n.bindings {
			if !mentionsEligibilityMarker(b.expr) {
				continue
			}
			pc, ok := declarations[b.expr]
			if !ok {
				pc = parseDeclaration(b.expr)
				declarations[b.expr] = pc
			}
			declares = declares || pc.declaration != nil || pc.err != nil
			v.parsed = append(v.parsed, parsedBinding{node: i, binding: b, approver: pc.declaration, err: pc.err})
		}
	}
	if !declares {
		return nil
	}
	eligibilities := map[string]parsedCondition{}
	kept := v.parsed[:0]
	for _, pb := range v.parsed {
		if pb.approver == nil && pb.err == nil {
			pc, ok := eligibilities[pb.binding.expr]
			if !ok {
				pc = parseEligibility(pb.binding.expr)
				eligibilities[pb.binding.expr] = pc
			}
			pb.eligible, pb.timeBound = pc.eligible, pc.timeBound
		}
		if pb.eligible != nil || pb.approver != nil || pb.err != nil || pb.timeBound != nil {
			kept = append(kept, pb)
		}
	}
	v.parsed = kept
	return v
}

// above reports whether node a is node b or one of its ancestors.
func (v *policyView) above(a, b int) bool {
	return a == b || v.nodes[a].key == v.nodes[b].key || slices.Contains(v.nodes[b].ancestors, v.nodes[a].key)
}

// related reports whether policies on a and b can apply to the same
// entitlement: one is the other or above it.
func (v *policyView) related(a, b int) bool { return v.above(a, b) || v.above(b, a) }

// conditionText is how messages quote a resource condition.
func conditionText(rc string) string {
	if rc == "" {
		return "no resource condition"
	}
	return "the resource condition `" + rc + "`"
}

// markerIssues lists the approver bindings that are malformed or have no
// effect anywhere in the view.
func (v *policyView) markerIssues() []ApproverIssue {
	if v == nil {
		return nil
	}
	var out []ApproverIssue
	for _, m := range v.parsed {
		if m.err == nil && m.approver == nil {
			continue
		}
		n := v.nodes[m.node]
		issue := ApproverIssue{Resource: n.fullName, Role: m.binding.role, Members: m.binding.members, Condition: m.binding.expr}
		switch {
		case m.err != nil:
			issue.Problem = ApproverMalformed
			issue.Fix = fmt.Sprintf("The condition is not a valid approver declaration (%v), so the binding is ignored and the role keeps its other approvers "+
				"(the peers, where no other approver binding applies). Write has({}.multiPartyApprovalConstraint.approver), optionally "+
				"&& has({}.multiPartyApprovalConstraint.quorum_N) with N from 1 to %d, as top-level clauses, in a binding of its own.", m.err, jit.MaxQuorum)
		case !n.crm:
			issue.Problem = ApproverNoEligibleBinding
			issue.Fix = "Approver bindings are read only from the policies of projects, folders and the organization, so this one has no effect. " +
				"Move it to the project (or a folder above it) where the role is eligible for peer approval."
		default:
			problem, fix, ok := v.effect(m)
			if ok {
				continue
			}
			issue.Problem, issue.Fix = problem, fix
		}
		out = append(out, issue)
	}
	return out
}

// effect finds an eligible binding that approver binding m applies to;
// without one, it says why m has no effect and what to do.
func (v *policyView) effect(m parsedBinding) (ApproverProblem, string, bool) {
	rc := m.approver.ResourceCondition
	var selfOnly bool
	var otherCondition, elsewhere, timeBound []string
	for _, e := range v.parsed {
		if e.timeBound != nil && e.binding.role == m.binding.role && v.related(e.node, m.node) {
			timeBound = append(timeBound, short(v.nodes[e.node].fullName))
		}
		if e.eligible == nil || e.binding.role != m.binding.role || !v.nodes[e.node].crm {
			continue
		}
		related := v.related(e.node, m.node)
		switch {
		case related && e.eligible.ResourceCondition == rc && e.eligible.Type == jit.MPA:
			return "", "", true
		case related && e.eligible.ResourceCondition == rc:
			selfOnly = true
		case related && e.eligible.Type == jit.MPA:
			otherCondition = append(otherCondition, fmt.Sprintf("%s has %s", short(v.nodes[e.node].fullName), conditionText(e.eligible.ResourceCondition)))
		case e.eligible.ResourceCondition == rc && e.eligible.Type == jit.MPA:
			elsewhere = append(elsewhere, short(v.nodes[e.node].fullName))
		}
	}
	where := short(v.nodes[m.node].fullName)
	if selfOnly {
		return ApproverSelfApprovalOnly, fmt.Sprintf("%s is eligible on %s (or above or below it) only for self-approval, has({}.jitAccessConstraint), "+
			"which needs no approver, so this approver binding has no effect. If the role should need approval, change its eligible binding to "+
			"has({}.multiPartyApprovalConstraint); otherwise remove the approver binding.", m.binding.role, where), false
	}
	fix := fmt.Sprintf("No binding makes %s eligible for peer approval, has({}.multiPartyApprovalConstraint), with %s, on %s, above it or below it, "+
		"so nobody can request it and these approvers approve nothing.", m.binding.role, conditionText(rc), where)
	otherCondition, elsewhere = sortedUnique(otherCondition), sortedUnique(elsewhere)
	if len(otherCondition) > 0 {
		fix += " The role's eligible binding on " + strings.Join(otherCondition, "; ") +
			": an approver binding applies only to an eligible binding with exactly the same resource condition, so make the two conditions equal."
	}
	if len(elsewhere) > 0 {
		fix += " It is eligible on " + strings.Join(elsewhere, ", ") + ", which is neither above nor below " + where +
			": declare the approvers there, or on a folder above both."
	}
	if timeBound = sortedUnique(timeBound); len(timeBound) > 0 {
		fix += " The role's eligible binding on " + strings.Join(timeBound, ", ") +
			" reads request.time, which jitaccess cannot activate: remove the time clause from its condition."
	}
	if len(otherCondition) == 0 && len(elsewhere) == 0 && len(timeBound) == 0 {
		fix += " Add the eligible binding, or remove the approver binding."
	}
	return ApproverNoEligibleBinding, fix, false
}

// quorumCandidate is an entitlement whose approver bindings name fewer
// users than its quorum: an issue unless their groups make up the rest.
type quorumCandidate struct {
	// at is where the entitlement is checked: the highest resource of
	// those sharing the same approver bindings.
	at     jit.Entitlement
	atName string
	atNode int
	issue  ApproverIssue // Problem and Fix filled by the caller
	quorum int
	// declared is set when a binding declares the quorum (else the
	// deployment's default applies).
	declared bool
	users    []jit.UserID
	groups   []string
}

// quorumCandidates lists, for every resource where a role is eligible for
// peer approval and has approver bindings, the entitlements whose quorum
// (the largest one declared, else defaultQuorum) exceeds the users the
// bindings name. Resources that share the same approver bindings give one
// candidate.
func (v *policyView) quorumCandidates(defaultQuorum int) []quorumCandidate {
	if v == nil {
		return nil
	}
	// Only entitlements with approver bindings are checked: index both
	// kinds by role and resource condition, so that a large scope costs
	// nodes × (its few approver declarations), not nodes × bindings².
	type roleKey struct{ role, rc string }
	eligible, approvers := map[roleKey][]int{}, map[roleKey][]int{}
	var keys []roleKey
	for i, pb := range v.parsed {
		switch {
		case pb.approver != nil:
			k := roleKey{pb.binding.role, pb.approver.ResourceCondition}
			if approvers[k] == nil {
				keys = append(keys, k)
			}
			approvers[k] = append(approvers[k], i)
		case pb.eligible != nil && pb.eligible.Type == jit.MPA && v.nodes[pb.node].crm:
			k := roleKey{pb.binding.role, pb.eligible.ResourceCondition}
			eligible[k] = append(eligible[k], i)
		}
	}
	// Where each kind is attached, by node key, so that "is one above
	// x" is a look-up of x and its ancestors.
	at := func(idx []int) map[string]bool {
		out := map[string]bool{}
		for _, i := range idx {
			out[v.nodes[v.parsed[i].node].key] = true
		}
		return out
	}
	anyAbove := func(keys map[string]bool, x int) bool {
		return keys[v.nodes[x].key] || slices.ContainsFunc(v.nodes[x].ancestors, func(a string) bool { return keys[a] })
	}
	byBindings := map[string]int{} // approver bindings → index into out
	var out []quorumCandidate
	for _, k := range keys {
		if len(eligible[k]) == 0 {
			continue
		}
		eligibleAt, approversAt := at(eligible[k]), at(approvers[k])
		for x := range v.nodes {
			if !v.nodes[x].crm || !anyAbove(eligibleAt, x) || !anyAbove(approversAt, x) {
				continue
			}
			c, id, ok := v.candidateAt(x, k.role, k.rc, approvers[k], defaultQuorum)
			if !ok {
				continue
			}
			if i, dup := byBindings[id]; dup {
				// Keep the highest resource: the one with fewest ancestors.
				if len(v.nodes[x].ancestors) < len(v.nodes[out[i].atNode].ancestors) {
					out[i].at, out[i].atName, out[i].atNode = c.at, c.atName, c.atNode
				}
				continue
			}
			byBindings[id] = len(out)
			out = append(out, c)
		}
	}
	return out
}

// candidateAt checks those of the approver bindings of (role, rc) that
// apply on node x; id names the set of them.
func (v *policyView) candidateAt(x int, role, rc string, approvers []int, defaultQuorum int) (quorumCandidate, string, bool) {
	var ids, members []string
	users := map[jit.UserID]bool{}
	groups := map[string]bool{}
	quorum, declared := 0, false
	var declaring *parsedBinding
	for _, i := range approvers {
		m := v.parsed[i]
		if !v.above(m.node, x) {
			continue
		}
		ids = append(ids, fmt.Sprintf("%d/%d", m.node, i))
		members = append(members, m.binding.members...)
		for _, mem := range m.binding.members {
			kind, id, _ := strings.Cut(mem, ":")
			switch kind {
			case "user":
				if u, err := jit.ParseUserID(id); err == nil {
					users[u] = true
				}
			case "group":
				groups[strings.ToLower(id)] = true
			}
		}
		if m.approver.Quorum > quorum || declaring == nil {
			if m.approver.Quorum > quorum {
				quorum, declared = m.approver.Quorum, true
			}
			declaring = &v.parsed[i]
		}
	}
	if declaring == nil {
		return quorumCandidate{}, "", false
	}
	if !declared {
		quorum = max(defaultQuorum, 1)
	}
	if quorum <= len(users) {
		return quorumCandidate{}, "", false
	}
	n := v.nodes[x]
	at := jit.Entitlement{Role: role, ResourceCondition: rc}
	name := strings.TrimPrefix(n.fullName, crmPrefix)
	if p, ok := strings.CutPrefix(name, "projects/"); ok {
		if id, err := jit.ParseProjectID(p); err == nil {
			at.Project = id
		}
	} else {
		at.Node = name
	}
	c := quorumCandidate{
		at: at, atName: n.fullName, atNode: x, quorum: quorum, declared: declared,
		users: sortedUnique(mapKeys(users)), groups: sortedUnique(mapKeys(groups)),
		issue: ApproverIssue{Resource: v.nodes[declaring.node].fullName, Role: role, Members: sortedUnique(members), Condition: declaring.binding.expr},
	}
	return c, role + "\x00" + rc + "\x00" + strings.Join(ids, ","), true
}

func mapKeys[K comparable](m map[K]bool) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// quorumIssue turns a candidate into an issue, given the number of
// people who can approve (users and, when counted, group members): nil
// when they are enough. counted says whether groups were counted; why,
// when they could not be, says why not.
func (c quorumCandidate) quorumIssue(approvers []jit.UserID, counted bool, why string) *ApproverIssue {
	if len(approvers) >= c.quorum {
		return nil
	}
	issue := c.issue
	source := "quorum_" + fmt.Sprint(c.quorum)
	lower := "lower " + source
	if !c.declared {
		source = fmt.Sprintf("ACTIVATION_REQUEST_APPROVALS=%d, the deployment's default", c.quorum)
		lower = "declare a smaller quorum_N next to the approver marker"
	}
	names := make([]string, len(approvers))
	for i, p := range approvers {
		names[i] = string(p)
	}
	who := "nobody"
	if len(names) > 0 {
		who = strings.Join(names, ", ")
	}
	where := short(c.atName)
	switch {
	case len(c.groups) == 0 || counted:
		issue.Problem = ApproverQuorumUnreachable
		issue.Fix = fmt.Sprintf("%s on %s needs %d approvals (%s), but its approver bindings name only %s who can approve (%s), "+
			"so no request for it can ever be approved (and a requester who is an approver counts one fewer). Add approvers, or %s.",
			issue.Role, where, c.quorum, source, people(len(names)), who, lower)
	default:
		issue.Problem = ApproverQuorumUnchecked
		issue.Fix = fmt.Sprintf("%s on %s needs %d approvals (%s); its approver bindings name %s (%s) and the groups %s, "+
			"whose members could not be counted (%s). Make sure they hold at least %s in all, or %s.",
			issue.Role, where, c.quorum, source, people(len(names)), who, strings.Join(c.groups, ", "), why, people(c.quorum), lower)
	}
	return &issue
}

// people says "1 person", "2 people".
func people(n int) string {
	if n == 1 {
		return "1 person"
	}
	return fmt.Sprintf("%d people", n)
}

// short is a resource's name in messages: "projects/p", "folders/1";
// other resources keep their full name.
func short(fullName string) string { return strings.TrimPrefix(fullName, crmPrefix) }
