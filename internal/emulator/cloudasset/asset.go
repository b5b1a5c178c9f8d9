// Package cloudasset emulates the Cloud Asset API methods jitaccess uses
// (gRPC): Policy Analyzer's AnalyzeIamPolicy, the IAM policy and resource
// searches and BatchGetEffectiveIamPolicies, computed from the world's
// policies as the Asset index sees them, after its indexing delay.
package cloudasset

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/asset/apiv1/assetpb"
	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/genproto/googleapis/type/expr"
	"google.golang.org/grpc"

	"github.com/jitaccess/jitaccess/internal/emulator/wire"
	"github.com/jitaccess/jitaccess/internal/emulator/world"
)

const crmPrefix = "//cloudresourcemanager.googleapis.com/"

// Asset types of the resource hierarchy, as Cloud Asset names them.
const (
	assetTypeOrganization = "cloudresourcemanager.googleapis.com/Organization"
	assetTypeFolder       = "cloudresourcemanager.googleapis.com/Folder"
	assetTypeProject      = "cloudresourcemanager.googleapis.com/Project"
)

// Service serves the Cloud Asset API methods jitaccess uses, computed from
// the world's IAM policies as the Asset index sees them (see
// world.World.SetIndexDelay). Other methods answer UNIMPLEMENTED.
type Service struct {
	assetpb.UnimplementedAssetServiceServer
	w    *world.World
	eval *conditionEvaluator
}

// New returns the Cloud Asset service of w.
func New(w *world.World) (*Service, error) {
	ev, err := newConditionEvaluator()
	if err != nil {
		return nil, err
	}
	return &Service{w: w, eval: ev}, nil
}

// Register registers the service on a gRPC server.
func (a *Service) Register(s *grpc.Server) { assetpb.RegisterAssetServiceServer(s, a) }

// fullName turns "projects/p", "folders/1" or "organizations/2" into the
// Cloud Asset full resource name.
func fullName(resource string) string { return crmPrefix + resource }

// parseFullName turns a full resource name (or a plain one) into the
// world's canonical resource name, checking that it exists.
func (a *Service) parseFullName(name string) (string, bool) {
	return a.w.CanonicalResource(strings.TrimPrefix(name, crmPrefix))
}

// scope resolves a request's scope; permission is what the method needs
// on it, named in the denial as Google names it.
func (a *Service) scope(s, permission string) (string, error) {
	if s == "" {
		return "", wire.New(http.StatusBadRequest, "scope is required")
	}
	name, ok := a.parseFullName(s)
	if !ok {
		return "", wire.PermissionDenied(permission, s)
	}
	return name, nil
}

// principalsOf returns the member strings that match identity: itself, its
// groups (transitively), its domain and the public principals.
func principalsOf(w *world.World, identity string) map[string]bool {
	identity = world.NormalizeMember(identity)
	set := map[string]bool{identity: true, "allUsers": true, "allAuthenticatedUsers": true}
	if _, email, ok := strings.Cut(identity, ":"); ok {
		if _, domain, ok := strings.Cut(email, "@"); ok {
			set["domain:"+domain] = true
		}
	}
	for _, g := range w.GroupsOf(identity) {
		set["group:"+g] = true
	}
	return set
}

