package browsertest

import (
	"io"
	"testing"

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
