package emulator

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ResourceManager serves the Resource Manager v3 REST methods that
// jitaccess and its tools use, exactly as the generated client
// google.golang.org/api/cloudresourcemanager/v3 calls them: paths
// "v3/{+name}" and "v3/{+resource}:getIamPolicy", JSON bodies, the "alt"
// and "prettyPrint" parameters, and Google's JSON error body.
//
// Implemented: organizations.get/search, folders.get/list/search,
// projects.get/list/search, and getIamPolicy/setIamPolicy on all three.
// Everything else answers 404 with Google's error shape.
type ResourceManager struct {
	w *World
}

// NewResourceManager returns the Resource Manager service for w.
func NewResourceManager(w *World) *ResourceManager { return &ResourceManager{w: w} }

// maxRequestBody bounds request bodies; a policy at Google's limit of
// 1,500 principals is well under 1 MiB.
const maxRequestBody = 4 << 20

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

func (rm *ResourceManager) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	collection, id, method, ok := routeCRM(r.Method, r.URL.Path)
	if !ok || !slices.Contains(crmMethods(collection), method) {
		writeRESTError(rw, notFoundPath(r))
		return
	}
	if err := checkStandardParams(r); err != nil {
		writeRESTError(rw, err)
		return
	}
	if err := rm.w.fault(r.Context(), "cloudresourcemanager."+collection+"."+method); err != nil {
		writeRESTError(rw, err)
		return
	}
	name := ""
	if id != "" {
		name = collection + "/" + id
	}
	var (
		out  any
		aerr *APIError
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
		writeRESTError(rw, aerr)
		return
	}
	writeJSON(rw, out)
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

func notFoundPath(r *http.Request) *APIError {
	return newAPIError(http.StatusNotFound, fmt.Sprintf(
		"The requested URL %s was not found on this server (method %s); the emulator implements only the methods listed in docs/emulator.md.",
		r.URL.Path, r.Method))
}

// checkStandardParams accepts the system parameters the generated clients
// send: alt=json and prettyPrint. Partial responses ("fields") are not
// applied; the full resource is returned.
func checkStandardParams(r *http.Request) *APIError {
	q := r.URL.Query()
	if alt := q.Get("alt"); alt != "" && alt != "json" {
		return invalidArgument("Invalid value for alt: %q; the emulator serves only alt=json.", alt)
	}
	if pp := q.Get("prettyPrint"); pp != "" {
		if _, err := strconv.ParseBool(pp); err != nil {
			return invalidArgument("Invalid value for prettyPrint: %q.", pp)
		}
	}
	return nil
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

// resourceEtag is a stable etag for a resource's metadata (not its policy).
func resourceEtag(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "W/\"" + base64.RawURLEncoding.EncodeToString(sum[:9]) + "\""
}

func toCRMOrganization(o Organization) crmOrganization {
	return crmOrganization{Name: o.Name, DisplayName: o.DisplayName, DirectoryCustomerID: o.CustomerID,
		State: "ACTIVE", Etag: resourceEtag(o.Name, o.DisplayName)}
}

func toCRMFolder(f Folder) crmFolder {
	return crmFolder{Name: f.Name, Parent: f.Parent, DisplayName: f.DisplayName, State: "ACTIVE",
		Etag: resourceEtag(f.Name, f.Parent, f.DisplayName)}
}

func toCRMProject(p Project) crmProject {
	out := crmProject{Name: p.Name(), Parent: p.Parent, ProjectID: p.ID, State: p.State, DisplayName: p.DisplayName,
		Labels: p.Labels, Etag: resourceEtag(p.ID, p.Parent, p.DisplayName, p.State)}
	if !p.CreateTime.IsZero() {
		out.CreateTime = p.CreateTime.UTC().Format(time.RFC3339Nano)
	}
	return out
}

func (rm *ResourceManager) get(collection, name string) (any, *APIError) {
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
	return nil, permissionDenied(collection+".get", name)
}

// list serves folders.list and projects.list: the direct children of the
// "parent" parameter, ACTIVE only unless showDeleted is true.
func (rm *ResourceManager) list(collection string, r *http.Request) (any, *APIError) {
	q := r.URL.Query()
	parent := q.Get("parent")
	if parent == "" {
		return nil, invalidArgument("Request contains an invalid argument: parent is required, e.g. folders/123 or organizations/456.")
	}
	if !rm.parentExists(parent) {
		return nil, permissionDenied(collection+".list", parent)
	}
	showDeleted := q.Get("showDeleted") == "true"
	size, token, err := pageParams(q.Get("pageSize"), q.Get("pageToken"))
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
		page, next, err := paginateREST(all, size, token)
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
		page, next, err := paginateREST(all, size, token)
		return struct {
			Projects      []crmProject `json:"projects,omitempty"`
			NextPageToken string       `json:"nextPageToken,omitempty"`
		}{page, next}, err
	}
}