// AnalyzeIamPolicy answers "who has what access to which resource": the
// bindings of the policies attached in scope (for a resource selector, the
// resource and its ancestors within scope) that match the identity (through
// groups, nested ones included), the roles or permissions and the resource,
// with conditions evaluated at the access time.
func (a *Service) AnalyzeIamPolicy(ctx context.Context, req *assetpb.AnalyzeIamPolicyRequest) (*assetpb.AnalyzeIamPolicyResponse, error) {
	if err := a.w.Faults.Apply(ctx, "cloudasset.AnalyzeIamPolicy"); err != nil {
		return nil, err
	}
	q := req.GetAnalysisQuery()
	if q == nil {
		return nil, wire.New(http.StatusBadRequest, "analysis_query is required")
	}
	scope, err := a.scope(q.GetScope(), "cloudasset.assets.analyzeIamPolicy")
	if err != nil {
		return nil, err
	}
	if q.GetResourceSelector() == nil && q.GetIdentitySelector() == nil && q.GetAccessSelector() == nil {
		return nil, wire.New(http.StatusBadRequest, "At least one of resource_selector, identity_selector or access_selector must be specified.")
	}
	var accessTime time.Time
	if t := q.GetConditionContext().GetAccessTime(); t != nil {
		accessTime = t.AsTime()
	}
	opts := q.GetOptions()

	var principals map[string]bool
	identity := ""
	if sel := q.GetIdentitySelector(); sel != nil {
		identity = world.NormalizeMember(sel.GetIdentity())
		kind, _, _ := strings.Cut(identity, ":")
		if kind != "user" && kind != "serviceAccount" && kind != "group" {
			return nil, wire.New(http.StatusBadRequest, fmt.Sprintf("Invalid identity %q: expected user:, serviceAccount: or group:", sel.GetIdentity()))
		}
		principals = principalsOf(a.w, identity)
	}

	tree := a.w.ScopeTree(scope)
	attached := tree.Order
	target := ""
	if sel := q.GetResourceSelector(); sel != nil {
		t, ok := a.parseFullName(sel.GetFullResourceName())
		if !ok {
			return nil, wire.New(http.StatusBadRequest, fmt.Sprintf("Resource %q does not exist or is not a resource of the hierarchy.", sel.GetFullResourceName()))
		}
		target = t
		anc, _ := a.w.Ancestors(t)
		attached = slices.DeleteFunc(anc, func(r string) bool {
			inScope, _ := a.w.Ancestors(r)
			return !slices.Contains(inScope, scope)
		})
		slices.Reverse(attached)
	}
	roles := q.GetAccessSelector().GetRoles()
	perms := q.GetAccessSelector().GetPermissions()

	var results []*assetpb.IamPolicyAnalysisResult
	for _, res := range attached {
		if err := ctx.Err(); err != nil {
			return nil, wire.New(http.StatusGatewayTimeout, "Deadline exceeded during analysis")
		}
		policy, _ := a.w.IndexedPolicy(res)
		for _, b := range policy.Bindings {
			if len(roles) > 0 && !slices.Contains(roles, b.Role) {
				continue
			}
			var matched []string
			for _, p := range perms {
				if roleHasPermission(b.Role, p) {
					matched = append(matched, p)
				}
			}
			if len(perms) > 0 && len(matched) == 0 {
				continue
			}
			if principals != nil && !slices.ContainsFunc(b.Members, func(m string) bool { return principals[world.NormalizeMember(m)] }) {
				continue
			}
			acl := &assetpb.IamPolicyAnalysisResult_AccessControlList{}
			switch {
			case target != "":
				acl.Resources = []*assetpb.IamPolicyAnalysisResult_Resource{{FullResourceName: fullName(target)}}
			default:
				acl.Resources = []*assetpb.IamPolicyAnalysisResult_Resource{{FullResourceName: fullName(res)}}
				if opts.GetExpandResources() {
					for _, d := range tree.Descendants(res) {
						acl.Resources = append(acl.Resources, &assetpb.IamPolicyAnalysisResult_Resource{FullResourceName: fullName(d)})
						if opts.GetOutputResourceEdges() {
							acl.ResourceEdges = append(acl.ResourceEdges, &assetpb.IamPolicyAnalysisResult_Edge{SourceNode: fullName(res), TargetNode: fullName(d)})
						}
					}
				}
			}
			if len(matched) > 0 {
				for _, p := range matched {
					acl.Accesses = append(acl.Accesses, &assetpb.IamPolicyAnalysisResult_Access{OneofAccess: &assetpb.IamPolicyAnalysisResult_Access_Permission{Permission: p}})
				}
			} else {
				acl.Accesses = []*assetpb.IamPolicyAnalysisResult_Access{{OneofAccess: &assetpb.IamPolicyAnalysisResult_Access_Role{Role: b.Role}}}
			}
			if b.Condition != nil {
				acl.ConditionEvaluation = &assetpb.ConditionEvaluation{EvaluationValue: toEvaluationValue(a.eval.evaluate(b.Condition.Expression, accessTime))}
			}
			results = append(results, &assetpb.IamPolicyAnalysisResult{
				AttachedResourceFullName: fullName(res),
				IamBinding:               toIAMBinding(b),
				AccessControlLists:       []*assetpb.IamPolicyAnalysisResult_AccessControlList{acl},
				IdentityList:             a.identityList(b, identity, opts),
				FullyExplored:            true,
			})
		}
	}
	return &assetpb.AnalyzeIamPolicyResponse{
		MainAnalysis: &assetpb.AnalyzeIamPolicyResponse_IamPolicyAnalysis{
			AnalysisQuery:   q,
			AnalysisResults: results,
			FullyExplored:   true,
		},
		FullyExplored: true,
	}, nil
}

