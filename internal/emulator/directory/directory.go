// Package directory emulates the Admin SDK Directory API (REST) group
// methods over the world's groups, as the original 1.8.1 used them.
package directory

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/jitaccess/jitaccess/internal/emulator/wire"
	"github.com/jitaccess/jitaccess/internal/emulator/world"
)

// Service serves the Admin SDK Directory API (admin/directory/v1) group
// methods the original 1.8.1 used for the AssetInventory catalog, as
// google.golang.org/api/admin/directory/v1 calls them:
//
//   - groups.list: GET admin/directory/v1/groups with customer (the
//     organization's customer id or "my_customer"), domain or userKey;
//     query clauses "email=…", "email:prefix*", "name=…", "name:prefix*"
//     (whitespace-separated, ANDed; single-quoted values) or
//     "memberKey=EMAIL", which lists the groups the member belongs to
//     directly, as Google documents; maxResults (1 to 200) and pageToken.
//   - groups.get: GET admin/directory/v1/groups/{groupKey}.
//   - members.list: GET admin/directory/v1/groups/{groupKey}/members with
//     roles, includeDerivedMembership (nested members, flattened),
//     maxResults and pageToken. Members are USER (users and service
//     accounts) or GROUP, all ACTIVE, with the role MEMBER.
//
// Groups and members come from the world. Not modelled: aliases, owners
// and managers, external members' status, and authorization (every caller
// may read every group).
type Service struct {
	w *world.World
}

// New returns the Directory service of w.
func New(w *world.World) *Service { return &Service{w: w} }

// Prefix is the path of the groups collection; the service owns it and
// everything below.
const Prefix = "/admin/directory/v1/groups"

type (
	dirGroup struct {
		Kind               string `json:"kind"`
		ID                 string `json:"id"`
		Etag               string `json:"etag"`
		Email              string `json:"email"`
		Name               string `json:"name"`
		DirectMembersCount string `json:"directMembersCount"`
		AdminCreated       bool   `json:"adminCreated"`
	}
	dirMember struct {
		Kind   string `json:"kind"`
		ID     string `json:"id"`
		Etag   string `json:"etag"`
		Email  string `json:"email"`
		Role   string `json:"role"`
		Type   string `json:"type"`
		Status string `json:"status"`
	}
)

func (d *Service) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	method, groupKey, ok := routeDirectory(r.Method, r.URL.Path)
	if !ok {
		wire.WriteError(rw, wire.NotFoundPath(r))
		return
	}
	if err := wire.CheckStandardParams(r); err != nil {
		wire.WriteError(rw, err)
		return
	}
	if err := d.w.Faults.Apply(r.Context(), "directory."+method); err != nil {
		wire.WriteError(rw, err)
		return
	}
	var (
		out  any
		aerr *wire.Error
	)
	switch method {
	case "groups.list":
		out, aerr = d.listGroups(r)
	case "groups.get":
		out, aerr = d.getGroup(groupKey)
	case "members.list":
		out, aerr = d.listMembers(groupKey, r)
	}
	if aerr != nil {
		wire.WriteError(rw, aerr)
		return
	}
	wire.WriteJSON(rw, out)
}

func routeDirectory(verb, urlPath string) (method, groupKey string, ok bool) {
	if verb != http.MethodGet {
		return "", "", false
	}
	rest, ok := strings.CutPrefix(urlPath, Prefix)
	switch {
	case !ok:
		return "", "", false
	case rest == "":
		return "groups.list", "", true
	}
	parts := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] != "":
		return "groups.get", parts[0], true
	case len(parts) == 2 && parts[0] != "" && parts[1] == "members":
		return "members.list", parts[0], true
	}
	return "", "", false
}

// directoryID is a stable numeric-looking id for a group or member.
func directoryID(s string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(s)))
	return hex.EncodeToString(sum[:9])
}

func (d *Service) toGroup(g world.Group) dirGroup {
	return dirGroup{
		Kind: "admin#directory#group", ID: strings.TrimPrefix(g.ID, "groups/"), Etag: wire.ResourceEtag(g.Email, strings.Join(g.Members, ",")),
		Email: g.Email, Name: g.DisplayName, DirectMembersCount: strconv.Itoa(len(g.Members)), AdminCreated: true,
	}
}

