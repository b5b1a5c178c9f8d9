// Package ratelimit keeps per-user token buckets in memory, so that one
// user cannot flood the app with requests, or their peers with approval
// emails (the original's pen-test finding #415).
//
// The buckets live in this instance only: with N instances a user gets up
// to N times the limit, and a restart refills every bucket. That is enough
// to stop a runaway script or a spammer, which is what the limits are for;
// a global limit would need shared state, which the app does not have.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxKeys bounds memory: beyond it, the buckets of users who have been
// idle long enough to be full again are dropped (a dropped bucket comes
// back full, so dropping them changes nothing).
const maxKeys = 10000

// Limiter allows each key (a user's email) up to n events at once,
// refilled evenly over a period (see New).
type Limiter struct {
	limit  rate.Limit
	burst  int
	period time.Duration // to refill an empty bucket
	clock  func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// New returns a Limiter of n events per period per key, all of which may
// be used at once; n <= 0 returns nil, which allows everything. clock nil
// means time.Now.
func New(n int, period time.Duration, clock func() time.Time) *Limiter {
	if n <= 0 || period <= 0 {
		return nil
	}
	if clock == nil {
		clock = time.Now
	}
	return &Limiter{
		limit: rate.Limit(float64(n) / period.Seconds()), burst: n, period: period, clock: clock,
		buckets: map[string]*bucket{},
	}
}

// Allow takes n events from key's bucket. When there are not enough, it
// takes none and says how long until there will be (for n larger than
// the burst, never: retryAfter is then the time to refill the bucket).
// A nil Limiter allows everything.
func (l *Limiter) Allow(key string, n int) (ok bool, retryAfter time.Duration) {
	if l == nil || n <= 0 {
		return true, 0
	}
	now := l.clock()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxKeys {
			l.prune(now)
		}
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	if n > l.burst {
		return false, l.period
	}
	r := b.lim.ReserveN(now, n)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// prune drops the buckets that are full again.
func (l *Limiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.seen) >= l.period {
			delete(l.buckets, k)
		}
	}
}

// Len reports how many buckets are held, for tests of the memory bound.
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