// identityList lists who a matching binding applies to: the queried
// identity, or the binding's members with groups expanded when asked.
func (a *Service) identityList(b world.Binding, identity string, opts *assetpb.IamPolicyAnalysisQuery_Options) *assetpb.IamPolicyAnalysisResult_IdentityList {
	list := &assetpb.IamPolicyAnalysisResult_IdentityList{}
	if identity != "" {
		list.Identities = []*assetpb.IamPolicyAnalysisResult_Identity{{Name: identity}}
		return list
	}
	seen := map[string]bool{}
	add := func(m string) {
		if !seen[m] {
			seen[m] = true
			list.Identities = append(list.Identities, &assetpb.IamPolicyAnalysisResult_Identity{Name: m})
		}
	}
	for _, m := range b.Members {
		m = world.NormalizeMember(m)
		add(m)
		group, isGroup := strings.CutPrefix(m, "group:")
		if !isGroup || !opts.GetExpandGroups() {
			continue
		}
		a.expandInto(group, add, list, opts.GetOutputGroupEdges(), map[string]bool{})
	}
	return list
}

func (a *Service) expandInto(group string, add func(string), list *assetpb.IamPolicyAnalysisResult_IdentityList, edges bool, seen map[string]bool) {
	if seen[group] {
		return
	}
	seen[group] = true
	g, ok := a.w.Group(group)
	if !ok {
		return
	}
	for _, m := range g.Members {
		m = world.NormalizeMember(m)
		add(m)
		if edges {
			list.GroupEdges = append(list.GroupEdges, &assetpb.IamPolicyAnalysisResult_Edge{SourceNode: "group:" + group, TargetNode: m})
		}
		if nested, ok := strings.CutPrefix(m, "group:"); ok {
			a.expandInto(nested, add, list, edges, seen)
		}
	}
}

func toEvaluationValue(e evaluation) assetpb.ConditionEvaluation_EvaluationValue {
	switch e {
	case evalTrue:
		return assetpb.ConditionEvaluation_TRUE
	case evalFalse:
		return assetpb.ConditionEvaluation_FALSE
	default:
		return assetpb.ConditionEvaluation_CONDITIONAL
	}
}

func toIAMBinding(b world.Binding) *iampb.Binding {
	out := &iampb.Binding{Role: b.Role, Members: slices.Clone(b.Members)}
	if b.Condition != nil {
		out.Condition = &expr.Expr{
			Expression:  b.Condition.Expression,
			Title:       b.Condition.Title,
			Description: b.Condition.Description,
			Location:    b.Condition.Location,
		}
	}
	return out
}

func toIAMPolicy(p world.Policy) *iampb.Policy {
	out := &iampb.Policy{Version: int32(p.Version)} //nolint:gosec // versions are 0, 1 or 3
	if etag, err := base64.StdEncoding.DecodeString(p.Etag); err == nil {
		out.Etag = etag
	}
	for _, b := range p.Bindings {
		out.Bindings = append(out.Bindings, toIAMBinding(b))
	}
	return out
}

