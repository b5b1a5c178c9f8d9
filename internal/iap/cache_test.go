package iap_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/iap"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// countingVerifier counts what reaches the real verifier.
type countingVerifier struct {
	v *iap.Verifier
	n atomic.Int64
}

func (c *countingVerifier) Verify(ctx context.Context, a string) (jit.Principal, error) {
	c.n.Add(1)
	return c.v.Verify(ctx, a)
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

func TestCacheVerifiesEachAssertionOnceUntilItExpires(t *testing.T) {
	t.Parallel()
	key, err := emulator.NewIAP(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(key)
	t.Cleanup(srv.Close)
	clock := &fakeClock{now: time.Now()}
	v, err := iap.NewVerifier(t.Context(), audience, iap.WithHTTPClient(redirectTo(srv.URL)), iap.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	inner := &countingVerifier{v: v}
	c := iap.NewCache(inner, clock.Now)
	now := clock.Now()
	tok, err := key.Mint(emulator.IAPClaims{Email: "alice@example.com", Audience: audience, IssuedAt: now.Add(-9 * time.Minute), Expiry: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		p, err := c.Verify(t.Context(), tok)
		if err != nil || p.Email != "alice@example.com" {
			t.Fatalf("Verify = %+v, %v", p, err)
		}
	}
	if n := inner.n.Load(); n != 1 {
		t.Errorf("%d verifications of one assertion, want 1", n)
	}
	// A byte changed is another assertion, verified (and refused) anew.
	tampered := tok[:len(tok)-2] + "AA"
	if tampered == tok {
		tampered = tok[:len(tok)-2] + "BB"
	}
	for range 2 {
		if _, err := c.Verify(t.Context(), tampered); jit.KindOf(err) != jit.KindUnauthenticated {
			t.Fatalf("tampered: %v", err)
		}
	}
	if n := inner.n.Load(); n != 3 {
		t.Errorf("%d verifications, want failures verified every time (3)", n)
	}
	// Past its expiry (and the leeway) the assertion is checked again, and refused.
	clock.Set(now.Add(time.Minute + 31*time.Second))
	if _, err := c.Verify(t.Context(), tok); jit.KindOf(err) != jit.KindUnauthenticated {
		t.Errorf("expired assertion: %v, want refused", err)
	}
}
