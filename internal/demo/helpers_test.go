package demo

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
)

func mustSeed(t *testing.T) *emulator.Seed {
	t.Helper()
	f, err := os.Open(filepath.Join(emutest.ModuleRoot(t), "testdata", "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := emulator.LoadSeed(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
