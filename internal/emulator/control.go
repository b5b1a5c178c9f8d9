package emulator

import (
	"errors"
	"net/http"
	"path"
	"strings"
	"time"
)

// Control is the emulator's own small JSON API under /_emulator/, for
// tools, black-box tests and the demo's IAM viewer: it shows the world and
// every current policy, and sets faults and the Cloud Asset index delay at
// run time. It has no authentication: the emulator listens on loopback and
// is a development tool, never a production service.
//
//	GET    /_emulator/world             hierarchy, users, groups, service accounts
//	GET    /_emulator/policies          every resource's current IAM policy
//	GET    /_emulator/endpoints         the emulator's endpoints (as printed at start)
//	GET    /_emulator/faults            installed faults by method pattern
//	GET    /_emulator/calls             calls so far by method, e.g. {"cloudasset.AnalyzeIamPolicy": 3}
//	PUT    /_emulator/faults/{pattern}  {"latency":"100ms","code":503,"rate":0.5,"count":3,"message":"…","roundTrip":false}
//	DELETE /_emulator/faults/{pattern}  remove one fault
//	DELETE /_emulator/faults            remove every fault
//	PUT    /_emulator/indexDelay        {"indexDelay":"30s"}
type Control struct {
	w         *World
	endpoints func() Endpoints
}

// NewControl returns the control API for w; endpoints, when not nil,
// reports the emulator's endpoints.
func NewControl(w *World, endpoints func() Endpoints) *Control {
	return &Control{w: w, endpoints: endpoints}
}

// JSON views of the world for the control API.
type (
	worldView struct {
		Organizations   []orgView        `json:"organizations"`
		Folders         []folderView     `json:"folders"`
		Projects        []projectView    `json:"projects"`
		Users           []User           `json:"users"`
		Groups          []groupView      `json:"groups"`
		ServiceAccounts []ServiceAccount `json:"serviceAccounts"`
	}
	orgView struct {
		Name        string `json:"name"`
		DisplayName string `json:"displayName"`
		Domain      string `json:"domain,omitempty"`
		CustomerID  string `json:"customerId,omitempty"`
	}
	folderView struct {
		Name        string `json:"name"`
		DisplayName string `json:"displayName"`
		Parent      string `json:"parent"`
	}
	projectView struct {
		ID          string            `json:"id"`
		Number      int64             `json:"number"`
		Name        string            `json:"name"`
		DisplayName string            `json:"displayName"`
		Parent      string            `json:"parent"`
		State       string            `json:"state"`
		Labels      map[string]string `json:"labels,omitempty"`
	}
	groupView struct {
		Email       string   `json:"email"`
		ID          string   `json:"id"`
		DisplayName string   `json:"displayName,omitempty"`
		Members     []string `json:"members"`
	}
	resourcePolicy struct {
		Resource string `json:"resource"`
		Policy   Policy `json:"policy"`
	}
)

func (c *Control) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	rest, _ := strings.CutPrefix(r.URL.Path, "/_emulator/")
	switch {
	case r.Method == http.MethodGet && rest == "world":
		writeJSON(rw, c.world())
	case r.Method == http.MethodGet && rest == "policies":
		writeJSON(rw, map[string]any{"policies": c.policies()})
	case r.Method == http.MethodGet && rest == "endpoints" && c.endpoints != nil:
		writeJSON(rw, c.endpoints())
	case r.Method == http.MethodGet && rest == "calls":
		writeJSON(rw, c.w.Faults.CallCounts())
	case r.Method == http.MethodGet && rest == "faults":
		writeJSON(rw, c.faults())
	case r.Method == http.MethodDelete && rest == "faults":
		c.w.Faults.Clear()
		rw.WriteHeader(http.StatusNoContent)
	case strings.HasPrefix(rest, "faults/") && (r.Method == http.MethodPut || r.Method == http.MethodDelete):
		c.setFault(rw, r, strings.TrimPrefix(rest, "faults/"))
	case r.Method == http.MethodPut && rest == "indexDelay":
		c.setIndexDelay(rw, r)
	default:
		writeRESTError(rw, notFoundPath(r))
	}
}

