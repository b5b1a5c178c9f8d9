// Package world is the state that every emulated Google API reads and
// changes: the resource hierarchy, the identities (users, groups, service
// accounts), the IAM allow policies with their history for Cloud Asset's
// index delay, the secrets, the clock and the injected faults. It knows
// Google's IAM semantics (policy versions, etags, limits) but no wire
// protocol: the API packages translate between it and REST or gRPC.
package world

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jitaccess/internal/emulator/fault"
	"github.com/jitaccess/jitaccess/internal/emulator/wire"
)

// Organization, Folder and Project are the resource hierarchy. Names are
// Resource Manager v3 names: "organizations/123", "folders/456",
// "projects/my-project" (projects are keyed by id, as v3 accepts both).
type Organization struct {
	Name        string // organizations/N
	DisplayName string
	Domain      string
	CustomerID  string // Cloud Identity customer id, e.g. C0123abcd
}

// Folder is a folder in the hierarchy.
type Folder struct {
	Name        string // folders/N
	DisplayName string
	Parent      string // organizations/N or folders/N
}

// Project is a project in the hierarchy.
type Project struct {
	ID          string
	Number      int64
	DisplayName string
	Parent      string // organizations/N or folders/N
	State       string // ACTIVE or DELETE_REQUESTED
	Labels      map[string]string
	CreateTime  time.Time
}

// Name returns "projects/NUMBER", the canonical v3 name.
func (p Project) Name() string { return fmt.Sprintf("projects/%d", p.Number) }

// Group is a Google group; members are IAM member strings
// ("user:a@x", "group:b@x", "serviceAccount:c@x").
type Group struct {
	Email       string
	ID          string // Cloud Identity id, e.g. "groups/0abc"
	DisplayName string
	Members     []string
}

// User is a user account known to the world (for the demo's sign-in page).
type User struct {
	Email       string `yaml:"email" json:"email"`
	DisplayName string `yaml:"displayName" json:"displayName"`
	Title       string `yaml:"title" json:"title"`
}

// ServiceAccount is a service account the world knows, e.g. the app's own.
type ServiceAccount struct {
	Email       string `yaml:"email" json:"email"`
	DisplayName string `yaml:"displayName" json:"displayName"`
}

// Expr is an IAM condition, JSON-shaped as in Google's REST API.
type Expr struct {
	Expression  string `json:"expression,omitempty" yaml:"expression"`
	Title       string `json:"title,omitempty" yaml:"title"`
	Description string `json:"description,omitempty" yaml:"description"`
	Location    string `json:"location,omitempty" yaml:"location,omitempty"`
}

// Binding is an IAM role binding.
type Binding struct {
	Role      string   `json:"role" yaml:"role"`
	Members   []string `json:"members" yaml:"members"`
	Condition *Expr    `json:"condition,omitempty" yaml:"condition,omitempty"`
}

// Policy is an IAM allow policy. AuditConfigs are kept verbatim so that a
// client that drops unknown fields can be caught by a test.
type Policy struct {
	Version      int               `json:"version,omitempty"`
	Bindings     []Binding         `json:"bindings,omitempty"`
	AuditConfigs []json.RawMessage `json:"auditConfigs,omitempty"`
	Etag         string            `json:"etag,omitempty"`
}

// Clone returns a deep copy.
func (p Policy) Clone() Policy {
	c := Policy{Version: p.Version, Etag: p.Etag}
	for _, b := range p.Bindings {
		nb := Binding{Role: b.Role, Members: slices.Clone(b.Members)}
		if b.Condition != nil {
			e := *b.Condition
			nb.Condition = &e
		}
		c.Bindings = append(c.Bindings, nb)
	}
	for _, a := range p.AuditConfigs {
		c.AuditConfigs = append(c.AuditConfigs, slices.Clone(a))
	}
	return c
}

// HasConditions reports whether a binding of p has a condition.
func (p Policy) HasConditions() bool {
	for _, b := range p.Bindings {
		if b.Condition != nil {
			return true
		}
	}
	return false
}

// policyVersion is one state of a resource's policy and when it was written,
// so Cloud Asset can serve the policy as it was before its indexing delay.
type policyVersion struct {
	at     time.Time
	policy Policy
}

