package catalog

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jitaccess/jitaccess/internal/jit"
)

const (
	mpa      = "has({}.multiPartyApprovalConstraint)"
	selfOnly = "has({}.jitAccessConstraint)"
	approver = "has({}.multiPartyApprovalConstraint.approver)"
	bucket   = ` && resource.name.startsWith("projects/_/buckets/b")`
)

// A small hierarchy: organizations/1 > folders/10 > projects/100 (p1),
// and organizations/1 > folders/20 > projects/200 (p2).
func testNode(key string, bindings ...policyBinding) policyNode {
	full := crmPrefix + key
	anc := map[string][]string{
		"organizations/1": nil,
		"folders/10":      {"organizations/1"},
		"folders/20":      {"organizations/1"},
		"projects/100":    {"folders/10", "organizations/1"},
		"projects/200":    {"folders/20", "organizations/1"},
	}[key]
	if key == "projects/100" {
		full = crmPrefix + "projects/p1"
	}
	if key == "projects/200" {
		full = crmPrefix + "projects/p2"
	}
	return policyNode{key: key, fullName: full, crm: true, ancestors: anc, bindings: bindings}
}

func bind(role, expr string, members ...string) policyBinding {
	if len(members) == 0 {
		members = []string{"user:a@example.com"}
	}
	return policyBinding{role: role, expr: expr, members: members}
}

func problems(issues []ApproverIssue) []string {
	var out []string
	for _, i := range issues {
		out = append(out, strings.TrimPrefix(i.Resource, crmPrefix)+" "+string(i.Problem))
	}
	return out
}

