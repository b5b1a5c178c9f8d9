package catalog

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	asset "cloud.google.com/go/asset/apiv1"
	"cloud.google.com/go/asset/apiv1/assetpb"
	"golang.org/x/sync/errgroup"
	"google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// PolicyAnalyzer finds eligibility with Cloud Asset's AnalyzeIamPolicy,
// which resolves group membership (nested groups too) and inheritance
// from folders and the organization itself.
type PolicyAnalyzer struct {
	asset *asset.Client
	crm   *cloudresourcemanager.Service
	opts  Options
}

// NewPolicyAnalyzer returns the PolicyAnalyzer catalog.
func NewPolicyAnalyzer(assetClient *asset.Client, crm *cloudresourcemanager.Service, opts Options) *PolicyAnalyzer {
	opts.defaults()
	return &PolicyAnalyzer{asset: assetClient, crm: crm, opts: opts}
}

func (c *PolicyAnalyzer) analyze(ctx context.Context, q *assetpb.IamPolicyAnalysisQuery) (*assetpb.AnalyzeIamPolicyResponse_IamPolicyAnalysis, error) {
	q.Scope = c.opts.Scope
	ctx, cancel := context.WithTimeout(ctx, c.opts.ReadTimeout)
	defer cancel()
	resp, err := c.asset.AnalyzeIamPolicy(ctx, &assetpb.AnalyzeIamPolicyRequest{
		AnalysisQuery:    q,
		ExecutionTimeout: durationpb.New(c.opts.ReadTimeout),
	})
	if err != nil {
		return nil, err
	}
	return resp.GetMainAnalysis(), nil
}

func (c *PolicyAnalyzer) accessTime() *assetpb.IamPolicyAnalysisQuery_ConditionContext {
	return &assetpb.IamPolicyAnalysisQuery_ConditionContext{
		TimeContext: &assetpb.IamPolicyAnalysisQuery_ConditionContext_AccessTime{AccessTime: timestamppb.New(c.opts.Clock())},
	}
}

// conditional reports whether every ACL of a result is CONDITIONAL (or
// not evaluated), which is how Policy Analyzer reports an eligible binding.
func conditional(r *assetpb.IamPolicyAnalysisResult) bool {
	for _, acl := range r.GetAccessControlLists() {
		switch acl.GetConditionEvaluation().GetEvaluationValue() {
		case assetpb.ConditionEvaluation_CONDITIONAL, assetpb.ConditionEvaluation_EVALUATION_VALUE_UNSPECIFIED:
		default:
			return false
		}
	}
	return true
}

// Projects lists the projects in scope where user holds an eligible
// binding (directly, through groups, or inherited) — the projects of the
// user's index — or the projects matching AVAILABLE_PROJECTS_QUERY when
// it is set.
func (c *PolicyAnalyzer) Projects(ctx context.Context, user jit.UserID) ([]jit.ProjectID, error) {
	const op = "catalog.PolicyAnalyzer.Projects"
	if c.opts.ProjectsQuery != "" {
		// The same for every user: cached once for all (see AssetInventory).
		ps, err := get(ctx, c.opts.Cache, cacheKey{kind: "projects", arg: c.opts.ProjectsQuery}, func(ctx context.Context) ([]jit.ProjectID, error) {
			return searchProjects(ctx, c.crm, c.opts, op)
		})
		return slices.Clone(ps), err
	}
	ix, err := c.index(ctx, user)
	if err != nil {
		return nil, translate(op, c.opts.Scope, err)
	}
	return ix.projects(), nil
}

// Entitlements lists user's eligible entitlements on project, with the
// status of each read from the project's current policy. Eligibility
// comes from the user's index (one Policy Analyzer query for the whole
// scope, shared with Projects and cached).
func (c *PolicyAnalyzer) Entitlements(ctx context.Context, user jit.UserID, project jit.ProjectID) ([]jit.EligibleEntitlement, []string, error) {
	const op = "catalog.PolicyAnalyzer.Entitlements"
	ents, warnings, err := cachedEntitlements(ctx, c.opts.Cache, user, project, func(ctx context.Context) (entitlementsResult, error) {
		return c.entitlementsFromIndex(ctx, user, project)
	})
	if err != nil {
		return nil, nil, translate(op, c.opts.Scope, err)
	}
	return ents, warnings, nil
}