// World is the whole emulated Google Cloud: hierarchy, identities and IAM
// policies. It is safe for concurrent use. The zero value is not usable;
// call New.
type World struct {
	// Faults injects latency and errors into any service's methods.
	Faults fault.Faults

	clock func() time.Time

	mu              sync.RWMutex
	orgs            map[string]*Organization
	folders         map[string]*Folder
	projects        map[string]*Project // by id
	groups          map[string]*Group   // by lower-case email
	users           map[string]*User
	serviceAccounts map[string]*ServiceAccount
	policies        map[string][]policyVersion // by resource name; last is current
	indexDelay      time.Duration
	etagSeq         uint64
	writes          map[string]int      // setIamPolicy successes by resource
	reasons         map[string][]string // x-goog-request-reason of each successful setIamPolicy, by resource
	secrets         map[string][][]byte // Secret Manager versions by secret name
	roles           map[string]*Role    // custom roles by full name
}

// New returns an empty world. A nil clock means time.Now.
func New(clock func() time.Time) *World {
	if clock == nil {
		clock = time.Now
	}
	return &World{
		clock:           clock,
		orgs:            map[string]*Organization{},
		folders:         map[string]*Folder{},
		projects:        map[string]*Project{},
		groups:          map[string]*Group{},
		users:           map[string]*User{},
		serviceAccounts: map[string]*ServiceAccount{},
		policies:        map[string][]policyVersion{},
		writes:          map[string]int{},
	}
}

// Now is the world's clock.
func (w *World) Now() time.Time { return w.clock() }

// SetIndexDelay makes Cloud Asset see IAM policies as they were d ago, as
// the real Asset index lags IAM writes.
func (w *World) SetIndexDelay(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.indexDelay = d
}

// AddOrganization adds or replaces an organization.
func (w *World) AddOrganization(o Organization) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.orgs[o.Name] = &o
}

// AddFolder adds or replaces a folder.
func (w *World) AddFolder(f Folder) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.folders[f.Name] = &f
}

// AddProject adds or replaces a project.
func (w *World) AddProject(p Project) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p.State == "" {
		p.State = "ACTIVE"
	}
	if p.CreateTime.IsZero() {
		p.CreateTime = w.clock()
	}
	w.projects[p.ID] = &p
}

// AddGroup adds or replaces a group.
func (w *World) AddGroup(g Group) {
	w.mu.Lock()
	defer w.mu.Unlock()
	g.Email = strings.ToLower(g.Email)
	if g.ID == "" {
		g.ID = "groups/" + shortHash(g.Email)
	}
	w.groups[g.Email] = &g
}

// AddUser adds or replaces a user.
func (w *World) AddUser(u User) {
	w.mu.Lock()
	defer w.mu.Unlock()
	u.Email = strings.ToLower(u.Email)
	w.users[u.Email] = &u
}

// AddServiceAccount adds or replaces a service account.
func (w *World) AddServiceAccount(sa ServiceAccount) {
	w.mu.Lock()
	defer w.mu.Unlock()
	sa.Email = strings.ToLower(sa.Email)
	w.serviceAccounts[sa.Email] = &sa
}

// ServiceAccountExists reports whether the world has that service account.
func (w *World) ServiceAccountExists(email string) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	_, ok := w.serviceAccounts[strings.ToLower(email)]
	return ok
}

// ServiceAccounts returns the service accounts, sorted by email.
func (w *World) ServiceAccounts() []ServiceAccount {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]ServiceAccount, 0, len(w.serviceAccounts))
	for _, sa := range w.serviceAccounts {
		out = append(out, *sa)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Email < out[j].Email })
	return out
}

// Users returns the users, sorted by email.
func (w *World) Users() []User {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]User, 0, len(w.users))
	for _, u := range w.users {
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Email < out[j].Email })
	return out
}

