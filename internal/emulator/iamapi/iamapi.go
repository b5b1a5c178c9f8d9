// Package iamapi emulates the part of the Identity and Access Management
// API (iam.googleapis.com, REST v1) that jitaccess reads: roles.get, for
// predefined roles (roles/R) and for the custom roles of organizations
// and projects (organizations/O/roles/R, projects/P/roles/R), so that
// `jitaccess lint` can learn what an eligible role permits.
package iamapi

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/jitaccess/jitaccess/internal/emulator/wire"
	"github.com/jitaccess/jitaccess/internal/emulator/world"
)

// predefinedYAML is the emulator's copy of Google's predefined roles: the
// roles the demo and synthetic worlds bind, each with a documented subset
// of its permissions (see the file's header).
//
//go:embed predefined.yaml
var predefinedYAML []byte

// Service serves roles.get.
//
// What it models: the three name forms of roles.get, a predefined role's
// title, description, stage and included permissions (a subset of Google's
// list, see predefined.yaml), the world's custom roles (from the seed's
// roles: section), an etag per role, NOT_FOUND for a role that does not
// exist and INVALID_ARGUMENT for a name of another form, and faults under
// "iam.roles.get", "iam.projects.roles.get" and
// "iam.organizations.roles.get". What it does not model: creating,
// changing, deleting or listing roles, queryGrantableRoles, permission
// checks on the caller (every caller may read every role, as any
// authenticated caller may read predefined roles at Google), and the rest
// of the IAM API (service accounts, keys, pools, deny policies).
type Service struct {
	w *world.World

	once       sync.Once
	predefined map[string]world.Role
	loadErr    error
}

// New returns the IAM API of w.
func New(w *world.World) *Service { return &Service{w: w} }

// Predefined returns the emulator's copy of a predefined role.
func (s *Service) Predefined(name string) (world.Role, bool, error) {
	s.once.Do(func() { s.predefined, s.loadErr = parsePredefined(predefinedYAML) })
	if s.loadErr != nil {
		return world.Role{}, false, s.loadErr
	}
	r, ok := s.predefined[name]
	r.Permissions = slices.Clone(r.Permissions)
	return r, ok, nil
}

func parsePredefined(data []byte) (map[string]world.Role, error) {
	var roles []world.Role
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&roles); err != nil {
		return nil, fmt.Errorf("iamapi: predefined roles: %w", err)
	}
	out := make(map[string]world.Role, len(roles))
	for _, r := range roles {
		if !strings.HasPrefix(r.Name, "roles/") || len(r.Permissions) == 0 {
			return nil, fmt.Errorf("iamapi: predefined role %q: want a roles/ name and permissions", r.Name)
		}
		if _, dup := out[r.Name]; dup {
			return nil, fmt.Errorf("iamapi: predefined role %s is listed twice", r.Name)
		}
		out[r.Name] = r
	}
	return out, nil
}

// roleName is a role's name in any of roles.get's three forms.
var roleName = regexp.MustCompile(`^(roles|organizations/[^/]+/roles|projects/[^/]+/roles)/[^/]+$`)

// ServeHTTP routes roles.get.
func (s *Service) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/v1/")
	if !roleName.MatchString(name) {
		wire.WriteError(rw, wire.NotFoundPath(r))
		return
	}
	if r.Method != http.MethodGet {
		rw.Header().Set("Allow", http.MethodGet)
		wire.WriteError(rw, wire.New(http.StatusMethodNotAllowed, "The emulator serves only roles.get (GET), not "+r.Method+"."))
		return
	}
	if err := wire.CheckStandardParams(r); err != nil {
		wire.WriteError(rw, err)
		return
	}
	method := "iam.roles.get"
	switch {
	case strings.HasPrefix(name, "projects/"):
		method = "iam.projects.roles.get"
	case strings.HasPrefix(name, "organizations/"):
		method = "iam.organizations.roles.get"
	}
	if err := s.w.Faults.Apply(r.Context(), method); err != nil {
		wire.WriteError(rw, err)
		return
	}
	role, ok, err := s.role(name)
	switch {
	case err != nil:
		wire.WriteError(rw, wire.New(http.StatusInternalServerError, err.Error()))
		return
	case !ok:
		wire.WriteError(rw, wire.New(http.StatusNotFound, fmt.Sprintf("The role named %s was not found.", name)))
		return
	}
	stage := role.Stage
	if stage == "" {
		stage = "GA"
	}
	// The schema's etag is bytes (base64), unlike a resource's HTTP etag.
	sum := sha256.Sum256([]byte(strings.Join(append([]string{role.Name, role.Title, stage}, role.Permissions...), "\x00")))
	etag := base64.StdEncoding.EncodeToString(sum[:8])
	out := map[string]any{
		"name":                role.Name,
		"title":               role.Title,
		"includedPermissions": role.Permissions,
		"etag":                etag,
	}
	if role.Description != "" {
		out["description"] = role.Description
	}
	// Google leaves stage out of an ALPHA role (the schema's enumDescriptions).
	if stage != "ALPHA" {
		out["stage"] = stage
	}
	wire.WriteJSON(rw, out)
}

func (s *Service) role(name string) (world.Role, bool, error) {
	if strings.HasPrefix(name, "roles/") {
		return s.Predefined(name)
	}
	r, ok := s.w.CustomRole(name)
	return r, ok, nil
}

// Owns reports whether a request path is a role's, in any of the three
// name forms (IAM Credentials' paths are under serviceAccounts/, never
// roles/).
func Owns(path string) bool {
	name, ok := strings.CutPrefix(path, "/v1/")
	return ok && roleName.MatchString(name)
}
