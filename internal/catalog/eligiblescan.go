package catalog

import (
	"context"
	"sort"

	asset "cloud.google.com/go/asset/apiv1"
	"cloud.google.com/go/asset/apiv1/assetpb"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// EligibleBinding is an eligible binding somewhere in scope, as the
// escalation lint lists it.
type EligibleBinding struct {
	Resource string // full resource name, //cloudresourcemanager.googleapis.com/…
	Role     string
	Members  []string
	Type     jit.ActivationType
	// ResourceCondition is the condition besides the marker, "" if none.
	ResourceCondition string
}

// EligibleBindings lists every eligible binding in scope, from Cloud
// Asset's copy of the IAM policies (SearchAllIamPolicies, which needs
// cloudasset.assets.searchAllIamPolicies on the scope): the bindings the
// catalog would offer to their members, read the same way
// (condition.ParseEligibility). Approver declarations and bindings whose
// condition the catalog refuses (malformed, or time-bound) are not
// eligible and are left out; compat-report lists those.
func EligibleBindings(ctx context.Context, client *asset.Client, scope string) ([]EligibleBinding, error) {
	const op = "catalog.EligibleBindings"
	var out []EligibleBinding
	parsed := map[string]parsedCondition{} // a few conditions repeat on many bindings
	err := searchPolicies(ctx, client, scope, func(r *assetpb.IamPolicySearchResult) {
		for _, b := range r.GetPolicy().GetBindings() {
			expr := b.GetCondition().GetExpression()
			if !mentionsEligibilityMarker(expr) {
				continue
			}
			pc, ok := parsed[expr]
			if !ok {
				if pc = parseDeclaration(expr); pc.declaration == nil && pc.err == nil {
					pc = parseEligibility(expr)
				}
				parsed[expr] = pc
			}
			if pc.eligible == nil {
				continue
			}
			out = append(out, EligibleBinding{
				Resource: r.GetResource(), Role: b.GetRole(), Members: b.GetMembers(),
				Type: pc.eligible.Type, ResourceCondition: pc.eligible.ResourceCondition,
			})
		}
	})
	if err != nil {
		return nil, translate(op, scope, err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Resource != out[j].Resource {
			return out[i].Resource < out[j].Resource
		}
		return out[i].Role < out[j].Role
	})
	return out, nil
}