// Organizations returns the organizations, sorted by name.
func (w *World) Organizations() []Organization {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]Organization, 0, len(w.orgs))
	for _, o := range w.orgs {
		out = append(out, *o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Folders returns the folders, sorted by name.
func (w *World) Folders() []Folder {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]Folder, 0, len(w.folders))
	for _, f := range w.folders {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Projects returns the projects, sorted by id.
func (w *World) Projects() []Project {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]Project, 0, len(w.projects))
	for _, p := range w.projects {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Project looks a project up by id or by "projects/ID" / "projects/NUMBER".
func (w *World) Project(idOrName string) (Project, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	p := w.lookupProject(idOrName)
	if p == nil {
		return Project{}, false
	}
	return *p, true
}

func (w *World) lookupProject(idOrName string) *Project {
	id := strings.TrimPrefix(idOrName, "projects/")
	if p, ok := w.projects[id]; ok {
		return p
	}
	for _, p := range w.projects {
		if fmt.Sprint(p.Number) == id {
			return p
		}
	}
	return nil
}

// Folder looks a folder up by name.
func (w *World) Folder(name string) (Folder, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	f, ok := w.folders[name]
	if !ok {
		return Folder{}, false
	}
	return *f, true
}

// Organization looks an organization up by name.
func (w *World) Organization(name string) (Organization, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	o, ok := w.orgs[name]
	if !ok {
		return Organization{}, false
	}
	return *o, true
}

// Group looks a group up by email.
func (w *World) Group(email string) (Group, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	g, ok := w.groups[strings.ToLower(email)]
	if !ok {
		return Group{}, false
	}
	c := *g
	c.Members = slices.Clone(g.Members)
	return c, true
}

// Groups returns the groups, sorted by email.
func (w *World) Groups() []Group {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]Group, 0, len(w.groups))
	for _, g := range w.groups {
		c := *g
		c.Members = slices.Clone(g.Members)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Email < out[j].Email })
	return out
}

// CanonicalResource turns "projects/NUMBER" into "projects/ID" and
// reports whether the resource (a project, folder or organization) exists.
func (w *World) CanonicalResource(name string) (string, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.canonicalResource(name)
}

// canonicalResource turns "projects/NUMBER" into "projects/ID" and checks
// that the resource exists.
func (w *World) canonicalResource(name string) (string, bool) {
	switch {
	case strings.HasPrefix(name, "projects/"):
		p := w.lookupProject(name)
		if p == nil {
			return "", false
		}
		return "projects/" + p.ID, true
	case strings.HasPrefix(name, "folders/"):
		_, ok := w.folders[name]
		return name, ok
	case strings.HasPrefix(name, "organizations/"):
		_, ok := w.orgs[name]
		return name, ok
	}
	return "", false
}

// Ancestors returns the resource and its ancestors, nearest first, e.g.
// ["projects/p", "folders/1", "organizations/2"]. Projects are named by id.
func (w *World) Ancestors(name string) ([]string, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.ancestors(name)
}

func (w *World) ancestors(name string) ([]string, bool) {
	cur, ok := w.canonicalResource(name)
	if !ok {
		return nil, false
	}
	var out []string
	for depth := 0; cur != "" && depth < 32; depth++ {
		out = append(out, cur)
		switch {
		case strings.HasPrefix(cur, "projects/"):
			cur = w.projects[strings.TrimPrefix(cur, "projects/")].Parent
		case strings.HasPrefix(cur, "folders/"):
			f, ok := w.folders[cur]
			if !ok {
				return out, true
			}
			cur = f.Parent
		default:
			cur = ""
		}
	}
	return out, true
}

// Policy returns the current policy of a resource (a deep copy with its
// etag), with no version downgrade; for inspection by tests and tools.
func (w *World) Policy(resource string) (Policy, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	name, ok := w.canonicalResource(resource)
	if !ok {
		return Policy{}, false
	}
	return w.currentPolicy(name), true
}

func (w *World) currentPolicy(name string) Policy {
	h := w.policies[name]
	if len(h) == 0 {
		return Policy{Version: 1, Etag: w.initialEtag(name)}
	}
	return h[len(h)-1].policy.Clone()
}

// initialEtag is the etag of a resource whose policy was never written, so
// that it is stable across reads, as Google's is.
func (w *World) initialEtag(name string) string {
	sum := sha256.Sum256([]byte("initial:" + name))
	return base64.StdEncoding.EncodeToString(sum[:8])
}

