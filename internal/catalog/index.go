package catalog

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/asset/apiv1/assetpb"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// userIndex is everything one user is eligible for within the scope, from
// a single Policy Analyzer query: the projects list and every project's
// roles are read from it, so a visit to the app costs one query of
// Policy Analyzer's small daily quota, not one per page.
type userIndex struct {
	byProject map[jit.ProjectID][]eligible
	warnings  []string
	// projectWarnings are about one project's bindings (see
	// eligibilityOrWarning).
	projectWarnings map[jit.ProjectID][]string
}

func (ix *userIndex) projects() []jit.ProjectID {
	out := make([]jit.ProjectID, 0, len(ix.byProject))
	for p := range ix.byProject {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// index returns user's eligibility index, cached per user.
func (c *PolicyAnalyzer) index(ctx context.Context, user jit.UserID) (*userIndex, error) {
	return get(ctx, c.opts.Cache, cacheKey{kind: "index", user: user}, func(ctx context.Context) (*userIndex, error) {
		return c.fetchIndex(ctx, user)
	})
}

// fetchIndex asks Policy Analyzer which bindings in the scope apply to
// user, directly or through (nested) groups, with the resources they
// attach to expanded to the projects below them, and keeps the eligible
// ones per project.
func (c *PolicyAnalyzer) fetchIndex(ctx context.Context, user jit.UserID) (*userIndex, error) {
	analysis, err := c.analyze(ctx, &assetpb.IamPolicyAnalysisQuery{
		IdentitySelector: &assetpb.IamPolicyAnalysisQuery_IdentitySelector{Identity: user.Member()},
		Options:          &assetpb.IamPolicyAnalysisQuery_Options{ExpandResources: true},
		ConditionContext: c.accessTime(),
	})
	if status.Code(err) == codes.InvalidArgument {
		// Google answers 400 for an identity it cannot analyze: nothing
		// is eligible.
		return &userIndex{byProject: map[jit.ProjectID][]eligible{}}, nil
	}
	if err != nil {
		return nil, err
	}
	ix := &userIndex{byProject: map[jit.ProjectID][]eligible{}, projectWarnings: map[jit.ProjectID][]string{}}
	for _, r := range analysis.GetAnalysisResults() {
		b := r.GetIamBinding()
		parsed := parseBinding(b.GetRole(), b.GetCondition().GetExpression())
		if (!parsed.ok && !parsed.timeBound) || !conditional(r) {
			continue
		}
		grounds := groundsOf(r.GetAttachedResourceFullName(), b.GetMembers(), user, nil)
		for _, acl := range r.GetAccessControlLists() {
			for _, res := range acl.GetResources() {
				p, isProject := projectOf(res.GetFullResourceName())
				if !isProject {
					continue
				}
				el, ok, warning := parsed.at(jit.Entitlement{Project: p})
				if ok {
					el.grounds = grounds
					ix.byProject[p] = append(ix.byProject[p], el)
					c.opts.widened.note(ctx, c.opts.Logger, r.GetAttachedResourceFullName(), b.GetRole(), b.GetCondition().GetExpression(), true)
				}
				if warning != "" {
					ix.projectWarnings[p] = append(ix.projectWarnings[p], warning)
				}
			}
		}
	}
	for _, e := range analysis.GetNonCriticalErrors() {
		if e.GetCause() != "" {
			ix.warnings = append(ix.warnings, e.GetCause())
		}
	}
	ix.warnings = sortedUnique(ix.warnings)
	return ix, nil
}

// entitlementsResult is what Entitlements returns, as cached.
type entitlementsResult struct {
	ents     []jit.EligibleEntitlement
	warnings []string
}

// cachedEntitlements serves a user's entitlements on a project from the
// cache, computing them with fetch on a miss, and hands out copies so
// that callers may sort them.
func cachedEntitlements(ctx context.Context, cache *Cache, user jit.UserID, project jit.ProjectID,
	fetch func(context.Context) (entitlementsResult, error),
) ([]jit.EligibleEntitlement, []string, error) {
	r, err := get(ctx, cache, cacheKey{kind: "entitlements", user: user, arg: string(project)}, fetch)
	if err != nil {
		return nil, nil, err
	}
	return slices.Clone(r.ents), slices.Clone(r.warnings), nil
}

// entitlementsFromIndex lists user's entitlements on project, eligibility
// from the user's index when it is cached (a visit that started with the
// projects list), else from a query about this project alone — a small
// answer whatever the size of the organization — with what is active now
// read from the project's live policy in parallel.
func (c *PolicyAnalyzer) entitlementsFromIndex(ctx context.Context, user jit.UserID, project jit.ProjectID) (entitlementsResult, error) {
	var (
		found    []eligible
		warnings []string
		active   map[jit.Entitlement]time.Time
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if ix, ok := peek[*userIndex](c.opts.Cache, cacheKey{kind: "index", user: user}); ok {
			found = ix.byProject[project]
			warnings = sortedUnique(append(slices.Clone(ix.warnings), ix.projectWarnings[project]...))
			return nil
		}
		var err error
		found, warnings, err = c.projectEligibility(gctx, user, project)
		return err
	})
	g.Go(func() error {
		var err error
		active, err = activeWindowsAt(gctx, c.crm, c.opts.ReadTimeout, jit.Entitlement{Project: project}, user.Member(), c.opts.Clock())
		return err
	})
	if err := g.Wait(); err != nil {
		return entitlementsResult{}, err
	}
	return entitlementsResult{ents: merge(found, active), warnings: warnings}, nil
}

// projectEligibility asks Policy Analyzer which eligible bindings apply
// to user on project (its own and inherited, directly or through groups).
func (c *PolicyAnalyzer) projectEligibility(ctx context.Context, user jit.UserID, project jit.ProjectID) ([]eligible, []string, error) {
	analysis, err := c.analyze(ctx, &assetpb.IamPolicyAnalysisQuery{
		ResourceSelector: &assetpb.IamPolicyAnalysisQuery_ResourceSelector{FullResourceName: project.FullResourceName()},
		IdentitySelector: &assetpb.IamPolicyAnalysisQuery_IdentitySelector{Identity: user.Member()},
		ConditionContext: c.accessTime(),
	})
	if status.Code(err) == codes.InvalidArgument {
		// Google answers 400 for a project that does not exist (or is
		// outside the scope): nothing is eligible there.
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var found []eligible
	var warnings []string
	for _, r := range analysis.GetAnalysisResults() {
		b := r.GetIamBinding()
		el, ok, warning := eligibilityOrWarningAt(jit.Entitlement{Project: project}, b.GetRole(), b.GetCondition().GetExpression())
		if ok && conditional(r) {
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
	return found, sortedUnique(warnings), nil
}

// cachedHolders serves the holders of an entitlement, with the grounds
// of each, from the cache, and hands out copies.
func cachedHolders(ctx context.Context, cache *Cache, ent jit.Entitlement, typ jit.ActivationType,
	fetch func(context.Context) (map[jit.UserID][]jit.Grounds, error),
) (map[jit.UserID][]jit.Grounds, error) {
	arg := string(typ) + "\x00" + ent.ID() + "\x00" + ent.ResourceCondition
	m, err := get(ctx, cache, cacheKey{kind: "holders", arg: arg}, fetch)
	return maps.Clone(m), err
}

// userIDs lists the keys of a holders map, sorted.
func userIDs(m map[jit.UserID][]jit.Grounds) []jit.UserID {
	out := make([]jit.UserID, 0, len(m))
	for u := range m {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// viaGroups tells, for each identity reached through the group edges of
// an analysis result, which group members of the binding lead to it
// ("group:…" keys, lower case).
func viaGroups(members []string, edges []*assetpb.IamPolicyAnalysisResult_Edge) map[string]map[string]bool {
	children := map[string][]string{}
	for _, e := range edges {
		src := strings.ToLower(e.GetSourceNode())
		children[src] = append(children[src], strings.ToLower(e.GetTargetNode()))
	}
	out := map[string]map[string]bool{}
	for _, m := range members {
		root := strings.ToLower(m)
		group, ok := strings.CutPrefix(root, "group:")
		if !ok {
			continue
		}
		seen := map[string]bool{root: true}
		for queue := []string{root}; len(queue) > 0; queue = queue[1:] {
			for _, next := range children[queue[0]] {
				if seen[next] {
					continue
				}
				seen[next] = true
				queue = append(queue, next)
				if out[next] == nil {
					out[next] = map[string]bool{}
				}
				out[next][group] = true
			}
		}
	}
	return out
}

// Eligibility lists user's eligible entitlements on project with their
// grounds but without their status: what a write needs before it
// confirms them in the live policy, which it reads itself. Served from
// the cached roles page or the cached index when there is one.
func (c *PolicyAnalyzer) Eligibility(ctx context.Context, user jit.UserID, project jit.ProjectID) ([]jit.EligibleEntitlement, error) {
	const op = "catalog.PolicyAnalyzer.Eligibility"
	if r, ok := peek[entitlementsResult](c.opts.Cache, cacheKey{kind: "entitlements", user: user, arg: string(project)}); ok {
		return slices.Clone(r.ents), nil
	}
	if ix, ok := peek[*userIndex](c.opts.Cache, cacheKey{kind: "index", user: user}); ok {
		return merge(ix.byProject[project], nil), nil
	}
	found, _, err := c.projectEligibility(ctx, user, project)
	if err != nil {
		return nil, translate(op, c.opts.Scope, err)
	}
	return merge(found, nil), nil
}
