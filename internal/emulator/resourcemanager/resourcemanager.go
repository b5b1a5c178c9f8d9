// Package resourcemanager emulates Resource Manager v3 (REST): the
// organization, folders and projects of the world, their search and list
// methods, and getIamPolicy and setIamPolicy with IAM's semantics.
package resourcemanager

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/internal/emulator/wire"
	"github.com/jitaccess/jitaccess/internal/emulator/world"
)

// Service serves the Resource Manager v3 REST methods that
// jitaccess and its tools use, exactly as the generated client
// google.golang.org/api/cloudresourcemanager/v3 calls them: paths
// "v3/{+name}" and "v3/{+resource}:getIamPolicy", JSON bodies, the "alt"
// and "prettyPrint" parameters, and Google's JSON error body.
//
// Implemented: organizations.get/search, folders.get/list/search,
// projects.get/list/search, and getIamPolicy/setIamPolicy on all three.
// Everything else answers 404 with Google's error shape.
type Service struct {
	w *world.World
}

// New returns the Resource Manager service of w.
func New(w *world.World) *Service { return &Service{w: w} }

// crmMethods lists the methods served for a collection.
func crmMethods(collection string) []string {
	switch collection {
	case "organizations":
		return []string{"get", "search", "getIamPolicy", "setIamPolicy"}
	case "folders", "projects":
		return []string{"get", "list", "search", "getIamPolicy", "setIamPolicy"}
	}
	return nil
}

// ServeHTTP routes a Resource Manager v3 request to its method.
func (rm *Service) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	collection, id, method, ok := routeCRM(r.Method, r.URL.Path)
	if !ok || !slices.Contains(crmMethods(collection), method) {
		wire.WriteError(rw, wire.NotFoundPath(r))
		return
	}
	if err := wire.CheckStandardParams(r); err != nil {
		wire.WriteError(rw, err)
		return
	}
	if err := rm.w.Faults.Apply(r.Context(), "cloudresourcemanager."+collection+"."+method); err != nil {
		wire.WriteError(rw, err)
		return
	}
	name := ""
	if id != "" {
		name = collection + "/" + id
	}
	var (
		out  any
		aerr *wire.Error
	)
	switch method {
	case "get":
		out, aerr = rm.get(collection, name)
	case "list":
		out, aerr = rm.list(collection, r)
	case "search":
		out, aerr = rm.search(collection, r)
	case "getIamPolicy":
		out, aerr = rm.getIamPolicy(name, rw, r)
	case "setIamPolicy":
		out, aerr = rm.setIamPolicy(name, rw, r)
	}
	if aerr != nil {
		wire.WriteError(rw, aerr)
		return
	}
	wire.WriteJSON(rw, out)
}

// routeCRM splits "/v3/projects/p:getIamPolicy" into its collection, the
// resource id and the method name.
func routeCRM(verb, urlPath string) (collection, id, method string, ok bool) {
	rest, ok := strings.CutPrefix(urlPath, "/v3/")
	if !ok {
		return "", "", "", false
	}
	collection, id, hasID := strings.Cut(rest, "/")
	custom := ""
	if hasID {
		if i := strings.LastIndex(id, ":"); i >= 0 {
			id, custom = id[:i], id[i+1:]
		}
		if id == "" || strings.Contains(id, "/") {
			return "", "", "", false
		}
	} else if c, v, found := strings.Cut(collection, ":"); found {
		collection, custom = c, v
	}
	switch {
	case verb == http.MethodGet && !hasID && custom == "":
		method = "list"
	case verb == http.MethodGet && !hasID && custom == "search":
		method = "search"
	case verb == http.MethodGet && hasID && custom == "":
		method = "get"
	case verb == http.MethodPost && hasID && (custom == "getIamPolicy" || custom == "setIamPolicy"):
		method = custom
	default:
		return "", "", "", false
	}
	return collection, id, method, true
}

// JSON shapes of Resource Manager v3 resources.
type (
	crmOrganization struct {
		Name                string `json:"name"`
		DisplayName         string `json:"displayName,omitempty"`
		DirectoryCustomerID string `json:"directoryCustomerId,omitempty"`
		State               string `json:"state"`
		Etag                string `json:"etag"`
	}
	crmFolder struct {
		Name        string `json:"name"`
		Parent      string `json:"parent"`
		DisplayName string `json:"displayName,omitempty"`
		State       string `json:"state"`
		Etag        string `json:"etag"`
	}
	crmProject struct {
		Name        string            `json:"name"`
		Parent      string            `json:"parent,omitempty"`
		ProjectID   string            `json:"projectId"`
		State       string            `json:"state"`
		DisplayName string            `json:"displayName,omitempty"`
		CreateTime  string            `json:"createTime,omitempty"`
		Labels      map[string]string `json:"labels,omitempty"`
		Etag        string            `json:"etag"`
	}
)

