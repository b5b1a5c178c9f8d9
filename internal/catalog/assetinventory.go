package catalog

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	asset "cloud.google.com/go/asset/apiv1"
	"cloud.google.com/go/asset/apiv1/assetpb"
	"golang.org/x/sync/errgroup"
	"google.golang.org/api/cloudidentity/v1"
	"google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// maxGroupExpansions bounds the Cloud Identity calls one peer lookup makes
// in parallel.
const maxGroupExpansions = 8

// AssetInventory finds eligibility from the effective IAM policies
// (BatchGetEffectiveIamPolicies) and resolves groups itself through Cloud
// Identity's transitive membership search — so, unlike the original's
// Directory API lookup, nested groups count and nothing is cut off after
// the first page.
type AssetInventory struct {
	asset    *asset.Client
	crm      *cloudresourcemanager.Service
	identity *cloudidentity.Service
	opts     Options
}

// NewAssetInventory returns the AssetInventory catalog. The projects query
// defaults to "state:ACTIVE", as in the original.
func NewAssetInventory(assetClient *asset.Client, crm *cloudresourcemanager.Service, identity *cloudidentity.Service, opts Options) *AssetInventory {
	opts.defaults()
	if opts.ProjectsQuery == "" {
		opts.ProjectsQuery = "state:ACTIVE"
	}
	return &AssetInventory{asset: assetClient, crm: crm, identity: identity, opts: opts}
}

// Projects lists the projects matching AVAILABLE_PROJECTS_QUERY.
func (c *AssetInventory) Projects(ctx context.Context, _ jit.UserID) ([]jit.ProjectID, error) {
	return searchProjects(ctx, c.asset, c.opts, "catalog.AssetInventory.Projects")
}

// effectiveBindings returns the bindings that apply to project: its own
// and those inherited from its ancestors within the scope.
func (c *AssetInventory) effectiveBindings(ctx context.Context, base jit.Entitlement) ([]*binding, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.ReadTimeout)
	defer cancel()
	resp, err := c.asset.BatchGetEffectiveIamPolicies(ctx, &assetpb.BatchGetEffectiveIamPoliciesRequest{
		Scope: c.opts.Scope,
		Names: []string{base.FullResourceName()},
	})
	if err != nil {
		return nil, err
	}
	var out []*binding
	for _, r := range resp.GetPolicyResults() {
		for _, p := range r.GetPolicies() {
			for _, b := range p.GetPolicy().GetBindings() {
				out = append(out, &binding{role: b.GetRole(), members: b.GetMembers(), expr: b.GetCondition().GetExpression()})
			}
		}
	}
	return out, nil
}

type binding struct {
	role    string
	members []string
	expr    string
}

// Entitlements lists user's eligible entitlements on project.
func (c *AssetInventory) Entitlements(ctx context.Context, user jit.UserID, project jit.ProjectID) ([]jit.EligibleEntitlement, []string, error) {
	return c.entitlementsAt(ctx, user, jit.Entitlement{Project: project})
}

// NodeEntitlements lists user's eligible entitlements on a folder or the
// organization itself.
func (c *AssetInventory) NodeEntitlements(ctx context.Context, user jit.UserID, node string) ([]jit.EligibleEntitlement, []string, error) {
	return c.entitlementsAt(ctx, user, jit.Entitlement{Node: node})
}

func (c *AssetInventory) entitlementsAt(ctx context.Context, user jit.UserID, base jit.Entitlement) ([]jit.EligibleEntitlement, []string, error) {
	const op = "catalog.AssetInventory.Entitlements"
	var (
		bindings []*binding
		groups   []string
		active   map[jit.Entitlement]time.Time
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		bindings, err = c.effectiveBindings(gctx, base)
		if status.Code(err) == codes.NotFound {
			return jit.E(op, jit.KindNotFound, fmt.Sprintf("The resource '%s' does not exist", base.Resource()), err)
		}
		return err
	})
	g.Go(func() error {
		var err error
		groups, err = c.groupsOf(gctx, user)
		return err
	})
	g.Go(func() error {
		var err error
		active, err = activeWindowsAt(gctx, c.crm, c.opts.ReadTimeout, base, user.Member(), c.opts.Clock())
		return err
	})
	if err := g.Wait(); err != nil {
		if jit.KindOf(err) != jit.KindInternal {
			return nil, nil, err
		}
		return nil, nil, translate(op, c.opts.Scope, err)
	}
	principals := map[string]bool{strings.ToLower(user.Member()): true}
	for _, grp := range groups {
		principals["group:"+strings.ToLower(grp)] = true
	}
	var found []eligible
	var warnings []string
	for _, b := range bindings {
		if !slices.ContainsFunc(b.members, func(m string) bool { return principals[strings.ToLower(m)] }) {
			continue
		}
		el, ok, warning := eligibilityOrWarningAt(base, b.role, b.expr)
		if ok {
			found = append(found, el)
		}
		if warning != "" {
			warnings = append(warnings, warning)
		}
	}
	return merge(found, active), sortedUnique(warnings), nil
}

