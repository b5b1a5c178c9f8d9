package catalog

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	asset "cloud.google.com/go/asset/apiv1"
	"cloud.google.com/go/asset/apiv1/assetpb"
	"google.golang.org/api/cloudidentity/v1"
	"google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/jit"
)

const crmPrefix = "//cloudresourcemanager.googleapis.com/"

// maxGrantResources bounds one search for activation bindings.
const maxGrantResources = 5000

// GrantFinder finds the resources whose policies hold activation bindings,
// through Cloud Asset's SearchAllIamPolicies. The index lags IAM writes
// by minutes, so its answer names candidates, which callers confirm with
// the live policy.
type GrantFinder struct {
	asset *asset.Client
	crm   *cloudresourcemanager.Service
	opts  Options
}

// NewGrantFinder searches within opts.Scope.
func NewGrantFinder(assetClient *asset.Client, crm *cloudresourcemanager.Service, opts Options) *GrantFinder {
	opts.defaults()
	return &GrantFinder{asset: assetClient, crm: crm, opts: opts}
}

// Resources lists the projects, folders and organizations in scope whose
// indexed policy mentions the activation title and, when user is set, the
// user; for everyone's (user empty), every project in scope too. The search compares the query with each binding's principals,
// role and condition, as Google documents.
func (f *GrantFinder) Resources(ctx context.Context, user jit.UserID) ([]string, error) {
	const op = "catalog.GrantFinder.Resources"
	query := fmt.Sprintf("policy:%q", condition.ActivationTitle)
	if user != "" {
		if strings.ContainsAny(string(user), `"\ `) {
			return nil, jit.Invalid(op, "The email address contains characters that cannot be searched for")
		}
		query += " policy:" + string(user)
	}
	ctx, cancel := context.WithTimeout(ctx, f.opts.ReadTimeout)
	defer cancel()
	it := f.asset.SearchAllIamPolicies(ctx, &assetpb.SearchAllIamPoliciesRequest{
		Scope: f.opts.Scope, Query: query, PageSize: 500,
		AssetTypes: []string{
			"cloudresourcemanager.googleapis.com/Project",
			"cloudresourcemanager.googleapis.com/Folder",
			"cloudresourcemanager.googleapis.com/Organization",
		},
	})
	var out []string
	for len(out) < maxGrantResources {
		r, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, translate(op, f.opts.Scope, err)
		}
		name, ok := strings.CutPrefix(r.GetResource(), crmPrefix)
		if ok && jit.ValidResource(name) {
			out = append(out, name)
		}
	}
	if user == "" {
		// Everyone's: an activation written since the index last caught
		// up can be on any project, so every project in scope is a
		// candidate (projects themselves are old enough to be indexed).
		all := f.opts
		all.ProjectsQuery = "state:ACTIVE"
		projects, err := searchProjects(ctx, f.crm, all, op)
		if err != nil {
			return nil, err
		}
		for _, p := range projects {
			out = append(out, p.ResourceName())
		}
	}
	return sortedUnique(out), nil
}

// Groups checks group membership (nested groups included) through Cloud
// Identity, for the administrator and auditor groups. Answers are cached
// briefly per group and user: a page load asks several times, and a
// membership change taking a minute to apply is acceptable for groups
// that only widen what a user may see or end, never what IAM grants.
type Groups struct {
	identity *cloudidentity.Service
	opts     Options
	ttl      time.Duration

	mu    sync.Mutex
	names map[string]string // group email → groups/ID
	cache map[string]cached
}

type cached struct {
	member bool
	at     time.Time
}

// NewGroups checks memberships through identity.
func NewGroups(identity *cloudidentity.Service, opts Options) *Groups {
	opts.defaults()
	return &Groups{identity: identity, opts: opts, ttl: time.Minute, names: map[string]string{}, cache: map[string]cached{}}
}

// IsMember reports whether user belongs to group, directly or through
// nested groups. A group that does not exist (or the app may not read)
// has no members for this purpose, and the failure is an error.
func (g *Groups) IsMember(ctx context.Context, group string, user jit.UserID) (bool, error) {
	const op = "catalog.Groups.IsMember"
	if strings.ContainsAny(string(user), `'"\`) {
		return false, nil
	}
	key := group + "\x00" + string(user)
	now := g.opts.Clock()
	g.mu.Lock()
	c, ok := g.cache[key]
	name := g.names[group]
	g.mu.Unlock()
	if ok && now.Sub(c.at) < g.ttl && !now.Before(c.at) {
		return c.member, nil
	}
	ctx, cancel := context.WithTimeout(ctx, g.opts.ReadTimeout)
	defer cancel()
	if name == "" {
		resp, err := g.identity.Groups.Lookup().GroupKeyId(group).Context(ctx).Do()
		if err != nil {
			return false, translateIdentity(op, group, err)
		}
		name = resp.Name
		g.mu.Lock()
		g.names[group] = name
		g.mu.Unlock()
	}
	resp, err := g.identity.Groups.Memberships.CheckTransitiveMembership(name).
		Query(fmt.Sprintf("member_key_id == '%s'", user)).Context(ctx).Do()
	if err != nil {
		return false, translateIdentity(op, group, err)
	}
	g.mu.Lock()
	g.cache[key] = cached{member: resp.HasMembership, at: now}
	g.mu.Unlock()
	return resp.HasMembership, nil
}

func translateIdentity(op, group string, err error) error {
	var ge *googleapi.Error
	if errors.As(err, &ge) && (ge.Code == http.StatusForbidden || ge.Code == http.StatusNotFound) {
		return jit.E(op, jit.KindUnavailable, fmt.Sprintf("The group %s cannot be read through Cloud Identity; check that it exists and that the app may read it", group), err)
	}
	return translate(op, group, err)
}
