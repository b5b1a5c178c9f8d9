package condition

import (
	"strings"
	"testing"
)

func TestParseApprover(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, expr string
		ok         bool
		quorum     int
		rc         string
		err        string
	}{
		{"approver", `has({}.multiPartyApprovalConstraint.approver)`, true, 0, "", ""},
		{"any_case", `has({}.MULTIPARTYAPPROVALCONSTRAINT.Approver)`, true, 0, "", ""},
		{"quorum", `has({}.multiPartyApprovalConstraint.approver) && has({}.multiPartyApprovalConstraint.quorum_2)`, true, 2, "", ""},
		{"quorum_first", `has({}.multiPartyApprovalConstraint.quorum_10) && has({}.multiPartyApprovalConstraint.approver)`, true, 10, "", ""},
		{"resource_condition", `has({}.multiPartyApprovalConstraint.approver) && resource.name.startsWith("projects/_/buckets/x")`, true, 0, `resource.name.startsWith("projects/_/buckets/x")`, ""},
		{"eligibility_marker_is_not_approver", `has({}.multiPartyApprovalConstraint)`, false, 0, "", ""},
		{"unrelated", `resource.name == "x"`, false, 0, "", ""},
		{"blank", ` `, false, 0, "", ""},
		{"under_or", `has({}.multiPartyApprovalConstraint.approver) || true`, false, 0, "", "top-level conjunction"},
		{"negated", `!has({}.multiPartyApprovalConstraint.approver)`, false, 0, "", "top-level conjunction"},
		{"quorum_alone", `has({}.multiPartyApprovalConstraint.quorum_2)`, false, 0, "", "needs the approver marker"},
		{"quorum_zero", `has({}.multiPartyApprovalConstraint.approver) && has({}.multiPartyApprovalConstraint.quorum_0)`, false, 0, "", "not a number from 1 to 10"},
		{"quorum_too_big", `has({}.multiPartyApprovalConstraint.approver) && has({}.multiPartyApprovalConstraint.quorum_11)`, false, 0, "", "not a number from 1 to 10"},
		{"quorum_leading_zero", `has({}.multiPartyApprovalConstraint.approver) && has({}.multiPartyApprovalConstraint.quorum_02)`, false, 0, "", "not a number"},
		{"two_quorums", `has({}.multiPartyApprovalConstraint.approver) && has({}.multiPartyApprovalConstraint.quorum_2) && has({}.multiPartyApprovalConstraint.quorum_3)`, false, 0, "", "more than one quorum"},
		{"typo", `has({}.multiPartyApprovalConstraint.aprover)`, false, 0, "", "unknown approval marker"},
		{"with_eligibility", `has({}.multiPartyApprovalConstraint) && has({}.multiPartyApprovalConstraint.approver)`, false, 0, "", "both an eligibility marker and an approver marker"},
		{"malformed", `has({}.multiPartyApprovalConstraint.approver) &&`, false, 0, "", "not valid CEL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, ok, err := ParseApprover(tc.expr)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || ok != tc.ok || a.Quorum != tc.quorum || a.ResourceCondition != tc.rc {
				t.Errorf("got %+v %v %v, want quorum %d rc %q ok %v", a, ok, err, tc.quorum, tc.rc, tc.ok)
			}
		})
	}
}

// Approver and record markers grant nothing and are no eligibility: an
// eligible binding cannot smuggle them in as a resource condition, and a
// client cannot send them as one.
func TestApproverMarkersAreNotEligibilityOrResourceConditions(t *testing.T) {
	t.Parallel()
	if _, ok, err := ParseEligibility(`has({}.multiPartyApprovalConstraint.approver)`); ok || err != nil {
		t.Errorf("approver marker alone: eligible %v, %v", ok, err)
	}
	if _, ok, err := ParseEligibility(`has({}.jitAccessConstraint) && has({}.multiPartyApprovalConstraint.approver)`); ok || err == nil {
		t.Errorf("eligibility and approver marker: eligible %v, %v", ok, err)
	}
	for _, rc := range []string{`has({}.multiPartyApprovalConstraint.approver)`, RecordExpression, `x && has({}.multiPartyApprovalConstraint.quorum_2)`} {
		if ValidateResourceCondition(rc) == nil {
			t.Errorf("resource condition %q accepted", rc)
		}
	}
	if _, ok := ParseActivation(ActivationTitle, ActivationExpression(start, end, RecordExpression)); ok {
		t.Error("an activation carrying the record marker is recognised")
	}
}

func TestIsRecord(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		title, expr string
		want        bool
	}{
		{RecordTitle, RecordExpression, true},
		{RecordTitle, `has({}.JITACCESSREQUESTRECORD)`, true},
		{"Something else", RecordExpression, false},
		{RecordTitle, RecordExpression + ` && true`, false},
		{RecordTitle, `true`, false},
		{RecordTitle, `((`, false},
	} {
		if got := IsRecord(tc.title, tc.expr); got != tc.want {
			t.Errorf("IsRecord(%q, %q) = %v", tc.title, tc.expr, got)
		}
	}
}

func FuzzParseApprover(f *testing.F) {
	for _, s := range []string{
		`has({}.multiPartyApprovalConstraint.approver)`,
		`has({}.multiPartyApprovalConstraint.approver) && has({}.multiPartyApprovalConstraint.quorum_3) && resource.name == "x"`,
		`has({}.multiPartyApprovalConstraint.quorum_99)`, `a || b`, `((`, "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		a, ok, err := ParseApprover(expr)
		if err != nil || !ok {
			return
		}
		if a.Quorum < 0 || a.Quorum > 10 {
			t.Fatalf("quorum %d out of range", a.Quorum)
		}
		// What is left as resource condition holds no marker of ours.
		if a.ResourceCondition != "" && containsMarker(mustParse(t, a.ResourceCondition).ast.Expr()) {
			t.Errorf("resource condition %q keeps a marker", a.ResourceCondition)
		}
	})
}

func mustParse(t *testing.T, expr string) *parsed {
	t.Helper()
	p, err := parse(expr)
	if err != nil {
		t.Fatalf("%q: %v", expr, err)
	}
	return p
}
