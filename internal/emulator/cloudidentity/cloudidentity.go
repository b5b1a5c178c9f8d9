// Package cloudidentity emulates the Cloud Identity Groups API (REST)
// over the world's groups, for the AssetInventory catalog.
package cloudidentity

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/jitaccess/jitaccess/internal/emulator/wire"
	"github.com/jitaccess/jitaccess/internal/emulator/world"
)

// Service serves the Cloud Identity v1 Groups methods that the
// AssetInventory catalog uses, as google.golang.org/api/cloudidentity/v1
// calls them: groups.lookup, groups.get, groups.memberships.list,
// searchTransitiveGroups, searchTransitiveMemberships and
// checkTransitiveMembership. Groups and their (nested) members come from
// the world; every group carries the discussion-forum label, as Google
// groups do.
type Service struct {
	w *world.World
}

// New returns the Cloud Identity service of w.
func New(w *world.World) *Service { return &Service{w: w} }

const discussionForumLabel = "cloudidentity.googleapis.com/groups.discussion_forum"

func (ci *Service) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	method, groupID, ok := routeIdentity(r.Method, r.URL.Path)
	if !ok {
		wire.WriteError(rw, wire.NotFoundPath(r))
		return
	}
	if err := wire.CheckStandardParams(r); err != nil {
		wire.WriteError(rw, err)
		return
	}
	if err := ci.w.Faults.Apply(r.Context(), "cloudidentity."+method); err != nil {
		wire.WriteError(rw, err)
		return
	}
	q := r.URL.Query()
	var (
		out  any
		aerr *wire.Error
	)
	switch method {
	case "groups.lookup":
		out, aerr = ci.lookup(q.Get("groupKey.id"), q.Get("groupKey.namespace"))
	case "groups.get":
		out, aerr = ci.get(groupID)
	case "groups.memberships.list":
		out, aerr = ci.listMemberships(groupID, q.Get("view"), q.Get("pageSize"), q.Get("pageToken"))
	case "groups.memberships.searchTransitiveGroups":
		out, aerr = ci.searchTransitiveGroups(groupID, q.Get("query"), q.Get("pageSize"), q.Get("pageToken"))
	case "groups.memberships.searchTransitiveMemberships":
		out, aerr = ci.searchTransitiveMemberships(groupID, q.Get("pageSize"), q.Get("pageToken"))
	case "groups.memberships.checkTransitiveMembership":
		out, aerr = ci.checkTransitiveMembership(groupID, q.Get("query"))
	}
	if aerr != nil {
		wire.WriteError(rw, aerr)
		return
	}
	wire.WriteJSON(rw, out)
}

// routeIdentity maps a request to a Cloud Identity method name (as in
// Google's discovery document, without the "cloudidentity." prefix) and the
// group id of its path.
func routeIdentity(verb, urlPath string) (method, groupID string, ok bool) {
	if verb != http.MethodGet {
		return "", "", false
	}
	if urlPath == "/v1/groups:lookup" {
		return "groups.lookup", "", true
	}
	rest, ok := strings.CutPrefix(urlPath, "/v1/groups/")
	if !ok {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 1 && parts[0] != "" && parts[0] != "-":
		return "groups.get", parts[0], true
	case len(parts) == 2 && parts[1] == "memberships" && parts[0] != "-":
		return "groups.memberships.list", parts[0], true
	case len(parts) == 2:
		verbName, found := strings.CutPrefix(parts[1], "memberships:")
		if !found {
			return "", "", false
		}
		switch verbName {
		case "searchTransitiveGroups", "searchTransitiveMemberships", "checkTransitiveMembership":
			return "groups.memberships." + verbName, parts[0], true
		}
	}
	return "", "", false
}

