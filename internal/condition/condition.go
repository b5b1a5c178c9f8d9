// Package condition reads and writes the IAM condition expressions that
// jitaccess depends on, using cel-go's parser rather than regular
// expressions, so that clause order, spacing, comments and parentheses are
// handled the way IAM itself reads the expression:
//
//   - an eligible binding carries has({}.jitAccessConstraint) or
//     has({}.multiPartyApprovalConstraint) as one clause of a top-level
//     conjunction; the other clauses are its resource condition;
//   - an activation binding, titled "JIT access activation", carries the
//     window request.time >= timestamp(START) && request.time <
//     timestamp(END), optionally && the resource condition.
//
// The package is pure: no I/O, no clock.
package condition

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/parser"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// ActivationTitle is the title of every condition the app writes; the
// original used the same, so existing deployments and log queries work.
const ActivationTitle = "JIT access activation"

// MaxExpressionLength is the longest expression accepted, IAM's limit.
const MaxExpressionLength = 12800

// maxDepth bounds parser recursion, so hostile input cannot exhaust the
// stack.
const maxDepth = 64

const (
	markerJIT = "jitaccessconstraint"
	markerMPA = "multipartyapprovalconstraint"
)

// Eligibility is what an eligible binding's condition says.
type Eligibility struct {
	Type              jit.ActivationType
	ResourceCondition string // canonical CEL, empty when none
}

// Window is what an activation binding's condition says.
type Window struct {
	Start, End        time.Time
	ResourceCondition string // canonical CEL, empty when none
}

// Active reports whether now is inside the half-open window [Start, End).
func (w Window) Active(now time.Time) bool { return !now.Before(w.Start) && now.Before(w.End) }

// Expired reports whether the window has ended.
func (w Window) Expired(now time.Time) bool { return !now.Before(w.End) }

// parsed is an expression's AST and the clauses of its top-level
// conjunction.
type parsed struct {
	ast     *ast.AST
	clauses []ast.Expr
}

// parse parses expr with cel-go. The parser is built per call: it is
// cheap next to parsing, and this keeps the package free of shared state.
func parse(expr string) (p *parsed, err error) {
	if len(expr) > MaxExpressionLength {
		return nil, fmt.Errorf("the condition is longer than %d characters", MaxExpressionLength)
	}
	defer func() {
		// cel-go should not panic, but input here can be hostile.
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("the condition could not be parsed: %v", r)
		}
	}()
	prs, err := parser.NewParser(
		parser.Macros(parser.AllMacros...),
		parser.PopulateMacroCalls(true),
		parser.MaxRecursionDepth(maxDepth),
	)
	if err != nil {
		return nil, fmt.Errorf("building the CEL parser: %w", err)
	}
	tree, errs := prs.Parse(common.NewTextSource(expr))
	if errs != nil && len(errs.GetErrors()) > 0 {
		return nil, fmt.Errorf("the condition is not valid CEL: %s", strings.TrimSpace(errs.ToDisplayString()))
	}
	p = &parsed{ast: tree}
	splitAnd(tree.Expr(), &p.clauses)
	return p, nil
}

func splitAnd(e ast.Expr, out *[]ast.Expr) {
	if e.Kind() == ast.CallKind && e.AsCall().FunctionName() == operators.LogicalAnd {
		for _, a := range e.AsCall().Args() {
			splitAnd(a, out)
		}
		return
	}
	*out = append(*out, e)
}

// marker returns the eligibility marker a clause is, if any:
// has({}.jitAccessConstraint) in any letter case.
// mentionsMarker is whether expr's text names an eligibility marker, in
// any case, as marker matches them.
func mentionsMarker(expr string) bool {
	lower := strings.ToLower(expr)
	return strings.Contains(lower, markerJIT) || strings.Contains(lower, markerMPA)
}

