package app

import (
	"context"
	"strings"

	"github.com/jitaccess/jitaccess/internal/catalog"
	"github.com/jitaccess/jitaccess/internal/iam"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// forgettingIAM is the IAM client with the catalog's read cache told,
// after every write, whose access changed: the beneficiary then sees
// their activation at once (docs/performance.md). It forgets whether or
// not the write succeeded, since a failed write may still have landed.
type forgettingIAM struct {
	*iam.Client
	cache *catalog.Cache
}

func (g forgettingIAM) forget(acts []jit.Activation) {
	for _, a := range acts {
		g.cache.Forget(a.Beneficiary)
	}
}

func (g forgettingIAM) Grant(ctx context.Context, acts []jit.Activation) error {
	defer g.forget(acts)
	return g.Client.Grant(ctx, acts)
}

func (g forgettingIAM) GrantConfirmed(ctx context.Context, acts []jit.Activation, reqs []jit.Requirement) error {
	defer g.forget(acts)
	return g.Client.GrantConfirmed(ctx, acts, reqs)
}

func (g forgettingIAM) Decide(ctx context.Context, req jit.ActivationRequest, decide func(jit.RequestRecord) (jit.Decision, error)) (jit.RequestRecord, error) {
	defer g.cache.Forget(req.Beneficiary)
	return g.Client.Decide(ctx, req, decide)
}

func (g forgettingIAM) DecideConfirmed(ctx context.Context, req jit.ActivationRequest, reqs []jit.Requirement, decide func(jit.RequestRecord) (jit.Decision, error)) (jit.RequestRecord, error) {
	defer g.cache.Forget(req.Beneficiary)
	return g.Client.DecideConfirmed(ctx, req, reqs, decide)
}

func (g forgettingIAM) GrantNode(ctx context.Context, node string, acts []jit.Activation) error {
	defer g.forget(acts)
	return g.Client.GrantNode(ctx, node, acts)
}

// forgetMember forgets the user behind a binding's member ("user:EMAIL").
func (g forgettingIAM) forgetMember(member string) {
	if email, ok := strings.CutPrefix(member, "user:"); ok {
		g.cache.Forget(jit.UserID(email))
	}
}

func (g forgettingIAM) Revoke(ctx context.Context, ref jit.GrantRef) (jit.Grant, error) {
	defer g.forgetMember(ref.Member)
	return g.Client.Revoke(ctx, ref)
}

func (g forgettingIAM) Replace(ctx context.Context, ref jit.GrantRef, act jit.Activation) error {
	defer g.forgetMember(ref.Member)
	return g.Client.Replace(ctx, ref, act)
}
