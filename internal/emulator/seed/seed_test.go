package seed

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/emulator/fault"
	"github.com/jitaccess/jitaccess/internal/emulator/world"
)

const minimalSeed = `
organization: {id: "1", displayName: example.com, customerId: C01}
folders:
  - {id: "2", displayName: Prod}
projects:
  - id: proj-one
    parent: folders/2
    labels: {env: prod}
    iam:
      - role: roles/viewer
        members: ["group:g@example.com"]
        condition: {title: Eligible, expression: "has({}.jitAccessConstraint)"}
users: [{email: a@example.com}]
groups:
  - {email: g@example.com, members: ["user:a@example.com"]}
faults:
  "cloudasset.*": {latency: 5ms, code: 503, rate: 0.5}
indexDelay: 30s
`

func TestLoadSeedAndApply(t *testing.T) {
	t.Parallel()
	seed, err := LoadSeed(strings.NewReader(minimalSeed))
	if err != nil {
		t.Fatal(err)
	}
	w := world.New(nil)
	if err := seed.Apply(w); err != nil {
		t.Fatal(err)
	}
	p, ok := w.Project("proj-one")
	if !ok || p.Parent != "folders/2" || p.Number == 0 || p.DisplayName != "proj-one" || p.Labels["env"] != "prod" {
		t.Errorf("project = %+v", p)
	}
	pol, err2 := w.GetIamPolicy("projects/proj-one", 3)
	if err2 != nil || pol.Version != 3 || len(pol.Bindings) != 1 {
		t.Errorf("policy = %+v, %v", pol, err2)
	}
	// Seeded policies are visible to Asset at once and count as no write.
	if idx, _ := w.IndexedPolicy("projects/proj-one"); idx.Etag != pol.Etag {
		t.Error("seeded policy not indexed despite the index delay")
	}
	if n := w.TotalPolicyWrites(); n != 0 {
		t.Errorf("TotalPolicyWrites = %d after seeding", n)
	}
	if got := w.Faults.List()["cloudasset.*"]; got != (fault.Fault{Latency: 5 * time.Millisecond, Code: 503, Rate: 0.5}) {
		t.Errorf("fault = %+v", got)
	}
	if got := w.ExpandGroup("g@example.com"); len(got) != 1 || got[0] != "user:a@example.com" {
		t.Errorf("group = %v", got)
	}
}

func TestDemoSeedLoads(t *testing.T) {
	t.Parallel()
	w := demoWorld(t)
	if n := len(w.Projects()); n < 8 {
		t.Errorf("demo world has %d projects", n)
	}
	if n := len(w.Users()); n < 8 {
		t.Errorf("demo world has %d users", n)
	}
}

func TestLoadSeedRejects(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, yaml, want string }{
		{"unknown_top_level_field", "organisation: {id: '1'}", "unknown field"},
		{"unknown_nested_field", "organization: {id: '1', colour: red}", "colour"},
		{"non_numeric_org", "organization: {id: abc}", "numeric"},
		{"bad_customer", "organization: {id: '1', customerId: x}", "customerId"},
		{"folder_without_org", "folders: [{id: '2'}]", "no parent"},
		{"unknown_parent", "organization: {id: '1'}\nfolders: [{id: '2', parent: folders/9}]", "unknown parent"},
		{"folder_cycle", "organization: {id: '1'}\nfolders: [{id: '2', parent: folders/3}, {id: '3', parent: folders/2}]", "own ancestor"},
		{"duplicate_folder", "organization: {id: '1'}\nfolders: [{id: '2'}, {id: '2'}]", "twice"},
		{"bad_project_id", "organization: {id: '1'}\nprojects: [{id: P}]", "not a valid project id"},
		{"duplicate_project_number", "organization: {id: '1'}\nprojects: [{id: proj-one, number: 5}, {id: proj-two, number: 5}]", "duplicate number"},
		{"bad_email", "users: [{email: alice}]", "not an email"},
		{"duplicate_email", "users: [{email: a@example.com}]\ngroups: [{email: A@example.com}]", "twice"},
		{"bad_group_member", "groups: [{email: g@example.com, members: [alice]}]", "invalid member"},
		{"bad_binding", "organization: {id: '1', iam: [{role: roles/viewer, members: []}]}", "no members"},
		{"bad_condition", "organization: {id: '1', iam: [{role: roles/viewer, members: ['user:a@example.com'], condition: {title: t, expression: 'a &&'}}]}", "invalid"},
		{"bad_fault", "faults: {x: {code: 200}}", "400-599"},
		{"bad_fault_latency", "faults: {x: {latency: soon}}", "latency"},
		{"bad_index_delay", "indexDelay: -1s", "indexDelay"},
		{"not_yaml", "organization: [", "parse seed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadSeed(strings.NewReader(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadSeed error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestLoadSeedRejectsHugeInput(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("#", maxSeedBytes+1)
	if _, err := LoadSeed(strings.NewReader(big)); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Errorf("LoadSeed of %d bytes = %v", len(big), err)
	}
}

// FuzzLoadSeed checks that any input either fails to load or loads into a
// seed that applies to a world without error, and never panics.
func FuzzLoadSeed(f *testing.F) {
	demo, err := os.ReadFile("../../../testdata/demo.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{string(demo), minimalSeed, "", "{}", "organization: {id: '1'}", "folders: [{id: '2', parent: folders/2}]", "&a [*a]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 64<<10 {
			return // keep each iteration bounded
		}
		seed, err := LoadSeed(strings.NewReader(in))
		if err != nil {
			return
		}
		w := world.New(nil)
		if err := seed.Apply(w); err != nil {
			t.Fatalf("a validated seed failed to apply: %v\n%s", err, in)
		}
	})
}

func TestAssignedProjectNumbersAreUnique(t *testing.T) {
	t.Parallel()
	seed, err := LoadSeed(strings.NewReader(`
organization: {id: "1"}
projects:
  - {id: proj-auto}
  - {id: proj-given, number: 100000000001}
  - {id: proj-auto-two}
`))
	if err != nil {
		t.Fatal(err)
	}
	w := world.New(nil)
	if err := seed.Apply(w); err != nil {
		t.Fatal(err)
	}
	seen := map[int64]string{}
	for _, p := range w.Projects() {
		if other, dup := seen[p.Number]; dup {
			t.Errorf("%s and %s share number %d", p.ID, other, p.Number)
		}
		seen[p.Number] = p.ID
	}
	if p, _ := w.Project("proj-given"); p.Number != 100000000001 {
		t.Errorf("explicit number changed to %d", p.Number)
	}
}

// demoWorld is the world of testdata/demo.yaml.
func demoWorld(t *testing.T) *world.World {
	t.Helper()
	f, err := os.Open("../../../testdata/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := LoadSeed(f)
	if err != nil {
		t.Fatal(err)
	}
	w := world.New(nil)
	if err := s.Apply(w); err != nil {
		t.Fatal(err)
	}
	return w
}
