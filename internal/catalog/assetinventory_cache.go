package catalog

import (
	"context"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// Entitlements lists user's eligible entitlements on project, from the
// project's effective policies and the user's groups, with the status of
// each read from the project's current policy; cached per user.
func (c *AssetInventory) Entitlements(ctx context.Context, user jit.UserID, project jit.ProjectID) ([]jit.EligibleEntitlement, []string, error) {
	return cachedEntitlements(ctx, c.opts.Cache, user, project, func(ctx context.Context) (entitlementsResult, error) {
		ents, warnings, err := c.entitlements(ctx, user, project)
		return entitlementsResult{ents: ents, warnings: warnings}, err
	})
}

// Holders lists the users who hold ent with activation type typ, expanding
// groups (nested ones included) through Cloud Identity; cached.
func (c *AssetInventory) Holders(ctx context.Context, ent jit.Entitlement, typ jit.ActivationType) ([]jit.UserID, error) {
	m, err := c.HolderGrounds(ctx, ent, typ)
	return userIDs(m), err
}

// HolderGrounds is Holders with, for each user, where they hold ent.
func (c *AssetInventory) HolderGrounds(ctx context.Context, ent jit.Entitlement, typ jit.ActivationType) (map[jit.UserID][]jit.Grounds, error) {
	return cachedHolders(ctx, c.opts.Cache, ent, typ, func(ctx context.Context) (map[jit.UserID][]jit.Grounds, error) {
		return c.holders(ctx, ent, typ)
	})
}

// effectiveBindings returns the bindings that apply to project. A peer
// listing needs them twice at once — for the caller's eligibility and for
// the other holders — and the cache makes that one call.
func (c *AssetInventory) effectiveBindings(ctx context.Context, base jit.Entitlement) ([]*binding, error) {
	return get(ctx, c.opts.Cache, cacheKey{kind: "effective", arg: base.FullResourceName()}, func(ctx context.Context) ([]*binding, error) {
		bindings, err := c.fetchEffectiveBindings(ctx, base)
		if err == nil {
			// Once per fetch, not per request: every listing, peer
			// lookup and approval of the resource reads these.
			c.opts.noteApprovers(ctx, base, bindings)
		}
		return bindings, err
	})
}

// cachedGroupsOf lists the groups of user, cached per user.
func (c *AssetInventory) cachedGroupsOf(ctx context.Context, user jit.UserID) ([]string, error) {
	return get(ctx, c.opts.Cache, cacheKey{kind: "groups", user: user}, func(ctx context.Context) ([]string, error) {
		return c.groupsOf(ctx, user)
	})
}

// GroundsOf says where each of users holds ent with typ (users who do not
// are left out): from the project's effective policies and each user's
// groups, all read at once (and cached), so that an approval can confirm
// the requester's and the approver's eligibility in one round trip
// instead of expanding every group of the binding.
func (c *AssetInventory) GroundsOf(ctx context.Context, users []jit.UserID, ent jit.Entitlement, typ jit.ActivationType) (map[jit.UserID][]jit.Grounds, error) {
	const op = "catalog.AssetInventory.GroundsOf"
	var bindings []*binding
	groups := make([][]string, len(users))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		bindings, err = c.effectiveBindings(gctx, at(ent))
		return err
	})
	for i, u := range users {
		g.Go(func() error {
			var err error
			groups[i], err = c.cachedGroupsOf(gctx, u)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		if jit.KindOf(err) != jit.KindInternal {
			return nil, err
		}
		return nil, translate(op, c.opts.Scope, err)
	}
	out := map[jit.UserID][]jit.Grounds{}
	for i, u := range users {
		set := map[string]bool{}
		for _, grp := range groups[i] {
			set[strings.ToLower(grp)] = true
		}
		for _, b := range bindings {
			el, ok := eligibilityOf(ent.Project, b.role, b.expr)
			if !ok || el.typ != typ || el.ent != ent {
				continue
			}
			if gr := groundsOf(b.resource, b.members, u, set); len(gr) > 0 {
				out[u] = append(out[u], gr...)
			}
		}
	}
	return out, nil
}

// eligibleIn picks from a project's effective bindings those that make
// user (directly or through one of groups) eligible, with their grounds,
// and warnings about bindings that cannot be activated.
func eligibleIn(bindings []*binding, user jit.UserID, groups []string, base jit.Entitlement, onEligible func(*binding)) ([]eligible, []string) {
	principals := map[string]bool{strings.ToLower(user.Member()): true}
	groupSet := map[string]bool{}
	for _, grp := range groups {
		principals["group:"+strings.ToLower(grp)] = true
		groupSet[strings.ToLower(grp)] = true
	}
	var found []eligible
	var warnings []string
	for _, b := range bindings {
		if !slices.ContainsFunc(b.members, func(m string) bool { return principals[strings.ToLower(m)] }) {
			continue
		}
		el, ok, warning := eligibilityOrWarningAt(base, b.role, b.expr)
		if ok {
			el.grounds = groundsOf(b.resource, b.members, user, groupSet)
			found = append(found, el)
			if onEligible != nil {
				onEligible(b)
			}
		}
		if warning != "" {
			warnings = append(warnings, warning)
		}
	}
	return found, sortedUnique(warnings)
}

// Eligibility lists user's eligible entitlements on project with their
// grounds but without their status: what a write needs before it
// confirms them in the live policy, which it reads itself. Served from
// the cached roles page when there is one.
func (c *AssetInventory) Eligibility(ctx context.Context, user jit.UserID, project jit.ProjectID) ([]jit.EligibleEntitlement, error) {
	const op = "catalog.AssetInventory.Eligibility"
	if r, ok := peek[entitlementsResult](c.opts.Cache, cacheKey{kind: "entitlements", user: user, arg: string(project)}); ok {
		return slices.Clone(r.ents), nil
	}
	var bindings []*binding
	var groups []string
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		bindings, err = c.effectiveBindings(gctx, jit.Entitlement{Project: project})
		return err
	})
	g.Go(func() error {
		var err error
		groups, err = c.cachedGroupsOf(gctx, user)
		return err
	})
	if err := g.Wait(); err != nil {
		if jit.KindOf(err) != jit.KindInternal {
			return nil, err
		}
		return nil, translate(op, c.opts.Scope, err)
	}
	found, _ := eligibleIn(bindings, user, groups, jit.Entitlement{Project: project}, nil)
	return merge(found, nil), nil
}
