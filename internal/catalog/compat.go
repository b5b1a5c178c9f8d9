package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"

	asset "cloud.google.com/go/asset/apiv1"
	"cloud.google.com/go/asset/apiv1/assetpb"
	"google.golang.org/api/iterator"

	"github.com/jitaccess/jitaccess/internal/cloudlog"
	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// Why a binding is eligible under jitaccess but was not under 1.8.1.
const (
	WidenedMarker            = "the eligibility marker is not a top-level clause (inside parentheses), which 1.8.1 did not recognise"
	WidenedResourceCondition = "it has a resource condition, and 1.8.1's PolicyAnalyzer catalog ignored resource-conditioned eligible bindings"
	WidenedType              = "1.8.1 read it as another activation type"
)

// Widened says why a binding with condition expr is eligible under
// jitaccess but was not (or not the same way) under Just-In-Time Access
// 1.8.1 with the same catalog, or "" when both agree. jitaccess parses the
// condition as CEL, so a marker inside parentheses counts
// (condition.ParseEligibility); 1.8.1 split the text at top-level "&&"
// (condition.Eligibility181), and its PolicyAnalyzer catalog skipped
// bindings with a resource condition.
func Widened(expr string, policyAnalyzer bool) string {
	ours, ok, err := condition.ParseEligibility(expr)
	if err != nil || !ok {
		return ""
	}
	typ, conditioned, ok181 := condition.Eligibility181(expr)
	switch {
	case !ok181:
		return WidenedMarker
	case typ != ours.Type:
		return WidenedType
	case policyAnalyzer && conditioned:
		return WidenedResourceCondition
	}
	return ""
}

// maxWidenedNoted bounds the bindings one catalog remembers having logged.
const maxWidenedNoted = 1000

// widenedLog logs each widened binding once per process, so that a
// running deployment shows what the switch made eligible without a line
// per request.
type widenedLog struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (w *widenedLog) note(ctx context.Context, logger *slog.Logger, resource, role, expr string, policyAnalyzer bool) {
	if w == nil {
		return
	}
	// Every binding is judged once: parsing a condition again on every
	// request would cost more than the listing's own work.
	key := resource + "\x00" + role + "\x00" + expr
	w.mu.Lock()
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	_, judged := w.seen[key]
	full := len(w.seen) >= maxWidenedNoted
	if !judged && !full {
		w.seen[key] = true
	}
	w.mu.Unlock()
	if judged || full {
		return
	}
	if reason := Widened(expr, policyAnalyzer); reason != "" {
		logger.WarnContext(ctx, "A binding is eligible under jitaccess that was not under Just-In-Time Access 1.8.1: "+reason,
			slog.Group(cloudlog.LabelsGroup, slog.String("event", "catalog.eligibilityWidened")),
			slog.String("resource", resource), slog.String("role", role), slog.String("condition", expr))
	}
}

// WidenedBinding is a binding the compatibility report lists.
type WidenedBinding struct {
	Resource  string // full resource name of the policy's resource
	Role      string
	Members   []string
	Condition string
	Reason    string
}

// CompatReport lists the bindings in scope that are eligible under
// jitaccess but were not under 1.8.1 with the same catalog, from Cloud
// Asset's copy of the IAM policies (SearchAllIamPolicies, which needs
// cloudasset.assets.searchAllIamPolicies on the scope). Run it before
// switching: these bindings become activatable.
func CompatReport(ctx context.Context, client *asset.Client, scope string, policyAnalyzer bool) ([]WidenedBinding, error) {
	const op = "catalog.CompatReport"
	var out []WidenedBinding
	err := searchPolicies(ctx, client, scope, func(r *assetpb.IamPolicySearchResult) {
		for _, b := range r.GetPolicy().GetBindings() {
			expr := b.GetCondition().GetExpression()
			if reason := Widened(expr, policyAnalyzer); reason != "" {
				out = append(out, WidenedBinding{Resource: r.GetResource(), Role: b.GetRole(), Members: b.GetMembers(), Condition: expr, Reason: reason})
			}
		}
	})
	if err != nil {
		return nil, translate(op, scope, err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Resource != out[j].Resource {
			return out[i].Resource < out[j].Resource
		}
		return out[i].Role < out[j].Role
	})
	return out, nil
}

// searchPolicies calls each with every IAM policy in scope, from Cloud
// Asset's copy (SearchAllIamPolicies).
func searchPolicies(ctx context.Context, client *asset.Client, scope string, each func(*assetpb.IamPolicySearchResult)) error {
	it := client.SearchAllIamPolicies(ctx, &assetpb.SearchAllIamPoliciesRequest{Scope: scope, PageSize: 500})
	for {
		r, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return err
		}
		each(r)
	}
}

// Asset types whose policies the catalogs read.
const (
	assetTypeProject      = "cloudresourcemanager.googleapis.com/Project"
	assetTypeFolder       = "cloudresourcemanager.googleapis.com/Folder"
	assetTypeOrganization = "cloudresourcemanager.googleapis.com/Organization"
)

