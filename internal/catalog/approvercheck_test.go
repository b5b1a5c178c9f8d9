package catalog_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jitaccess/jitaccess/internal/catalog"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// mustAddBinding adds a conditional binding to resource's policy.
func mustAddBinding(t *testing.T, w *emulator.World, resource, role, expr string, members ...string) {
	t.Helper()
	p, _ := w.Policy(resource)
	p.Version = 3
	p.Bindings = append(p.Bindings, emulator.Binding{Role: role, Members: members, Condition: &emulator.Expr{Title: "approvers", Expression: expr}})
	if _, err := w.SetIamPolicy(resource, p); err != nil {
		t.Fatal(err)
	}
}

// mustSetCondition replaces the expression of resource's binding of role
// whose expression contains old.
func mustSetCondition(t *testing.T, w *emulator.World, resource, role, old, expr string) {
	t.Helper()
	p, _ := w.Policy(resource)
	for i, b := range p.Bindings {
		if b.Role == role && b.Condition != nil && strings.Contains(b.Condition.Expression, old) {
			p.Bindings[i].Condition.Expression = expr
		}
	}
	if _, err := w.SetIamPolicy(resource, p); err != nil {
		t.Fatal(err)
	}
}

const (
	approverMarker = "has({}.multiPartyApprovalConstraint.approver)"
	quorum2        = " && has({}.multiPartyApprovalConstraint.quorum_2)"
)

// withApproverMistakes is the demo world with one approver declaration of
// each kind, correct and not.
func withApproverMistakes(t *testing.T) *emulator.Emulator {
	t.Helper()
	e := emutest.Start(t)
	w := e.World
	// Correct: compute.admin is MPA-eligible on the Production folder,
	// above this project.
	mustAddBinding(t, w, "projects/prod-payments-db", "roles/compute.admin", approverMarker, "user:bob@example.com")
	// Correct: run.developer is MPA-eligible on prod-payments-api, below
	// the Payments folder; sre@ holds the two people quorum_2 needs,
	// which only counting the group shows.
	mustAddBinding(t, w, "folders/1004", "roles/run.developer", approverMarker+quorum2, "group:sre@example.com")
	// Wrong: networkAdmin is eligible on shared-networking, in another
	// branch of the hierarchy.
	mustAddBinding(t, w, "folders/1002", "roles/compute.networkAdmin", approverMarker, "user:bob@example.com")
	// Wrong: builds.editor is only self-approval eligible.
	mustAddBinding(t, w, "projects/shared-ci-cd", "roles/cloudbuild.builds.editor", approverMarker, "user:bob@example.com")
	// Wrong: another resource condition than the eligible binding's.
	mustAddBinding(t, w, "projects/prod-data-warehouse", "roles/storage.objectAdmin",
		approverMarker+` && resource.name.startsWith("projects/_/buckets/other")`, "user:bob@example.com")
	// Wrong: a typo.
	mustAddBinding(t, w, "projects/prod-data-warehouse", "roles/bigquery.admin", "has({}.multiPartyApprovalConstraint.aprover)", "user:bob@example.com")
	// Wrong: five approvals of four people (alice, carol and security@'s
	// frank and heidi).
	mustSetCondition(t, w, "projects/security-tools", "roles/securitycenter.admin", "quorum_2",
		approverMarker+" && has({}.multiPartyApprovalConstraint.quorum_5)")
	return e
}

type approverReporter interface {
	ApproverReport(ctx context.Context, defaultQuorum int) ([]catalog.ApproverIssue, error)
}

func reporters(t *testing.T, e *emulator.Emulator) map[string]approverReporter {
	t.Helper()
	out := map[string]approverReporter{}
	for name, b := range backends(t, e) {
		out[name] = b.(approverReporter)
	}
	return out
}

func summariseIssues(in []catalog.ApproverIssue) []string {
	out := make([]string, 0, len(in))
	for _, i := range in {
		out = append(out, strings.TrimPrefix(i.Resource, "//cloudresourcemanager.googleapis.com/")+" "+i.Role+" "+string(i.Problem))
	}
	return out
}

