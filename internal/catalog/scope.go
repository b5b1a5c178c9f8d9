package catalog

import (
	"context"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// The use cases name one kind of place, a scope (jit.Scope); the catalogs
// answer projects from the per-user index or cache and folders and the
// organization with a query of their own, and these methods pick which.

// EntitlementsAt is Entitlements for a project and NodeEntitlements for a
// folder or the organization.
func (c *PolicyAnalyzer) EntitlementsAt(ctx context.Context, user jit.UserID, scope jit.Scope) ([]jit.EligibleEntitlement, []string, error) {
	return scopeEntitlements(ctx, c, user, scope)
}

// EligibilityAt is Eligibility for a project; for a folder or the
// organization, NodeEntitlements without its warnings.
func (c *PolicyAnalyzer) EligibilityAt(ctx context.Context, user jit.UserID, scope jit.Scope) ([]jit.EligibleEntitlement, error) {
	return scopeEligibility(ctx, c, user, scope)
}

// EntitlementsAt is PolicyAnalyzer.EntitlementsAt for AssetInventory.
func (c *AssetInventory) EntitlementsAt(ctx context.Context, user jit.UserID, scope jit.Scope) ([]jit.EligibleEntitlement, []string, error) {
	return scopeEntitlements(ctx, c, user, scope)
}

// EligibilityAt is PolicyAnalyzer.EligibilityAt for AssetInventory.
func (c *AssetInventory) EligibilityAt(ctx context.Context, user jit.UserID, scope jit.Scope) ([]jit.EligibleEntitlement, error) {
	return scopeEligibility(ctx, c, user, scope)
}

// byKind is what both catalogs answer per kind of scope.
type byKind interface {
	Entitlements(ctx context.Context, user jit.UserID, project jit.ProjectID) ([]jit.EligibleEntitlement, []string, error)
	NodeEntitlements(ctx context.Context, user jit.UserID, node string) ([]jit.EligibleEntitlement, []string, error)
	Eligibility(ctx context.Context, user jit.UserID, project jit.ProjectID) ([]jit.EligibleEntitlement, error)
}

func scopeEntitlements(ctx context.Context, c byKind, user jit.UserID, scope jit.Scope) ([]jit.EligibleEntitlement, []string, error) {
	if p := scope.Project(); p != "" {
		return c.Entitlements(ctx, user, p)
	}
	return c.NodeEntitlements(ctx, user, string(scope))
}

func scopeEligibility(ctx context.Context, c byKind, user jit.UserID, scope jit.Scope) ([]jit.EligibleEntitlement, error) {
	if p := scope.Project(); p != "" {
		return c.Eligibility(ctx, user, p)
	}
	ents, _, err := c.NodeEntitlements(ctx, user, string(scope))
	return ents, err
}
