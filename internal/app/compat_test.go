package app_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/internal/app"
	"github.com/jitaccess/jitaccess/internal/config"
	"github.com/jitaccess/jitaccess/internal/emulated"
	"github.com/jitaccess/jitaccess/internal/emulator"
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
	if _, err := app.CompatReport(t.Context(), cfg, emulated.Environment(e, nil, nil, nil), &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if !strings.Contains(text, "but not under Just-In-Time Access 1.8.1") || !strings.Contains(text, "roles/compute.instanceAdmin.v1") ||
		!strings.Contains(text, "1.8.1's PolicyAnalyzer catalog ignored resource-conditioned eligible bindings") {
		t.Errorf("report:\n%s", text)
	}
}

// TestCompatReportListsApproversWithoutEffect: the report's second
// section names each approver binding without effect, with what to fix,
// counting the approvers' groups the way the configured catalog does; the
// demo world's own approvers (2 of 3 on security-tools) are correct and
// not listed.
func TestCompatReportListsApproversWithoutEffect(t *testing.T) {
	t.Parallel()
	for name, overrides := range map[string]map[string]string{
		"PolicyAnalyzer":            nil,
		"AssetInventory/direct":     {"RESOURCE_CATALOG": "AssetInventory", "RESOURCE_CUSTOMER_ID": "C0example1"},
		"AssetInventory/transitive": {"RESOURCE_CATALOG": "AssetInventory", "GROUP_MEMBERSHIP": "transitive"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := emutest.Start(t)
			cfg, err := config.Load(emulated.Config("127.0.0.1:2525", "http://127.0.0.1:1", overrides))
			if err != nil {
				t.Fatal(err)
			}
			report := func() string {
				t.Helper()
				var out bytes.Buffer
				if _, err := app.CompatReport(t.Context(), cfg, emulated.Environment(e, nil, nil, nil), &out); err != nil {
					t.Fatal(err)
				}
				return out.String()
			}
			text := report()
			if !strings.Contains(text, "# Approver bindings in organizations/123456789012 without the intended effect ("+string(cfg.Catalog)+" catalog): 0") ||
				strings.Contains(text, "roles/securitycenter.admin") {
				t.Errorf("demo world:\n%s", text)
			}

			w := e.World
			p, _ := w.Policy("projects/shared-ci-cd")
			p.Version = 3
			p.Bindings = append(p.Bindings, emulator.Binding{Role: "roles/viewer", Members: []string{"user:bob@example.com"},
				Condition: &emulator.Expr{Title: "approvers", Expression: "has({}.multiPartyApprovalConstraint.approver)"}})
			if _, err := w.SetIamPolicy("projects/shared-ci-cd", p); err != nil {
				t.Fatal(err)
			}
			// Five approvals of alice, carol and security@ (frank, heidi).
			p, _ = w.Policy("projects/security-tools")
			for i, b := range p.Bindings {
				if b.Condition != nil && strings.Contains(b.Condition.Expression, "quorum_2") {
					p.Bindings[i].Condition.Expression = strings.Replace(b.Condition.Expression, "quorum_2", "quorum_5", 1)
				}
			}
			if _, err := w.SetIamPolicy("projects/security-tools", p); err != nil {
				t.Fatal(err)
			}
			text = report()
			_, section, _ := strings.Cut(text, "# Approver bindings")
			for _, want := range []string{
				"without the intended effect (" + string(cfg.Catalog) + " catalog): 2",
				"RESOURCE", "WHAT TO FIX",
				"//cloudresourcemanager.googleapis.com/projects/shared-ci-cd", "roles/viewer", "user:bob@example.com", "no_eligible_binding",
				"Add the eligible binding, or remove the approver binding.",
				"quorum_unreachable", "needs 5 approvals (quorum_5), but its approver bindings name only 4 people who can approve " +
					"(alice@example.com, carol@example.com, frank@example.com, heidi@example.com)",
			} {
				if !strings.Contains(section, want) {
					t.Errorf("report lacks %q:\n%s", want, text)
				}
			}
		})
	}
}
