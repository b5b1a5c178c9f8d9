package catalog

import (
	"context"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// BenchmarkCacheHit: what a warm page costs the catalog.
func BenchmarkCacheHit(b *testing.B) {
	c := NewCache(CacheOptions{TTL: time.Hour})
	ents := make([]jit.EligibleEntitlement, 10)
	fetch := func(context.Context) (entitlementsResult, error) { return entitlementsResult{ents: ents}, nil }
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := cachedEntitlements(context.Background(), c, "alice@example.com", "p-1", fetch); err != nil {
				b.Error(err)
			}
		}
	})
}
