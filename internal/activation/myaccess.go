package activation

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

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

	var warnings []string
	resources, err := l.finder.Resources(ctx, target)
	if err != nil {
		// The index is only a hint; the catalog's projects still cover
		// every project where the user is eligible.
		l.svc.opts.Logger.WarnContext(ctx, "searching the Asset index for activations failed", slog.Any("error", err))
		warnings = append(warnings, "The Cloud Asset index could not be searched; only projects where you are eligible are listed: "+messageOr(err, "see the logs"))
	}
	if target != "" {
		projects, perr := l.svc.catalog.Projects(ctx, target)
		if perr != nil && err != nil {
			return Access{}, wrapUpstream(op, "Listing your activations failed", perr)
		}
		for _, p := range projects {
			resources = append(resources, p.ResourceName())
		}
		if l.svc.opts.FoldersAndOrganizations {
			nodes, err := l.svc.catalog.Nodes(ctx, target)
			if err != nil {
				warnings = append(warnings, "Folders and organizations could not be listed: "+messageOr(err, "see the logs"))
			}
			resources = append(resources, nodes...)
		}
	} else if err != nil {
		return Access{}, wrapUpstream(op, "Listing activations failed", err)
	}
	slices.Sort(resources)
	resources = slices.Compact(resources)

	grants, failed, err := l.bindings.Grants(ctx, resources, target, l.now())
	if err != nil {
		return Access{}, wrapUpstream(op, "Reading the IAM policies failed", err)
	}
	for _, r := range sortedKeys(failed) {
		warnings = append(warnings, fmt.Sprintf("The IAM policy of %s could not be read: %s", r, messageOr(failed[r], "see the logs")))
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
