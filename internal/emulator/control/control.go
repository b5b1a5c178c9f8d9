// Package control is the emulator's own small JSON API, for tools,
// black-box tests and the demo's IAM viewer: it shows the world and sets
// faults and the index delay at run time.
package control

import (
	"errors"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/internal/emulator/fault"
	"github.com/jitaccess/jitaccess/internal/emulator/seed"
	"github.com/jitaccess/jitaccess/internal/emulator/wire"
	"github.com/jitaccess/jitaccess/internal/emulator/world"
)

// API is the emulator's own small JSON API under /_emulator/, for
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
type API struct {
	w         *world.World
	endpoints func() any
}

// New returns the control API for w; endpoints, when not nil, reports
// the emulator's endpoints as the JSON value to serve.
func New(w *world.World, endpoints func() any) *API {
	return &API{w: w, endpoints: endpoints}
}

// JSON views of the world for the control API.
type (
	worldView struct {
		Organizations   []orgView              `json:"organizations"`
		Folders         []folderView           `json:"folders"`
		Projects        []projectView          `json:"projects"`
		Users           []world.User           `json:"users"`
		Groups          []groupView            `json:"groups"`
		ServiceAccounts []world.ServiceAccount `json:"serviceAccounts"`
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
		Resource string       `json:"resource"`
		Policy   world.Policy `json:"policy"`
	}
)

// ServeHTTP routes a control request.
func (c *API) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	rest, _ := strings.CutPrefix(r.URL.Path, "/_emulator/")
	switch {
	case r.Method == http.MethodGet && rest == "world":
		wire.WriteJSON(rw, c.world())
	case r.Method == http.MethodGet && rest == "policies":
		wire.WriteJSON(rw, map[string]any{"policies": c.policies()})
	case r.Method == http.MethodGet && rest == "endpoints" && c.endpoints != nil:
		wire.WriteJSON(rw, c.endpoints())
	case r.Method == http.MethodGet && rest == "calls":
		wire.WriteJSON(rw, c.w.Faults.CallCounts())
	case r.Method == http.MethodGet && rest == "faults":
		wire.WriteJSON(rw, c.faults())
	case r.Method == http.MethodDelete && rest == "faults":
		c.w.Faults.Clear()
		rw.WriteHeader(http.StatusNoContent)
	case strings.HasPrefix(rest, "faults/") && (r.Method == http.MethodPut || r.Method == http.MethodDelete):
		c.setFault(rw, r, strings.TrimPrefix(rest, "faults/"))
	case r.Method == http.MethodPut && rest == "indexDelay":
		c.setIndexDelay(rw, r)
	default:
		wire.WriteError(rw, wire.NotFoundPath(r))
	}
}

func (c *API) world() worldView {
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
func (c *API) policies() []resourcePolicy {
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

func faultView(f fault.Fault) seed.SeedFault {
	v := seed.SeedFault{Code: f.Code, Rate: f.Rate, Message: f.Message, Count: f.Count, RoundTrip: f.RoundTrip}
	if f.Latency > 0 {
		v.Latency = f.Latency.String()
	}
	return v
}

func (c *API) faults() map[string]seed.SeedFault {
	out := map[string]seed.SeedFault{}
	for p, f := range c.w.Faults.List() {
		out[p] = faultView(f)
	}
	return out
}

func (c *API) setFault(rw http.ResponseWriter, r *http.Request, pattern string) {
	if _, err := path.Match(pattern, ""); pattern == "" || errors.Is(err, path.ErrBadPattern) {
		wire.WriteError(rw, wire.InvalidArgument("Invalid method pattern %q.", pattern))
		return
	}
	if r.Method == http.MethodDelete {
		c.w.Faults.Set(pattern, fault.Fault{})
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
	if err := wire.DecodeBody(rw, r, &in); err != nil {
		wire.WriteError(rw, err)
		return
	}
	f, err := seed.SeedFault(in).Fault()
	if err != nil {
		wire.WriteError(rw, wire.InvalidArgument("Invalid fault for %q: %v", pattern, err))
		return
	}
	c.w.Faults.Set(pattern, f)
	wire.WriteJSON(rw, map[string]seed.SeedFault{pattern: faultView(f)})
}

func (c *API) setIndexDelay(rw http.ResponseWriter, r *http.Request) {
	var in struct {
		IndexDelay string `json:"indexDelay"`
	}
	if err := wire.DecodeBody(rw, r, &in); err != nil {
		wire.WriteError(rw, err)
		return
	}
	d, err := time.ParseDuration(in.IndexDelay)
	if err != nil || d < 0 {
		wire.WriteError(rw, wire.InvalidArgument("indexDelay %q must be a non-negative duration such as 30s.", in.IndexDelay))
		return
	}
	c.w.SetIndexDelay(d)
	wire.WriteJSON(rw, map[string]string{"indexDelay": d.String()})
}

// Owns reports whether a request path belongs to the control API.
func Owns(path string) bool { return strings.HasPrefix(path, "/_emulator/") }
