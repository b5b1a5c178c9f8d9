package iam

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"google.golang.org/api/cloudresourcemanager/v3"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// A write confirms what it rests on in the policies of the resource and of
// every folder and organization above it, up to RESOURCE_SCOPE: eligible
// bindings and approver declarations are inherited downwards, so a
// declaration on any ancestor counts. Which nodes those are is structure,
// not a grant, but a project can move: a write that trusted a remembered
// parent could confirm an eligibility on a folder the project has left.
// So the Client remembers each resource's ancestry and, on every write,
// reads each link (projects.get, folders.get) beside the ancestors'
// policies and the resource's own — one parallel round, no sequential
// round trip — and only uses the policies if every link still holds.
// Where it does not, or the first time, it walks the hierarchy up.

// ancestor is a node above the resource and its live policy.
type ancestor struct {
	name   string
	policy *cloudresourcemanager.Policy
}

// hierarchy waits for the resource's ancestors and their live policies,
// nearest first.
type hierarchy func() ([]ancestor, error)

// maxDepth bounds a walk: Google allows folders ten levels deep.
const maxDepth = 12

// maxRemembered bounds the remembered ancestries; a full memory starts
// again empty (walks in flight finish for their callers).
const maxRemembered = 10000

// readHierarchy starts reading resource's ancestors and their policies
// and returns a function that waits for them. It is called once per batch
// attempt, before the resource's own policy is read, so that both rounds
// overlap.
func (c *Client) readHierarchy(ctx context.Context, resource string) hierarchy {
	type answer struct {
		up  []ancestor
		err error
	}
	done := make(chan answer, 1)
	go func() {
		up, err := c.ancestors(ctx, resource)
		done <- answer{up, err}
	}()
	var once sync.Once
	var a answer
	return func() ([]ancestor, error) {
		once.Do(func() { a = <-done })
		return a.up, a.err
	}
}

// ancestors returns resource's ancestors with their live policies.
func (c *Client) ancestors(ctx context.Context, resource string) ([]ancestor, error) {
	if c.atTop(resource) {
		return nil, nil
	}
	chain, err := c.chain(ctx, resource)
	if err != nil {
		return nil, err
	}
	up, ok, err := c.verified(ctx, resource, chain)
	if err != nil || ok {
		return up, err
	}
	// The resource moved: learn its ancestry again.
	c.forgetChain(resource, chain)
	if chain, err = c.chain(ctx, resource); err != nil {
		return nil, err
	}
	up, ok, err = c.verified(ctx, resource, chain)
	if err == nil && !ok {
		err = jit.E("iam.ancestors", jit.KindConflict, "The resource hierarchy changed while the access was being checked; try again", nil)
	}
	return up, err
}

// learning is an ancestry being walked, or walked; done is closed when
// chain and err are set.
type learning struct {
	done  chan struct{}
	chain []string
	err   error
}

// chain is resource's remembered ancestry, walked first if unknown; one
// walk per resource at a time, shared by every write and Prepare that
// needs it.
func (c *Client) chain(ctx context.Context, resource string) ([]string, error) {
	c.hmu.Lock()
	l, ok := c.chains[resource]
	if !ok {
		if len(c.chains) >= maxRemembered {
			clear(c.chains)
		}
		l = &learning{done: make(chan struct{})}
		c.chains[resource] = l
	}
	c.hmu.Unlock()
	if !ok {
		// Detached: the walk is shared, and a caller that gives up must
		// not fail the others.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), maxDepth*c.opts.ReadTimeout)
		l.chain, l.err = c.walk(wctx, resource)
		cancel()
		close(l.done)
		if l.err != nil {
			c.hmu.Lock()
			if c.chains[resource] == l {
				delete(c.chains, resource) // the next write tries again
			}
			c.hmu.Unlock()
		}
	}
	select {
	case <-l.done:
		return l.chain, l.err
	case <-ctx.Done():
		return nil, jit.E("iam.chain", jit.KindUnavailable, msgTimedOut, ctx.Err())
	}
}

// forgetChain forgets resource's ancestry if it is still the one given.
func (c *Client) forgetChain(resource string, chain []string) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	if l, ok := c.chains[resource]; ok && isDone(l) && slices.Equal(l.chain, chain) {
		delete(c.chains, resource)
	}
}

func isDone(l *learning) bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// Prepare starts learning the ancestry of scope, for a write that may
// follow (a user looking at a scope's roles, a reviewer at a request), so
// that the write only verifies it, in the same round as its other reads.
// It returns at once.
func (c *Client) Prepare(ctx context.Context, scope jit.Scope) {
	resource := string(scope)
	if c.atTop(resource) {
		return
	}
	go func() { _, _ = c.chain(context.WithoutCancel(ctx), resource) }()
}

// atTop reports whether nothing above name is read: it is the scope, or
// the organization.
func (c *Client) atTop(name string) bool {
	return name == c.opts.Scope || strings.HasPrefix(name, "organizations/")
}

// verified reads, all at once, the policies of chain and the parent of
// resource and of every node of chain but the last, and reports whether
// every link still holds.
func (c *Client) verified(ctx context.Context, resource string, chain []string) ([]ancestor, bool, error) {
	up := make([]ancestor, len(chain))
	parents := make([]string, len(chain))
	errs := make([]error, 2*len(chain))
	var wg sync.WaitGroup
	for i, name := range chain {
		up[i].name = name
		wg.Go(func() {
			p, err := c.getPolicy(ctx, name)
			if err != nil {
				errs[2*i] = translateResource("iam.ancestors", name, err)
				return
			}
			up[i].policy = p
		})
		child := resource
		if i > 0 {
			child = chain[i-1]
		}
		wg.Go(func() { parents[i], errs[2*i+1] = c.parentOf(ctx, child) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, false, err
		}
	}
	for i := range chain {
		if parents[i] != chain[i] {
			return nil, false, nil
		}
	}
	return up, true, nil
}

// walk follows the parents of resource up to the scope or the
// organization.
func (c *Client) walk(ctx context.Context, resource string) ([]string, error) {
	var chain []string
	for name := resource; !c.atTop(name); {
		if len(chain) >= maxDepth {
			return nil, jit.E("iam.walk", jit.KindInternal, "", fmt.Errorf("%s is more than %d levels deep", resource, maxDepth))
		}
		parent, err := c.parentOf(ctx, name)
		if err != nil {
			return nil, err
		}
		if parent == "" {
			break
		}
		chain = append(chain, parent)
		name = parent
	}
	return chain, nil
}

// parentOf is the live parent of a project or folder ("folders/F",
// "organizations/O"), or "" for one without a parent.
func (c *Client) parentOf(ctx context.Context, name string) (string, error) {
	const op = "iam.parentOf"
	ctx, cancel := context.WithTimeout(ctx, c.opts.ReadTimeout)
	defer cancel()
	var (
		parent string
		err    error
	)
	switch {
	case strings.HasPrefix(name, "projects/"):
		var p *cloudresourcemanager.Project
		if p, err = c.crm.Projects.Get(name).Context(ctx).Do(); err == nil {
			parent = p.Parent
		}
	case strings.HasPrefix(name, "folders/"):
		var f *cloudresourcemanager.Folder
		if f, err = c.crm.Folders.Get(name).Context(ctx).Do(); err == nil {
			parent = f.Parent
		}
	default:
		return "", nil
	}
	if err != nil {
		return "", translateResource(op, name, fmt.Errorf("get %s: %w", name, err))
	}
	return parent, nil
}