// JSON shapes of Cloud Identity resources.
type (
	ciEntityKey struct {
		ID string `json:"id"`
	}
	ciGroup struct {
		Name        string            `json:"name"`
		GroupKey    ciEntityKey       `json:"groupKey"`
		DisplayName string            `json:"displayName,omitempty"`
		Parent      string            `json:"parent,omitempty"`
		Labels      map[string]string `json:"labels"`
	}
	ciRole struct {
		Name string `json:"name,omitempty"`
		Role string `json:"role,omitempty"`
	}
	ciMembership struct {
		Name               string      `json:"name"`
		PreferredMemberKey ciEntityKey `json:"preferredMemberKey"`
		Roles              []ciRole    `json:"roles"`
		Type               string      `json:"type"`
	}
	ciGroupRelation struct {
		Group        string            `json:"group"`
		GroupKey     ciEntityKey       `json:"groupKey"`
		DisplayName  string            `json:"displayName,omitempty"`
		Labels       map[string]string `json:"labels"`
		RelationType string            `json:"relationType"`
		Roles        []ciRole          `json:"roles"`
	}
	ciMemberRelation struct {
		Member             string        `json:"member"`
		PreferredMemberKey []ciEntityKey `json:"preferredMemberKey"`
		RelationType       string        `json:"relationType"`
		Roles              []ciRole      `json:"roles"`
	}
)

func groupDenied(name string) *wire.Error {
	return wire.New(http.StatusForbidden, fmt.Sprintf(
		"Error(4003): Permission denied for group resource '%s', or it may not exist.", name))
}

// customer is the parent of every group: the organization's Cloud
// Identity customer. Google's schema requires it, so a world whose
// organization has no customer id gets a stable one of its own.
func (ci *Service) customer() string {
	orgs := ci.w.Organizations()
	for _, o := range orgs {
		if o.CustomerID != "" {
			return "customers/" + o.CustomerID
		}
	}
	seed := "emulator"
	if len(orgs) > 0 {
		seed = orgs[0].Name
	}
	return "customers/C" + idHash(seed)
}

func (ci *Service) toGroup(g world.Group) ciGroup {
	return ciGroup{Name: g.ID, GroupKey: ciEntityKey{ID: g.Email}, DisplayName: g.DisplayName,
		Parent: ci.customer(), Labels: map[string]string{discussionForumLabel: ""}}
}

// groupByID finds a group by its id ("0abc", without "groups/").
func (ci *Service) groupByID(id string) (world.Group, bool) {
	for _, g := range ci.w.Groups() {
		if g.ID == "groups/"+id {
			return g, true
		}
	}
	return world.Group{}, false
}

func (ci *Service) lookup(email, namespace string) (any, *wire.Error) {
	if email == "" {
		return nil, wire.InvalidArgument("Request contains an invalid argument: groupKey.id is required.")
	}
	if namespace != "" {
		return nil, wire.InvalidArgument("The emulator has no identity sources; groupKey.namespace must be empty.")
	}
	g, ok := ci.w.Group(email)
	if !ok {
		return nil, groupDenied("groups/" + email)
	}
	return struct {
		Name string `json:"name"`
	}{g.ID}, nil
}

func (ci *Service) get(id string) (any, *wire.Error) {
	g, ok := ci.groupByID(id)
	if !ok {
		return nil, groupDenied("groups/" + id)
	}
	return ci.toGroup(g), nil
}

// memberType is Cloud Identity's membership type for an IAM member string.
func memberType(member string) (kind, email string) {
	k, id, _ := strings.Cut(member, ":")
	switch k {
	case "group":
		return "GROUP", strings.ToLower(id)
	case "serviceAccount":
		return "SERVICE_ACCOUNT", strings.ToLower(id)
	}
	return "USER", strings.ToLower(id)
}

// memberResource is the Cloud Identity resource name of a member: the
// group's name for groups, "users/ID" otherwise.
func (ci *Service) memberResource(member string) string {
	kind, email := memberType(member)
	if kind == "GROUP" {
		if g, ok := ci.w.Group(email); ok {
			return g.ID
		}
	}
	return "users/" + idHash(email)
}

func (ci *Service) listMemberships(id, view, size, token string) (any, *wire.Error) {
	switch view {
	case "", "VIEW_UNSPECIFIED", "BASIC", "FULL":
	default:
		return nil, wire.InvalidArgument("Invalid value for view: %q; valid values are BASIC and FULL.", view)
	}
	g, ok := ci.groupByID(id)
	if !ok {
		return nil, groupDenied("groups/" + id)
	}
	n, token, aerr := wire.PageParams(size, token)
	if aerr != nil {
		return nil, aerr
	}
	var all []ciMembership
	for _, m := range g.Members {
		kind, email := memberType(m)
		all = append(all, ciMembership{
			Name:               g.ID + "/memberships/" + idHash(email),
			PreferredMemberKey: ciEntityKey{ID: email},
			Roles:              []ciRole{{Name: "MEMBER"}},
			Type:               kind,
		})
	}
	slices.SortFunc(all, func(a, b ciMembership) int { return strings.Compare(a.PreferredMemberKey.ID, b.PreferredMemberKey.ID) })
	page, next, aerr := wire.Paginate(all, n, token)
	return struct {
		Memberships   []ciMembership `json:"memberships,omitempty"`
		NextPageToken string         `json:"nextPageToken,omitempty"`
	}{page, next}, aerr
}

