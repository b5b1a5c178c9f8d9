package activation

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// AccessQuery selects whose activations MyAccess lists.
type AccessQuery struct {
	User string // another user's (administrators only); empty: the caller's
	All  bool   // everyone's (administrators only)
}

// Access is the answer of MyAccess.
type Access struct {
	Grants   []jit.Grant
	Warnings []string // resources that could not be read, candidates that could not be found
}

// MyAccess lists the activations that are active or scheduled: the
// caller's, or (for administrators) another user's or everyone's.
//
// Candidates come from the Asset index and the catalog's project list;
// each candidate is confirmed with a live getIamPolicy, so an activation
// written a second ago is listed and one ended a second ago is not, even
// though the index lags. A resource that cannot be read is a warning,
// not a failure of the whole list.
func (l *Lifecycle) MyAccess(ctx context.Context, caller jit.Principal, q AccessQuery) (Access, error) {
	const op = "activation.MyAccess"
	target := caller.Email
	if q.User != "" {
		u, err := jit.ParseUserID(q.User)
		if err != nil {
			return Access{}, err
		}
		target = u
	}
	if q.All {
		target = ""
	}
	if target != caller.Email {
		admin, err := l.IsAdministrator(ctx, caller)
		if err != nil {
			return Access{}, err
		}
		if !admin {
			return Access{}, jit.Denied(op, "Only administrators can list other users' activations")
		}
	}

	grants, warnings, err := l.readAccess(ctx, target)
	if err != nil {
		return Access{}, wrapUpstream(op, "Listing your activations failed", err)
	}
	slices.SortFunc(grants, func(a, b jit.Grant) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ID(), b.ID())
	})
	detail := map[string]string{"query_user": string(target), "count": fmt.Sprint(len(grants))}
	if target == "" {
		detail["query_user"] = "*"
	}
	l.svc.record(ctx, jit.Event{Kind: jit.EventListedActivations, Actor: caller, Detail: detail})
	return Access{Grants: grants, Warnings: warnings}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// readAccess reads target's activations (everyone's when target is empty)
// from the live policies, in as few rounds as the sources allow: the
// catalog's scopes (usually cached) are read live at once, while the Asset
// index is searched for activations elsewhere; only a resource the index
// alone names is read in a second round.
func (l *Lifecycle) readAccess(ctx context.Context, target jit.UserID) ([]jit.Grant, []string, error) {
	type found struct {
		resources []string
		err       error
	}
	indexed := make(chan found, 1)
	go func() {
		r, err := l.finder.Resources(ctx, target)
		indexed <- found{r, err}
	}()
	var (
		warnings []string
		grants   []jit.Grant
		read     = map[string]bool{}
		catErr   error
		mu       sync.Mutex
	)
	collect := func(resources []string) error {
		g, failed, err := l.bindings.Grants(ctx, resources, target, l.now())
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		grants = append(grants, g...)
		for _, r := range sortedKeys(failed) {
			warnings = append(warnings, fmt.Sprintf("The IAM policy of %s could not be read: %s", r, messageOr(failed[r], "see the logs")))
		}
		return nil
	}
	var first []string
	if target != "" {
		first, catErr = l.scopesOf(ctx, target, &warnings)
		slices.Sort(first)
		first = slices.Compact(first)
		for _, r := range first {
			read[r] = true
		}
	}
	// The first round runs while the index is searched.
	var (
		firstErr error
		wg       sync.WaitGroup
	)
	if len(first) > 0 {
		wg.Go(func() { firstErr = collect(first) })
	}
	ix := <-indexed
	wg.Wait()
	if firstErr != nil {
		return nil, nil, firstErr
	}
	if ix.err != nil {
		if target == "" || catErr != nil {
			return nil, nil, ix.err
		}
		// The index is only a hint; the catalog's scopes still cover
		// every resource where the user is eligible.
		l.svc.opts.Logger.WarnContext(ctx, "searching the Asset index for activations failed", slog.Any("error", ix.err))
		warnings = append(warnings, "The Cloud Asset index could not be searched; only projects where you are eligible are listed: "+messageOr(ix.err, "see the logs"))
	}
	var second []string
	for _, r := range ix.resources {
		if !read[r] {
			read[r] = true
			second = append(second, r)
		}
	}
	if len(second) > 0 {
		slices.Sort(second)
		if err := collect(second); err != nil {
			return nil, nil, err
		}
	}
	return grants, warnings, nil
}

// scopesOf lists the projects (and folders and organizations, where they
// can be activated) where target is eligible, from the catalog.
func (l *Lifecycle) scopesOf(ctx context.Context, target jit.UserID, warnings *[]string) ([]string, error) {
	projects, err := l.svc.catalog.Projects(ctx, target)
	var out []string
	for _, p := range projects {
		out = append(out, p.ResourceName())
	}
	if l.svc.opts.FoldersAndOrganizations {
		nodes, nerr := l.svc.catalog.Nodes(ctx, target)
		if nerr != nil {
			*warnings = append(*warnings, "Folders and organizations could not be listed: "+messageOr(nerr, "see the logs"))
		}
		out = append(out, nodes...)
	}
	return out, err
}