// TestApproverReportOfTheDemoWorld: the demo world's approvers (2 of
// alice, carol and security@ on security-tools) are correct, and the
// report says nothing about them.
func TestApproverReportOfTheDemoWorld(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	for name, r := range reporters(t, e) {
		got, err := r.ApproverReport(t.Context(), 1)
		if err != nil || len(got) != 0 {
			t.Errorf("%s: %v, %v; want nothing", name, summariseIssues(got), err)
		}
	}
}

// TestApproverReportFindsEachMistake: every approver declaration without
// effect is reported, through Cloud Asset's search and both catalogs'
// group expansion, and the correct ones (eligible above, eligible below,
// a quorum met through a group) are not.
func TestApproverReportFindsEachMistake(t *testing.T) {
	t.Parallel()
	e := withApproverMistakes(t)
	want := []string{
		"folders/1002 roles/compute.networkAdmin no_eligible_binding",
		"projects/prod-data-warehouse roles/bigquery.admin malformed",
		"projects/prod-data-warehouse roles/storage.objectAdmin no_eligible_binding",
		"projects/security-tools roles/securitycenter.admin quorum_unreachable",
		"projects/shared-ci-cd roles/cloudbuild.builds.editor self_approval_only",
	}
	for name, r := range reporters(t, e) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := r.ApproverReport(t.Context(), 1)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, summariseIssues(got)); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
			fixes := map[string]string{}
			for _, i := range got {
				fixes[i.Role] = i.Fix
				if len(i.Members) == 0 || i.Condition == "" {
					t.Errorf("%s: no members or condition: %+v", i.Role, i)
				}
			}
			for role, says := range map[string]string{
				"roles/compute.networkAdmin":     "It is eligible on projects/shared-networking, which is neither above nor below folders/1002",
				"roles/storage.objectAdmin":      "make the two conditions equal",
				"roles/bigquery.admin":           "unknown approval marker multiPartyApprovalConstraint.aprover",
				"roles/securitycenter.admin":     "needs 5 approvals (quorum_5), but its approver bindings name only 4 people who can approve (alice@example.com, carol@example.com, frank@example.com, heidi@example.com)",
				"roles/cloudbuild.builds.editor": "only for self-approval",
			} {
				if !strings.Contains(fixes[role], says) {
					t.Errorf("%s: %q, want it to say %q", role, fixes[role], says)
				}
			}
		})
	}
}