// IndexedPolicy returns the policy of a resource as Cloud Asset sees it:
// the version current at now minus the index delay.
func (w *World) IndexedPolicy(resource string) (Policy, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	name, ok := w.canonicalResource(resource)
	if !ok {
		return Policy{}, false
	}
	cutoff := w.clock().Add(-w.indexDelay)
	h := w.policies[name]
	for i := len(h) - 1; i >= 0; i-- {
		if !h[i].at.After(cutoff) {
			return h[i].policy.Clone(), true
		}
	}
	return Policy{Version: 1, Etag: w.initialEtag(name)}, true
}

// PolicyWrites reports how many setIamPolicy calls succeeded on a resource;
// tests use it to prove that bad input wrote nothing.
func (w *World) PolicyWrites(resource string) int {
	w.mu.RLock()
	defer w.mu.RUnlock()
	name, _ := w.canonicalResource(resource)
	return w.writes[name]
}

// RequestReasons returns the x-goog-request-reason header of every
// successful setIamPolicy call on a resource, oldest first ("" when a call
// sent none), so that tests can check what Cloud Audit Logs would show as
// the reason of each change.
func (w *World) RequestReasons(resource string) []string {
	w.mu.RLock()
	defer w.mu.RUnlock()
	name, _ := w.canonicalResource(resource)
	return append([]string(nil), w.reasons[name]...)
}

// NoteRequestReason records the reason header of a successful
// setIamPolicy call (see RequestReasons).
func (w *World) NoteRequestReason(resource, reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	name, _ := w.canonicalResource(resource)
	if w.reasons == nil {
		w.reasons = map[string][]string{}
	}
	w.reasons[name] = append(w.reasons[name], reason)
}

// TotalPolicyWrites reports how many setIamPolicy calls succeeded anywhere.
func (w *World) TotalPolicyWrites() int {
	w.mu.RLock()
	defer w.mu.RUnlock()
	n := 0
	for _, c := range w.writes {
		n += c
	}
	return n
}

