package condition

import (
	"regexp"
	"strings"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// The original's marker patterns (ProjectRole.EligibilityCondition), matched
// against a clause lower-cased and with its spaces removed. Java's \s is
// [ \t\n\x0B\f\r]; "." after "}" is any character, as there.
var (
	legacyJIT = regexp.MustCompile(`^[ \t\n\x0B\f\r]*has\([ \t\n\x0B\f\r]*\{[ \t\n\x0B\f\r]*\}.jitaccessconstraint[ \t\n\x0B\f\r]*\)[ \t\n\x0B\f\r]*$`)
	legacyMPA = regexp.MustCompile(`^[ \t\n\x0B\f\r]*has\([ \t\n\x0B\f\r]*\{[ \t\n\x0B\f\r]*\}.multipartyapprovalconstraint[ \t\n\x0B\f\r]*\)[ \t\n\x0B\f\r]*$`)
)

// Eligibility181 reads a binding's condition as Just-In-Time Access 1.8.1
// did, so that a switch can be checked against it: the expression is split
// at "&&" outside parentheses and quotes by a character scanner (lines
// starting with "//" dropped first), and a clause is a marker only if, as
// a whole, it matches has({}.jitAccessConstraint) or
// has({}.multiPartyApprovalConstraint). So a marker inside parentheses,
// "(has({}.jitAccessConstraint))" or "(has({}.jitAccessConstraint) && x)",
// was not recognised. resourceConditioned reports clauses besides the
// markers, which 1.8.1's PolicyAnalyzer catalog ignored. It never fails:
// anything it does not recognise is not eligible, as in the original.
func Eligibility181(expr string) (typ jit.ActivationType, resourceConditioned, ok bool) {
	if strings.TrimSpace(expr) == "" {
		return "", false, false
	}
	var kept []string
	for line := range strings.SplitSeq(expr, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "//") {
			kept = append(kept, line)
		}
	}
	clauses := splitAnd181(strings.Join(kept, "\n"))
	jitFound, mpaFound := false, false
	for _, c := range clauses {
		norm := strings.ReplaceAll(strings.ToLower(c), " ", "")
		switch {
		case norm == "":
			resourceConditioned = true
		case legacyJIT.MatchString(norm):
			jitFound = true
		case legacyMPA.MatchString(norm):
			mpaFound = true
		default:
			resourceConditioned = true
		}
	}
	switch {
	case jitFound:
		return jit.JIT, resourceConditioned, true
	case mpaFound:
		return jit.MPA, resourceConditioned, true
	}
	return "", resourceConditioned, false
}

// splitAnd181 is IamCondition.splitAnd: "&&" splits only at depth 0 with
// balanced quotes; parentheses are counted, never matched.
func splitAnd181(s string) []string {
	var (
		out               []string
		cur               strings.Builder
		depth, single, dq int
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '&':
			if depth == 0 && single%2 == 0 && dq%2 == 0 && i+1 < len(s) && s[i+1] == '&' {
				out = append(out, cur.String())
				cur.Reset()
				i++
				continue
			}
		case '(':
			depth++
		case ')':
			depth--
		case '\'':
			single++
		case '"':
			dq++
		}
		cur.WriteByte(c)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}
