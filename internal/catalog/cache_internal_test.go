package catalog

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTestCache(ttl time.Duration) (*Cache, *testClock, *[]bool) {
	clock := &testClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	var hits []bool
	var mu sync.Mutex
	c := NewCache(CacheOptions{TTL: ttl, Clock: clock.Now, Observe: func(_ string, hit bool) {
		mu.Lock()
		hits = append(hits, hit)
		mu.Unlock()
	}})
	return c, clock, &hits
}

func TestCacheServesUntilTheTTL(t *testing.T) {
	t.Parallel()
	c, clock, hits := newTestCache(30 * time.Second)
	calls := 0
	fetch := func(context.Context) (int, error) { calls++; return calls, nil }
	key := cacheKey{kind: "index", user: "alice@example.com"}
	for range 3 {
		if v, _ := get(t.Context(), c, key, fetch); v != 1 {
			t.Fatalf("value = %d, want the first fetch's", v)
		}
	}
	clock.Advance(30 * time.Second)
	if v, _ := get(t.Context(), c, key, fetch); v != 1 {
		t.Errorf("value at the TTL = %d, want still cached", v)
	}
	clock.Advance(time.Second)
	if v, _ := get(t.Context(), c, key, fetch); v != 2 {
		t.Errorf("value after the TTL = %d, want a new fetch", v)
	}
	if want := []bool{false, true, true, true, false}; len(*hits) != len(want) {
		t.Errorf("observed %v, want %v", *hits, want)
	}
}

func TestCacheKeepsNoErrors(t *testing.T) {
	t.Parallel()
	c, _, _ := newTestCache(time.Minute)
	calls := 0
	fetch := func(context.Context) (int, error) {
		calls++
		if calls == 1 {
			return 0, errors.New("unavailable")
		}
		return calls, nil
	}
	key := cacheKey{kind: "index", user: "alice@example.com"}
	if _, err := get(t.Context(), c, key, fetch); err == nil {
		t.Fatal("no error")
	}
	if v, err := get(t.Context(), c, key, fetch); err != nil || v != 2 {
		t.Errorf("after an error: %d %v, want a new fetch", v, err)
	}
}

func TestCacheSharesOneFetchBetweenConcurrentMisses(t *testing.T) {
	t.Parallel()
	c, _, _ := newTestCache(time.Minute)
	var calls atomic.Int64
	release := make(chan struct{})
	fetch := func(context.Context) (int, error) {
		calls.Add(1)
		<-release
		return 7, nil
	}
	key := cacheKey{kind: "holders", arg: "p:roles/x"}
	var wg sync.WaitGroup
	results := make([]int, 8)
	started := make(chan struct{}, 8)
	for i := range results {
		wg.Go(func() {
			started <- struct{}{}
			results[i], _ = get(t.Context(), c, key, fetch)
		})
	}
	for range results {
		<-started
	}
	close(release)
	wg.Wait()
	for _, r := range results {
		if r != 7 {
			t.Errorf("results = %v", results)
			break
		}
	}
	if n := calls.Load(); n < 1 || n > int64(len(results)) {
		t.Errorf("%d fetches", n)
	}
}

func TestCacheWaiterGivesUpWithItsContext(t *testing.T) {
	t.Parallel()
	c, _, _ := newTestCache(time.Minute)
	release := make(chan struct{})
	inFetch := make(chan struct{})
	key := cacheKey{kind: "index", user: "bob@example.com"}
	go func() {
		_, _ = get(context.Background(), c, key, func(context.Context) (int, error) {
			close(inFetch)
			<-release
			return 1, nil
		})
	}()
	<-inFetch
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := get(ctx, c, key, func(context.Context) (int, error) { return 2, nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want the caller's cancellation", err)
	}
	close(release)
}

func TestCacheForgetDropsOnlyTheUsersStatus(t *testing.T) {
	t.Parallel()
	c, _, _ := newTestCache(time.Minute)
	n := 0
	fetch := func(context.Context) (int, error) { n++; return n, nil }
	const alice, bob jit.UserID = "alice@example.com", "bob@example.com"
	status := cacheKey{kind: "entitlements", user: alice, arg: "p"}
	index := cacheKey{kind: "index", user: alice}
	other := cacheKey{kind: "entitlements", user: bob, arg: "p"}
	for _, k := range []cacheKey{status, index, other} {
		_, _ = get(t.Context(), c, k, fetch)
	}
	c.Forget(alice)
	if v, _ := get(t.Context(), c, status, fetch); v != 4 {
		t.Errorf("alice's status = %d, want fetched again", v)
	}
	if v, _ := get(t.Context(), c, index, fetch); v != 2 {
		t.Errorf("alice's eligibility = %d, want still cached", v)
	}
	if v, _ := get(t.Context(), c, other, fetch); v != 3 {
		t.Errorf("bob's status = %d, want still cached", v)
	}
}

func TestCacheOffAndNil(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]*Cache{"zero TTL": NewCache(CacheOptions{}), "nil": nil} {
		n := 0
		fetch := func(context.Context) (int, error) { n++; return n, nil }
		key := cacheKey{kind: "index", user: "alice@example.com"}
		_, _ = get(t.Context(), c, key, fetch)
		if v, _ := get(t.Context(), c, key, fetch); v != 2 {
			t.Errorf("%s: value = %d, want no caching", name, v)
		}
		c.Forget("alice@example.com") // no panic
	}
}

func TestCacheStaysBounded(t *testing.T) {
	t.Parallel()
	c, clock, _ := newTestCache(time.Minute)
	fetch := func(context.Context) (int, error) { return 1, nil }
	for i := range maxCacheEntries + 10 {
		clock.Advance(time.Millisecond)
		_, _ = get(t.Context(), c, cacheKey{kind: "index", user: jit.UserID(string(rune('a'+i%26))) + "@example.com", arg: string(rune(i))}, fetch)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) > maxCacheEntries {
		t.Errorf("%d entries, want at most %d", len(c.entries), maxCacheEntries)
	}
}
