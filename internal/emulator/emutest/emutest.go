// Package emutest starts the emulator for tests: the demo world, on
// loopback, stopped when the test ends. It exists so that every package's
// integration tests start it the same way.
package emutest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/conformance"
)

// Options change what Start starts.
type Options struct {
	// Seed is a seed file relative to the module root; "" is testdata/demo.yaml.
	Seed string
	// Clock replaces the emulator's clock.
	Clock func() time.Time
}

// Start starts an emulator with the demo world (or opts.Seed) and stops it
// when t ends.
func Start(t testing.TB, opts ...Options) *emulator.Emulator {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Seed == "" {
		o.Seed = "testdata/demo.yaml"
	}
	f, err := os.Open(filepath.Join(ModuleRoot(t), o.Seed))
	if err != nil {
		t.Fatalf("open seed: %v", err)
	}
	seed, err := emulator.LoadSeed(f)
	_ = f.Close() // read-only: nothing is lost
	if err != nil {
		t.Fatalf("load seed: %v", err)
	}
	checker, err := conformance.New()
	if err != nil {
		t.Fatalf("conformance checker: %v", err)
	}
	// Cleanups run last first: the emulator closes, then its answers are
	// judged, so that none is missed.
	t.Cleanup(func() { CheckConformance(t, checker) })
	e, err := emulator.Start(t.Context(), emulator.Options{Seed: seed, Clock: o.Clock, Conformance: checker})
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// CheckConformance fails the test if the emulator gave an answer (or
// accepted a request) outside Google's published schema, naming the first
// such exchange's method and field: every test that starts the emulator
// through Start is also a conformance test of what it made the emulator
// answer.
func CheckConformance(t testing.TB, c *conformance.Checker) {
	t.Helper()
	vs := c.Violations()
	if len(vs) == 0 {
		return
	}
	more := ""
	if len(vs) > 1 {
		more = fmt.Sprintf(" (and %d more)", len(vs)-1)
	}
	t.Errorf("the emulator departed from Google's schema: %v%s", vs[0], more)
}

// ModuleRoot returns the directory holding go.mod, found from the working
// directory (a package directory while testing).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}