// GetIamPolicy implements getIamPolicy's semantics: a requested version of
// 0, 1 or 3; a policy with conditions read at a version below 3 comes back
// as version 1 with the conditional bindings' roles suffixed "_withcond_…"
// and their conditions removed, as Google does, so that a careless
// read-modify-write fails on set instead of silently dropping conditions.
func (w *World) GetIamPolicy(resource string, requestedVersion int) (Policy, *wire.Error) {
	if requestedVersion != 0 && requestedVersion != 1 && requestedVersion != 3 {
		return Policy{}, wire.New(http.StatusBadRequest,
			fmt.Sprintf("Invalid requested policy version %d; valid values are 0, 1 and 3.", requestedVersion))
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	name, ok := w.canonicalResource(resource)
	if !ok {
		return Policy{}, wire.PermissionDenied(iamPermission(resource, "getIamPolicy"), resource)
	}
	p := w.currentPolicy(name)
	if !p.HasConditions() {
		p.Version = 1
		return p, nil
	}
	if requestedVersion == 3 {
		p.Version = 3
		return p, nil
	}
	p.Version = 1
	for i := range p.Bindings {
		if c := p.Bindings[i].Condition; c != nil {
			sum := sha256.Sum256([]byte(c.Title + "\x00" + c.Expression))
			p.Bindings[i].Role += "_withcond_" + fmt.Sprintf("%x", sum[:10])
			p.Bindings[i].Condition = nil
		}
	}
	return p, nil
}

// SetIamPolicy implements setIamPolicy's semantics: optimistic concurrency
// with the etag (a stale etag is 409 ABORTED), version rules for
// conditions, syntax checks and Google's documented policy limits. On
// success it stores the policy with a new etag and returns it. It replaces
// every field, audit configs included; SetIamPolicyMask implements the
// update mask that the REST API applies.
func (w *World) SetIamPolicy(resource string, p Policy) (Policy, *wire.Error) {
	return w.SetIamPolicyMask(resource, p, []string{"bindings", "etag", "auditConfigs"})
}

// SetIamPolicyMask is SetIamPolicy with an update mask: only the fields
// named in mask ("bindings", "etag", "auditConfigs") are taken from p; the
// others keep their current value. Google's default mask, when a request
// has none, is "bindings,etag". Merging happens under the world's lock, so
// a field outside the mask is never lost to a concurrent write.
func (w *World) SetIamPolicyMask(resource string, p Policy, mask []string) (Policy, *wire.Error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	name, ok := w.canonicalResource(resource)
	if !ok {
		return Policy{}, wire.PermissionDenied(iamPermission(resource, "setIamPolicy"), resource)
	}
	cur := w.currentPolicy(name)
	merged := Policy{Version: p.Version, Etag: p.Etag, Bindings: cur.Bindings, AuditConfigs: cur.AuditConfigs}
	setsBindings := false
	for _, f := range mask {
		switch strings.TrimSpace(f) {
		case "bindings":
			merged.Bindings, setsBindings = p.Bindings, true
		case "auditConfigs", "audit_configs":
			merged.AuditConfigs = p.AuditConfigs
		case "etag", "version":
		default:
			return Policy{}, wire.InvalidArgument("Invalid update mask path %q; valid paths are bindings, etag and auditConfigs.", f)
		}
	}
	if !setsBindings && cur.HasConditions() && merged.Version < 3 {
		// The bindings kept from the current policy need version 3.
		merged.Version = 3
	}
	// A stale etag is rejected first: it is cheap, and the common case
	// under contention.
	if p.Etag != "" && p.Etag != cur.Etag {
		return Policy{}, wire.New(http.StatusConflict,
			"There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.")
	}
	known := map[string]bool{}
	for _, b := range cur.Bindings {
		if b.Condition != nil {
			known[b.Condition.Expression] = true
		}
	}
	if err := ValidatePolicy(merged, known); err != nil {
		return Policy{}, err
	}
	if setsBindings && p.Etag != "" && cur.HasConditions() && merged.Version < 3 {
		// Google: any change to a policy that has conditions must use
		// version 3; only a blind write (no etag) may overwrite it.
		return Policy{}, wire.InvalidArgument("The policy of %s contains conditional role bindings; setIamPolicy must use policy version 3, but the request used version %d.", resource, merged.Version)
	}
	stored := merged.Clone()
	if stored.HasConditions() {
		stored.Version = 3
	} else {
		stored.Version = 1
	}
	w.etagSeq++
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], w.etagSeq)
	binary.BigEndian.PutUint64(b[8:], uint64(w.clock().UnixNano()))
	sum := sha256.Sum256(append(b[:], name...))
	stored.Etag = base64.StdEncoding.EncodeToString(sum[:8])
	w.policies[name] = append(w.policies[name], policyVersion{at: w.clock(), policy: stored})
	w.trimHistory(name)
	w.writes[name]++
	return stored.Clone(), nil
}

// trimHistory keeps the versions Cloud Asset may still need (those within
// the index delay, plus the one before them) and drops the rest.
func (w *World) trimHistory(name string) {
	h := w.policies[name]
	cutoff := w.clock().Add(-w.indexDelay)
	keepFrom := 0
	for i := len(h) - 1; i >= 0; i-- {
		if !h[i].at.After(cutoff) {
			keepFrom = i
			break
		}
	}
	if keepFrom > 0 {
		w.policies[name] = slices.Clone(h[keepFrom:])
	}
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%x", sum[:6])
}

// MarkSeeded makes the current policy of a resource visible to Cloud Asset
// at once, whatever the index delay, and keeps it out of the write
// counters, which count what clients changed: a seeded policy is the world
// as it was before anyone looked.
func (w *World) MarkSeeded(resource string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	name, _ := w.canonicalResource(resource)
	h := w.policies[name]
	if len(h) > 0 {
		h[len(h)-1].at = time.Time{}
	}
	delete(w.writes, name)
}

// iamPermission is the permission a verb needs on a resource of the
// hierarchy, e.g. resourcemanager.projects.getIamPolicy.
func iamPermission(resource, verb string) string {
	collection, _, _ := strings.Cut(resource, "/")
	return "resourcemanager." + collection + "." + verb
}
