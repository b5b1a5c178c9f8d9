package emulator

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"google.golang.org/api/googleapi"
	iamv1 "google.golang.org/api/iam/v1"
)

func newTestIAM(t *testing.T, e *Emulator) *iamv1.Service {
	t.Helper()
	s, err := iamv1.NewService(t.Context(), e.HTTPClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEveryDemoRoleIsServed: roles.get knows every role the demo world
// binds, with permissions, so that the lint reads each of them.
func TestEveryDemoRoleIsServed(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestIAM(t, e)
	seen := map[string]bool{}
	resources := []string{demoOrg}
	for _, f := range e.World.Folders() {
		resources = append(resources, f.Name)
	}
	for _, p := range e.World.Projects() {
		resources = append(resources, "projects/"+p.ID)
	}
	for _, res := range resources {
		p, _ := e.World.Policy(res)
		for _, b := range p.Bindings {
			if seen[b.Role] {
				continue
			}
			seen[b.Role] = true
			r, err := s.Roles.Get(b.Role).Context(t.Context()).Do()
			if err != nil {
				t.Errorf("roles.get %s: %v", b.Role, err)
				continue
			}
			if r.Name != b.Role || r.Title == "" || len(r.IncludedPermissions) == 0 || r.Stage != "GA" {
				t.Errorf("roles.get %s = %+v, want its name, title, stage GA and permissions", b.Role, r)
			}
		}
	}
	if len(seen) < 10 {
		t.Fatalf("the demo world binds %d roles; is the seed read?", len(seen))
	}
}

func TestRolesGet(t *testing.T) {
	t.Parallel()
	seed, err := LoadSeed(strings.NewReader(`
organization: {id: "1", domain: example.com}
projects: [{id: my-project-1}]
roles:
  - name: projects/my-project-1/roles/deployer
    title: Deployer
    permissions: [run.services.create, iam.serviceAccounts.actAs]
  - name: organizations/1/roles/auditor
    title: Auditor
    stage: ALPHA
    permissions: [logging.logEntries.list]
`))
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEmulator(t, func(o *Options) { o.Seed = seed })
	s := newTestIAM(t, e)
	ctx := t.Context()

	r, err := s.Roles.Get("roles/iam.serviceAccountTokenCreator").Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(r.IncludedPermissions, "iam.serviceAccounts.getAccessToken") {
		t.Errorf("roles/iam.serviceAccountTokenCreator has %v, want getAccessToken among them", r.IncludedPermissions)
	}
	r, err = s.Projects.Roles.Get("projects/my-project-1/roles/deployer").Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	if r.Title != "Deployer" || !slices.Equal(r.IncludedPermissions, []string{"run.services.create", "iam.serviceAccounts.actAs"}) {
		t.Errorf("custom role = %+v", r)
	}
	r, err = s.Organizations.Roles.Get("organizations/1/roles/auditor").Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	if r.Stage != "" {
		t.Errorf("an ALPHA role's stage = %q; Google leaves it out", r.Stage)
	}

	for _, name := range []string{"roles/no.such.role", "projects/my-project-1/roles/auditor", "organizations/2/roles/auditor"} {
		_, err := s.Roles.Get(name).Context(ctx).Do()
		var gerr *googleapi.Error
		if !errors.As(err, &gerr) || gerr.Code != http.StatusNotFound {
			t.Errorf("roles.get %s: %v, want 404", name, err)
		}
	}

	e.World.Faults.Set("iam.roles.get", Fault{Code: http.StatusServiceUnavailable, Count: 1})
	_, err = s.Roles.Get("roles/viewer").Context(ctx).Do()
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) || gerr.Code != http.StatusServiceUnavailable {
		t.Errorf("roles.get under a fault: %v, want 503", err)
	}
}

func TestSeedRolesAreValidated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, roles, want string }{
		{"bad_name", `[{name: roles/mine, permissions: [a.b.c]}]`, "must be named"},
		{"unknown_project", `[{name: projects/other-project/roles/mine, permissions: [a.b.c]}]`, "which the seed does not define"},
		{"twice", `[{name: organizations/1/roles/mine}, {name: organizations/1/roles/mine}]`, "defined twice"},
		{"bad_permission", `[{name: organizations/1/roles/mine, permissions: ["not a permission"]}]`, "is not a permission name"},
		{"unknown_field", `[{name: organizations/1/roles/mine, includedPermissions: [a.b.c]}]`, "includedPermissions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadSeed(strings.NewReader("organization: {id: \"1\", domain: example.com}\nroles: " + tc.roles + "\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadSeed: %v, want an error with %q", err, tc.want)
			}
		})
	}
}
