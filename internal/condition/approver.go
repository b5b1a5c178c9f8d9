package condition

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/cel-go/common/ast"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// Approver markers declare dedicated approvers in IAM, the way eligibility
// is declared: a binding of the same role on the same resource (or
// inherited from a folder or the organization) whose condition's
// top-level conjunction holds
//
//	has({}.multiPartyApprovalConstraint.approver)
//
// makes its members (users and groups) the approvers of requests for that
// role, instead of the peers holding the same eligible role. An optional
// clause
//
//	has({}.multiPartyApprovalConstraint.quorum_N)     N = 1…10
//
// requires N distinct approvals. The other clauses are the resource
// condition, which must equal the eligible binding's for the approvers to
// apply to it. Like the eligibility markers, these conditions never
// evaluate to true, so the binding grants nothing; the original 1.8.1
// ignores them (its marker pattern is anchored).
const (
	approverField = "approver"
	quorumPrefix  = "quorum_"
)

// Approver is what an approver binding's condition says.
type Approver struct {
	Quorum            int    // 0 when the binding declares none
	ResourceCondition string // canonical CEL, empty when none
}

// approverMarker matches has({}.multiPartyApprovalConstraint.FIELD) and
// returns FIELD, lower-cased.
func approverMarker(e ast.Expr) (string, bool) {
	if e.Kind() != ast.SelectKind {
		return "", false
	}
	sel := e.AsSelect()
	if !sel.IsTestOnly() {
		return "", false
	}
	inner := sel.Operand()
	if inner.Kind() != ast.SelectKind || inner.AsSelect().IsTestOnly() {
		return "", false
	}
	in := inner.AsSelect()
	if in.Operand().Kind() != ast.MapKind || in.Operand().AsMap().Size() != 0 || !strings.EqualFold(in.FieldName(), markerMPA) {
		return "", false
	}
	return strings.ToLower(sel.FieldName()), true
}

// quorumOf parses a quorum field, "quorum_N".
func quorumOf(field string) (int, bool, error) {
	digits, ok := strings.CutPrefix(field, quorumPrefix)
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 || n > jit.MaxQuorum || strconv.Itoa(n) != digits {
		return 0, true, fmt.Errorf("the quorum %q is not a number from 1 to %d", digits, jit.MaxQuorum)
	}
	return n, true, nil
}

// ParseApprover reads an approver binding's condition. ok is false when
// its top-level conjunction has no approver marker. A quorum marker
// without the approver marker, an unknown field under
// multiPartyApprovalConstraint, two quorums, or an approver marker next to
// an eligibility marker are errors, so that a typo is reported instead of
// silently changing who approves.
func ParseApprover(expr string) (Approver, bool, error) {
	if strings.TrimSpace(expr) == "" {
		return Approver{}, false, nil
	}
	p, err := parse(expr)
	if err != nil {
		return Approver{}, false, err
	}
	var a Approver
	var isApprover, hasQuorum bool
	var rest []ast.Expr
	for _, c := range p.clauses {
		if _, ok := marker(c); ok {
			if containsApproverMarker(p.ast.Expr()) {
				return Approver{}, false, errors.New("a condition cannot carry both an eligibility marker and an approver marker")
			}
			return Approver{}, false, nil
		}
		field, ok := approverMarker(c)
		if !ok {
			rest = append(rest, c)
			continue
		}
		if field == approverField {
			isApprover = true
			continue
		}
		n, isQuorum, err := quorumOf(field)
		switch {
		case err != nil:
			return Approver{}, false, err
		case !isQuorum:
			return Approver{}, false, fmt.Errorf("unknown approval marker multiPartyApprovalConstraint.%s", field)
		case hasQuorum:
			return Approver{}, false, errors.New("the condition declares more than one quorum")
		}
		a.Quorum, hasQuorum = n, true
	}
	for _, c := range rest {
		if containsApproverMarker(c) {
			return Approver{}, false, errors.New("an approver marker must be a clause of the top-level conjunction")
		}
	}
	if !isApprover {
		if hasQuorum {
			return Approver{}, false, errors.New("a quorum marker needs the approver marker has({}.multiPartyApprovalConstraint.approver) in the same condition")
		}
		return Approver{}, false, nil
	}
	rc, err := p.join(rest)
	if err != nil {
		return Approver{}, false, err
	}
	a.ResourceCondition = rc
	return a, true, nil
}

// containsApproverMarker reports whether an approver, quorum or record
// marker appears anywhere in e.
func containsApproverMarker(e ast.Expr) bool {
	found := false
	ast.PostOrderVisit(e, ast.NewExprVisitor(func(x ast.Expr) {
		if _, ok := approverMarker(x); ok || isRecordMarker(x) {
			found = true
		}
	}))
	return found
}

// RecordTitle is the title of a request's record binding: the binding that
// holds a request's approvals so far or its rejection, so that approvals
// through different instances meet at the policy's etag. Its condition,
// RecordExpression, never evaluates to true: the binding grants nothing.
const RecordTitle = "JIT access request record"

// RecordExpression is the condition of every record binding.
const RecordExpression = "has({}.jitAccessRequestRecord)"

const recordField = "jitaccessrequestrecord"

func isRecordMarker(e ast.Expr) bool {
	if e.Kind() != ast.SelectKind {
		return false
	}
	sel := e.AsSelect()
	return sel.IsTestOnly() && sel.Operand().Kind() == ast.MapKind && sel.Operand().AsMap().Size() == 0 &&
		strings.EqualFold(sel.FieldName(), recordField)
}

// IsRecord reports whether a binding's condition is a request record's:
// the title, and an expression that is exactly the record marker.
func IsRecord(title, expr string) bool {
	if title != RecordTitle {
		return false
	}
	p, err := parse(expr)
	if err != nil || len(p.clauses) != 1 {
		return false
	}
	return isRecordMarker(p.clauses[0])
}