// identityQuery is the parsed subset of Cloud Identity's CEL query
// language: clauses joined by &&, each one of
//
//	member_key_id == 'EMAIL'
//	'LABEL' in labels
//	parent == 'customers/ID'
type identityQuery struct {
	memberKeyID string
	labels      []string
	parent      string
}

func parseIdentityQuery(q string) (identityQuery, *wire.Error) {
	var out identityQuery
	if strings.TrimSpace(q) == "" {
		return out, wire.InvalidArgument("Request contains an invalid argument: query is required.")
	}
	unquote := func(s string) (string, bool) {
		s = strings.TrimSpace(s)
		if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
			inner := s[1 : len(s)-1]
			return inner, !strings.ContainsAny(inner, `'"`)
		}
		return "", false
	}
	for clause := range strings.SplitSeq(q, "&&") {
		clause = strings.TrimSpace(clause)
		if lhs, rhs, ok := strings.Cut(clause, "=="); ok {
			v, ok := unquote(rhs)
			if !ok {
				return out, wire.InvalidArgument("Invalid query %q: the value in %q must be a quoted string.", q, clause)
			}
			switch strings.TrimSpace(lhs) {
			case "member_key_id":
				out.memberKeyID = strings.ToLower(v)
			case "parent":
				out.parent = v
			case "member_key_namespace":
				return out, wire.InvalidArgument("The emulator has no identity sources; member_key_namespace is not supported.")
			default:
				return out, wire.InvalidArgument("Unsupported query field %q in %q; the emulator supports member_key_id, parent and 'LABEL' in labels.", strings.TrimSpace(lhs), q)
			}
			continue
		}
		if lhs, rhs, ok := strings.Cut(clause, " in "); ok && strings.TrimSpace(rhs) == "labels" {
			v, ok := unquote(lhs)
			if !ok {
				return out, wire.InvalidArgument("Invalid query %q: the label in %q must be a quoted string.", q, clause)
			}
			out.labels = append(out.labels, v)
			continue
		}
		return out, wire.InvalidArgument("Unsupported query clause %q in %q; the emulator supports clauses joined by && of the forms member_key_id == '…', parent == '…' and '…' in labels.", clause, q)
	}
	return out, nil
}

// memberOf returns the IAM member string for an email: a group, a
// service account or a user.
func (ci *Service) memberOf(email string) string {
	if _, ok := ci.w.Group(email); ok {
		return "group:" + email
	}
	if ci.w.ServiceAccountExists(email) || strings.HasSuffix(email, ".gserviceaccount.com") {
		return "serviceAccount:" + email
	}
	return "user:" + email
}

func relationType(direct, indirect bool) string {
	switch {
	case direct && indirect:
		return "DIRECT_AND_INDIRECT"
	case direct:
		return "DIRECT"
	}
	return "INDIRECT"
}

func (ci *Service) searchTransitiveGroups(parent, query, size, token string) (any, *wire.Error) {
	if parent != "-" {
		return nil, wire.InvalidArgument("Invalid parent groups/%s: searchTransitiveGroups searches across all groups; use groups/-.", parent)
	}
	q, aerr := parseIdentityQuery(query)
	if aerr != nil {
		return nil, aerr
	}
	if q.memberKeyID == "" || len(q.labels) == 0 {
		return nil, wire.InvalidArgument("Invalid query %q: it must include member_key_id == '…' and a label, e.g. '%s' in labels.", query, discussionForumLabel)
	}
	n, token, aerr := wire.PageParams(size, token)
	if aerr != nil {
		return nil, aerr
	}
	var all []ciGroupRelation
	if q.parent == "" || q.parent == ci.customer() {
		member := ci.memberOf(q.memberKeyID)
		direct := ci.w.DirectGroupsOf(member)
		indirect := map[string]bool{}
		for _, d := range direct {
			for _, g := range ci.w.GroupsOf("group:" + d) {
				indirect[g] = true
			}
		}
		for _, email := range ci.w.GroupsOf(member) {
			g, ok := ci.w.Group(email)
			if !ok {
				continue
			}
			cg := ci.toGroup(g)
			if !hasLabels(cg.Labels, q.labels) {
				continue
			}
			all = append(all, ciGroupRelation{
				Group: g.ID, GroupKey: cg.GroupKey, DisplayName: g.DisplayName, Labels: cg.Labels,
				RelationType: relationType(slices.Contains(direct, email), indirect[email]),
				Roles:        []ciRole{{Role: "MEMBER"}},
			})
		}
	}
	page, next, aerr := wire.Paginate(all, n, token)
	return struct {
		Memberships   []ciGroupRelation `json:"memberships,omitempty"`
		NextPageToken string            `json:"nextPageToken,omitempty"`
	}{page, next}, aerr
}

