package condition

import (
	"testing"

	"github.com/jitaccess/jitaccess/internal/jit"
)

func TestEligibility181ReadsAsTheOriginal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr        string
		typ         jit.ActivationType
		conditioned bool
		ok          bool
	}{
		{"has({}.jitAccessConstraint)", jit.JIT, false, true},
		{"  HAS( {}.JitAccessConstraint )  ", jit.JIT, false, true},
		{"has({}.multiPartyApprovalConstraint)", jit.MPA, false, true},
		{`has({}.jitAccessConstraint) && resource.name.startsWith("projects/p/zones/a")`, jit.JIT, true, true},
		{"has({}.multiPartyApprovalConstraint) && has({}.jitAccessConstraint)", jit.JIT, false, true},
		{"// a comment\nhas({}.jitAccessConstraint)", jit.JIT, false, true},
		// Not recognised by 1.8.1, recognised by jitaccess:
		{"(has({}.jitAccessConstraint))", "", true, false},
		{`(has({}.jitAccessConstraint) && resource.type == "x")`, "", true, false},
		{`resource.name == "a&&b" && has({}.jitAccessConstraint)`, jit.JIT, true, true},
		{"request.time < timestamp('2030-01-01T00:00:00Z')", "", true, false},
		{"", "", false, false},
	} {
		typ, conditioned, ok := Eligibility181(tc.expr)
		if typ != tc.typ || conditioned != tc.conditioned || ok != tc.ok {
			t.Errorf("Eligibility181(%q) = %q, %v, %v; want %q, %v, %v", tc.expr, typ, conditioned, ok, tc.typ, tc.conditioned, tc.ok)
		}
	}
}

func FuzzEligibility181(f *testing.F) {
	for _, s := range []string{"has({}.jitAccessConstraint)", "(a && b) && c", "'&&'", "((", "//x\n&&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		typ, _, ok := Eligibility181(expr)
		if ok != (typ != "") {
			t.Errorf("Eligibility181(%q) = %q, ok %v", expr, typ, ok)
		}
	})
}
