package catalog

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jitaccess/internal/cloudlog"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// minNoticePeriod is the shortest time between two warnings about the
// same approver declaration: the default cache period (30 s) would still
// log one line per declaration and instance every half minute.
const minNoticePeriod = 5 * time.Minute

// maxNotices bounds the declarations one Notices remembers.
const maxNotices = 1000

// Notices logs each problem with an approver declaration found at
// discovery at most once per period (the catalog cache's TTL, at least
// minNoticePeriod), however many requests read the policy: a warning for
// administrators, never a log flood. Memory is bounded by maxNotices
// declarations; past that, new problems are not logged until old ones
// expire (the compatibility report lists them all). A nil *Notices logs
// nothing. Share one between the catalogs of an app, so that the cached
// and the uncached one do not warn twice.
type Notices struct {
	period time.Duration
	clock  func() time.Time

	mu   sync.Mutex
	next map[string]time.Time // declaration → when it may be logged again
}

// NewNotices returns a Notices that logs a problem again after period
// (at least minNoticePeriod); clock nil means time.Now.
func NewNotices(period time.Duration, clock func() time.Time) *Notices {
	if clock == nil {
		clock = time.Now
	}
	return &Notices{period: max(period, minNoticePeriod), clock: clock, next: map[string]time.Time{}}
}

// due reports whether the problem named key should be logged now, and if
// so notes that it was.
func (n *Notices) due(key string) bool {
	if n == nil {
		return false
	}
	now := n.clock()
	n.mu.Lock()
	defer n.mu.Unlock()
	if until, ok := n.next[key]; ok && now.Before(until) {
		return false
	}
	if _, ok := n.next[key]; !ok && len(n.next) >= maxNotices {
		for k, until := range n.next {
			if !now.Before(until) {
				delete(n.next, k)
			}
		}
		if len(n.next) >= maxNotices {
			return false
		}
	}
	n.next[key] = now.Add(n.period)
	return true
}

// warn logs issue, found while reading the policies of where, unless it
// was logged within the period.
func (n *Notices) warn(ctx context.Context, logger *slog.Logger, where string, issue ApproverIssue) {
	if !n.due(strings.Join([]string{issue.Resource, issue.Role, issue.Condition, string(issue.Problem)}, "\x00")) {
		return
	}
	var lead string
	switch issue.Problem {
	case ApproverMalformed:
		lead = "An approver binding is ignored: "
	case ApproverQuorumUnreachable, ApproverQuorumUnchecked:
		lead = "A role's quorum cannot be reached: "
	default:
		lead = "An approver binding has no effect: "
	}
	logger.WarnContext(ctx, lead+issue.Fix,
		slog.Group(cloudlog.LabelsGroup, slog.String("event", "catalog.approverIneffective"), slog.String("problem", string(issue.Problem))),
		slog.String("resource", issue.Resource), slog.String("role", issue.Role), slog.Any("members", issue.Members),
		slog.String("condition", issue.Condition), slog.String("found_at", where))
}

// chainView is the view of the policies that apply to base, read at
// discovery: base's own and its ancestors' (within the scope), which lie
// on one chain above base, in whatever order they come.
func chainView(base jit.Entitlement, bindings []*binding) *policyView {
	byResource := map[string]int{}
	var nodes []policyNode
	for _, b := range bindings {
		i, ok := byResource[b.resource]
		if !ok {
			name, crm := strings.CutPrefix(b.resource, crmPrefix)
			i = len(nodes)
			byResource[b.resource] = i
			nodes = append(nodes, policyNode{key: name, fullName: b.resource, crm: crm})
		}
		nodes[i].bindings = append(nodes[i].bindings, policyBinding{role: b.role, members: b.members, expr: b.expr})
	}
	for i := range nodes {
		if nodes[i].fullName != base.FullResourceName() {
			continue
		}
		for _, n := range nodes {
			if n.fullName != base.FullResourceName() {
				nodes[i].ancestors = append(nodes[i].ancestors, n.key)
			}
		}
	}
	return newPolicyView(nodes)
}

// noteApprovers logs the approver declarations that the policies applying
// to base prove wrong: a malformed one anywhere; and one attached to base
// itself, when base is a project, that meets no eligible binding — a
// project has nothing below it, so what applies there is all there is.
// A declaration on a folder or the organization may apply to a project
// not read here; the compatibility report judges those.
func (o Options) noteApprovers(ctx context.Context, base jit.Entitlement, bindings []*binding) {
	if o.Notices == nil {
		return
	}
	v := chainView(base, bindings)
	for _, issue := range v.markerIssues() {
		if issue.Problem == ApproverMalformed || (base.Project != "" && issue.Resource == base.FullResourceName()) {
			o.Notices.warn(ctx, o.Logger, base.Resource(), issue)
		}
	}
}

// declaration is the approver binding that sets an entitlement's quorum,
// for the warning when the approvers are fewer.
type declaration struct {
	resource, expr string
	members        []string
}

// noteQuorum logs, for the entitlement ent whose approvers were just
// listed (groups expanded), a declared quorum that they cannot reach.
func (o Options) noteQuorum(ctx context.Context, ent jit.Entitlement, ap jit.ApproverPolicy, decl declaration) {
	if o.Notices == nil || !ap.Dedicated || ap.Quorum <= len(ap.Approvers) {
		return
	}
	c := quorumCandidate{
		at: ent, atName: ent.FullResourceName(), quorum: ap.Quorum, declared: true,
		issue: ApproverIssue{Resource: decl.resource, Role: ent.Role, Members: decl.members, Condition: decl.expr},
	}
	if issue := c.quorumIssue(ap.Approvers, true, ""); issue != nil {
		o.Notices.warn(ctx, o.Logger, ent.Resource(), *issue)
	}
}