// groupByKey finds a group by email or Directory id.
func (d *Service) groupByKey(key string) (world.Group, bool) {
	if g, ok := d.w.Group(key); ok {
		return g, true
	}
	for _, g := range d.w.Groups() {
		if strings.TrimPrefix(g.ID, "groups/") == key {
			return g, true
		}
	}
	return world.Group{}, false
}

func (d *Service) getGroup(key string) (any, *wire.Error) {
	g, ok := d.groupByKey(key)
	if !ok {
		return nil, wire.New(http.StatusNotFound, "Resource Not Found: groupKey")
	}
	return d.toGroup(g), nil
}

// dirClause is one clause of a groups.list query.
type dirClause struct {
	field, value string
	prefix       bool
}

// parseDirectoryQuery parses the groups search syntax: whitespace-separated
// clauses ANDed, field "=" value or field ":" prefix "*", values in single
// quotes when they contain spaces (\' escapes a quote).
func parseDirectoryQuery(q string) ([]dirClause, *wire.Error) {
	var out []dirClause
	for i := 0; i < len(q); {
		for i < len(q) && q[i] == ' ' {
			i++
		}
		if i == len(q) {
			break
		}
		j := i
		for j < len(q) && q[j] != '=' && q[j] != ':' && q[j] != ' ' {
			j++
		}
		if j == len(q) || q[j] == ' ' {
			return nil, wire.InvalidArgument("Invalid Input: query clause %q has no operator", q[i:j])
		}
		c := dirClause{field: q[i:j], prefix: q[j] == ':'}
		j++
		var v strings.Builder
		if j < len(q) && q[j] == '\'' {
			j++
			closed := false
			for j < len(q) {
				if q[j] == '\\' && j+1 < len(q) {
					v.WriteByte(q[j+1])
					j += 2
					continue
				}
				if q[j] == '\'' {
					closed = true
					j++
					break
				}
				v.WriteByte(q[j])
				j++
			}
			if !closed {
				return nil, wire.InvalidArgument("Invalid Input: unterminated quote in query")
			}
		} else {
			for j < len(q) && q[j] != ' ' {
				v.WriteByte(q[j])
				j++
			}
		}
		c.value = v.String()
		switch {
		case c.field != "email" && c.field != "name" && c.field != "memberKey":
			return nil, wire.InvalidArgument("Invalid Input: unknown query field %q (email, name, memberKey)", c.field)
		case c.prefix && (c.field == "memberKey" || !strings.HasSuffix(c.value, "*")):
			return nil, wire.InvalidArgument("Invalid Input: %s:%s; the : operator is a prefix search (email:support*) on email and name", c.field, c.value)
		}
		if c.prefix {
			c.value = strings.TrimSuffix(c.value, "*")
		}
		out = append(out, c)
		i = j
	}
	hasMember := slices.ContainsFunc(out, func(c dirClause) bool { return c.field == "memberKey" })
	if hasMember && slices.ContainsFunc(out, func(c dirClause) bool { return c.field != "memberKey" }) {
		return nil, wire.InvalidArgument("Invalid Input: memberKey cannot be combined with email or name")
	}
	return out, nil
}

func (d *Service) listGroups(r *http.Request) (any, *wire.Error) {
	q := r.URL.Query()
	customer, domain, userKey := q.Get("customer"), q.Get("domain"), q.Get("userKey")
	switch {
	case customer == "" && domain == "" && userKey == "":
		return nil, wire.InvalidArgument("Bad Request: one of customer, domain or userKey is required")
	case customer != "" && userKey != "":
		return nil, wire.InvalidArgument("Bad Request: userKey cannot be used with customer")
	case customer != "" && customer != "my_customer" && !slices.ContainsFunc(d.w.Organizations(), func(o world.Organization) bool { return o.CustomerID == customer }):
		return nil, wire.InvalidArgument("Bad Request: the customer id %q is unknown", customer)
	case domain != "" && !slices.ContainsFunc(d.w.Organizations(), func(o world.Organization) bool { return strings.EqualFold(o.Domain, domain) }):
		return nil, wire.New(http.StatusNotFound, "Domain not found.")
	}
	clauses, aerr := parseDirectoryQuery(q.Get("query"))
	if aerr != nil {
		return nil, aerr
	}
	if userKey != "" {
		clauses = append(clauses, dirClause{field: "memberKey", value: userKey})
	}
	size, aerr := directoryPageSize(q.Get("maxResults"))
	if aerr != nil {
		return nil, aerr
	}
	var all []dirGroup
	for _, g := range d.w.Groups() {
		if matchesGroup(g, clauses) {
			all = append(all, d.toGroup(g))
		}
	}
	page, next, aerr := wire.Paginate(all, size, q.Get("pageToken"))
	if aerr != nil {
		return nil, aerr
	}
	return struct {
		Kind          string     `json:"kind"`
		Groups        []dirGroup `json:"groups,omitempty"`
		NextPageToken string     `json:"nextPageToken,omitempty"`
	}{"admin#directory#groups", page, next}, nil
}