// NodeEntitlements lists user's eligible entitlements on a folder or the
// organization itself ("folders/F", "organizations/O"): the eligible
// bindings that apply there, attached or inherited.
func (c *PolicyAnalyzer) NodeEntitlements(ctx context.Context, user jit.UserID, node string) ([]jit.EligibleEntitlement, []string, error) {
	return c.entitlementsAt(ctx, user, jit.Entitlement{Node: node})
}

// entitlementsAt asks Policy Analyzer about base alone, uncached: folders
// and organizations are not in the per-user index, which holds projects.
func (c *PolicyAnalyzer) entitlementsAt(ctx context.Context, user jit.UserID, base jit.Entitlement) ([]jit.EligibleEntitlement, []string, error) {
	const op = "catalog.PolicyAnalyzer.NodeEntitlements"
	var (
		analysis *assetpb.AnalyzeIamPolicyResponse_IamPolicyAnalysis
		active   map[jit.Entitlement]time.Time
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		analysis, err = c.analyze(gctx, &assetpb.IamPolicyAnalysisQuery{
			ResourceSelector: &assetpb.IamPolicyAnalysisQuery_ResourceSelector{FullResourceName: base.FullResourceName()},
			IdentitySelector: &assetpb.IamPolicyAnalysisQuery_IdentitySelector{Identity: user.Member()},
			ConditionContext: c.accessTime(),
		})
		if status.Code(err) == codes.InvalidArgument {
			// Google answers 400 for a project that does not exist (or is
			// outside the scope): nothing is eligible there.
			return nil
		}
		return err
	})
	g.Go(func() error {
		var err error
		active, err = activeWindowsAt(gctx, c.crm, c.opts.ReadTimeout, base, user.Member(), c.opts.Clock())
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, nil, translate(op, c.opts.Scope, err)
	}
	var found []eligible
	var warnings []string
	for _, r := range analysis.GetAnalysisResults() {
		b := r.GetIamBinding()
		el, ok, warning := eligibilityOrWarningAt(base, b.GetRole(), b.GetCondition().GetExpression())
		if ok && conditional(r) {
			// Which of the binding's groups the user is in is not asked
			// here: a write confirms that all of them still are there.
			el.grounds = groundsOf(r.GetAttachedResourceFullName(), b.GetMembers(), user, nil)
			found = append(found, el)
			c.opts.widened.note(ctx, c.opts.Logger, r.GetAttachedResourceFullName(), b.GetRole(), b.GetCondition().GetExpression(), true)
		}
		if warning != "" {
			warnings = append(warnings, warning)
		}
	}
	for _, e := range analysis.GetNonCriticalErrors() {
		if e.GetCause() != "" {
			warnings = append(warnings, e.GetCause())
		}
	}
	return merge(found, active), sortedUnique(warnings), nil
}

// Holders lists the users who hold ent with activation type typ: same
// project, role and resource condition, directly or through (nested)
// groups, on the project or inherited.
func (c *PolicyAnalyzer) Holders(ctx context.Context, ent jit.Entitlement, typ jit.ActivationType) ([]jit.UserID, error) {
	m, err := c.HolderGrounds(ctx, ent, typ)
	return userIDs(m), err
}

// GroundsOf says where each of users holds ent with typ (users who do not
// are left out), from one query about all the entitlement's holders,
// shared with the peers list and cached.
func (c *PolicyAnalyzer) GroundsOf(ctx context.Context, users []jit.UserID, ent jit.Entitlement, typ jit.ActivationType) (map[jit.UserID][]jit.Grounds, error) {
	all, err := c.HolderGrounds(ctx, ent, typ)
	if err != nil {
		return nil, err
	}
	out := map[jit.UserID][]jit.Grounds{}
	for _, u := range users {
		if g, ok := all[u]; ok {
			out[u] = g
		}
	}
	return out, nil
}

