package activation

import (
	"context"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// The lifecycle use cases (My access, end, revoke, extend, history) work
// on activations after they were granted. Like the rest of the package
// they keep no state: what is granted now or later is read from the live
// IAM policies, what happened from the audit log.

// GrantFinder names the resources where a user may hold activation
// bindings, from an index that may lag (Cloud Asset). Callers confirm
// every candidate against the live policy.
type GrantFinder interface {
	// Resources lists "projects/P", "folders/F" or "organizations/O"
	// whose indexed policies hold activation bindings of user, or of
	// anyone when user is empty.
	Resources(ctx context.Context, user jit.UserID) ([]string, error)
}

// Bindings reads and changes existing activation bindings in live IAM
// policies.
type Bindings interface {
	// Grants reads the policies of resources and returns the unexpired
	// activation bindings of user (everyone's when user is empty);
	// failed holds the resources that could not be read.
	Grants(ctx context.Context, resources []string, user jit.UserID, now time.Time) (grants []jit.Grant, failed map[string]error, err error)
	// Revoke removes the binding ref names and returns it; KindNotFound
	// when there is none (any more).
	Revoke(ctx context.Context, ref jit.GrantRef) (jit.Grant, error)
	// Replace swaps the binding ref names for the activation build makes
	// of it, as read in the same write, once conf holds in the live
	// policies (see Policies); an error of build is returned as it is.
	Replace(ctx context.Context, ref jit.GrantRef, conf jit.Confirmation, build func(old jit.Grant) (jit.Activation, error)) error
}

// Groups answers group membership, nested groups included.
type Groups interface {
	IsMember(ctx context.Context, group string, user jit.UserID) (bool, error)
}

// HistoryReader reads the audit trail back.
type HistoryReader interface {
	History(ctx context.Context, q jit.HistoryQuery) (entries []jit.HistoryEntry, nextPageToken string, err error)
}

// LifecycleOptions configure a Lifecycle.
type LifecycleOptions struct {
	// AdministratorGroup may list and end anyone's activations
	// (ADMINISTRATOR_GROUP); empty means nobody.
	AdministratorGroup string
	// AuditorGroup may read everyone's history (AUDITOR_GROUP); empty
	// means nobody.
	AuditorGroup string
}

// Lifecycle implements the use cases on granted activations.
type Lifecycle struct {
	svc      *Service
	finder   GrantFinder
	bindings Bindings
	groups   Groups
	history  HistoryReader
	opts     LifecycleOptions
}

// NewLifecycle returns the lifecycle use cases next to svc, sharing its
// catalog, policy, audit trail and clock. groups may be nil when neither
// group is configured; history may be nil when the audit log cannot be
// read back (History then answers KindUnavailable).
func NewLifecycle(svc *Service, finder GrantFinder, bindings Bindings, groups Groups, history HistoryReader, opts LifecycleOptions) *Lifecycle {
	return &Lifecycle{svc: svc, finder: finder, bindings: bindings, groups: groups, history: history, opts: opts}
}

// inGroup reports whether user belongs to group; an unconfigured group
// has no members.
func (l *Lifecycle) inGroup(ctx context.Context, group string, user jit.UserID) (bool, error) {
	if group == "" || l.groups == nil {
		return false, nil
	}
	ok, err := l.groups.IsMember(ctx, group, user)
	if err != nil {
		return false, wrapUpstream("activation.inGroup", "Checking group membership failed", err)
	}
	return ok, nil
}

// IsAdministrator reports whether caller is in ADMINISTRATOR_GROUP.
func (l *Lifecycle) IsAdministrator(ctx context.Context, caller jit.Principal) (bool, error) {
	return l.inGroup(ctx, l.opts.AdministratorGroup, caller.Email)
}

// IsAuditor reports whether caller is in AUDITOR_GROUP.
func (l *Lifecycle) IsAuditor(ctx context.Context, caller jit.Principal) (bool, error) {
	return l.inGroup(ctx, l.opts.AuditorGroup, caller.Email)
}

func (l *Lifecycle) now() time.Time { return l.svc.now() }