func toCRMOrganization(o world.Organization) crmOrganization {
	return crmOrganization{Name: o.Name, DisplayName: o.DisplayName, DirectoryCustomerID: o.CustomerID,
		State: "ACTIVE", Etag: wire.ResourceEtag(o.Name, o.DisplayName)}
}

func toCRMFolder(f world.Folder) crmFolder {
	return crmFolder{Name: f.Name, Parent: f.Parent, DisplayName: f.DisplayName, State: "ACTIVE",
		Etag: wire.ResourceEtag(f.Name, f.Parent, f.DisplayName)}
}

func toCRMProject(p world.Project) crmProject {
	out := crmProject{Name: p.Name(), Parent: p.Parent, ProjectID: p.ID, State: p.State, DisplayName: p.DisplayName,
		Labels: p.Labels, Etag: wire.ResourceEtag(p.ID, p.Parent, p.DisplayName, p.State)}
	if !p.CreateTime.IsZero() {
		out.CreateTime = p.CreateTime.UTC().Format(time.RFC3339Nano)
	}
	return out
}

func (rm *Service) get(collection, name string) (any, *wire.Error) {
	switch collection {
	case "organizations":
		if o, ok := rm.w.Organization(name); ok {
			return toCRMOrganization(o), nil
		}
	case "folders":
		if f, ok := rm.w.Folder(name); ok {
			return toCRMFolder(f), nil
		}
	case "projects":
		if p, ok := rm.w.Project(name); ok {
			return toCRMProject(p), nil
		}
	}
	// Google does not reveal whether a resource exists to a caller who may
	// not see it.
	return nil, wire.PermissionDenied("resourcemanager."+collection+".get", name)
}

// list serves folders.list and projects.list: the direct children of the
// "parent" parameter, ACTIVE only unless showDeleted is true.
func (rm *Service) list(collection string, r *http.Request) (any, *wire.Error) {
	q := r.URL.Query()
	parent := q.Get("parent")
	if parent == "" {
		return nil, wire.InvalidArgument("Request contains an invalid argument: parent is required, e.g. folders/123 or organizations/456.")
	}
	if !rm.parentExists(parent) {
		return nil, wire.PermissionDenied("resourcemanager."+collection+".list", parent)
	}
	showDeleted := q.Get("showDeleted") == "true"
	size, token, err := wire.PageParams(q.Get("pageSize"), q.Get("pageToken"))
	if err != nil {
		return nil, err
	}
	switch collection {
	case "folders":
		var all []crmFolder
		for _, f := range rm.w.Folders() {
			if f.Parent == parent {
				all = append(all, toCRMFolder(f))
			}
		}
		page, next, err := wire.Paginate(all, size, token)
		return struct {
			Folders       []crmFolder `json:"folders,omitempty"`
			NextPageToken string      `json:"nextPageToken,omitempty"`
		}{page, next}, err
	default:
		var all []crmProject
		for _, p := range rm.w.Projects() {
			if p.Parent == parent && (showDeleted || p.State == "ACTIVE") {
				all = append(all, toCRMProject(p))
			}
		}
		page, next, err := wire.Paginate(all, size, token)
		return struct {
			Projects      []crmProject `json:"projects,omitempty"`
			NextPageToken string       `json:"nextPageToken,omitempty"`
		}{page, next}, err
	}
}

func (rm *Service) parentExists(parent string) bool {
	switch {
	case strings.HasPrefix(parent, "folders/"):
		_, ok := rm.w.Folder(parent)
		return ok
	case strings.HasPrefix(parent, "organizations/"):
		_, ok := rm.w.Organization(parent)
		return ok
	}
	return false
}

// crmSearchFields lists the query fields a collection's search
// understands; a trailing "." means a prefix (labels.KEY).
func crmSearchFields(collection string) []string {
	switch collection {
	case "organizations":
		return []string{"domain", "directorycustomerid", "displayname", "state"}
	case "folders":
		return []string{"displayname", "name", "parent", "state", "lifecyclestate"}
	}
	return []string{"displayname", "name", "id", "projectid", "parent", "parent.type", "parent.id", "state", "lifecyclestate", "labels", "labels."}
}