func (c *Control) world() worldView {
	v := worldView{Users: c.w.Users(), ServiceAccounts: c.w.ServiceAccounts()}
	for _, o := range c.w.Organizations() {
		v.Organizations = append(v.Organizations, orgView(o))
	}
	for _, f := range c.w.Folders() {
		v.Folders = append(v.Folders, folderView(f))
	}
	for _, p := range c.w.Projects() {
		v.Projects = append(v.Projects, projectView{p.ID, p.Number, p.Name(), p.DisplayName, p.Parent, p.State, p.Labels})
	}
	for _, g := range c.w.Groups() {
		v.Groups = append(v.Groups, groupView(g))
	}
	return v
}

// policies lists every resource's current policy: the organization(s),
// then folders, then projects (named projects/ID).
func (c *Control) policies() []resourcePolicy {
	var names []string
	for _, o := range c.w.Organizations() {
		names = append(names, o.Name)
	}
	for _, f := range c.w.Folders() {
		names = append(names, f.Name)
	}
	for _, p := range c.w.Projects() {
		names = append(names, "projects/"+p.ID)
	}
	out := make([]resourcePolicy, 0, len(names))
	for _, n := range names {
		if p, ok := c.w.Policy(n); ok {
			out = append(out, resourcePolicy{Resource: n, Policy: p})
		}
	}
	return out
}

func faultView(f Fault) SeedFault {
	v := SeedFault{Code: f.Code, Rate: f.Rate, Message: f.Message, Count: f.Count, RoundTrip: f.RoundTrip}
	if f.Latency > 0 {
		v.Latency = f.Latency.String()
	}
	return v
}

func (c *Control) faults() map[string]SeedFault {
	out := map[string]SeedFault{}
	for p, f := range c.w.Faults.List() {
		out[p] = faultView(f)
	}
	return out
}

func (c *Control) setFault(rw http.ResponseWriter, r *http.Request, pattern string) {
	if _, err := path.Match(pattern, ""); pattern == "" || errors.Is(err, path.ErrBadPattern) {
		writeRESTError(rw, invalidArgument("Invalid method pattern %q.", pattern))
		return
	}
	if r.Method == http.MethodDelete {
		c.w.Faults.Set(pattern, Fault{})
		rw.WriteHeader(http.StatusNoContent)
		return
	}
	var in struct {
		Latency   string  `json:"latency"`
		Code      int     `json:"code"`
		Rate      float64 `json:"rate"`
		Message   string  `json:"message"`
		Count     int     `json:"count"`
		RoundTrip bool    `json:"roundTrip"`
	}
	if err := decodeBody(rw, r, &in); err != nil {
		writeRESTError(rw, err)
		return
	}
	f, err := SeedFault(in).toFault()
	if err != nil {
		writeRESTError(rw, invalidArgument("Invalid fault for %q: %v", pattern, err))
		return
	}
	c.w.Faults.Set(pattern, f)
	writeJSON(rw, map[string]SeedFault{pattern: faultView(f)})
}

func (c *Control) setIndexDelay(rw http.ResponseWriter, r *http.Request) {
	var in struct {
		IndexDelay string `json:"indexDelay"`
	}
	if err := decodeBody(rw, r, &in); err != nil {
		writeRESTError(rw, err)
		return
	}
	d, err := time.ParseDuration(in.IndexDelay)
	if err != nil || d < 0 {
		writeRESTError(rw, invalidArgument("indexDelay %q must be a non-negative duration such as 30s.", in.IndexDelay))
		return
	}
	c.w.SetIndexDelay(d)
	writeJSON(rw, map[string]string{"indexDelay": d.String()})
}