// BatchGetEffectiveIamPolicies returns, for each named resource, the
// policies attached to it and to its ancestors within scope, nearest first.
func (a *Service) BatchGetEffectiveIamPolicies(ctx context.Context, req *assetpb.BatchGetEffectiveIamPoliciesRequest) (*assetpb.BatchGetEffectiveIamPoliciesResponse, error) {
	if err := a.w.Faults.Apply(ctx, "cloudasset.BatchGetEffectiveIamPolicies"); err != nil {
		return nil, err
	}
	scope, err := a.scope(req.GetScope(), "cloudasset.assets.analyzeIamPolicy")
	if err != nil {
		return nil, err
	}
	if len(req.GetNames()) == 0 || len(req.GetNames()) > 20 {
		return nil, wire.New(http.StatusBadRequest, "names must contain between 1 and 20 resources")
	}
	resp := &assetpb.BatchGetEffectiveIamPoliciesResponse{}
	for _, n := range req.GetNames() {
		res, ok := a.parseFullName(n)
		if !ok {
			return nil, wire.New(http.StatusNotFound, fmt.Sprintf("Resource %q was not found.", n))
		}
		anc, _ := a.w.Ancestors(res)
		if !slices.Contains(anc, scope) {
			return nil, wire.New(http.StatusBadRequest, fmt.Sprintf("Resource %q is not within scope %q.", n, req.GetScope()))
		}
		eff := &assetpb.BatchGetEffectiveIamPoliciesResponse_EffectiveIamPolicy{FullResourceName: n}
		for _, r := range anc {
			p, _ := a.w.IndexedPolicy(r)
			if len(p.Bindings) > 0 {
				eff.Policies = append(eff.Policies, &assetpb.BatchGetEffectiveIamPoliciesResponse_EffectiveIamPolicy_PolicyInfo{
					AttachedResource: fullName(r),
					Policy:           toIAMPolicy(p),
				})
			}
			if r == scope {
				break
			}
		}
		resp.PolicyResults = append(resp.PolicyResults, eff)
	}
	return resp, nil
}

// SearchAllResources searches the resource hierarchy in scope. The query
// language is a subset: space- or AND-separated terms `field:value`
// (case-insensitive substring) or `field=value` (exact) over name,
// displayName, state, parentFullResourceName and labels.KEY.
func (a *Service) SearchAllResources(ctx context.Context, req *assetpb.SearchAllResourcesRequest) (*assetpb.SearchAllResourcesResponse, error) {
	if err := a.w.Faults.Apply(ctx, "cloudasset.SearchAllResources"); err != nil {
		return nil, err
	}
	scope, err := a.scope(req.GetScope(), "cloudasset.assets.searchAllResources")
	if err != nil {
		return nil, err
	}
	terms, err := parseSearchQuery(req.GetQuery(), []string{"name", "displayname", "state", "parentfullresourcename", "labels."})
	if err != nil {
		return nil, err
	}
	var results []*assetpb.ResourceSearchResult
	for _, r := range a.w.ScopeTree(scope).Order {
		res := a.resourceResult(r)
		if len(req.GetAssetTypes()) > 0 && !slices.Contains(req.GetAssetTypes(), res.GetAssetType()) {
			continue
		}
		if matchesAll(terms, func(field string) []string {
			switch {
			case field == "name":
				return []string{res.GetName()}
			case field == "displayname":
				return []string{res.GetDisplayName()}
			case field == "state":
				return []string{res.GetState()}
			case field == "parentfullresourcename":
				return []string{res.GetParentFullResourceName()}
			case strings.HasPrefix(field, "labels."):
				if v, ok := res.GetLabels()[strings.TrimPrefix(field, "labels.")]; ok {
					return []string{v}
				}
			}
			return nil
		}) {
			results = append(results, res)
		}
	}
	page, next, perr := wire.Paginate(results, req.GetPageSize(), req.GetPageToken())
	if perr != nil {
		return nil, perr
	}
	return &assetpb.SearchAllResourcesResponse{Results: page, NextPageToken: next}, nil
}

func (a *Service) resourceResult(r string) *assetpb.ResourceSearchResult {
	w := a.w
	anc, _ := w.Ancestors(r)
	out := &assetpb.ResourceSearchResult{Name: fullName(r), State: "ACTIVE"}
	for _, x := range anc[1:] {
		switch {
		case strings.HasPrefix(x, "folders/"):
			out.Folders = append(out.Folders, x)
		case strings.HasPrefix(x, "organizations/"):
			out.Organization = x
		}
	}
	if len(anc) > 1 {
		out.ParentFullResourceName = fullName(anc[1])
		out.ParentAssetType = assetTypeOf(anc[1])
	}
	out.AssetType = assetTypeOf(r)
	switch out.AssetType {
	case assetTypeProject:
		p, _ := w.Project(r)
		out.DisplayName, out.State, out.Labels = p.DisplayName, p.State, p.Labels
		out.Project = p.Name()
	case assetTypeFolder:
		f, _ := w.Folder(r)
		out.DisplayName = f.DisplayName
	case assetTypeOrganization:
		o, _ := w.Organization(r)
		out.DisplayName = o.DisplayName
	}
	return out
}

func assetTypeOf(r string) string {
	switch {
	case strings.HasPrefix(r, "projects/"):
		return assetTypeProject
	case strings.HasPrefix(r, "folders/"):
		return assetTypeFolder
	}
	return assetTypeOrganization
}

