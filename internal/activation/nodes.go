package activation

import (
	"context"
	"slices"
	"strings"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// Activation on folders and organizations: eligible bindings there are
// activated at that level, not only inherited into projects. Everything
// else (rules, eligibility re-checks, approval, lifecycle) is the same as
// for projects; the use cases work on a "scope", an Entitlement with only
// its Project or its Node set.

// NodeCatalog tells who is eligible for what on folders and organizations.
type NodeCatalog interface {
	// Nodes lists "folders/F" and "organizations/O" where user may have
	// eligible roles.
	Nodes(ctx context.Context, user jit.UserID) ([]string, error)
	// NodeEntitlements is Catalog.Entitlements for a folder or the
	// organization.
	NodeEntitlements(ctx context.Context, user jit.UserID, node string) ([]jit.EligibleEntitlement, []string, error)
}

// NodeGrants writes activation bindings into a folder's or the
// organization's policy. All activations are for node and one beneficiary.
type NodeGrants interface {
	GrantNode(ctx context.Context, node string, activations []jit.Activation) error
}

// scopeOf is the resource part of an entitlement.
func scopeOf(e jit.Entitlement) jit.Entitlement {
	return jit.Entitlement{Project: e.Project, Node: e.Node}
}

func (s *Service) nodesEnabled() bool { return s.opts.Nodes != nil && s.opts.NodeGrants != nil }

// parseScope parses a project id, or a node name when nodes are enabled.
func (s *Service) parseScope(v string) (jit.Entitlement, error) {
	if s.nodesEnabled() && jit.ValidNode(v) {
		return jit.Entitlement{Node: v}, nil
	}
	p, err := jit.ParseProjectID(v)
	if err != nil {
		return jit.Entitlement{}, err
	}
	return jit.Entitlement{Project: p}, nil
}

// requiredScope is parseScope with the original's message for a missing
// project.
func (s *Service) requiredScope(op, v string) (jit.Entitlement, error) {
	if strings.TrimSpace(v) == "" {
		return jit.Entitlement{}, jit.Invalid(op, "You must provide a projectId")
	}
	return s.parseScope(v)
}

// entitlementsAt asks the catalog for the user's entitlements on scope.
func (s *Service) entitlementsAt(ctx context.Context, user jit.UserID, scope jit.Entitlement) ([]jit.EligibleEntitlement, []string, error) {
	if scope.Node != "" {
		if !s.nodesEnabled() {
			return nil, nil, jit.Denied("activation.entitlementsAt", "Activation on folders and organizations is not enabled")
		}
		return s.opts.Nodes.NodeEntitlements(ctx, user, scope.Node)
	}
	return s.catalog.Entitlements(ctx, user, scope.Project)
}

// grant writes activations, all on one scope, through the writer of its
// kind.
func (s *Service) grant(ctx context.Context, acts []jit.Activation) error {
	if len(acts) > 0 && acts[0].Entitlement.Node != "" {
		if !s.nodesEnabled() {
			return jit.Denied("activation.grant", "Activation on folders and organizations is not enabled")
		}
		return s.opts.NodeGrants.GrantNode(ctx, acts[0].Entitlement.Node, acts)
	}
	return s.grants.Grant(ctx, acts)
}

// NodesEnabled reports whether folders and organizations can be activated.
func (s *Service) NodesEnabled() bool { return s.nodesEnabled() }

// ListNodes lists the folders and organizations where the caller may have
// eligible roles, sorted. Errors: KindNotFound when the feature is off.
func (s *Service) ListNodes(ctx context.Context, caller jit.Principal, kind string) ([]string, error) {
	const op = "activation.ListNodes"
	if !s.nodesEnabled() {
		return nil, jit.E(op, jit.KindNotFound, "Activation on folders and organizations is not enabled", nil)
	}
	nodes, err := s.opts.Nodes.Nodes(ctx, caller.Email)
	if err != nil {
		return nil, wrapUpstream(op, "Listing folders and organizations failed", err)
	}
	nodes = slices.DeleteFunc(slices.Clone(nodes), func(n string) bool { return !strings.HasPrefix(n, kind+"/") })
	slices.Sort(nodes)
	return slices.Compact(nodes), nil
}
