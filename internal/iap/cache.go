package iap

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// maxCachedAssertions bounds the memory of a Cache (~200 bytes each).
const maxCachedAssertions = 10000

// AssertionVerifier is what a Cache wraps (a *Verifier).
type AssertionVerifier interface {
	Verify(ctx context.Context, assertion string) (jit.Principal, error)
}

// Cache remembers the assertions that passed verification, by the SHA-256
// of their exact bytes, until they expire: a browser session sends the
// same assertion with many requests, and its ECDSA signature check is
// most of what a cached read costs the app. The same bytes always verify
// the same way, so nothing is trusted that was not verified once; only
// the clock-dependent check (expiry) is made again on every use.
// Failures are never cached.
type Cache struct {
	inner AssertionVerifier
	clock func() time.Time

	mu      sync.Mutex
	entries map[[sha256.Size]byte]cachedAssertion
}

type cachedAssertion struct {
	principal jit.Principal
	expires   time.Time // exp + leeway
}

// NewCache wraps v; a nil clock means time.Now.
func NewCache(v AssertionVerifier, clock func() time.Time) *Cache {
	if clock == nil {
		clock = time.Now
	}
	return &Cache{inner: v, clock: clock, entries: map[[sha256.Size]byte]cachedAssertion{}}
}

// Verify returns the principal of an assertion verified before and not
// expired since, or verifies it.
func (c *Cache) Verify(ctx context.Context, assertion string) (jit.Principal, error) {
	if len(assertion) > maxAssertionBytes {
		return c.inner.Verify(ctx, assertion)
	}
	key := sha256.Sum256([]byte(assertion))
	now := c.clock()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && !now.After(e.expires) {
		return e.principal, nil
	}
	p, err := c.inner.Verify(ctx, assertion)
	if err != nil {
		return p, err
	}
	exp, ok := expiryOf(assertion)
	if !ok {
		return p, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCachedAssertions {
		for k, e := range c.entries {
			if now.After(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCachedAssertions {
			clear(c.entries)
		}
	}
	c.entries[key] = cachedAssertion{principal: p, expires: exp.Add(leeway)}
	return p, nil
}

// expiryOf reads the exp claim of an assertion that already verified.
func expiryOf(assertion string) (time.Time, bool) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var c struct {
		Exp *int64 `json:"exp"`
	}
	if json.Unmarshal(raw, &c) != nil || c.Exp == nil {
		return time.Time{}, false
	}
	return time.Unix(*c.Exp, 0), true
}