func matchesGroup(g world.Group, clauses []dirClause) bool {
	for _, c := range clauses {
		var v string
		switch c.field {
		case "email":
			v = g.Email
		case "name":
			v = g.DisplayName
		case "memberKey":
			// Direct membership only, as Google's memberKey search.
			if !slices.ContainsFunc(g.Members, func(m string) bool {
				_, email, _ := strings.Cut(m, ":")
				return strings.EqualFold(email, c.value)
			}) {
				return false
			}
			continue
		}
		if c.prefix && !strings.HasPrefix(strings.ToLower(v), strings.ToLower(c.value)) ||
			!c.prefix && !strings.EqualFold(v, c.value) {
			return false
		}
	}
	return true
}

func directoryPageSize(s string) (int32, *wire.Error) {
	if s == "" {
		return 200, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 200 {
		return 0, wire.InvalidArgument("Invalid Input: maxResults must be from 1 to 200")
	}
	return int32(n), nil //nolint:gosec // at most 200
}

func (d *Service) listMembers(key string, r *http.Request) (any, *wire.Error) {
	q := r.URL.Query()
	g, ok := d.groupByKey(key)
	if !ok {
		return nil, wire.New(http.StatusNotFound, "Resource Not Found: groupKey")
	}
	if roles := q.Get("roles"); roles != "" {
		for _, role := range strings.Split(roles, ",") {
			switch strings.TrimSpace(role) {
			case "OWNER", "MANAGER", "MEMBER":
			default:
				return nil, wire.InvalidArgument("Invalid Input: roles %q (OWNER, MANAGER, MEMBER)", roles)
			}
		}
		if !slices.Contains(strings.Split(strings.ReplaceAll(roles, " ", ""), ","), "MEMBER") {
			// Everyone here is a MEMBER.
			return struct {
				Kind string `json:"kind"`
			}{"admin#directory#members"}, nil
		}
	}
	derived := false
	if v := q.Get("includeDerivedMembership"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, wire.InvalidArgument("Invalid value for includeDerivedMembership: %q", v)
		}
		derived = b
	}
	size, aerr := directoryPageSize(q.Get("maxResults"))
	if aerr != nil {
		return nil, aerr
	}
	members := g.Members
	if derived {
		members = d.flatten(g, map[string]bool{})
	}
	all := make([]dirMember, 0, len(members))
	for _, m := range members {
		kind, email, _ := strings.Cut(m, ":")
		typ := "USER"
		switch kind {
		case "group":
			typ = "GROUP"
		case "user", "serviceAccount":
		default:
			continue // domain:… and the like are not group members
		}
		all = append(all, dirMember{Kind: "admin#directory#member", ID: directoryID(email), Etag: wire.ResourceEtag(g.Email, m),
			Email: email, Role: "MEMBER", Type: typ, Status: "ACTIVE"})
	}
	page, next, aerr := wire.Paginate(all, size, q.Get("pageToken"))
	if aerr != nil {
		return nil, aerr
	}
	return struct {
		Kind          string      `json:"kind"`
		Members       []dirMember `json:"members,omitempty"`
		NextPageToken string      `json:"nextPageToken,omitempty"`
	}{"admin#directory#members", page, next}, nil
}

// flatten lists g's members with nested groups' members in their place.
func (d *Service) flatten(g world.Group, seen map[string]bool) []string {
	if seen[strings.ToLower(g.Email)] {
		return nil
	}
	seen[strings.ToLower(g.Email)] = true
	var out []string
	for _, m := range g.Members {
		kind, email, _ := strings.Cut(m, ":")
		if kind == "group" {
			if inner, ok := d.w.Group(email); ok {
				out = append(out, d.flatten(inner, seen)...)
				continue
			}
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// Owns reports whether a request path belongs to the Directory API.
func Owns(path string) bool { return path == Prefix || strings.HasPrefix(path, Prefix+"/") }
