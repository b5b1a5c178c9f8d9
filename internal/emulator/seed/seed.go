// Package seed reads the YAML description of a world (testdata/demo.yaml
// is the demo's) and applies it to a world.World; it also builds synthetic
// worlds of any size for scale tests. The format is documented in
// docs/emulator.md.
package seed

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/jitaccess/jitaccess/internal/emulator/fault"
	"github.com/jitaccess/jitaccess/internal/emulator/world"
)

// Seed is the YAML description of a world: the hierarchy with each node's
// IAM bindings, the identities, and optional faults and index delay. See
// testdata/demo.yaml for an example and docs/emulator.md for the format.
type Seed struct {
	Organization    *SeedOrganization      `yaml:"organization"`
	Folders         []SeedFolder           `yaml:"folders"`
	Projects        []SeedProject          `yaml:"projects"`
	Users           []world.User           `yaml:"users"`
	Groups          []SeedGroup            `yaml:"groups"`
	ServiceAccounts []world.ServiceAccount `yaml:"serviceAccounts"`
	Secrets         []SeedSecret           `yaml:"secrets"`
	// Roles are custom roles (organizations/O/roles/R, projects/P/roles/R)
	// that the IAM API's roles.get serves; predefined roles need no entry.
	Roles      []world.Role         `yaml:"roles"`
	Faults     map[string]SeedFault `yaml:"faults"`
	IndexDelay string               `yaml:"indexDelay"`
	Extra      map[string]yaml.Node `yaml:",inline"`
}

// SeedOrganization is the organization of a seed.
type SeedOrganization struct {
	ID          string          `yaml:"id"`
	DisplayName string          `yaml:"displayName"`
	Domain      string          `yaml:"domain"`
	CustomerID  string          `yaml:"customerId"`
	IAM         []world.Binding `yaml:"iam"`
}

// SeedFolder is a folder of a seed; Parent is "organizations/N" or
// "folders/N" and defaults to the organization.
type SeedFolder struct {
	ID          string          `yaml:"id"`
	DisplayName string          `yaml:"displayName"`
	Parent      string          `yaml:"parent"`
	IAM         []world.Binding `yaml:"iam"`
}

// SeedProject is a project of a seed; Number is assigned when zero.
type SeedProject struct {
	ID          string            `yaml:"id"`
	Number      int64             `yaml:"number"`
	DisplayName string            `yaml:"displayName"`
	Parent      string            `yaml:"parent"`
	Labels      map[string]string `yaml:"labels"`
	IAM         []world.Binding   `yaml:"iam"`
}

// SeedGroup is a group of a seed.
type SeedGroup struct {
	Email       string   `yaml:"email"`
	DisplayName string   `yaml:"displayName"`
	Members     []string `yaml:"members"`
}

// SeedSecret is a Secret Manager secret ("projects/P/secrets/S") and its
// versions, oldest first.
type SeedSecret struct {
	Name     string   `yaml:"name"`
	Versions []string `yaml:"versions"`
}

var secretNamePattern = regexp.MustCompile(`^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/secrets/[A-Za-z0-9_-]{1,255}$`)

// SeedFault is a fault of a seed, with the latency as a Go duration string.
type SeedFault struct {
	Latency string  `yaml:"latency" json:"latency,omitempty"`
	Code    int     `yaml:"code" json:"code,omitempty"`
	Rate    float64 `yaml:"rate" json:"rate,omitempty"`
	Message string  `yaml:"message" json:"message,omitempty"`
	Count   int     `yaml:"count" json:"count,omitempty"`
	// RoundTrip: Latency is the whole round trip (see Fault.RoundTrip).
	RoundTrip bool `yaml:"roundTrip" json:"roundTrip,omitempty"`
}

// maxSeedBytes bounds what LoadSeed reads; a demo world is a few KiB.
const maxSeedBytes = 4 << 20

var (
	numericID  = regexp.MustCompile(`^[0-9]{1,20}$`)
	projectID  = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	emailLike  = regexp.MustCompile(`^[a-zA-Z0-9._%+'-]{1,64}@[a-zA-Z0-9.-]{1,253}\.[a-zA-Z]{2,63}$`)
	customerID = regexp.MustCompile(`^C[0-9a-zA-Z]{1,20}$`)
	// roleID is a custom role's id, as roles.create documents it.
	roleID         = regexp.MustCompile(`^[a-zA-Z0-9_.]{3,64}$`)
	permissionName = regexp.MustCompile(`^[a-z][a-zA-Z0-9-]*(\.[a-zA-Z0-9]+){2,}$`)
)

