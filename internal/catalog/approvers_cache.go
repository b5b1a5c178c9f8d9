package catalog

import (
	"context"
	"slices"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// Approvers returns ent's dedicated approvers and quorum, and its peers
// (see approvers), cached: the peers list, the request and the approval
// that follow ask the same question.
func (c *PolicyAnalyzer) Approvers(ctx context.Context, ent jit.Entitlement) (jit.ApproverPolicy, error) {
	return cachedApprovers(ctx, c.opts.Cache, ent, c.approvers)
}

// Approvers is PolicyAnalyzer.Approvers for the AssetInventory catalog.
func (c *AssetInventory) Approvers(ctx context.Context, ent jit.Entitlement) (jit.ApproverPolicy, error) {
	return cachedApprovers(ctx, c.opts.Cache, ent, c.approvers)
}

func cachedApprovers(ctx context.Context, cache *Cache, ent jit.Entitlement, fetch func(context.Context, jit.Entitlement) (jit.ApproverPolicy, error)) (jit.ApproverPolicy, error) {
	ap, err := get(ctx, cache, cacheKey{kind: "approvers", arg: ent.ID() + "\x00" + ent.ResourceCondition}, func(ctx context.Context) (jit.ApproverPolicy, error) {
		return fetch(ctx, ent)
	})
	ap.Approvers, ap.Peers = slices.Clone(ap.Approvers), slices.Clone(ap.Peers)
	return ap, err
}

// ApprovalRule says whether approver bindings declare dedicated
// approvers for ent and the quorum they ask for (0 where none declares
// one, as Approvers: the deployment's default then applies), from the
// project's effective policies alone: unlike Approvers it expands no
// group, so a request's page and an approval know the rule in one round
// trip. The returned policy lists no one.
func (c *AssetInventory) ApprovalRule(ctx context.Context, ent jit.Entitlement) (jit.ApproverPolicy, error) {
	bindings, err := c.effectiveBindings(ctx, at(ent))
	if err != nil {
		return jit.ApproverPolicy{}, translate("catalog.AssetInventory.ApprovalRule", c.opts.Scope, err)
	}
	var rule jit.ApproverPolicy
	for _, b := range bindings {
		if a, ok := approverOf(ent, b.role, b.expr); ok {
			rule.Dedicated = true
			rule.Quorum = max(rule.Quorum, a.Quorum)
		}
	}
	return rule, nil
}

// ApprovalRule is AssetInventory.ApprovalRule for the PolicyAnalyzer
// catalog, from the (cached) Approvers answer, one round trip here too.
func (c *PolicyAnalyzer) ApprovalRule(ctx context.Context, ent jit.Entitlement) (jit.ApproverPolicy, error) {
	ap, err := c.Approvers(ctx, ent)
	return jit.ApproverPolicy{Dedicated: ap.Dedicated, Quorum: ap.Quorum}, err
}
