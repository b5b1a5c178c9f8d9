package server

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestCachedReadinessProbesOncePerTTL: probes from load balancers within
// the TTL share one round; after it, the probes run again and see changes.
func TestCachedReadinessProbesOncePerTTL(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var calls atomic.Int32
	var failing atomic.Bool
	ready := CachedReadiness([]Probe{
		{Name: "IapKeysAreAvailable", Check: func(context.Context) error { calls.Add(1); return nil }},
		{Name: "ResourceManagerIsReachable", Check: func(context.Context) error {
			calls.Add(1)
			if failing.Load() {
				return errors.New("503 from Google")
			}
			return nil
		}},
	}, ReadinessOptions{TTL: 10 * time.Second, Clock: func() time.Time { return now }})

	want := map[string]bool{"IapKeysAreAvailable": true, "ResourceManagerIsReachable": true}
	for range 5 {
		if diff := cmp.Diff(want, ready(t.Context())); diff != "" {
			t.Fatalf("details (-want +got):\n%s", diff)
		}
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("five checks within the TTL ran %d probes, want 2", got)
	}
	failing.Store(true)
	now = now.Add(9 * time.Second)
	if got := ready(t.Context()); !got["ResourceManagerIsReachable"] {
		t.Error("a change within the TTL showed before the TTL passed")
	}
	now = now.Add(time.Second)
	want["ResourceManagerIsReachable"] = false
	if diff := cmp.Diff(want, ready(t.Context())); diff != "" {
		t.Errorf("details after the TTL (-want +got):\n%s", diff)
	}
	if got := calls.Load(); got != 4 {
		t.Errorf("probes run = %d, want 4", got)
	}
}

// TestCachedReadinessBoundsEachProbe: a dependency that hangs makes its
// detail false after the timeout, and the caller hanging up does not
// cancel the round that others share.
func TestCachedReadinessBoundsEachProbe(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ready := CachedReadiness([]Probe{
			{Name: "Hangs", Check: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
			{Name: "Answers", Check: func(ctx context.Context) error { return ctx.Err() }},
		}, ReadinessOptions{Timeout: 3 * time.Second})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		start := time.Now()
		got := ready(ctx)
		if diff := cmp.Diff(map[string]bool{"Hangs": false, "Answers": true}, got); diff != "" {
			t.Errorf("details (-want +got):\n%s", diff)
		}
		if waited := time.Since(start); waited != 3*time.Second {
			t.Errorf("the round took %v, want the probe timeout 3s", waited)
		}
	})
}
