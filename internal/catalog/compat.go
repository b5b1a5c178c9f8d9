package catalog

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"

	asset "cloud.google.com/go/asset/apiv1"
	"cloud.google.com/go/asset/apiv1/assetpb"
	"google.golang.org/api/iterator"

	"github.com/jitaccess/jitaccess/internal/cloudlog"
	"github.com/jitaccess/jitaccess/internal/condition"
)

// Why a binding is eligible under jitaccess but was not under 1.8.1.
const (
	WidenedMarker            = "the eligibility marker is not a top-level clause (inside parentheses), which 1.8.1 did not recognise"
	WidenedResourceCondition = "it has a resource condition, and 1.8.1's PolicyAnalyzer catalog ignored resource-conditioned eligible bindings"
	WidenedType              = "1.8.1 read it as another activation type"
)

// Widened says why a binding with condition expr is eligible under
// jitaccess but was not (or not the same way) under Just-In-Time Access
// 1.8.1 with the same catalog, or "" when both agree. jitaccess parses the
// condition as CEL, so a marker inside parentheses counts
// (condition.ParseEligibility); 1.8.1 split the text at top-level "&&"
// (condition.Eligibility181), and its PolicyAnalyzer catalog skipped
// bindings with a resource condition.
func Widened(expr string, policyAnalyzer bool) string {
	ours, ok, err := condition.ParseEligibility(expr)
	if err != nil || !ok {
		return ""
	}
	typ, conditioned, ok181 := condition.Eligibility181(expr)
	switch {
	case !ok181:
		return WidenedMarker
	case typ != ours.Type:
		return WidenedType
	case policyAnalyzer && conditioned:
		return WidenedResourceCondition
	}
	return ""
}

// maxWidenedNoted bounds the bindings one catalog remembers having logged.
const maxWidenedNoted = 1000

// widenedLog logs each widened binding once per process, so that a
// running deployment shows what the switch made eligible without a line
// per request.
type widenedLog struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (w *widenedLog) note(ctx context.Context, logger *slog.Logger, resource, role, expr string, policyAnalyzer bool) {
	if w == nil {
		return
	}
	// Every binding is judged once: parsing a condition again on every
	// request would cost more than the listing's own work.
	key := resource + "\x00" + role + "\x00" + expr
	w.mu.Lock()
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	_, judged := w.seen[key]
	full := len(w.seen) >= maxWidenedNoted
	if !judged && !full {
		w.seen[key] = true
	}
	w.mu.Unlock()
	if judged || full {
		return
	}
	if reason := Widened(expr, policyAnalyzer); reason != "" {
		logger.WarnContext(ctx, "A binding is eligible under jitaccess that was not under Just-In-Time Access 1.8.1: "+reason,
			slog.Group(cloudlog.LabelsGroup, slog.String("event", "catalog.eligibilityWidened")),
			slog.String("resource", resource), slog.String("role", role), slog.String("condition", expr))
	}
}

// WidenedBinding is a binding the compatibility report lists.
type WidenedBinding struct {
	Resource  string // full resource name of the policy's resource
	Role      string
	Members   []string
	Condition string
	Reason    string
}

// CompatReport lists the bindings in scope that are eligible under
// jitaccess but were not under 1.8.1 with the same catalog, from Cloud
// Asset's copy of the IAM policies (SearchAllIamPolicies, which needs
// cloudasset.assets.searchAllIamPolicies on the scope). Run it before
// switching: these bindings become activatable.
func CompatReport(ctx context.Context, client *asset.Client, scope string, policyAnalyzer bool) ([]WidenedBinding, error) {
	const op = "catalog.CompatReport"
	it := client.SearchAllIamPolicies(ctx, &assetpb.SearchAllIamPoliciesRequest{Scope: scope, PageSize: 500})
	var out []WidenedBinding
	for {
		r, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, translate(op, scope, err)
		}
		for _, b := range r.GetPolicy().GetBindings() {
			expr := b.GetCondition().GetExpression()
			if reason := Widened(expr, policyAnalyzer); reason != "" {
				out = append(out, WidenedBinding{Resource: r.GetResource(), Role: b.GetRole(), Members: b.GetMembers(), Condition: expr, Reason: reason})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Resource != out[j].Resource {
			return out[i].Resource < out[j].Resource
		}
		return out[i].Role < out[j].Role
	})
	return out, nil
}
