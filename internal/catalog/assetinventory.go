package catalog

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	asset "cloud.google.com/go/asset/apiv1"
	"cloud.google.com/go/asset/apiv1/assetpb"
	"golang.org/x/sync/errgroup"
	admin "google.golang.org/api/admin/directory/v1"
	"google.golang.org/api/cloudidentity/v1"
	"google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// maxGroupExpansions bounds the Cloud Identity calls one peer lookup makes
// in parallel.
const maxGroupExpansions = 8

// AssetInventory finds eligibility from the effective IAM policies
// (BatchGetEffectiveIamPolicies) and resolves groups itself, in one of two
// ways (GROUP_MEMBERSHIP):
//
//   - direct (the default, as 1.8.1): the Admin SDK Directory API lists
//     the groups a user is a direct member of (groups.list memberKey=, for
//     RESOURCE_CUSTOMER_ID) and a group's direct, active users
//     (members.list); a binding on a group that contains the user's group
//     does not apply, as in the original. Unlike the original, every page
//     is read.
//   - transitive: Cloud Identity's transitive search, where nested groups
//     count, so more users become eligible and peers.
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

// Projects lists the projects matching AVAILABLE_PROJECTS_QUERY. The list
// is the same for every user, so it is cached once for all of them: the
// project picker and My access no longer search Resource Manager on every
// page.
func (c *AssetInventory) Projects(ctx context.Context, _ jit.UserID) ([]jit.ProjectID, error) {
	ps, err := get(ctx, c.opts.Cache, cacheKey{kind: "projects", arg: c.opts.ProjectsQuery}, func(ctx context.Context) ([]jit.ProjectID, error) {
		return searchProjects(ctx, c.crm, c.opts, "catalog.AssetInventory.Projects")
	})
	return slices.Clone(ps), err
}

// effectiveBindings returns the bindings that apply to project: its own
// and those inherited from its ancestors within the scope.
func (c *AssetInventory) fetchEffectiveBindings(ctx context.Context, base jit.Entitlement) ([]*binding, error) {
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
				out = append(out, &binding{role: b.GetRole(), members: b.GetMembers(), expr: b.GetCondition().GetExpression(), resource: p.GetAttachedResource()})
			}
		}
	}
	return out, nil
}

type binding struct {
	role     string
	members  []string
	expr     string
	resource string // the full name of the resource the policy is attached to
}

// entitlements lists user's eligible entitlements on project.
func (c *AssetInventory) entitlements(ctx context.Context, user jit.UserID, project jit.ProjectID) ([]jit.EligibleEntitlement, []string, error) {
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
		groups, err = c.cachedGroupsOf(gctx, user)
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
	found, warnings := eligibleIn(bindings, user, groups, base, func(b *binding) {
		c.opts.widened.note(ctx, c.opts.Logger, base.FullResourceName(), b.role, b.expr, false)
	})
	return merge(found, active), warnings, nil
}

// groupsOf lists the groups user belongs to: directly (Directory API) or
// also through nested groups (Cloud Identity).
func (c *AssetInventory) groupsOf(ctx context.Context, user jit.UserID) ([]string, error) {
	if c.opts.Directory != nil {
		return c.directGroupsOf(ctx, user)
	}
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

// holders lists the users who hold ent with activation type typ, with
// their grounds, expanding groups as groupsOf resolves them (direct
// members, or nested ones too).
func (c *AssetInventory) holders(ctx context.Context, ent jit.Entitlement, typ jit.ActivationType) (map[jit.UserID][]jit.Grounds, error) {
	const op = "catalog.AssetInventory.Holders"
	bindings, err := c.effectiveBindings(ctx, at(ent))
	if err != nil {
		return nil, translate(op, c.opts.Scope, err)
	}
	out := map[jit.UserID][]jit.Grounds{}
	groups := map[string][]string{} // group → resources of the bindings naming it
	for _, b := range bindings {
		el, ok := eligibilityAt(at(ent), b.role, b.expr)
		if !ok || el.typ != typ || el.ent != ent {
			continue
		}
		resource := strings.TrimPrefix(b.resource, "//cloudresourcemanager.googleapis.com/")
		for _, m := range b.members {
			kind, id, _ := strings.Cut(m, ":")
			switch kind {
			case "user":
				if u, err := jit.ParseUserID(id); err == nil {
					out[u] = append(out[u], jit.Grounds{Resource: resource, Principals: []string{m}})
				}
			case "group":
				groups[strings.ToLower(id)] = append(groups[strings.ToLower(id)], resource)
			}
		}
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxGroupExpansions)
	for grp, resources := range groups {
		g.Go(func() error {
			members, err := c.membersOf(gctx, grp)
			if err != nil {
				// A group the app may not read (e.g. an external one)
				// contributes nobody, as in the original.
				c.opts.Logger.WarnContext(gctx, "expanding a group failed", "group", grp, "error", err)
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			for _, u := range members {
				for _, r := range resources {
					out[u] = append(out[u], jit.Grounds{Resource: r, Principals: []string{"group:" + grp}})
				}
			}
			return nil
		})
	}
	_ = g.Wait()
	return out, nil
}

// membersOf lists the users in a group: its direct members (Directory
// API) or also those of nested groups (Cloud Identity).
func (c *AssetInventory) membersOf(ctx context.Context, group string) ([]jit.UserID, error) {
	if c.opts.Directory != nil {
		return c.directMembersOf(ctx, group)
	}
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

// directGroupsOf lists the groups user is a direct member of, as the
// original's DirectoryGroupsClient.listDirectGroupMemberships.
func (c *AssetInventory) directGroupsOf(ctx context.Context, user jit.UserID) ([]string, error) {
	if strings.ContainsAny(string(user), ` '"\\`) {
		// Never splice quotes or spaces into a Directory query.
		return nil, jit.Invalid("catalog.directGroupsOf", "The user's email address contains characters that cannot be looked up")
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.ReadTimeout)
	defer cancel()
	var out []string
	err := c.opts.Directory.Groups.List().Customer(c.opts.CustomerID).Query("memberKey="+string(user)).MaxResults(200).
		Pages(ctx, func(r *admin.Groups) error {
			for _, g := range r.Groups {
				if g.Email != "" {
					out = append(out, g.Email)
				}
			}
			return nil
		})
	if err != nil {
		var g *googleapi.Error
		if errors.As(err, &g) && (g.Code == http.StatusBadRequest || g.Code == http.StatusNotFound) {
			// The original's message for the same answer.
			return nil, jit.E("catalog.directGroupsOf", jit.KindUnavailable, fmt.Sprintf(
				"The customer ID '%s' is invalid, the user '%s' does not exist, or it belongs to an unknown domain", c.opts.CustomerID, user), err)
		}
		return nil, fmt.Errorf("list groups of %s: %w", user, err)
	}
	return out, nil
}

// directMembersOf lists a group's direct members that are active users,
// as the original's DirectoryGroupsClient.listDirectGroupMembers.
func (c *AssetInventory) directMembersOf(ctx context.Context, group string) ([]jit.UserID, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.ReadTimeout)
	defer cancel()
	var out []jit.UserID
	err := c.opts.Directory.Members.List(group).MaxResults(200).Pages(ctx, func(r *admin.Members) error {
		for _, m := range r.Members {
			if m.Type != "USER" || m.Status != "ACTIVE" {
				continue
			}
			if u, err := jit.ParseUserID(m.Email); err == nil && !strings.HasSuffix(string(u), ".gserviceaccount.com") {
				out = append(out, u)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list members of %s: %w", group, err)
	}
	return out, nil
}