// HolderGrounds is Holders with, for each user, where they hold ent.
func (c *PolicyAnalyzer) HolderGrounds(ctx context.Context, ent jit.Entitlement, typ jit.ActivationType) (map[jit.UserID][]jit.Grounds, error) {
	const op = "catalog.PolicyAnalyzer.Holders"
	return cachedHolders(ctx, c.opts.Cache, ent, typ, func(ctx context.Context) (map[jit.UserID][]jit.Grounds, error) {
		return c.holders(ctx, op, ent, typ)
	})
}

func (c *PolicyAnalyzer) holders(ctx context.Context, op string, ent jit.Entitlement, typ jit.ActivationType) (map[jit.UserID][]jit.Grounds, error) {
	analysis, err := c.analyze(ctx, &assetpb.IamPolicyAnalysisQuery{
		ResourceSelector: &assetpb.IamPolicyAnalysisQuery_ResourceSelector{FullResourceName: ent.FullResourceName()},
		AccessSelector:   &assetpb.IamPolicyAnalysisQuery_AccessSelector{Roles: []string{ent.Role}},
		// The group edges say through which group of the binding each
		// user holds it, for a write to confirm in the live policy.
		Options: &assetpb.IamPolicyAnalysisQuery_Options{ExpandGroups: true, OutputGroupEdges: true},
	})
	if err != nil {
		return nil, translate(op, c.opts.Scope, err)
	}
	out := map[jit.UserID][]jit.Grounds{}
	for _, r := range analysis.GetAnalysisResults() {
		b := r.GetIamBinding()
		el, ok := eligibilityAt(at(ent), b.GetRole(), b.GetCondition().GetExpression())
		if !ok || el.typ != typ || el.ent != ent {
			continue
		}
		via := viaGroups(b.GetMembers(), r.GetIdentityList().GetGroupEdges())
		for _, id := range r.GetIdentityList().GetIdentities() {
			email, ok := strings.CutPrefix(id.GetName(), "user:")
			if !ok {
				continue
			}
			u, err := jit.ParseUserID(email)
			if err != nil {
				continue
			}
			out[u] = append(out[u], groundsOf(r.GetAttachedResourceFullName(), b.GetMembers(), u, via[strings.ToLower(id.GetName())])...)
		}
	}
	return out, nil
}

// searchProjects lists the projects matching AVAILABLE_PROJECTS_QUERY
// through Resource Manager v3 projects.search, as the original did
// (ResourceManagerClient.searchProjectIds): the query is Resource
// Manager's grammar ("parent:folders/123", "state:ACTIVE",
// "labels.env:prod"), the results are the projects the service account
// may get (resourcemanager.projects.get), not limited to RESOURCE_SCOPE,
// and they are current, not an index that lags.
func searchProjects(ctx context.Context, crm *cloudresourcemanager.Service, opts Options, op string) ([]jit.ProjectID, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.ReadTimeout)
	defer cancel()
	var out []jit.ProjectID
	errFull := errors.New("enough projects")
	err := crm.Projects.Search().Query(opts.ProjectsQuery).PageSize(500).Pages(ctx, func(r *cloudresourcemanager.SearchProjectsResponse) error {
		for _, p := range r.Projects {
			if id, err := jit.ParseProjectID(p.ProjectId); err == nil {
				out = append(out, id)
			}
		}
		if len(out) >= maxProjects {
			return errFull
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFull) {
		var g *googleapi.Error
		if errors.As(err, &g) && g.Code == http.StatusBadRequest {
			return nil, jit.E(op, jit.KindUnavailable, "AVAILABLE_PROJECTS_QUERY is not a query Resource Manager accepts: "+g.Message, err)
		}
		return nil, translate(op, opts.Scope, err)
	}
	if len(out) > maxProjects {
		out = out[:maxProjects]
	}
	return sortedUnique(out), nil
}