// SearchAllIamPolicies searches the IAM policies attached in scope. The
// query language is a subset: `policy:TEXT` (a member, role or condition
// title, description or expression containing TEXT, case-insensitive; as
// Google documents, the query is compared with principals, roles and
// conditions) and `resource:TEXT`, combined with spaces or AND. Values
// may be quoted to hold spaces: policy:"JIT access activation".
func (a *Service) SearchAllIamPolicies(ctx context.Context, req *assetpb.SearchAllIamPoliciesRequest) (*assetpb.SearchAllIamPoliciesResponse, error) {
	if err := a.w.Faults.Apply(ctx, "cloudasset.SearchAllIamPolicies"); err != nil {
		return nil, err
	}
	scope, err := a.scope(req.GetScope(), "cloudasset.assets.searchAllIamPolicies")
	if err != nil {
		return nil, err
	}
	terms, err := parseSearchQuery(req.GetQuery(), []string{"policy", "resource"})
	if err != nil {
		return nil, err
	}
	var results []*assetpb.IamPolicySearchResult
	for _, r := range a.w.ScopeTree(scope).Order {
		p, _ := a.w.IndexedPolicy(r)
		if len(p.Bindings) == 0 {
			continue
		}
		if len(req.GetAssetTypes()) > 0 && !slices.Contains(req.GetAssetTypes(), assetTypeOf(r)) {
			continue
		}
		if !matchesAll(terms, func(field string) []string {
			if field == "resource" {
				return []string{fullName(r)}
			}
			var vals []string
			for _, b := range p.Bindings {
				vals = append(vals, b.Role)
				vals = append(vals, b.Members...)
				if c := b.Condition; c != nil {
					vals = append(vals, c.Title, c.Description, c.Expression)
				}
			}
			return vals
		}) {
			continue
		}
		rr := a.resourceResult(r)
		results = append(results, &assetpb.IamPolicySearchResult{
			Resource:     fullName(r),
			AssetType:    rr.GetAssetType(),
			Project:      rr.GetProject(),
			Folders:      rr.GetFolders(),
			Organization: rr.GetOrganization(),
			Policy:       toIAMPolicy(p),
		})
	}
	page, next, perr := wire.Paginate(results, req.GetPageSize(), req.GetPageToken())
	if perr != nil {
		return nil, perr
	}
	return &assetpb.SearchAllIamPoliciesResponse{Results: page, NextPageToken: next}, nil
}

type searchTerm struct {
	field, value string
	exact        bool
}

func parseSearchQuery(q string, fields []string) ([]searchTerm, error) {
	var terms []searchTerm
	for _, tok := range queryTokens(q) {
		if tok == "AND" {
			continue
		}
		sep := strings.IndexAny(tok, ":=")
		if sep <= 0 {
			return nil, wire.New(http.StatusBadRequest, fmt.Sprintf("Unsupported query term %q: the emulator supports field:value and field=value terms joined by AND.", tok))
		}
		field := strings.ToLower(tok[:sep])
		ok := slices.ContainsFunc(fields, func(f string) bool {
			return field == f || (strings.HasSuffix(f, ".") && strings.HasPrefix(field, f) && len(field) > len(f))
		})
		if !ok {
			return nil, wire.New(http.StatusBadRequest, fmt.Sprintf("Unsupported query field %q; the emulator supports %s.", tok[:sep], strings.Join(fields, ", ")))
		}
		terms = append(terms, searchTerm{field: field, value: strings.Trim(tok[sep+1:], `"`), exact: tok[sep] == '='})
	}
	return terms, nil
}

// queryTokens splits a query at spaces outside double quotes.
func queryTokens(q string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range q {
		switch {
		case r == '"':
			quoted = !quoted
			cur.WriteRune(r)
		case (r == ' ' || r == '\t' || r == '\n') && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func matchesAll(terms []searchTerm, values func(field string) []string) bool {
	for _, t := range terms {
		found := slices.ContainsFunc(values(t.field), func(v string) bool {
			if t.exact {
				return v == t.value
			}
			pattern := strings.ToLower(strings.ReplaceAll(t.value, "*", ""))
			return strings.Contains(strings.ToLower(v), pattern)
		})
		if !found {
			return false
		}
	}
	return true
}