func (rm *ResourceManager) parentExists(parent string) bool {
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

func (rm *ResourceManager) search(collection string, r *http.Request) (any, *APIError) {
	q := r.URL.Query()
	terms, aerr := parseCRMQuery(q.Get("query"), crmSearchFields(collection))
	if aerr != nil {
		return nil, aerr
	}
	size, token, aerr := pageParams(q.Get("pageSize"), q.Get("pageToken"))
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
		page, next, err := paginateREST(all, size, token)
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
		page, next, err := paginateREST(all, size, token)
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
		page, next, err := paginateREST(all, size, token)
		return struct {
			Projects      []crmProject `json:"projects,omitempty"`
			NextPageToken string       `json:"nextPageToken,omitempty"`
		}{page, next}, err
	}
}

func organizationField(o Organization, field string) []string {
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

func folderField(f Folder, field string) []string {
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

func projectField(p Project, field string) []string {
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

// parseCRMQuery parses Resource Manager's search syntax as Google
// documents it for projects.search (and folders and organizations):
// "field:value" or "field=value" terms, values optionally double-quoted,
// "*" as a wildcard ("name:how*", "labels.color:*"), field names and
// values case-insensitive. Terms are joined by AND or OR; AND binds
// tighter, and terms written side by side are ANDed (as
// "parent.type:folder parent.id:123" is meant). NOT, negation and
// parentheses are refused with a clear message rather than misread. An
// empty query matches everything.
func parseCRMQuery(q string, fields []string) (crmQuery, *APIError) {
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
				return nil, invalidArgument("Invalid query %q: %s must join two field:value terms.", q, tok)
			}
			if tok == "OR" {
				out = append(out, nil)
			}
			expectTerm = true
			continue
		case tok == "NOT" || strings.HasPrefix(tok, "-") || strings.ContainsAny(tok, "()"):
			return nil, invalidArgument("Unsupported query %q: the emulator supports field:value terms joined by AND and OR (no NOT, negation or parentheses).", q)
		}
		sep := strings.IndexAny(tok, ":=")
		if sep <= 0 {
			return nil, invalidArgument("Invalid query term %q in %q: expected field:value.", tok, q)
		}
		field := strings.ToLower(tok[:sep])
		known := slices.ContainsFunc(fields, func(f string) bool {
			return field == f || (strings.HasSuffix(f, ".") && strings.HasPrefix(field, f) && len(field) > len(f))
		})
		if !known {
			return nil, invalidArgument("Unsupported query field %q in %q; the emulator supports %s.", tok[:sep], q, strings.Join(fields, ", "))
		}
		last := len(out) - 1
		out[last] = append(out[last], searchTerm{field: field, value: strings.Trim(tok[sep+1:], `"`), exact: tok[sep] == '='})
		expectTerm = false
	}
	if expectTerm && len(tokens) > 0 {
		return nil, invalidArgument("Invalid query %q: it ends with an operator.", q)
	}
	return out, nil
}

// splitQuery splits on whitespace outside double quotes.
func splitQuery(q string) ([]string, *APIError) {
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
		return nil, invalidArgument("Invalid query %q: unterminated quote.", q)
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

// pageParams parses pageSize and pageToken.
func pageParams(size, token string) (int32, string, *APIError) {
	if size == "" {
		return 0, token, nil
	}
	n, err := strconv.ParseInt(size, 10, 32)
	if err != nil || n < 0 {
		return 0, "", invalidArgument("Invalid value for pageSize: %q.", size)
	}
	return int32(n), token, nil
}

// paginateREST is paginate with the error as an *APIError.
func paginateREST[T any](all []T, size int32, token string) ([]T, string, *APIError) {
	page, next, err := paginate(all, size, token)
	if err != nil {
		var aerr *APIError
		if errors.As(err, &aerr) {
			return nil, "", aerr
		}
		return nil, "", invalidArgument("%s", err.Error())
	}
	return page, next, nil
}

// decodeBody decodes a JSON request body strictly, as Google does: an
// unknown field or malformed JSON is 400 INVALID_ARGUMENT. An empty body
// leaves v unchanged.
func decodeBody(rw http.ResponseWriter, r *http.Request, v any) *APIError {
	dec := json.NewDecoder(http.MaxBytesReader(rw, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return newAPIError(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body is larger than %d bytes.", maxRequestBody))
		}
		return invalidArgument("Invalid JSON payload received. %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return invalidArgument("Invalid JSON payload received. Unexpected data after the JSON object.")
	}
	return nil
}

func (rm *ResourceManager) getIamPolicy(name string, rw http.ResponseWriter, r *http.Request) (any, *APIError) {
	var req struct {
		Options *struct {
			RequestedPolicyVersion int `json:"requestedPolicyVersion"`
		} `json:"options"`
	}
	if err := decodeBody(rw, r, &req); err != nil {
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

func (rm *ResourceManager) setIamPolicy(name string, rw http.ResponseWriter, r *http.Request) (any, *APIError) {
	var req struct {
		Policy     *Policy `json:"policy"`
		UpdateMask string  `json:"updateMask"`
	}
	if err := decodeBody(rw, r, &req); err != nil {
		return nil, err
	}
	if req.Policy == nil {
		return nil, invalidArgument("Request contains an invalid argument: policy is required.")
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
	rm.w.noteRequestReason(name, r.Header.Get("X-Goog-Request-Reason"))
	return p, nil
}