// LoadSeed parses and validates a YAML seed. Unknown fields are errors, so
// typos in a seed file don't silently produce a different world.
func LoadSeed(r io.Reader) (*Seed, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSeedBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read seed: %w", err)
	}
	if len(data) > maxSeedBytes {
		return nil, fmt.Errorf("seed is larger than %d bytes", maxSeedBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Seed
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse seed: %w", err)
	}
	if len(s.Extra) > 0 {
		for k := range s.Extra {
			return nil, fmt.Errorf("parse seed: unknown field %q", k)
		}
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

func (s *Seed) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	nodes := map[string]bool{}
	orgName := ""
	if o := s.Organization; o != nil {
		if !numericID.MatchString(o.ID) {
			bad("organization id %q must be numeric", o.ID)
		}
		if o.CustomerID != "" && !customerID.MatchString(o.CustomerID) {
			bad("organization customerId %q must look like C0123abcd", o.CustomerID)
		}
		orgName = "organizations/" + o.ID
		nodes[orgName] = true
		errs = append(errs, checkBindings(orgName, o.IAM)...)
	}
	for _, f := range s.Folders {
		name := "folders/" + f.ID
		if !numericID.MatchString(f.ID) {
			bad("folder id %q must be numeric", f.ID)
		}
		if nodes[name] {
			bad("folder %s is defined twice", name)
		}
		nodes[name] = true
	}
	parentOK := func(what, parent string) {
		if parent == "" && orgName == "" {
			bad("%s has no parent and the seed has no organization", what)
		} else if parent != "" && !nodes[parent] {
			bad("%s has unknown parent %q", what, parent)
		}
	}
	for _, f := range s.Folders {
		parentOK("folder "+f.ID, f.Parent)
		errs = append(errs, checkBindings("folders/"+f.ID, f.IAM)...)
	}
	if err := s.checkFolderCycles(orgName); err != nil {
		errs = append(errs, err)
	}
	projects := map[string]bool{}
	numbers := map[int64]bool{}
	for _, p := range s.Projects {
		if !projectID.MatchString(p.ID) {
			bad("project id %q is not a valid project id", p.ID)
		}
		if projects[p.ID] {
			bad("project %s is defined twice", p.ID)
		}
		projects[p.ID] = true
		if p.Number < 0 || (p.Number != 0 && numbers[p.Number]) {
			bad("project %s has an invalid or duplicate number %d", p.ID, p.Number)
		}
		numbers[p.Number] = true
		parentOK("project "+p.ID, p.Parent)
		errs = append(errs, checkBindings("projects/"+p.ID, p.IAM)...)
	}
	emails := map[string]bool{}
	checkEmail := func(what, e string) {
		if !emailLike.MatchString(e) {
			bad("%s %q is not an email address", what, e)
		}
		if emails[strings.ToLower(e)] {
			bad("%s %q is defined twice", what, e)
		}
		emails[strings.ToLower(e)] = true
	}
	for _, u := range s.Users {
		checkEmail("user", u.Email)
	}
	for _, sa := range s.ServiceAccounts {
		checkEmail("service account", sa.Email)
	}
	for _, g := range s.Groups {
		checkEmail("group", g.Email)
		for _, m := range g.Members {
			if !world.ValidMember(m) {
				bad("group %s has an invalid member %q", g.Email, m)
			}
		}
	}
	for _, sec := range s.Secrets {
		if !secretNamePattern.MatchString(sec.Name) || len(sec.Versions) == 0 {
			bad("secret %q must be named projects/P/secrets/S and have at least one version", sec.Name)
		}
	}
	roles := map[string]bool{}
	for _, r := range s.Roles {
		parent, ok := world.CustomRoleParent(r.Name)
		switch {
		case !ok || !roleID.MatchString(r.Name[strings.LastIndex(r.Name, "/")+1:]):
			bad("role %q must be named organizations/O/roles/ID or projects/P/roles/ID (ID: 3 to 64 letters, digits, _ or .)", r.Name)
		case parent != orgName && !projects[strings.TrimPrefix(parent, "projects/")]:
			bad("role %s belongs to %s, which the seed does not define", r.Name, parent)
		case roles[r.Name]:
			bad("role %s is defined twice", r.Name)
		}
		roles[r.Name] = true
		for _, perm := range r.Permissions {
			if !permissionName.MatchString(perm) {
				bad("role %s: %q is not a permission name (service.resource.verb)", r.Name, perm)
			}
		}
	}
	for pattern, f := range s.Faults {
		if _, err := f.Fault(); err != nil {
			bad("fault %q: %v", pattern, err)
		}
	}
	if s.IndexDelay != "" {
		if d, err := time.ParseDuration(s.IndexDelay); err != nil || d < 0 {
			bad("indexDelay %q must be a non-negative duration such as 30s", s.IndexDelay)
		}
	}
	return errors.Join(errs...)
}

func (s *Seed) checkFolderCycles(orgName string) error {
	parent := map[string]string{}
	for _, f := range s.Folders {
		p := f.Parent
		if p == "" {
			p = orgName
		}
		parent["folders/"+f.ID] = p
	}
	for start := range parent {
		cur := start
		for range len(parent) + 1 {
			cur = parent[cur]
			if cur == start {
				return fmt.Errorf("folder %s is its own ancestor", start)
			}
			if cur == "" || !strings.HasPrefix(cur, "folders/") {
				break
			}
		}
	}
	return nil
}

func checkBindings(resource string, bindings []world.Binding) []error {
	p := world.Policy{Version: 1, Bindings: bindings}
	if p.HasConditions() {
		p.Version = 3
	}
	if err := world.ValidatePolicy(p, nil); err != nil {
		return []error{fmt.Errorf("IAM policy of %s: %s", resource, err.Message)}
	}
	return nil
}

// Fault converts a seed fault into a fault.Fault, checking its values.
func (f SeedFault) Fault() (fault.Fault, error) {
	var out fault.Fault
	if f.Latency != "" {
		d, err := time.ParseDuration(f.Latency)
		if err != nil || d < 0 {
			return fault.Fault{}, fmt.Errorf("latency %q must be a non-negative duration", f.Latency)
		}
		out.Latency = d
	}
	if f.Code != 0 && (f.Code < 400 || f.Code > 599) {
		return fault.Fault{}, fmt.Errorf("code %d must be an HTTP error code (400-599)", f.Code)
	}
	if f.Rate < 0 || f.Rate > 1 {
		return fault.Fault{}, fmt.Errorf("rate %v must be between 0 and 1", f.Rate)
	}
	if f.Count < 0 {
		return fault.Fault{}, errors.New("count must not be negative")
	}
	out.Code, out.Rate, out.Message, out.Count, out.RoundTrip = f.Code, f.Rate, f.Message, f.Count, f.RoundTrip
	return out, nil
}

// Apply adds the seed's contents to w. The seed must come from LoadSeed
// (validated) or SyntheticSeed.
func (s *Seed) Apply(w *world.World) error {
	orgName := ""
	if o := s.Organization; o != nil {
		orgName = "organizations/" + o.ID
		w.AddOrganization(world.Organization{Name: orgName, DisplayName: o.DisplayName, Domain: o.Domain, CustomerID: o.CustomerID})
	}
	for _, f := range s.Folders {
		parent := f.Parent
		if parent == "" {
			parent = orgName
		}
		w.AddFolder(world.Folder{Name: "folders/" + f.ID, DisplayName: f.DisplayName, Parent: parent})
	}
	// Assigned numbers skip those the seed gives explicitly, so that
	// "projects/NUMBER" always names one project.
	used := map[int64]bool{}
	for _, p := range s.Projects {
		used[p.Number] = true
	}
	next := int64(100000000001)
	for _, p := range s.Projects {
		parent := p.Parent
		if parent == "" {
			parent = orgName
		}
		num := p.Number
		for num == 0 || (p.Number == 0 && used[num]) {
			num = next
			next += 7919
		}
		used[num] = true
		name := p.DisplayName
		if name == "" {
			name = p.ID
		}
		w.AddProject(world.Project{ID: p.ID, Number: num, DisplayName: name, Parent: parent, Labels: p.Labels})
	}
	for _, u := range s.Users {
		w.AddUser(u)
	}
	for _, sa := range s.ServiceAccounts {
		w.AddServiceAccount(sa)
	}
	for _, g := range s.Groups {
		w.AddGroup(world.Group{Email: g.Email, DisplayName: g.DisplayName, Members: g.Members})
	}
	set := func(resource string, bindings []world.Binding) error {
		if len(bindings) == 0 {
			return nil
		}
		p := world.Policy{Version: 3, Bindings: bindings}
		if _, err := w.SetIamPolicy(resource, p); err != nil {
			return fmt.Errorf("seed IAM policy of %s: %w", resource, err)
		}
		w.MarkSeeded(resource)
		return nil
	}
	if o := s.Organization; o != nil {
		if err := set(orgName, o.IAM); err != nil {
			return err
		}
	}
	for _, f := range s.Folders {
		if err := set("folders/"+f.ID, f.IAM); err != nil {
			return err
		}
	}
	for _, p := range s.Projects {
		if err := set("projects/"+p.ID, p.IAM); err != nil {
			return err
		}
	}
	for _, r := range s.Roles {
		w.AddRole(r)
	}
	for _, sec := range s.Secrets {
		for _, v := range sec.Versions {
			w.AddSecret(sec.Name, []byte(v))
		}
	}
	for pattern, f := range s.Faults {
		ft, err := f.Fault()
		if err != nil {
			return fmt.Errorf("fault %q: %w", pattern, err)
		}
		w.Faults.Set(pattern, ft)
	}
	if s.IndexDelay != "" {
		d, err := time.ParseDuration(s.IndexDelay)
		if err != nil {
			return fmt.Errorf("indexDelay: %w", err)
		}
		w.SetIndexDelay(d)
	}
	return nil
}