func (rm *Service) search(collection string, r *http.Request) (any, *wire.Error) {
	q := r.URL.Query()
	terms, aerr := parseCRMQuery(q.Get("query"), crmSearchFields(collection))
	if aerr != nil {
		return nil, aerr
	}
	size, token, aerr := wire.PageParams(q.Get("pageSize"), q.Get("pageToken"))
	if aerr != nil {
		return nil, aerr
	}
	switch collection {
	case "organizations":
		var all []crmOrganization
		for _, o := range rm.w.Organizations() {
			if terms.match(func(field string) []string { return organizationField(o, field) }) {
				all = append(all, toCRMOrganization(o))
			}
		}
		page, next, err := wire.Paginate(all, size, token)
		return struct {
			Organizations []crmOrganization `json:"organizations,omitempty"`
			NextPageToken string            `json:"nextPageToken,omitempty"`
		}{page, next}, err
	case "folders":
		var all []crmFolder
		for _, f := range rm.w.Folders() {
			if terms.match(func(field string) []string { return folderField(f, field) }) {
				all = append(all, toCRMFolder(f))
			}
		}
		page, next, err := wire.Paginate(all, size, token)
		return struct {
			Folders       []crmFolder `json:"folders,omitempty"`
			NextPageToken string      `json:"nextPageToken,omitempty"`
		}{page, next}, err
	default:
		var all []crmProject
		for _, p := range rm.w.Projects() {
			if terms.match(func(field string) []string { return projectField(p, field) }) {
				all = append(all, toCRMProject(p))
			}
		}
		page, next, err := wire.Paginate(all, size, token)
		return struct {
			Projects      []crmProject `json:"projects,omitempty"`
			NextPageToken string       `json:"nextPageToken,omitempty"`
		}{page, next}, err
	}
}

func organizationField(o world.Organization, field string) []string {
	switch field {
	case "domain":
		return []string{o.Domain}
	case "directorycustomerid":
		return []string{o.CustomerID}
	case "displayname":
		return []string{o.DisplayName}
	case "state":
		return []string{"ACTIVE"}
	}
	return nil
}

func folderField(f world.Folder, field string) []string {
	switch field {
	case "displayname", "name":
		return []string{f.DisplayName}
	case "parent":
		return []string{f.Parent}
	case "state", "lifecyclestate":
		return []string{"ACTIVE"}
	}
	return nil
}

func projectField(p world.Project, field string) []string {
	switch field {
	case "displayname", "name":
		return []string{p.DisplayName}
	case "id", "projectid":
		return []string{p.ID}
	case "parent":
		return []string{p.Parent}
	case "parent.type":
		kind, _, _ := strings.Cut(p.Parent, "/")
		return []string{strings.TrimSuffix(kind, "s")}
	case "parent.id":
		_, id, _ := strings.Cut(p.Parent, "/")
		return []string{id}
	case "state", "lifecyclestate":
		return []string{p.State}
	case "labels":
		// A label's name or its value.
		var out []string
		for k, v := range p.Labels {
			out = append(out, k, v)
		}
		return out
	}
	if key, ok := strings.CutPrefix(field, "labels."); ok {
		for k, v := range p.Labels {
			if strings.EqualFold(k, key) {
				return []string{v}
			}
		}
	}
	return nil
}

// crmQuery is a parsed search query: alternatives (OR), each a list of
// terms that must all match (AND).
type crmQuery [][]searchTerm

// searchTerm is one field:value (or field=value) term of a query.
type searchTerm struct {
	field, value string
	exact        bool
}