func TestMarkerIssues(t *testing.T) {
	t.Parallel()
	const role = "roles/r"
	for _, tc := range []struct {
		name  string
		nodes []policyNode
		want  []string
	}{
		{"eligible_on_the_same_project", []policyNode{testNode("projects/100", bind(role, mpa), bind(role, approver))}, nil},
		{"eligible_above", []policyNode{testNode("folders/10", bind(role, mpa)), testNode("projects/100", bind(role, approver))}, nil},
		{"eligible_below", []policyNode{testNode("organizations/1", bind(role, approver)), testNode("projects/200", bind(role, mpa))}, nil},
		{"eligible_in_another_branch", []policyNode{testNode("folders/10", bind(role, approver)), testNode("projects/200", bind(role, mpa))},
			[]string{"folders/10 no_eligible_binding"}},
		{"no_eligible_binding", []policyNode{testNode("projects/100", bind(role, approver), bind("roles/other", mpa))},
			[]string{"projects/p1 no_eligible_binding"}},
		{"another_resource_condition", []policyNode{testNode("projects/100", bind(role, mpa+bucket), bind(role, approver))},
			[]string{"projects/p1 no_eligible_binding"}},
		{"same_resource_condition", []policyNode{testNode("projects/100", bind(role, mpa+bucket), bind(role, approver+bucket))}, nil},
		{"self_approval_only", []policyNode{testNode("folders/10", bind(role, selfOnly)), testNode("projects/100", bind(role, approver))},
			[]string{"projects/p1 self_approval_only"}},
		{"self_approval_and_peer", []policyNode{testNode("projects/100", bind(role, selfOnly), bind(role, mpa), bind(role, approver))}, nil},
		{"malformed", []policyNode{testNode("projects/100", bind(role, mpa), bind(role, approver+" && has({}.multiPartyApprovalConstraint.quorum_0)"))},
			[]string{"projects/p1 malformed"}},
		{"marker_with_eligibility", []policyNode{testNode("projects/100", bind(role, mpa+" && "+approver))}, []string{"projects/p1 malformed"}},
		{"not_a_project", []policyNode{
			testNode("projects/100", bind(role, mpa)),
			{key: "b", fullName: "//storage.googleapis.com/b", ancestors: []string{"projects/100"}, bindings: []policyBinding{bind(role, approver)}},
		}, []string{"//storage.googleapis.com/b no_eligible_binding"}},
		{"time_bound_eligibility", []policyNode{testNode("projects/100", bind(role, mpa+" && request.time < timestamp('2030-01-01T00:00:00Z')"), bind(role, approver))},
			[]string{"projects/p1 no_eligible_binding"}},
		{"no_marker_at_all", []policyNode{testNode("projects/100", bind(role, mpa), bind(role, "not CEL ((("))}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := problems(newPolicyView(tc.nodes).markerIssues())
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestTimeBoundEligibilityIsNamed(t *testing.T) {
	t.Parallel()
	v := newPolicyView([]policyNode{testNode("projects/100", bind("roles/r", mpa+" && request.time < timestamp('2030-01-01T00:00:00Z')"), bind("roles/r", approver))})
	issues := v.markerIssues()
	if len(issues) != 1 || !strings.Contains(issues[0].Fix, "reads request.time, which jitaccess cannot activate") {
		t.Errorf("%+v", issues)
	}
}

func TestNoMarkerParsesNothing(t *testing.T) {
	t.Parallel()
	if v := newPolicyView([]policyNode{testNode("projects/100", bind("roles/r", mpa))}); v != nil {
		t.Errorf("view without approver markers: %+v", v)
	}
}

func TestQuorumCandidates(t *testing.T) {
	t.Parallel()
	const role = "roles/r"
	q := func(n int) string {
		return fmt.Sprintf("%s && has({}.multiPartyApprovalConstraint.quorum_%d)", approver, n)
	}
	for _, tc := range []struct {
		name          string
		nodes         []policyNode
		defaultQuorum int
		// want: resource of the declaring binding, where, quorum, users, groups
		want []string
	}{
		{"enough_users", []policyNode{testNode("projects/100", bind(role, mpa), bind(role, q(2), "user:a@x.com", "user:b@x.com"))}, 1, nil},
		{"too_few_users", []policyNode{testNode("projects/100", bind(role, mpa), bind(role, q(3), "user:a@x.com", "user:b@x.com"))}, 1,
			[]string{"projects/p1 at projects/p1 3 [a@x.com b@x.com] []"}},
		{"groups_to_count", []policyNode{testNode("projects/100", bind(role, mpa), bind(role, q(2), "user:a@x.com", "group:G@x.com"))}, 1,
			[]string{"projects/p1 at projects/p1 2 [a@x.com] [g@x.com]"}},
		{"approvers_add_up", []policyNode{
			testNode("folders/10", bind(role, mpa), bind(role, approver, "user:a@x.com")),
			testNode("projects/100", bind(role, q(2), "user:b@x.com")),
		}, 1, nil},
		{"largest_quorum_applies", []policyNode{
			testNode("folders/10", bind(role, mpa), bind(role, q(3), "user:a@x.com")),
			testNode("projects/100", bind(role, q(2), "user:b@x.com")),
		}, 1, []string{"folders/10 at folders/10 3 [a@x.com] []", "folders/10 at projects/p1 3 [a@x.com b@x.com] []"}},
		{"default_quorum", []policyNode{testNode("projects/100", bind(role, mpa), bind(role, approver, "user:a@x.com"))}, 2,
			[]string{"projects/p1 at projects/p1 2 [a@x.com] []"}},
		{"one_line_for_a_folder_and_its_projects", []policyNode{
			testNode("folders/10", bind(role, mpa), bind(role, q(2), "user:a@x.com")),
			testNode("projects/100", bind("roles/other", mpa)),
		}, 1, []string{"folders/10 at folders/10 2 [a@x.com] []"}},
		{"no_peer_eligibility", []policyNode{testNode("projects/100", bind(role, selfOnly), bind(role, q(3), "user:a@x.com"))}, 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, c := range newPolicyView(tc.nodes).quorumCandidates(tc.defaultQuorum) {
				got = append(got, fmt.Sprintf("%s at %s %d %v %v", strings.TrimPrefix(c.issue.Resource, crmPrefix),
					strings.TrimPrefix(c.atName, crmPrefix), c.quorum, c.users, c.groups))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestQuorumIssue(t *testing.T) {
	t.Parallel()
	c := quorumCandidate{atName: crmPrefix + "projects/p1", quorum: 3, declared: true, users: nil, groups: []string{"g@x.com"},
		issue: ApproverIssue{Role: "roles/r"}}
	if got := c.quorumIssue([]jit.UserID{"a@x.com", "b@x.com", "c@x.com"}, true, ""); got != nil {
		t.Errorf("three of three: %+v", got)
	}
	got := c.quorumIssue([]jit.UserID{"a@x.com"}, true, "")
	if got == nil || got.Problem != ApproverQuorumUnreachable || !strings.Contains(got.Fix, "needs 3 approvals (quorum_3), but its approver bindings name only 1 person who can approve (a@x.com)") {
		t.Errorf("one of three: %+v", got)
	}
	got = c.quorumIssue(nil, false, "no access")
	if got == nil || got.Problem != ApproverQuorumUnchecked || !strings.Contains(got.Fix, "the groups g@x.com, whose members could not be counted (no access)") {
		t.Errorf("unchecked: %+v", got)
	}
	c.declared, c.groups = false, nil
	got = c.quorumIssue(nil, false, "")
	if got == nil || !strings.Contains(got.Fix, "ACTIVATION_REQUEST_APPROVALS=3") || !strings.Contains(got.Fix, "(nobody)") {
		t.Errorf("default: %+v", got)
	}
}

func TestNoticesOncePerPeriodAndBounded(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	n := NewNotices(30*time.Second, func() time.Time { return now })
	if n.period != minNoticePeriod {
		t.Errorf("period %v, want the floor %v", n.period, minNoticePeriod)
	}
	if !n.due("a") || n.due("a") {
		t.Error("a: want due once")
	}
	now = now.Add(minNoticePeriod)
	if !n.due("a") {
		t.Error("a: want due again after the period")
	}
	for i := range maxNotices {
		n.due(fmt.Sprint(i))
	}
	if n.due("new") || len(n.next) > maxNotices {
		t.Errorf("full: new one logged, or %d remembered", len(n.next))
	}
	now = now.Add(minNoticePeriod)
	if !n.due("new") || len(n.next) > maxNotices {
		t.Errorf("after expiry: new one not logged, or %d remembered", len(n.next))
	}
	var none *Notices
	if none.due("a") {
		t.Error("nil Notices logged")
	}
}

// TestSpacedMarkersAreRead: CEL allows spaces and comments around the
// dot; such a marker still declares approvers, at discovery and at the
// request.
func TestSpacedMarkersAreRead(t *testing.T) {
	t.Parallel()
	spaced := "has({}.multiPartyApprovalConstraint . approver)"
	v := newPolicyView([]policyNode{testNode("projects/100", bind("roles/r", spaced))})
	if got := problems(v.markerIssues()); !cmp.Equal(got, []string{"projects/p1 no_eligible_binding"}) {
		t.Errorf("spaced marker without eligibility: %v", got)
	}
	if _, ok := approverOf(jit.Entitlement{Project: "p1", Role: "roles/r"}, "roles/r", spaced); !ok {
		t.Error("spaced marker not read as an approver declaration")
	}
}

// TestDiscoveryJudgesWhatItSees: reading a project's effective policies,
// discovery judges the project's own approver bindings and malformed ones
// anywhere, never a folder's, which may serve another project.
func TestDiscoveryJudgesWhatItSees(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	opts := Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	opts.defaults()
	folder, project := crmPrefix+"folders/10", crmPrefix+"projects/p1"
	opts.noteApprovers(t.Context(), jit.Entitlement{Project: "p1"}, []*binding{
		{resource: folder, role: "roles/folder-wide", expr: approver, members: []string{"user:a@x.com"}},
		{resource: folder, role: "roles/typo", expr: "has({}.multiPartyApprovalConstraint.aprover)", members: []string{"user:a@x.com"}},
		{resource: project, role: "roles/none", expr: approver, members: []string{"user:a@x.com"}},
		{resource: folder, role: "roles/above", expr: mpa, members: []string{"user:b@x.com"}},
		{resource: project, role: "roles/above", expr: approver, members: []string{"user:a@x.com"}},
	})
	got := logs.String()
	if strings.Contains(got, "roles/folder-wide") || strings.Contains(got, "roles/above") ||
		!strings.Contains(got, `"role":"roles/typo"`) || !strings.Contains(got, `"role":"roles/none"`) || strings.Count(got, "\n") != 2 {
		t.Errorf("logged:\n%s", got)
	}
	logs.Reset()
	// A folder read for its own entitlements: its projects are not in
	// view, so only the malformed marker is judged.
	opts.Notices = NewNotices(0, nil)
	opts.noteApprovers(t.Context(), jit.Entitlement{Node: "folders/10"}, []*binding{
		{resource: folder, role: "roles/folder-wide", expr: approver, members: []string{"user:a@x.com"}},
		{resource: folder, role: "roles/typo", expr: "has({}.multiPartyApprovalConstraint.aprover)", members: []string{"user:a@x.com"}},
	})
	if got := logs.String(); strings.Contains(got, "roles/folder-wide") || !strings.Contains(got, "roles/typo") {
		t.Errorf("folder: logged:\n%s", got)
	}
}
