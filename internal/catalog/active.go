package catalog

import (
	"context"
	"maps"
	"time"

	"google.golang.org/api/cloudresourcemanager/v3"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// Active returns, per entitlement of project, the end of user's current
// activation, read from the project's live policy (cached briefly): what
// a reviewer's view of a request needs, without asking Cloud Asset what
// the beneficiary is eligible for.
func (c *PolicyAnalyzer) Active(ctx context.Context, user jit.UserID, project jit.ProjectID) (map[jit.Entitlement]time.Time, error) {
	return cachedActive(ctx, c.crm, c.opts, "catalog.PolicyAnalyzer.Active", user, project)
}

// Active is PolicyAnalyzer.Active for the AssetInventory catalog.
func (c *AssetInventory) Active(ctx context.Context, user jit.UserID, project jit.ProjectID) (map[jit.Entitlement]time.Time, error) {
	return cachedActive(ctx, c.crm, c.opts, "catalog.AssetInventory.Active", user, project)
}

func cachedActive(ctx context.Context, crm *cloudresourcemanager.Service, opts Options, op string, user jit.UserID, project jit.ProjectID) (map[jit.Entitlement]time.Time, error) {
	m, err := get(ctx, opts.Cache, cacheKey{kind: "active", user: user, arg: string(project)}, func(ctx context.Context) (map[jit.Entitlement]time.Time, error) {
		return activeWindows(ctx, crm, opts.ReadTimeout, project, user.Member(), opts.Clock())
	})
	if err != nil {
		return nil, translate(op, opts.Scope, err)
	}
	return maps.Clone(m), nil
}
