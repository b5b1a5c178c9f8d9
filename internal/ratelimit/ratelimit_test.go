package ratelimit_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/ratelimit"
)

type clock struct{ now time.Time }

func (c *clock) Now() time.Time          { return c.now }
func (c *clock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func TestBucketsArePerKeyAndRefillEvenly(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := ratelimit.New(6, time.Hour, c.Now) // one every 10 minutes
	for i := range 6 {
		if ok, _ := l.Allow("alice", 1); !ok {
			t.Fatalf("event %d refused within the burst", i)
		}
	}
	ok, retry := l.Allow("alice", 1)
	if ok || retry != 10*time.Minute {
		t.Errorf("7th event: ok=%v retry=%v, want refused for 10m", ok, retry)
	}
	if ok, _ := l.Allow("bob", 6); !ok {
		t.Errorf("bob is limited by alice's use")
	}
	c.Advance(10 * time.Minute)
	if ok, _ := l.Allow("alice", 1); !ok {
		t.Errorf("refused after a refill")
	}
	if ok, _ := l.Allow("alice", 1); ok {
		t.Errorf("allowed twice after one refill")
	}
	// More than the burst at once can never pass.
	if ok, retry := l.Allow("carol", 7); ok || retry != time.Hour {
		t.Errorf("7 at once: ok=%v retry=%v", ok, retry)
	}
	// A refused request takes nothing.
	c.Advance(time.Hour)
	if ok, _ := l.Allow("alice", 6); !ok {
		t.Errorf("a full bucket refused its burst")
	}
}

func TestDisabledAllowsEverything(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(0, time.Hour, nil)
	for range 1000 {
		if ok, _ := l.Allow("alice", 10); !ok {
			t.Fatal("a disabled limiter refused")
		}
	}
}

func TestMemoryIsBounded(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := ratelimit.New(1, time.Minute, c.Now)
	for i := range 10000 {
		l.Allow(fmt.Sprintf("user%d", i), 1)
	}
	c.Advance(time.Minute) // every bucket is full again
	l.Allow("newcomer", 1)
	if n := l.Len(); n > 1 {
		t.Errorf("%d buckets kept, want the idle ones dropped", n)
	}
}
