package catalog

import (
	"context"
	"errors"
	"strings"

	"cloud.google.com/go/asset/apiv1/assetpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// Folders and the organization can be activated at their own level (when
// ACTIVATION_ON_FOLDERS_AND_ORGANIZATIONS is on): their entitlements are
// the eligible bindings that apply there, attached or inherited, exactly
// as for projects; see NodeEntitlements of each backend.

// maxNodes bounds a listing of folders and organizations.
const maxNodes = 2000

// nodeOf returns "folders/F" or "organizations/O" of a full resource name.
func nodeOf(fullName string) (string, bool) {
	name, ok := strings.CutPrefix(fullName, crmPrefix)
	return name, ok && jit.ValidNode(name)
}

// Nodes lists the folders and organizations in scope where user holds an
// eligible binding (directly, through groups, or inherited from above).
func (c *PolicyAnalyzer) Nodes(ctx context.Context, user jit.UserID) ([]string, error) {
	const op = "catalog.PolicyAnalyzer.Nodes"
	analysis, err := c.analyze(ctx, &assetpb.IamPolicyAnalysisQuery{
		// No access selector: every binding of the user, of which only
		// the eligible ones count; resource expansion adds the folders
		// below the one a binding is attached to.
		IdentitySelector: &assetpb.IamPolicyAnalysisQuery_IdentitySelector{Identity: user.Member()},
		Options:          &assetpb.IamPolicyAnalysisQuery_Options{ExpandResources: true},
		ConditionContext: c.accessTime(),
	})
	if status.Code(err) == codes.InvalidArgument {
		return nil, nil
	}
	if err != nil {
		return nil, translate(op, c.opts.Scope, err)
	}
	var out []string
	for _, r := range analysis.GetAnalysisResults() {
		if _, ok := eligibilityOf("", r.GetIamBinding().GetRole(), r.GetIamBinding().GetCondition().GetExpression()); !ok || !conditional(r) {
			continue
		}
		if n, ok := nodeOf(r.GetAttachedResourceFullName()); ok {
			out = append(out, n)
		}
		for _, acl := range r.GetAccessControlLists() {
			for _, res := range acl.GetResources() {
				if n, ok := nodeOf(res.GetFullResourceName()); ok {
					out = append(out, n)
				}
			}
		}
	}
	return sortedUnique(out), nil
}

// Nodes lists every folder and organization in scope: like its project
// list, the AssetInventory catalog does not narrow listings by
// eligibility; NodeEntitlements does.
func (c *AssetInventory) Nodes(ctx context.Context, _ jit.UserID) ([]string, error) {
	const op = "catalog.AssetInventory.Nodes"
	ctx, cancel := context.WithTimeout(ctx, c.opts.ReadTimeout)
	defer cancel()
	it := c.asset.SearchAllResources(ctx, &assetpb.SearchAllResourcesRequest{
		Scope:      c.opts.Scope,
		AssetTypes: []string{"cloudresourcemanager.googleapis.com/Folder", "cloudresourcemanager.googleapis.com/Organization"},
		PageSize:   500,
	})
	var out []string
	for len(out) < maxNodes {
		r, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, translate(op, c.opts.Scope, err)
		}
		if n, ok := nodeOf(r.GetName()); ok {
			out = append(out, n)
		}
	}
	return sortedUnique(out), nil
}
