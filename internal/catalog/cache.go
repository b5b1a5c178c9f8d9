package catalog

import (
	"context"
	"sync"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// maxCacheEntries bounds the cache's memory: past it, expired entries are
// dropped, and if none are, the oldest.
const maxCacheEntries = 20000

// Cache keeps read results for a short time (CATALOG_CACHE_TTL), so that
// the pages a user opens one after the other — projects, roles, peers —
// cost Google one query each per period instead of one per click, and
// Policy Analyzer's daily quota goes to users rather than to reloads.
//
// Entries belong to a user (or, for the holders of an entitlement, to
// nobody) and are dropped when that user's access changes through this
// instance (Forget), so a user sees their own activation at once. Another
// instance's writes and an administrator's changes show within the TTL.
//
// Only reads use it: every write confirms eligibility against live IAM
// policies (see the activation package), so a stale entry can show too
// much or too little for up to the TTL, but it cannot grant anything.
//
// Concurrent misses of one key share one Google call. The zero TTL turns
// caching off (every read goes to Google); a nil *Cache is valid and off.
type Cache struct {
	ttl   time.Duration
	clock func() time.Time
	// observe, when set, is told about every lookup (for metrics).
	observe func(kind string, hit bool)

	mu      sync.Mutex
	entries map[cacheKey]*cacheEntry
	byUser  map[jit.UserID]map[cacheKey]bool
}

// CacheOptions configure a Cache.
type CacheOptions struct {
	// TTL is how long a result is served; 0 or less turns caching off.
	TTL   time.Duration
	Clock func() time.Time
	// Observe, when set, is called for every lookup with the kind of
	// result ("index", "entitlements", "holders", …) and whether it was
	// served from the cache: the hook for cache-hit metrics.
	Observe func(kind string, hit bool)
}

// NewCache returns a cache.
func NewCache(opts CacheOptions) *Cache {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	return &Cache{
		ttl: opts.TTL, clock: opts.Clock, observe: opts.Observe,
		entries: map[cacheKey]*cacheEntry{}, byUser: map[jit.UserID]map[cacheKey]bool{},
	}
}

type cacheKey struct {
	kind string
	user jit.UserID // "" for entries shared by every user
	arg  string
}

type cacheEntry struct {
	ready   chan struct{} // closed when value and err are set
	value   any
	err     error
	expires time.Time
}

// enabled reports whether the cache keeps anything.
func (c *Cache) enabled() bool { return c != nil && c.ttl > 0 }

// get returns the cached value of key or calls fetch once for all
// concurrent callers. Errors are not kept. A caller whose context ends
// stops waiting; the fetch goes on for the others.
func get[T any](ctx context.Context, c *Cache, key cacheKey, fetch func(context.Context) (T, error)) (T, error) {
	if !c.enabled() {
		return fetch(ctx)
	}
	now := c.clock()
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok {
		select {
		case <-e.ready:
			if now.After(e.expires) || e.err != nil {
				ok = false
			}
		default: // in flight: share it
		}
	}
	if !ok {
		e = &cacheEntry{ready: make(chan struct{})}
		c.store(key, e)
		c.mu.Unlock()
		c.note(key.kind, false)
		// The fetch outlives this caller: others may be waiting on it.
		v, err := fetch(context.WithoutCancel(ctx))
		c.mu.Lock()
		e.value, e.err, e.expires = v, err, c.clock().Add(c.ttl)
		if err != nil && c.entries[key] == e {
			c.drop(key)
		}
		close(e.ready)
		c.mu.Unlock()
		return v, err
	}
	c.mu.Unlock()
	c.note(key.kind, true)
	select {
	case <-e.ready:
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
	if e.err != nil {
		var zero T
		return zero, e.err
	}
	return e.value.(T), nil //nolint:forcetypeassert // every key kind stores one type
}

// peek returns the cached value of key if it is there and fresh, without
// fetching it.
func peek[T any](c *Cache, key cacheKey) (T, bool) {
	var zero T
	if !c.enabled() {
		return zero, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return zero, false
	}
	select {
	case <-e.ready:
	default:
		return zero, false
	}
	if e.err != nil || c.clock().After(e.expires) {
		return zero, false
	}
	v, ok := e.value.(T)
	return v, ok
}

func (c *Cache) note(kind string, hit bool) {
	if c.observe != nil {
		c.observe(kind, hit)
	}
}

// store adds an entry; c.mu is held.
func (c *Cache) store(key cacheKey, e *cacheEntry) {
	if len(c.entries) >= maxCacheEntries {
		c.evict()
	}
	c.entries[key] = e
	if key.user != "" {
		if c.byUser[key.user] == nil {
			c.byUser[key.user] = map[cacheKey]bool{}
		}
		c.byUser[key.user][key] = true
	}
}

// drop removes an entry; c.mu is held.
func (c *Cache) drop(key cacheKey) {
	delete(c.entries, key)
	if keys := c.byUser[key.user]; keys != nil {
		delete(keys, key)
		if len(keys) == 0 {
			delete(c.byUser, key.user)
		}
	}
}

// evict drops expired entries, or the one expiring first when none has;
// c.mu is held.
func (c *Cache) evict() {
	now := c.clock()
	var oldest *cacheKey
	var oldestAt time.Time
	for k, e := range c.entries {
		select {
		case <-e.ready:
		default:
			continue
		}
		if now.After(e.expires) {
			c.drop(k)
			continue
		}
		if oldest == nil || e.expires.Before(oldestAt) {
			k := k
			oldest, oldestAt = &k, e.expires
		}
	}
	if len(c.entries) >= maxCacheEntries && oldest != nil {
		c.drop(*oldest)
	}
}

// Forget drops what is cached about user's current access — the status
// of their entitlements — because it changed. What they are eligible for
// (the index, their groups) does not change when an activation is
// written, and stays until it expires.
func (c *Cache) Forget(user jit.UserID) {
	if !c.enabled() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.byUser[user] {
		if k.kind == "entitlements" {
			c.drop(k)
		}
	}
}
