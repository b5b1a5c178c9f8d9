package activation

import (
	"context"
	"sync"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// writeCatalog is the catalog that writes check eligibility with: one that
// caches nothing, so that a grant never rests on a stale read.
func (s *Service) writeCatalog() Catalog {
	if s.opts.WriteCatalog != nil {
		return s.opts.WriteCatalog
	}
	return s.catalog
}

// requireAllEligibleNow is requireAllEligible against the write catalog.
func (s *Service) requireAllEligibleNow(ctx context.Context, user jit.UserID, project jit.ProjectID, ents []jit.Entitlement, typ jit.ActivationType) error {
	w := *s
	w.catalog = s.writeCatalog()
	return w.requireAllEligible(ctx, user, project, ents, typ)
}

// requireReviewersNow is requireReviewers against the write catalog.
func (s *Service) requireReviewersNow(ctx context.Context, ent jit.Entitlement, reviewers []jit.UserID) error {
	w := *s
	w.catalog = s.writeCatalog()
	return w.requireReviewers(ctx, ent, reviewers)
}

// ActiveReader is implemented by catalogs that can tell what a user holds
// now without working out what they are eligible for (one policy read
// instead of a Cloud Asset query).
type ActiveReader interface {
	Active(ctx context.Context, user jit.UserID, project jit.ProjectID) (map[jit.Entitlement]time.Time, error)
}

// activeUntil is the end of user's current activation of ent, or the zero
// time.
func (s *Service) activeUntil(ctx context.Context, user jit.UserID, ent jit.Entitlement) (time.Time, error) {
	if r, ok := s.catalog.(ActiveReader); ok {
		active, err := r.Active(ctx, user, ent.Project)
		return active[ent], err
	}
	ents, _, err := s.catalog.Entitlements(ctx, user, ent.Project)
	if err != nil {
		return time.Time{}, err
	}
	for _, e := range ents {
		if e.Entitlement == ent && e.Status == jit.StatusActive {
			return e.ValidUntil, nil
		}
	}
	return time.Time{}, nil
}

// recordAndNotify audits a grant and tells people about it at once: both
// only report what already happened in IAM, and neither waits for the
// other (the mail server is often the slowest step of a request).
func (s *Service) recordAndNotify(ctx context.Context, e jit.Event) []string {
	var wg sync.WaitGroup
	wg.Go(func() { s.record(ctx, e) })
	warnings := s.notify(ctx, e)
	wg.Wait()
	return warnings
}
