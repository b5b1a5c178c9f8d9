package activation

import (
	"context"
	"slices"
	"strings"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// Activation on folders and organizations (when
// ACTIVATION_ON_FOLDERS_AND_ORGANIZATIONS is on): eligible bindings there
// are activated at that level, not only inherited into projects. To the
// use cases a folder or the organization is a jit.Scope like a project:
// the same rules, confirmation, approval and lifecycle.

// parseScope parses a project id, or a folder's or the organization's
// name when they are enabled.
func (s *Service) parseScope(v string) (jit.Scope, error) {
	return jit.ParseScope(v, s.opts.FoldersAndOrganizations)
}

// scopeOfResource is the scope of a binding's resource name, refused
// where that kind of scope is not enabled.
func (s *Service) scopeOfResource(resource string) (jit.Scope, error) {
	return jit.ParseScopeResource(resource, s.opts.FoldersAndOrganizations)
}

// requiredScope is parseScope with the original's message for a missing
// project.
func (s *Service) requiredScope(op, v string) (jit.Scope, error) {
	if strings.TrimSpace(v) == "" {
		return "", jit.Invalid(op, "You must provide a projectId")
	}
	return s.parseScope(v)
}

// NodesEnabled reports whether folders and organizations can be activated.
func (s *Service) NodesEnabled() bool { return s.opts.FoldersAndOrganizations }

// ListNodes lists the folders and organizations of kind ("folders",
// "organizations") where the caller may have eligible roles, sorted.
// Errors: KindNotFound when the feature is off.
func (s *Service) ListNodes(ctx context.Context, caller jit.Principal, kind string) ([]string, error) {
	const op = "activation.ListNodes"
	if !s.opts.FoldersAndOrganizations {
		return nil, jit.E(op, jit.KindNotFound, "Activation on folders and organizations is not enabled", nil)
	}
	nodes, err := s.catalog.Nodes(ctx, caller.Email)
	if err != nil {
		return nil, wrapUpstream(op, "Listing folders and organizations failed", err)
	}
	nodes = slices.DeleteFunc(slices.Clone(nodes), func(n string) bool { return jit.Scope(n).Kind() != kind })
	slices.Sort(nodes)
	return slices.Compact(nodes), nil
}
