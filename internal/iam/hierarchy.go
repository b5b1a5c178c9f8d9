package iam

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/api/cloudresourcemanager/v3"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// A decision, and a grant whose eligibility is inherited, confirm what
// they rest on in the policies of the folders and organization above the
// resource, up to RESOURCE_SCOPE: eligible bindings and approver
// declarations are inherited downwards. Which nodes those are is
// structure, not a grant, but a project can move, and a write that
// trusted a remembered parent could confirm an eligibility on a folder the
// project has left. So the Client remembers each link (child → parent)
// with the time it was observed, and a write follows the remembered links
// at once — reading every ancestor's policy in the same parallel round as
// the resource's own — while it reads each link that was not observed in
// the last linkFresh again, live (projects.get, folders.get), beside them.
// Only an unknown link costs a sequential round trip, and Prepare learns
// the links while a user looks at a scope, before the write.

// linkFresh is how long a link observed live counts as live. IAM itself
// takes up to seven minutes to propagate a policy change; a parent
// observed seconds ago is as current as the policies the write reads.
const linkFresh = 5 * time.Second

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

// maxRemembered bounds the remembered links; a full memory starts again
// empty.
const maxRemembered = 10000

// link is a remembered parent and when it was observed live.
type link struct {
	parent string
	at     time.Time
}

// readHierarchy starts reading resource's ancestors and their policies
// and returns a function that waits for them. It is called before the
// resource's own policy is read, so that both overlap.
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

// ancestors returns resource's ancestors with their live policies. If a
// remembered link turns out to have changed, it walks once more on what it
// has just observed.
func (c *Client) ancestors(ctx context.Context, resource string) ([]ancestor, error) {
	up, moved, err := c.followLinks(ctx, resource, true)
	if err == nil && moved {
		up, moved, err = c.followLinks(ctx, resource, true)
		if err == nil && moved {
			err = jit.E("iam.ancestors", jit.KindConflict, "The resource hierarchy changed while the access was being checked; try again", nil)
		}
	}
	return up, err
}

// followLinks walks up from resource: remembered links at once, the
// policy of each ancestor read as soon as it is known (withPolicies),
// stale links checked live alongside, unknown ones read live. moved
// reports a remembered link that no longer holds (the answer is then not
// to be used).
func (c *Client) followLinks(ctx context.Context, resource string, withPolicies bool) (up []ancestor, moved bool, err error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		policies = map[string]*cloudresourcemanager.Policy{}
		readErrs = map[string]error{}
	)
	fail := func(e error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = e
		}
	}
	readPolicy := func(name string) {
		if !withPolicies {
			return
		}
		wg.Go(func() {
			p, err := c.getPolicy(ctx, name)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				readErrs[name] = translateResource("iam.ancestors", name, err)
				return
			}
			policies[name] = p
		})
	}
	// The scope is above every resource in it: its policy is read at once.
	if s := c.opts.Scope; s != "" && s != resource && !strings.HasPrefix(s, "projects/") {
		readPolicy(s)
	}
	var chain []string
	for cur := resource; !c.atTop(cur); {
		if len(chain) >= maxDepth {
			return nil, false, jit.E("iam.ancestors", jit.KindInternal, "", fmt.Errorf("%s is more than %d levels deep", resource, maxDepth))
		}
		l, known := c.link(cur)
		switch {
		case known && c.opts.Clock().Sub(l.at) < linkFresh:
		case known:
			child, want := cur, l.parent
			wg.Go(func() {
				got, err := c.observeParent(ctx, child)
				if err != nil {
					fail(err)
					return
				}
				if got != want {
					mu.Lock()
					moved = true
					mu.Unlock()
				}
			})
		default:
			parent, err := c.observeParent(ctx, cur)
			if err != nil {
				wg.Wait()
				return nil, false, err
			}
			l.parent = parent
		}
		if l.parent == "" {
			break
		}
		chain = append(chain, l.parent)
		if l.parent != c.opts.Scope {
			readPolicy(l.parent)
		}
		cur = l.parent
	}
	wg.Wait()
	for _, name := range chain {
		if err := readErrs[name]; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil || moved {
		return nil, moved, firstErr
	}
	up = make([]ancestor, len(chain))
	for i, name := range chain {
		up[i] = ancestor{name: name, policy: policies[name]}
	}
	return up, false, nil
}

// atTop reports whether nothing above name is read: it is the scope, or
// the organization.
func (c *Client) atTop(name string) bool {
	return name == c.opts.Scope || strings.HasPrefix(name, "organizations/")
}

// link is the remembered parent of name.
func (c *Client) link(name string) (link, bool) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	l, ok := c.links[name]
	return l, ok
}

// observeParent reads name's parent live and remembers it.
func (c *Client) observeParent(ctx context.Context, name string) (string, error) {
	parent, err := c.parentOf(ctx, name)
	if err != nil {
		return "", err
	}
	c.hmu.Lock()
	defer c.hmu.Unlock()
	if len(c.links) >= maxRemembered {
		clear(c.links)
	}
	c.links[name] = link{parent: parent, at: c.opts.Clock()}
	return parent, nil
}

// Prepare starts learning the ancestry of scope, for a write that may
// follow (a user looking at a scope's roles, a reviewer at a request), so
// that the write follows remembered links in one parallel round, and
// returns the ancestry known now. hint, nearest first, is another
// instance's knowledge (carried by a request's token): its links are
// remembered as unobserved, so that the write checks them live, all at
// once, instead of walking them one after the other. It returns at once.
func (c *Client) Prepare(ctx context.Context, scope jit.Scope, hint []string) []string {
	resource := string(scope)
	c.hmu.Lock()
	child := resource
	for _, parent := range hint {
		if _, known := c.links[child]; !known && len(c.links) < maxRemembered {
			c.links[child] = link{parent: parent} // observed never: checked live
		}
		child = parent
	}
	var known []string
	for cur := resource; !c.atTop(cur) && len(known) < maxDepth; {
		l, ok := c.links[cur]
		if !ok || l.parent == "" {
			break
		}
		known = append(known, l.parent)
		cur = l.parent
	}
	c.hmu.Unlock()
	// Only unknown links are read here: a remembered one, however old,
	// is checked by the write itself, beside its policies, at no extra
	// round trip — so a user paging through roles costs no calls.
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), maxDepth*c.opts.ReadTimeout)
		defer cancel()
		for cur := resource; !c.atTop(cur); {
			l, ok := c.link(cur)
			if !ok {
				parent, err := c.observeParent(ctx, cur)
				if err != nil {
					return // the write reads it again, and reports the error
				}
				l.parent = parent
			}
			if l.parent == "" {
				return
			}
			cur = l.parent
		}
	}()
	return known
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
