package jit

import "strings"

// Scope is what the write path works on: the resource whose IAM policy an
// activation is written to — "projects/P", "folders/F" or
// "organizations/O". Projects, folders and the organization differ only
// in their name; the rules, the confirmation and the writer are the same
// for all three (DESIGN.md §10).
type Scope string

// ScopeOf is the scope of an entitlement.
func ScopeOf(e Entitlement) Scope { return Scope(e.Resource()) }

// ParseScope reads a scope as the API names it: a project id, or, when
// nodes are allowed (ACTIVATION_ON_FOLDERS_AND_ORGANIZATIONS), "folders/F"
// or "organizations/O".
func ParseScope(s string, nodes bool) (Scope, error) {
	if nodes && ValidNode(s) {
		return Scope(s), nil
	}
	p, err := ParseProjectID(s)
	if err != nil {
		return "", err
	}
	return Scope(p.ResourceName()), nil
}

// ParseScopeResource reads a scope from a binding's resource name
// ("projects/P", "folders/F", "organizations/O"), refusing a folder or the
// organization when nodes are not allowed.
func ParseScopeResource(resource string, nodes bool) (Scope, error) {
	if ValidNode(resource) && !nodes {
		return "", Invalid("jit.ParseScopeResource", "Activation on folders and organizations is not enabled")
	}
	return ParseScope(Scope(resource).Name(), nodes)
}

// Project is P of "projects/P", or "" for a folder or the organization.
func (s Scope) Project() ProjectID { return ProjectOfResource(string(s)) }

// Entitlement is role (narrowed by cond) on the scope.
func (s Scope) Entitlement(role, cond string) Entitlement {
	e := Entitlement{Role: role, ResourceCondition: cond}
	if p := s.Project(); p != "" {
		e.Project = p
	} else {
		e.Node = string(s)
	}
	return e
}

// Name is how the API and people name the scope: the project id, or the
// folder's or organization's resource name.
func (s Scope) Name() string {
	if p := s.Project(); p != "" {
		return string(p)
	}
	return string(s)
}

// Kind is "projects", "folders" or "organizations".
func (s Scope) Kind() string {
	k, _, _ := strings.Cut(string(s), "/")
	return k
}