func hasLabels(have map[string]string, want []string) bool {
	for _, l := range want {
		if _, ok := have[l]; !ok {
			return false
		}
	}
	return true
}

// transitiveMembers walks a group's nested groups and reports, for every
// member (users, service accounts and groups), whether it is a direct
// member, an indirect one, or both.
func (ci *Service) transitiveMembers(root world.Group) (order []string, direct, indirect map[string]bool) {
	direct, indirect = map[string]bool{}, map[string]bool{}
	seen := map[string]bool{root.Email: true}
	add := func(m string, isDirect bool) {
		m = world.NormalizeMember(m)
		if !direct[m] && !indirect[m] {
			order = append(order, m)
		}
		if isDirect {
			direct[m] = true
		} else {
			indirect[m] = true
		}
	}
	frontier := []world.Group{root}
	for depth := 0; len(frontier) > 0; depth++ {
		var next []world.Group
		for _, g := range frontier {
			for _, m := range g.Members {
				add(m, depth == 0)
				if email, ok := strings.CutPrefix(world.NormalizeMember(m), "group:"); ok && !seen[email] {
					seen[email] = true
					if nested, ok := ci.w.Group(email); ok {
						next = append(next, nested)
					}
				}
			}
		}
		frontier = next
	}
	slices.SortFunc(order, func(a, b string) int {
		_, ea := memberType(a)
		_, eb := memberType(b)
		return strings.Compare(ea, eb)
	})
	return order, direct, indirect
}

func (ci *Service) searchTransitiveMemberships(id, size, token string) (any, *wire.Error) {
	g, ok := ci.groupByID(id)
	if !ok {
		return nil, groupDenied("groups/" + id)
	}
	n, token, aerr := wire.PageParams(size, token)
	if aerr != nil {
		return nil, aerr
	}
	order, direct, indirect := ci.transitiveMembers(g)
	all := make([]ciMemberRelation, 0, len(order))
	for _, m := range order {
		_, email := memberType(m)
		all = append(all, ciMemberRelation{
			Member:             ci.memberResource(m),
			PreferredMemberKey: []ciEntityKey{{ID: email}},
			RelationType:       relationType(direct[m], indirect[m]),
			Roles:              []ciRole{{Role: "MEMBER"}},
		})
	}
	page, next, aerr := wire.Paginate(all, n, token)
	return struct {
		Memberships   []ciMemberRelation `json:"memberships,omitempty"`
		NextPageToken string             `json:"nextPageToken,omitempty"`
	}{page, next}, aerr
}

func (ci *Service) checkTransitiveMembership(id, query string) (any, *wire.Error) {
	g, ok := ci.groupByID(id)
	if !ok {
		return nil, groupDenied("groups/" + id)
	}
	q, aerr := parseIdentityQuery(query)
	if aerr != nil {
		return nil, aerr
	}
	if q.memberKeyID == "" {
		return nil, wire.InvalidArgument("Invalid query %q: it must include member_key_id == '…'.", query)
	}
	_, direct, indirect := ci.transitiveMembers(g)
	m := ci.memberOf(q.memberKeyID)
	return struct {
		HasMembership bool `json:"hasMembership"`
	}{direct[m] || indirect[m]}, nil
}

// idHash is a stable id for a member or a membership.
func idHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%x", sum[:6])
}

// Owns reports whether a request path belongs to Cloud Identity's groups.
func Owns(path string) bool {
	return path == "/v1/groups:lookup" || strings.HasPrefix(path, "/v1/groups/")
}
