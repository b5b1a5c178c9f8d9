// Package catalog discovers who is eligible for what: the projects a user
// can activate roles in, their eligible entitlements with current status,
// and the peers who could approve a request. It reads Cloud Asset (through
// cloud.google.com/go/asset) in one of the original's two ways, chosen by
// RESOURCE_CATALOG: PolicyAnalyzer (AnalyzeIamPolicy resolves groups and
// inheritance) or AssetInventory (effective policies plus Cloud Identity
// for groups, nested ones included). Current activations are read from the
// project's IAM policy itself, because the Asset index lags IAM writes by
// minutes and a user who just activated a role must see it as active.
package catalog

import (
	"context"
	"errors"
	"fmt"
	admin "google.golang.org/api/admin/directory/v1"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/jit"
)

const projectPrefix = "//cloudresourcemanager.googleapis.com/projects/"

// maxProjects bounds a project listing; larger organisations should set
// AVAILABLE_PROJECTS_QUERY to something narrower.
const maxProjects = 10000

// Options are shared by both backends.
type Options struct {
	// Scope is RESOURCE_SCOPE: "organizations/N", "folders/N" or "projects/ID".
	Scope string
	// ProjectsQuery is AVAILABLE_PROJECTS_QUERY; when set, projects are
	// searched with it instead of being derived from eligibility.
	ProjectsQuery string
	// Directory, when set, makes the AssetInventory catalog resolve groups
	// as the original 1.8.1 did: through the Admin SDK Directory API,
	// direct memberships only, for the Workspace customer CustomerID
	// (RESOURCE_CUSTOMER_ID). Unset, it uses Cloud Identity's transitive
	// search, where nested groups count (GROUP_MEMBERSHIP=transitive).
	Directory  *admin.Service
	CustomerID string
	// ReadTimeout bounds each Google call (BACKEND_READ_TIMEOUT).
	ReadTimeout time.Duration
	Clock       func() time.Time
	Logger      *slog.Logger
	// Cache keeps read results per user (CATALOG_CACHE_TTL); nil keeps
	// nothing.
	Cache *Cache

	// Notices throttles the warnings about approver declarations without
	// effect found at discovery; nil gets one per catalog (NewNotices
	// with the cache's TTL). Share one between an app's catalogs.
	Notices *Notices

	// widened remembers which widened bindings were logged; shared by the
	// copies of Options a catalog keeps.
	widened *widenedLog
}