// TestApproverReportWithTheDefaultQuorum: approvers who declare no
// quorum get ACTIVATION_REQUEST_APPROVALS; the compute.admin approver
// binding names one person, too few for a default of 2.
func TestApproverReportWithTheDefaultQuorum(t *testing.T) {
	t.Parallel()
	e := withApproverMistakes(t)
	c := newClients(t, e)
	got, err := catalog.NewPolicyAnalyzer(c.asset, c.crm, catalog.Options{Scope: demoScope}).ApproverReport(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	var fix string
	for _, i := range got {
		if i.Role == "roles/compute.admin" && i.Problem == catalog.ApproverQuorumUnreachable {
			fix = i.Fix
		}
	}
	if !strings.Contains(fix, "ACTIVATION_REQUEST_APPROVALS=2") || !strings.Contains(fix, "prod-payments-db") {
		t.Errorf("compute.admin: %q; all: %v", fix, summariseIssues(got))
	}
}

// TestDiscoveryWarnsAboutApproversOncePerPeriod: reading a project's
// policies shows approver bindings without effect there; each is logged
// once per period however many requests read them, and again after it.
// AssetInventory sees every binding of the project; Policy Analyzer's
// approver query those of one role, enough for another resource
// condition and for the quorum.
func TestDiscoveryWarnsAboutApproversOncePerPeriod(t *testing.T) {
	t.Parallel()
	e := withApproverMistakes(t)
	c := newClients(t, e)
	clock := emutest.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	newOpts := func(logs *bytes.Buffer) catalog.Options {
		// No cache: every request reads the policies again.
		return catalog.Options{Scope: demoScope, Clock: clock.Now, Logger: slog.New(slog.NewJSONHandler(logs, nil)),
			Notices: catalog.NewNotices(time.Hour, clock.Now)}
	}
	var aiLogs, paLogs bytes.Buffer
	ai := catalog.NewAssetInventory(c.asset, c.crm, c.identity, newOpts(&aiLogs))
	pa := catalog.NewPolicyAnalyzer(c.asset, c.crm, newOpts(&paLogs))
	storage := jit.Entitlement{Project: "prod-data-warehouse", Role: "roles/storage.objectAdmin",
		ResourceCondition: `resource.name.startsWith("projects/_/buckets/prod-dwh-exports")`}
	security := jit.Entitlement{Project: "security-tools", Role: "roles/securitycenter.admin"}
	requests := func() {
		t.Helper()
		for range 3 {
			for _, p := range []jit.ProjectID{"shared-ci-cd", "prod-data-warehouse"} {
				if _, _, err := ai.Entitlements(t.Context(), "dave@example.com", p); err != nil {
					t.Fatal(err)
				}
			}
			for _, b := range []approverBackend{ai, pa} {
				for _, ent := range []jit.Entitlement{storage, security} {
					if _, err := b.Approvers(t.Context(), ent); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	count := func(logs *bytes.Buffer) map[string]int {
		out := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			if strings.Contains(line, `"event":"catalog.approverIneffective"`) {
				_, rest, _ := strings.Cut(line, `"problem":"`)
				problem, _, _ := strings.Cut(rest, `"`)
				out[problem]++
			}
		}
		return out
	}
	requests()
	wantAI := map[string]int{
		"self_approval_only":  1, // shared-ci-cd's builds.editor
		"malformed":           1, // prod-data-warehouse's typo
		"no_eligible_binding": 1, // prod-data-warehouse's other bucket
		"quorum_unreachable":  1, // security-tools' five of four
	}
	wantPA := map[string]int{"no_eligible_binding": 1, "quorum_unreachable": 1}
	if diff := cmp.Diff(wantAI, count(&aiLogs)); diff != "" {
		t.Errorf("AssetInventory warnings (-want +got):\n%s\n%s", diff, aiLogs.String())
	}
	if diff := cmp.Diff(wantPA, count(&paLogs)); diff != "" {
		t.Errorf("PolicyAnalyzer warnings (-want +got):\n%s\n%s", diff, paLogs.String())
	}
	// The folders' approver bindings may serve projects not read here:
	// never judged at discovery.
	if all := aiLogs.String() + paLogs.String(); strings.Contains(all, "folders/1004") || strings.Contains(all, "folders/1002") {
		t.Errorf("a folder's approver binding was judged at discovery:\n%s", all)
	}
	clock.Advance(time.Hour)
	requests()
	for problem, n := range wantAI {
		wantAI[problem] = 2 * n
	}
	if diff := cmp.Diff(wantAI, count(&aiLogs)); diff != "" {
		t.Errorf("AssetInventory after the period (-want +got):\n%s", diff)
	}
}

// TestNoQuorumWarningWhenAGroupCannotBeRead: with security@ unreadable,
// the approvers counted are too few, but the quorum is not to blame: no
// quorum warning (the failed group is logged as such). The report calls
// it unchecked, naming the reason.
func TestNoQuorumWarningWhenAGroupCannotBeRead(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	mustSetCondition(t, e.World, "projects/security-tools", "roles/securitycenter.admin", "quorum_2",
		approverMarker+" && has({}.multiPartyApprovalConstraint.quorum_3)")
	e.World.Faults.Set("cloudidentity.*", emulator.Fault{Code: 500})
	c := newClients(t, e)
	var logs bytes.Buffer
	ai := catalog.NewAssetInventory(c.asset, c.crm, c.identity, catalog.Options{Scope: demoScope, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	ap, err := ai.Approvers(t.Context(), jit.Entitlement{Project: "security-tools", Role: "roles/securitycenter.admin"})
	if err != nil || len(ap.Approvers) != 2 || ap.Quorum != 3 {
		t.Fatalf("%+v, %v; want alice and carol, quorum 3", ap, err)
	}
	if strings.Contains(logs.String(), "catalog.approverIneffective") || !strings.Contains(logs.String(), "expanding a group failed") {
		t.Errorf("logs:\n%s", logs.String())
	}
	got, err := ai.ApproverReport(t.Context(), 1)
	if err != nil || len(got) != 1 || got[0].Problem != catalog.ApproverQuorumUnchecked ||
		!strings.Contains(got[0].Fix, "the groups security@example.com, whose members could not be counted (reading the members of security@example.com failed") {
		t.Errorf("report: %+v, %v", got, err)
	}
}