// policyNodeOf reads a search result as a policy node, with the ancestry
// Cloud Asset documents for it: the project (projects/NUMBER, set for a
// project's own policy and for the resources in a project), the folders
// and the organization it belongs to.
func policyNodeOf(r *assetpb.IamPolicySearchResult) policyNode {
	n := policyNode{key: strings.TrimPrefix(r.GetResource(), crmPrefix), fullName: r.GetResource()}
	switch r.GetAssetType() {
	case assetTypeProject:
		n.crm = true
		if r.GetProject() != "" {
			n.key = r.GetProject()
		}
	case assetTypeFolder, assetTypeOrganization:
		n.crm = true
	}
	for _, a := range append(slices.Clone(r.GetFolders()), r.GetOrganization(), r.GetProject()) {
		if a != "" && a != n.key && !slices.Contains(n.ancestors, a) {
			n.ancestors = append(n.ancestors, a)
		}
	}
	for _, b := range r.GetPolicy().GetBindings() {
		n.bindings = append(n.bindings, policyBinding{role: b.GetRole(), members: b.GetMembers(), expr: b.GetCondition().GetExpression()})
	}
	return n
}

// maxQuorumCounts bounds the group expansions one report makes.
const maxQuorumCounts = 100

// approverReport lists the approver declarations in scope that have no
// effect, or not the intended one (see ApproverProblem), from Cloud
// Asset's copy of the policies. count tells who can approve a candidate
// for an unreachable quorum, groups expanded as the catalog does.
func approverReport(ctx context.Context, client *asset.Client, scope string, defaultQuorum int,
	count func(context.Context, quorumCandidate) ([]jit.UserID, error),
) ([]ApproverIssue, error) {
	const op = "catalog.ApproverReport"
	byKey := map[string]int{}
	var nodes []policyNode
	err := searchPolicies(ctx, client, scope, func(r *assetpb.IamPolicySearchResult) {
		n := policyNodeOf(r)
		if i, ok := byKey[n.key]; ok {
			nodes[i].bindings = append(nodes[i].bindings, n.bindings...)
			return
		}
		byKey[n.key] = len(nodes)
		nodes = append(nodes, n)
	})
	if err != nil {
		return nil, translate(op, scope, err)
	}
	v := newPolicyView(nodes)
	out := v.markerIssues()
	for i, c := range v.quorumCandidates(defaultQuorum) {
		approvers, counted, why := c.users, false, ""
		switch {
		case len(c.groups) == 0:
		case i >= maxQuorumCounts:
			why = fmt.Sprintf("the report counts the groups of at most %d roles", maxQuorumCounts)
		default:
			found, err := count(ctx, c)
			if err != nil {
				why = err.Error()
				break
			}
			approvers, counted = found, true
		}
		if issue := c.quorumIssue(approvers, counted, why); issue != nil {
			out = append(out, *issue)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Resource != out[j].Resource {
			return out[i].Resource < out[j].Resource
		}
		if out[i].Role != out[j].Role {
			return out[i].Role < out[j].Role
		}
		return out[i].Problem < out[j].Problem
	})
	return out, nil
}

// ApproverReport lists the approver declarations in the scope that have
// no effect, or not the intended one: malformed approver markers, approver
// bindings that meet no binding making the role eligible for peer approval
// (on the resource, above or below it), approver bindings of roles that
// are only self-approval eligible, and quorums larger than the people the
// approver bindings name, their groups expanded through Policy Analyzer as
// the app does. defaultQuorum is ACTIVATION_REQUEST_APPROVALS. It needs
// cloudasset.assets.searchAllIamPolicies (and analyzeIamPolicy for groups)
// on the scope.
func (c *PolicyAnalyzer) ApproverReport(ctx context.Context, defaultQuorum int) ([]ApproverIssue, error) {
	return approverReport(ctx, c.asset, c.opts.Scope, defaultQuorum, func(ctx context.Context, q quorumCandidate) ([]jit.UserID, error) {
		if q.at.Project == "" && q.at.Node == "" {
			return nil, fmt.Errorf("%s names no project id the report can analyze", q.atName)
		}
		ap, err := c.approvers(ctx, q.at)
		if err != nil {
			return nil, fmt.Errorf("asking Policy Analyzer: %w", err)
		}
		return ap.Approvers, nil
	})
}

// ApproverReport is PolicyAnalyzer.ApproverReport, with groups expanded
// as this catalog does (GROUP_MEMBERSHIP).
func (c *AssetInventory) ApproverReport(ctx context.Context, defaultQuorum int) ([]ApproverIssue, error) {
	return approverReport(ctx, c.asset, c.opts.Scope, defaultQuorum, func(ctx context.Context, q quorumCandidate) ([]jit.UserID, error) {
		if c.identity == nil && c.opts.Directory == nil {
			return nil, errors.New("the groups' members cannot be read without group access (GROUP_MEMBERSHIP=direct needs SERVICE_ACCOUNT for the Directory API)")
		}
		approvers := slices.Clone(q.users)
		for _, g := range q.groups {
			found, err := c.membersOf(ctx, g)
			if err != nil {
				return nil, fmt.Errorf("reading the members of %s failed: %w", g, err)
			}
			approvers = append(approvers, found...)
		}
		return sortedUnique(approvers), nil
	})
}
