package activation

import (
	"context"

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
