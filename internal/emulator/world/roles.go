package world

import (
	"slices"
	"strings"
)

// Role is a custom IAM role of an organization or project
// (organizations/O/roles/R, projects/P/roles/R), as the IAM API's
// roles.get returns it. Predefined roles (roles/R) are not world state:
// Google defines them, and package iamapi serves its copy of them.
type Role struct {
	Name        string   `yaml:"name"`
	Title       string   `yaml:"title"`
	Description string   `yaml:"description"`
	Permissions []string `yaml:"permissions"`
	// Stage is the launch stage (GA, BETA, ALPHA, …); "" means GA.
	Stage string `yaml:"stage"`
}

// AddRole adds or replaces a custom role.
func (w *World) AddRole(r Role) {
	r.Permissions = slices.Clone(r.Permissions)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.roles == nil {
		w.roles = map[string]*Role{}
	}
	w.roles[r.Name] = &r
}

// CustomRole returns a custom role by its full name.
func (w *World) CustomRole(name string) (Role, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	r, ok := w.roles[name]
	if !ok {
		return Role{}, false
	}
	out := *r
	out.Permissions = slices.Clone(r.Permissions)
	return out, true
}

// CustomRoleParent returns the organization or project that a custom
// role's name places it in ("organizations/O", "projects/P"), or false
// for a name of another form.
func CustomRoleParent(name string) (string, bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[2] != "roles" || parts[1] == "" || parts[3] == "" {
		return "", false
	}
	if parts[0] != "organizations" && parts[0] != "projects" {
		return "", false
	}
	return parts[0] + "/" + parts[1], true
}