func marker(e ast.Expr) (jit.ActivationType, bool) {
	testOnly := true
	if e.Kind() == ast.CallKind {
		// HAS({}.x) is no macro to CEL, but the original lower-cased
		// expressions before matching, so accept it as the marker too.
		call := e.AsCall()
		if call.IsMemberFunction() || !strings.EqualFold(call.FunctionName(), "has") || len(call.Args()) != 1 {
			return "", false
		}
		e, testOnly = call.Args()[0], false
	}
	if e.Kind() != ast.SelectKind {
		return "", false
	}
	sel := e.AsSelect()
	if sel.IsTestOnly() != testOnly || sel.Operand().Kind() != ast.MapKind || sel.Operand().AsMap().Size() != 0 {
		return "", false
	}
	switch strings.ToLower(sel.FieldName()) {
	case markerJIT:
		return jit.JIT, true
	case markerMPA:
		return jit.MPA, true
	}
	return "", false
}

// join unparses clauses as one canonical conjunction.
func (p *parsed) join(clauses []ast.Expr) (string, error) {
	if len(clauses) == 0 {
		return "", nil
	}
	parts := make([]string, 0, len(clauses))
	for _, c := range clauses {
		s, err := parser.Unparse(c, p.ast.SourceInfo())
		if err != nil {
			return "", fmt.Errorf("unparse condition: %w", err)
		}
		parts = append(parts, s)
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	// Re-parse the conjunction so that spacing and parentheses come out
	// in cel-go's canonical form, whatever the input looked like.
	again, err := parse("(" + strings.Join(parts, ") && (") + ")")
	if err != nil {
		return "", err
	}
	return parser.Unparse(again.ast.Expr(), again.ast.SourceInfo())
}

// ErrTimeBoundEligibility is ParseEligibility's error for an eligible
// binding whose resource condition reads request.time (for example,
// "eligible until a date"). Its activations would carry a second
// request.time clause, which cannot be told from the activation window,
// so the app could never recognise them as its own: never shown active,
// never replaced or swept, and after 20 of them the user would be locked
// out by IAM's limit of conditional bindings per role and member.
var ErrTimeBoundEligibility = errors.New("the eligible binding's condition reads request.time besides the eligibility marker; " +
	"jitaccess cannot activate it (the time clause would be indistinguishable from the activation window): " +
	"remove the time clause, or end the eligibility by removing the binding")

// ParseEligibility reads an eligible binding's condition. ok is false when
// the expression has no eligibility marker in its top-level conjunction
// (a marker under || or ! does not count). When both markers are present,
// JIT wins, as in the original. A blank expression, or one whose text
// names no marker, is simply not eligible (unparsed); malformed CEL that
// names one is an error, and so is a resource condition that reads
// request.time (ErrTimeBoundEligibility, with the Type it would have had).
func ParseEligibility(expr string) (Eligibility, bool, error) {
	if strings.TrimSpace(expr) == "" || len(expr) <= MaxExpressionLength && !mentionsMarker(expr) {
		// Most conditions of a policy are not eligibility (activations,
		// resource conditions), and parsing one costs 50-300 µs: a marker
		// is a field name, which CEL spells out literally, so one that
		// does not appear in the text cannot be there.
		return Eligibility{}, false, nil
	}
	p, err := parse(expr)
	if err != nil {
		return Eligibility{}, false, err
	}
	var typ jit.ActivationType
	var rest []ast.Expr
	for _, c := range p.clauses {
		t, ok := marker(c)
		switch {
		case !ok:
			rest = append(rest, c)
		case t == jit.JIT || typ == "":
			typ = t
		}
	}
	if typ == "" {
		return Eligibility{}, false, nil
	}
	for _, c := range rest {
		if containsApproverMarker(c) {
			// Not a resource condition: the binding would be offered with
			// a condition that can never be true.
			return Eligibility{}, false, errors.New("a condition cannot carry both an eligibility marker and an approver marker")
		}
		if readsRequestTime(c) {
			return Eligibility{Type: typ}, false, ErrTimeBoundEligibility
		}
	}
	rc, err := p.join(rest)
	if err != nil {
		return Eligibility{}, false, err
	}
	return Eligibility{Type: typ, ResourceCondition: rc}, true, nil
}

func timestampLiteral(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// ActivationExpression builds the condition of an activation binding,
// byte for byte as the original did:
//
//	(request.time >= timestamp("START") && request.time < timestamp("END"))
//	((request.time >= timestamp("START") && request.time < timestamp("END"))) && (RESOURCE_CONDITION)
func ActivationExpression(start, end time.Time, resourceCondition string) string {
	window := fmt.Sprintf(`(request.time >= timestamp("%s") && request.time < timestamp("%s"))`,
		timestampLiteral(start), timestampLiteral(end))
	if resourceCondition == "" {
		return window
	}
	return "(" + window + ") && (" + resourceCondition + ")"
}

// ParseActivation reads an activation binding's condition. ok is true only
// for the app's own bindings: the title is ActivationTitle, the top-level
// conjunction holds exactly one request.time >= timestamp("…") and exactly
// one request.time < timestamp("…") with valid RFC 3339 times, start before
// end, and nothing else reads request.time or is an eligibility marker.
func ParseActivation(title, expr string) (Window, bool) {
	if title != ActivationTitle {
		return Window{}, false
	}
	p, err := parse(expr)
	if err != nil {
		return Window{}, false
	}
	var w Window
	var starts, ends int
	var rest []ast.Expr
	for _, c := range p.clauses {
		if op, t, ok := timeComparison(c); ok {
			switch op {
			case operators.GreaterEquals:
				w.Start = t
				starts++
			case operators.Less:
				w.End = t
				ends++
			default:
				return Window{}, false
			}
			continue
		}
		if containsMarker(c) || readsRequestTime(c) {
			return Window{}, false
		}
		rest = append(rest, c)
	}
	if starts != 1 || ends != 1 || !w.Start.Before(w.End) {
		return Window{}, false
	}
	rc, err := p.join(rest)
	if err != nil {
		return Window{}, false
	}
	w.ResourceCondition = rc
	return w, true
}

// timeComparison matches request.time OP timestamp("RFC3339").
func timeComparison(e ast.Expr) (string, time.Time, bool) {
	if e.Kind() != ast.CallKind {
		return "", time.Time{}, false
	}
	call := e.AsCall()
	args := call.Args()
	if call.IsMemberFunction() || len(args) != 2 || !isRequestTime(args[0]) {
		return "", time.Time{}, false
	}
	ts := args[1]
	if ts.Kind() != ast.CallKind || ts.AsCall().FunctionName() != "timestamp" || ts.AsCall().IsMemberFunction() || len(ts.AsCall().Args()) != 1 {
		return "", time.Time{}, false
	}
	lit := ts.AsCall().Args()[0]
	if lit.Kind() != ast.LiteralKind {
		return "", time.Time{}, false
	}
	s, ok := lit.AsLiteral().Value().(string)
	if !ok {
		return "", time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return "", time.Time{}, false
	}
	return call.FunctionName(), t.UTC(), true
}

func isRequestTime(e ast.Expr) bool {
	if e.Kind() != ast.SelectKind {
		return false
	}
	sel := e.AsSelect()
	return !sel.IsTestOnly() && sel.FieldName() == "time" &&
		sel.Operand().Kind() == ast.IdentKind && sel.Operand().AsIdent() == "request"
}

// readsRequestTime reports whether e reads request.time anywhere.
func readsRequestTime(e ast.Expr) bool {
	found := false
	ast.PostOrderVisit(e, ast.NewExprVisitor(func(x ast.Expr) {
		if isRequestTime(x) {
			found = true
		}
	}))
	return found
}

// containsMarker reports whether an eligibility, approver or record marker
// appears anywhere in e.
func containsMarker(e ast.Expr) bool {
	found := false
	ast.PostOrderVisit(e, ast.NewExprVisitor(func(x ast.Expr) {
		if _, ok := marker(x); ok {
			found = true
		}
	}))
	return found || containsApproverMarker(e)
}

// Validate checks that expr is CEL IAM could accept: within the size limit
// and syntactically valid.
func Validate(expr string) error {
	if strings.TrimSpace(expr) == "" {
		return errors.New("the condition is empty")
	}
	_, err := parse(expr)
	return err
}

// ValidateResourceCondition checks a resource condition that arrived from
// a client (inside an entitlement id): it must be valid CEL, must not read
// request.time (it would alter the activation window) and must not contain
// an eligibility marker.
func ValidateResourceCondition(expr string) error {
	p, err := parse(expr)
	if err != nil {
		return err
	}
	for _, c := range p.clauses {
		if containsMarker(c) {
			return errors.New("a resource condition must not contain an eligibility or approver marker")
		}
		if readsRequestTime(c) {
			return errors.New("a resource condition must not refer to request.time")
		}
	}
	return nil
}
