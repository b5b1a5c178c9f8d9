package activation

import (
	"context"
	"sync"

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

// writeService is s with the catalog and approvers that cache nothing,
// for the checks of a write that cannot be confirmed in live policies.
func (s *Service) writeService() *Service {
	w := *s
	w.catalog = s.writeCatalog()
	if s.opts.WriteApprovers != nil {
		w.opts.Approvers = s.opts.WriteApprovers
	}
	return &w
}

// requireAllEligibleNow is requireAllEligible against the write catalog.
func (s *Service) requireAllEligibleNow(ctx context.Context, user jit.UserID, project jit.ProjectID, ents []jit.Entitlement, typ jit.ActivationType) error {
	w := *s
	w.catalog = s.writeCatalog()
	return w.requireAllEligible(ctx, user, jit.Entitlement{Project: project}, ents, typ)
}

// recordAndNotify audits a decision (a grant, a rejection) and tells
// people about it at once: both only report what already happened in IAM,
// and neither waits for the other (the mail server is often the slowest
// step of a request).
func (s *Service) recordAndNotify(ctx context.Context, e jit.Event) []string {
	var wg sync.WaitGroup
	wg.Go(func() { s.record(ctx, e) })
	warnings := s.notify(ctx, e)
	wg.Wait()
	return warnings
}
