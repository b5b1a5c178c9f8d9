package config

import (
	"os"
	"strings"
	"testing"
)

// TestEveryVariableIsDocumented keeps docs/configuration.md complete.
func TestEveryVariableIsDocumented(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, name := range Variables() {
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/configuration.md does not describe %s", name)
		}
	}
}
