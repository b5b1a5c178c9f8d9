package emutest

import (
	"encoding/json"
	"testing"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/emulator"
)

// Activations returns the bindings of a resource's policy that jitaccess
// wrote: those whose condition parses as an activation window.
func Activations(t testing.TB, w *emulator.World, resource string) []emulator.Binding {
	t.Helper()
	var out []emulator.Binding
	for _, b := range policy(t, w, resource).Bindings {
		if isActivation(b) {
			out = append(out, b)
		}
	}
	return out
}

// Others returns the JSON of every other binding, so that a test can prove
// a write left them byte for byte as they were.
func Others(t testing.TB, w *emulator.World, resource string) []string {
	t.Helper()
	var out []string
	for _, b := range policy(t, w, resource).Bindings {
		if isActivation(b) {
			continue
		}
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(j))
	}
	return out
}

func policy(t testing.TB, w *emulator.World, resource string) emulator.Policy {
	t.Helper()
	p, ok := w.Policy(resource)
	if !ok {
		t.Fatalf("no resource %s", resource)
	}
	return p
}

func isActivation(b emulator.Binding) bool {
	if b.Condition == nil {
		return false
	}
	_, ok := condition.ParseActivation(b.Condition.Title, b.Condition.Expression)
	return ok
}
