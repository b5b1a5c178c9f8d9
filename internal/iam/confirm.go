package iam

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/api/cloudresourcemanager/v3"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// GrantConfirmed is Grant for activations whose eligibility has to hold
// now: inside the read-modify-write, the policy that is about to be
// written, and the live policies of the folders and organization the
// requirements name (read at the same time), must still hold each
// requirement's eligible binding for its user — the user named in it, or
// every principal through which the catalog found the user in it. So the
// eligibility check and the write share one getIamPolicy, and no Cloud
// Asset query (whose index lags IAM by minutes) stands between a revoked
// eligibility and a grant.
//
// Errors are those of Grant, and KindDenied when a requirement no longer
// holds; nothing is written then.
func (c *Client) GrantConfirmed(ctx context.Context, acts []jit.Activation, reqs []jit.Requirement) error {
	if len(reqs) == 0 {
		return jit.E("iam.GrantConfirmed", jit.KindInternal, "", fmt.Errorf("no requirements for %d activations", len(acts)))
	}
	return c.grant(ctx, acts, reqs)
}

// DecideConfirmed is Decide for a decision whose eligibilities have to
// hold now (the requester's, the approver's): they are confirmed, as by
// GrantConfirmed, in the policy the decision is written to and in the
// live policies of the folders and organization the requirements name,
// before the decision is applied; a requirement that no longer holds
// ends the decision with KindDenied and writes nothing.
func (c *Client) DecideConfirmed(ctx context.Context, req jit.ActivationRequest, reqs []jit.Requirement, decide func(jit.RequestRecord) (jit.Decision, error)) (jit.RequestRecord, error) {
	if len(reqs) == 0 {
		return jit.RequestRecord{}, jit.E("iam.DecideConfirmed", jit.KindInternal, "", fmt.Errorf("no requirements for request %s", req.ID))
	}
	return c.decide(ctx, req, reqs, decide)
}

// ancestry waits for the policies of the folders and organizations that
// a batch's requirements name, and the errors of those that could not be
// read, by resource name.
type ancestry func() (map[string]*cloudresourcemanager.Policy, map[string]error)

// confirmIn waits for the ancestors' policies and confirms reqs, if any,
// for a write to resource's policy (own). A policy that reqs need and that
// could not be read fails them; another item's does not.
func confirmIn(resource string, own *cloudresourcemanager.Policy, ancestors ancestry, reqs []jit.Requirement) error {
	if len(reqs) == 0 {
		return nil
	}
	policies, errs := ancestors()
	for _, r := range reqs {
		for _, g := range r.Grounds {
			if err := errs[g.Resource]; err != nil {
				return err
			}
		}
	}
	return confirm(resource, own, policies, reqs)
}

// readAncestors starts reading, in parallel, the policies of the folders
// and organizations that reqs name, each once, and returns a function that
// waits for them. The resource's own policy comes from the
// read-modify-write.
func (c *Client) readAncestors(ctx context.Context, resource string, reqs []jit.Requirement) ancestry {
	names := map[string]bool{}
	for _, r := range reqs {
		for _, g := range r.Grounds {
			if g.Resource != resource && (strings.HasPrefix(g.Resource, "folders/") || strings.HasPrefix(g.Resource, "organizations/")) {
				names[g.Resource] = true
			}
		}
	}
	if len(names) == 0 {
		return func() (map[string]*cloudresourcemanager.Policy, map[string]error) { return nil, nil }
	}
	var (
		mu       sync.Mutex
		policies = map[string]*cloudresourcemanager.Policy{}
		errs     = map[string]error{}
		wg       sync.WaitGroup
	)
	for name := range names {
		wg.Go(func() {
			p, err := c.getPolicy(ctx, name)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[name] = translateResource("iam.readAncestors", name, err)
				return
			}
			policies[name] = p
		})
	}
	return func() (map[string]*cloudresourcemanager.Policy, map[string]error) {
		wg.Wait()
		return policies, errs
	}
}

// confirm checks every requirement against the resource's policy (as
// about to be written) and the ancestors' live policies.
func confirm(resource string, own *cloudresourcemanager.Policy, ancestors map[string]*cloudresourcemanager.Policy, reqs []jit.Requirement) error {
	const op = "iam.confirm"
	for _, r := range reqs {
		if !holds(resource, own, ancestors, r) {
			return jit.Denied(op, "The user "+string(r.User)+" is not allowed to activate "+r.Entitlement.ID()+" using "+string(r.Type))
		}
	}
	return nil
}

// holds reports whether one of r's grounds still holds in the policies.
func holds(resource string, own *cloudresourcemanager.Policy, ancestors map[string]*cloudresourcemanager.Policy, r jit.Requirement) bool {
	for _, g := range r.Grounds {
		p := ancestors[g.Resource]
		if g.Resource == resource {
			p = own
		}
		if p == nil {
			continue
		}
		for _, b := range p.Bindings {
			if b == nil || b.Role != r.Entitlement.Role || b.Condition == nil {
				continue
			}
			el, ok, err := condition.ParseEligibility(b.Condition.Expression)
			if err != nil || !ok || el.Type != r.Type || el.ResourceCondition != r.Entitlement.ResourceCondition {
				continue
			}
			if admits(b.Members, r.User, g.Principals) {
				return true
			}
		}
	}
	return false
}

// admits reports whether a binding's members take in user: a member names
// them (their user principal, their domain, or everyone), or every one of
// the principals through which the catalog found them is still there
// (the user is in at least one of them).
func admits(members []string, user jit.UserID, via []string) bool {
	have := make(map[string]bool, len(members))
	for _, m := range members {
		if user.NamedBy(m) {
			return true
		}
		have[strings.ToLower(m)] = true
	}
	if len(via) == 0 {
		return false
	}
	for _, v := range via {
		if !have[strings.ToLower(v)] {
			return false
		}
	}
	return true
}
