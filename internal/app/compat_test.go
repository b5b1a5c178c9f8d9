package app_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/internal/app"
	"github.com/jitaccess/jitaccess/internal/config"
	"github.com/jitaccess/jitaccess/internal/emulated"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
)

// TestCompatReportListsBindingsThatBecomeEligible: under PolicyAnalyzer,
// the demo world's resource-conditioned eligible bindings were ignored by
// 1.8.1; the report names each with its reason.
func TestCompatReportListsBindingsThatBecomeEligible(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	cfg, err := config.Load(emulated.Config("127.0.0.1:2525", "http://127.0.0.1:1", nil))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := app.CompatReport(t.Context(), cfg, emulated.Environment(e, nil, nil, nil), &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if !strings.Contains(text, "but not under Just-In-Time Access 1.8.1") || !strings.Contains(text, "roles/compute.instanceAdmin.v1") ||
		!strings.Contains(text, "1.8.1's PolicyAnalyzer catalog ignored resource-conditioned eligible bindings") {
		t.Errorf("report:\n%s", text)
	}
}
