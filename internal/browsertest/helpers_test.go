package browsertest

import (
	"io"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/emulator"
)

type emulatorBinding = emulator.Binding

func mustSeed(t *testing.T, r io.Reader) *emulator.Seed {
	t.Helper()
	s, err := emulator.LoadSeed(r)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hangBound is when a browser test that is still waiting gives up: ten
// minutes after it starts, or shortly before `go test -timeout` would end
// the whole test binary, so that a hang fails with the page's error banner
// instead of a goroutine dump. It is no deadline for a slow machine: every
// wait is for an event on the page, a test takes seconds on an idle
// machine and about a minute at a load of 30 on 2 cores.
func hangBound(t *testing.T) time.Time {
	t.Helper()
	bound := time.Now().Add(10 * time.Minute)
	if d, ok := t.Deadline(); ok && d.Add(-30*time.Second).Before(bound) {
		return d.Add(-30 * time.Second)
	}
	return bound
}