// groupsOf lists every group user belongs to, directly or through nested
// groups.
func (c *AssetInventory) groupsOf(ctx context.Context, user jit.UserID) ([]string, error) {
	if strings.ContainsAny(string(user), `'"\\`) {
		// Never splice quotes into a Cloud Identity query.
		return nil, jit.Invalid("catalog.groupsOf", "The user's email address contains characters that cannot be looked up")
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.ReadTimeout)
	defer cancel()
	query := fmt.Sprintf("member_key_id == '%s' && 'cloudidentity.googleapis.com/groups.discussion_forum' in labels", user)
	var out []string
	err := c.identity.Groups.Memberships.SearchTransitiveGroups("groups/-").Query(query).Context(ctx).
		Pages(ctx, func(resp *cloudidentity.SearchTransitiveGroupsResponse) error {
			for _, m := range resp.Memberships {
				if m.GroupKey != nil && m.GroupKey.Id != "" {
					out = append(out, m.GroupKey.Id)
				}
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("search groups of %s: %w", user, err)
	}
	return out, nil
}

// Holders lists the users who hold ent with activation type typ, expanding
// groups (nested ones included) through Cloud Identity.
func (c *AssetInventory) Holders(ctx context.Context, ent jit.Entitlement, typ jit.ActivationType) ([]jit.UserID, error) {
	const op = "catalog.AssetInventory.Holders"
	bindings, err := c.effectiveBindings(ctx, at(ent))
	if err != nil {
		return nil, translate(op, c.opts.Scope, err)
	}
	var users []jit.UserID
	groups := map[string]bool{}
	for _, b := range bindings {
		el, ok := eligibilityAt(at(ent), b.role, b.expr)
		if !ok || el.typ != typ || el.ent != ent {
			continue
		}
		for _, m := range b.members {
			kind, id, _ := strings.Cut(m, ":")
			switch kind {
			case "user":
				if u, err := jit.ParseUserID(id); err == nil {
					users = append(users, u)
				}
			case "group":
				groups[strings.ToLower(id)] = true
			}
		}
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxGroupExpansions)
	for grp := range groups {
		g.Go(func() error {
			members, err := c.membersOf(gctx, grp)
			if err != nil {
				// A group the app may not read (e.g. an external one)
				// contributes nobody, as in the original.
				c.opts.Logger.WarnContext(gctx, "expanding a group failed", "group", grp, "error", err)
				return nil
			}
			mu.Lock()
			users = append(users, members...)
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	return sortedUnique(users), nil
}

// membersOf lists the users in a group, transitively.
func (c *AssetInventory) membersOf(ctx context.Context, group string) ([]jit.UserID, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.ReadTimeout)
	defer cancel()
	name, err := c.identity.Groups.Lookup().GroupKeyId(group).Context(ctx).Do()
	if err != nil {
		return nil, fmt.Errorf("look up group %s: %w", group, err)
	}
	var out []jit.UserID
	err = c.identity.Groups.Memberships.SearchTransitiveMemberships(name.Name).Context(ctx).
		Pages(ctx, func(resp *cloudidentity.SearchTransitiveMembershipsResponse) error {
			for _, m := range resp.Memberships {
				if strings.HasPrefix(m.Member, "groups/") {
					continue
				}
				for _, k := range m.PreferredMemberKey {
					if u, err := jit.ParseUserID(k.Id); err == nil && !strings.HasSuffix(string(u), ".gserviceaccount.com") {
						out = append(out, u)
					}
				}
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("search members of %s: %w", group, err)
	}
	return out, nil
}