// parseCRMQuery parses Resource Manager's search syntax as Google
// documents it for projects.search (and folders and organizations):
// "field:value" or "field=value" terms, values optionally double-quoted,
// "*" as a wildcard ("name:how*", "labels.color:*"), field names and
// values case-insensitive. Terms are joined by AND or OR; AND binds
// tighter, and terms written side by side are ANDed (as
// "parent.type:folder parent.id:123" is meant). NOT, negation and
// parentheses are refused with a clear message rather than misread. An
// empty query matches everything.
func parseCRMQuery(q string, fields []string) (crmQuery, *wire.Error) {
	tokens, err := splitQuery(q)
	if err != nil {
		return nil, err
	}
	out := crmQuery{nil}
	expectTerm := true
	for _, tok := range tokens {
		switch {
		case tok == "AND" || tok == "OR":
			if expectTerm {
				return nil, wire.InvalidArgument("Invalid query %q: %s must join two field:value terms.", q, tok)
			}
			if tok == "OR" {
				out = append(out, nil)
			}
			expectTerm = true
			continue
		case tok == "NOT" || strings.HasPrefix(tok, "-") || strings.ContainsAny(tok, "()"):
			return nil, wire.InvalidArgument("Unsupported query %q: the emulator supports field:value terms joined by AND and OR (no NOT, negation or parentheses).", q)
		}
		sep := strings.IndexAny(tok, ":=")
		if sep <= 0 {
			return nil, wire.InvalidArgument("Invalid query term %q in %q: expected field:value.", tok, q)
		}
		field := strings.ToLower(tok[:sep])
		known := slices.ContainsFunc(fields, func(f string) bool {
			return field == f || (strings.HasSuffix(f, ".") && strings.HasPrefix(field, f) && len(field) > len(f))
		})
		if !known {
			return nil, wire.InvalidArgument("Unsupported query field %q in %q; the emulator supports %s.", tok[:sep], q, strings.Join(fields, ", "))
		}
		last := len(out) - 1
		out[last] = append(out[last], searchTerm{field: field, value: strings.Trim(tok[sep+1:], `"`), exact: tok[sep] == '='})
		expectTerm = false
	}
	if expectTerm && len(tokens) > 0 {
		return nil, wire.InvalidArgument("Invalid query %q: it ends with an operator.", q)
	}
	return out, nil
}

// splitQuery splits on whitespace outside double quotes.
func splitQuery(q string) ([]string, *wire.Error) {
	var (
		out     []string
		cur     strings.Builder
		inQuote bool
	)
	for _, r := range q {
		switch {
		case r == '"':
			inQuote = !inQuote
			cur.WriteRune(r)
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if inQuote {
		return nil, wire.InvalidArgument("Invalid query %q: unterminated quote.", q)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out, nil
}

func (q crmQuery) match(values func(field string) []string) bool {
	for _, all := range q {
		if slices.ContainsFunc(all, func(t searchTerm) bool {
			return !slices.ContainsFunc(values(t.field), func(v string) bool { return globMatch(t.value, v) })
		}) {
			continue
		}
		return true
	}
	return len(q) == 0
}

// globMatch matches value against pattern case-insensitively, where "*"
// matches any run of characters.
func globMatch(pattern, value string) bool {
	pattern, value = strings.ToLower(pattern), strings.ToLower(value)
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == value
	}
	if !strings.HasPrefix(value, parts[0]) {
		return false
	}
	value = value[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(value, p)
		if i < 0 {
			return false
		}
		value = value[i+len(p):]
	}
	return strings.HasSuffix(value, last)
}

func (rm *Service) getIamPolicy(name string, rw http.ResponseWriter, r *http.Request) (any, *wire.Error) {
	var req struct {
		Options *struct {
			RequestedPolicyVersion int `json:"requestedPolicyVersion"`
		} `json:"options"`
	}
	if err := wire.DecodeBody(rw, r, &req); err != nil {
		return nil, err
	}
	version := 0
	if req.Options != nil {
		version = req.Options.RequestedPolicyVersion
	}
	p, err := rm.w.GetIamPolicy(name, version)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (rm *Service) setIamPolicy(name string, rw http.ResponseWriter, r *http.Request) (any, *wire.Error) {
	var req struct {
		Policy     *world.Policy `json:"policy"`
		UpdateMask string        `json:"updateMask"`
	}
	if err := wire.DecodeBody(rw, r, &req); err != nil {
		return nil, err
	}
	if req.Policy == nil {
		return nil, wire.InvalidArgument("Request contains an invalid argument: policy is required.")
	}
	// Google's default mask when a request has none.
	mask := []string{"bindings", "etag"}
	if strings.TrimSpace(req.UpdateMask) != "" {
		mask = strings.Split(req.UpdateMask, ",")
	}
	p, err := rm.w.SetIamPolicyMask(name, *req.Policy, mask)
	if err != nil {
		return nil, err
	}
	rm.w.NoteRequestReason(name, r.Header.Get("X-Goog-Request-Reason"))
	return p, nil
}

// Owns reports whether a request path belongs to Resource Manager v3.
func Owns(path string) bool { return strings.HasPrefix(path, "/v3/") }