func (o *Options) defaults() {
	if o.widened == nil {
		o.widened = &widenedLog{}
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 20 * time.Second
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Notices == nil {
		var period time.Duration
		if o.Cache.enabled() {
			period = o.Cache.ttl
		}
		o.Notices = NewNotices(period, o.Clock)
	}
}

// eligible is one eligible binding found for a user.
type eligible struct {
	ent jit.Entitlement
	typ jit.ActivationType
	// grounds say where the binding is, when known.
	grounds []jit.Grounds
}

// merge turns eligible bindings into entitlements: JIT wins when an
// entitlement is both JIT- and MPA-eligible (as in the original), and
// duplicates inherited from several levels collapse.
func merge(found []eligible, active map[jit.Entitlement]time.Time) []jit.EligibleEntitlement {
	byEnt := map[jit.Entitlement]jit.ActivationType{}
	grounds := map[jit.Entitlement]map[jit.ActivationType][]jit.Grounds{}
	var order []jit.Entitlement
	for _, f := range found {
		prev, seen := byEnt[f.ent]
		if !seen {
			order = append(order, f.ent)
			grounds[f.ent] = map[jit.ActivationType][]jit.Grounds{}
		}
		if !seen || (prev == jit.MPA && f.typ == jit.JIT) {
			byEnt[f.ent] = f.typ
		}
		grounds[f.ent][f.typ] = append(grounds[f.ent][f.typ], f.grounds...)
	}
	out := make([]jit.EligibleEntitlement, 0, len(order))
	for _, e := range order {
		ee := jit.EligibleEntitlement{Entitlement: e, Type: byEnt[e], Status: jit.StatusInactive, Grounds: grounds[e][byEnt[e]]}
		if until, ok := active[e]; ok {
			ee.Status, ee.ValidUntil = jit.StatusActive, until
		}
		out = append(out, ee)
	}
	return out
}

// eligibilityOf parses a binding's condition as an eligibility for project.
func eligibilityOf(project jit.ProjectID, role, expr string) (eligible, bool) {
	el, ok, _ := eligibilityOrWarningAt(jit.Entitlement{Project: project}, role, expr)
	return el, ok
}

// eligibilityAt parses a binding's condition as an eligibility on the
// resource of at (its Project or Node).
func eligibilityAt(at jit.Entitlement, role, expr string) (eligible, bool) {
	el, ok, _ := eligibilityOrWarningAt(at, role, expr)
	return el, ok
}

// eligibilityOrWarningAt is eligibilityAt, with a warning for the user
// when the binding is meant to be eligible but cannot be activated.
func eligibilityOrWarningAt(at jit.Entitlement, role, expr string) (eligible, bool, string) {
	return parseBinding(role, expr).at(at)
}

// bindingEligibility is what one binding's condition says, parsed once,
// to be placed on each resource the binding applies to: a binding on a
// folder applies to every project in it, and parsing a condition costs
// far more than placing it.
type bindingEligibility struct {
	role      string
	el        condition.Eligibility
	ok        bool
	timeBound bool
}

func parseBinding(role, expr string) bindingEligibility {
	if expr == "" {
		return bindingEligibility{}
	}
	el, ok, err := condition.ParseEligibility(expr)
	return bindingEligibility{role: role, el: el, ok: err == nil && ok, timeBound: errors.Is(err, condition.ErrTimeBoundEligibility)}
}

// at places the eligibility on the resource of at (its Project or Node),
// or says why it cannot be activated there.
func (b bindingEligibility) at(at jit.Entitlement) (eligible, bool, string) {
	if b.timeBound {
		where := string(at.Project)
		if at.Node != "" {
			where = at.Node
		}
		return eligible{}, false, fmt.Sprintf("%s on %s cannot be activated: its eligible binding's condition reads request.time. "+
			"Ask an administrator to remove the time clause from the condition.", b.role, where)
	}
	if !b.ok {
		return eligible{}, false, ""
	}
	return eligible{ent: jit.Entitlement{Project: at.Project, Node: at.Node, Role: b.role, ResourceCondition: b.el.ResourceCondition}, typ: b.el.Type}, true, ""
}

// at is the entitlement "base" of a resource: its Project or Node.
func at(ent jit.Entitlement) jit.Entitlement {
	return jit.Entitlement{Project: ent.Project, Node: ent.Node}
}

// activeWindowsAt reads the policy of base's resource (a project, a
// folder or the organization) and returns, per entitlement,
// the end of the member's current activation window.
func activeWindowsAt(ctx context.Context, crm *cloudresourcemanager.Service, timeout time.Duration, base jit.Entitlement, member string, now time.Time) (map[jit.Entitlement]time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req := &cloudresourcemanager.GetIamPolicyRequest{
		Options: &cloudresourcemanager.GetPolicyOptions{RequestedPolicyVersion: 3},
	}
	var (
		p   *cloudresourcemanager.Policy
		err error
	)
	switch resource := base.Resource(); {
	case strings.HasPrefix(resource, "folders/"):
		p, err = crm.Folders.GetIamPolicy(resource, req).Context(ctx).Do()
	case strings.HasPrefix(resource, "organizations/"):
		p, err = crm.Organizations.GetIamPolicy(resource, req).Context(ctx).Do()
	default:
		p, err = crm.Projects.GetIamPolicy(resource, req).Context(ctx).Do()
	}
	if err != nil {
		return nil, fmt.Errorf("get IAM policy of %s: %w", base.Resource(), err)
	}
	out := map[jit.Entitlement]time.Time{}
	for _, b := range p.Bindings {
		if b.Condition == nil || !slices.ContainsFunc(b.Members, func(m string) bool { return strings.EqualFold(m, member) }) {
			continue
		}
		w, ok := condition.ParseActivation(b.Condition.Title, b.Condition.Expression)
		if !ok || !w.Active(now) {
			continue
		}
		e := jit.Entitlement{Project: base.Project, Node: base.Node, Role: b.Role, ResourceCondition: w.ResourceCondition}
		if w.End.After(out[e]) {
			out[e] = w.End
		}
	}
	return out, nil
}

// projectOf returns the project id of a Cloud Asset full resource name of
// a project, e.g. "//cloudresourcemanager.googleapis.com/projects/p".
func projectOf(fullName string) (jit.ProjectID, bool) {
	id, ok := strings.CutPrefix(fullName, projectPrefix)
	if !ok || strings.Contains(id, "/") {
		return "", false
	}
	p, err := jit.ParseProjectID(id)
	return p, err == nil
}

func sortedUnique[T ~string](in []T) []T {
	slices.Sort(in)
	return slices.Compact(in)
}

// translate turns a Cloud Asset (gRPC) or REST failure into a *jit.Error.
func translate(op, scope string, err error) error {
	if err == nil {
		return nil
	}
	var g *googleapi.Error
	if errors.As(err, &g) {
		switch {
		case g.Code == http.StatusForbidden:
			return jit.E(op, jit.KindDenied, fmt.Sprintf("Denied access to scope '%s'", scope), err)
		case g.Code == http.StatusNotFound:
			return jit.E(op, jit.KindNotFound, "The resource does not exist", err)
		case g.Code == http.StatusTooManyRequests:
			return jit.E(op, jit.KindTooMany, "A Google Cloud quota is exhausted, please try again later", err)
		case g.Code >= 500:
			return jit.E(op, jit.KindUpstream, "A Google Cloud API failed, please try again", err)
		}
		return jit.E(op, jit.KindUpstream, "A Google Cloud API refused the request", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return jit.E(op, jit.KindUnavailable, "A Google Cloud API timed out, please try again", err)
	}
	switch status.Code(err) {
	case codes.PermissionDenied, codes.Unauthenticated:
		return jit.E(op, jit.KindDenied, fmt.Sprintf("Denied access to scope '%s'", scope), err)
	case codes.NotFound:
		return jit.E(op, jit.KindNotFound, "The resource does not exist", err)
	case codes.ResourceExhausted:
		return jit.E(op, jit.KindTooMany, "The Cloud Asset quota is exhausted; consider RESOURCE_CATALOG=AssetInventory or try again later", err)
	case codes.DeadlineExceeded, codes.Unavailable:
		return jit.E(op, jit.KindUnavailable, "The Cloud Asset API did not answer in time, please try again", err)
	case codes.Canceled:
		return jit.E(op, jit.KindUnavailable, "The request was cancelled", err)
	}
	return jit.E(op, jit.KindUpstream, "The Cloud Asset API failed", err)
}
