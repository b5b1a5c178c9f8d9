package cloudasset

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/parser"
)

// evaluation is Policy Analyzer's verdict on a condition.
type evaluation int

const (
	evalTrue evaluation = iota + 1
	evalFalse
	evalConditional
)

// conditionEvaluator evaluates IAM conditions the way Policy Analyzer does:
// it knows only the access time. Clauses of a top-level conjunction that
// depend on request.time alone are evaluated; any other clause (resource
// attributes, the jitaccess markers such as has({}.jitAccessConstraint)) is
// unknown, which makes the whole condition CONDITIONAL unless some clause is
// false. This is how Google reports eligible bindings as CONDITIONAL.
type conditionEvaluator struct {
	env *cel.Env

	// Parsed and compiled conditions by expression text: a large world
	// evaluates the same few conditions thousands of times per query.
	mu   sync.Mutex
	memo map[string]*compiledCondition
}

// maxMemoConditions bounds the memo; past it, it starts over.
const maxMemoConditions = 10000

type compiledCondition struct {
	unparsable bool
	clauses    []compiledClause
}

type compiledClause struct {
	timeOnly bool
	prg      cel.Program // nil when a time clause does not compile
}

func newConditionEvaluator() (*conditionEvaluator, error) {
	env, err := cel.NewEnv(cel.Variable("request", cel.MapType(cel.StringType, cel.DynType)))
	if err != nil {
		return nil, fmt.Errorf("condition environment: %w", err)
	}
	return &conditionEvaluator{env: env, memo: map[string]*compiledCondition{}}, nil
}

// evaluate returns the verdict for expr at accessTime; a zero accessTime
// makes time clauses unknown too.
func (c *conditionEvaluator) evaluate(expr string, accessTime time.Time) evaluation {
	if strings.TrimSpace(expr) == "" {
		return evalTrue
	}
	cc := c.compiled(expr)
	if cc.unparsable {
		return evalConditional
	}
	result := evalTrue
	for _, clause := range cc.clauses {
		if accessTime.IsZero() || !clause.timeOnly {
			result = evalConditional
			continue
		}
		v, ok := evalBool(clause.prg, accessTime)
		switch {
		case !ok:
			result = evalConditional
		case !v:
			return evalFalse
		}
	}
	return result
}

// compiled parses expr into its top-level clauses and compiles those that
// read only request.time, once per expression.
func (c *conditionEvaluator) compiled(expr string) *compiledCondition {
	c.mu.Lock()
	cc, ok := c.memo[expr]
	c.mu.Unlock()
	if ok {
		return cc
	}
	cc = &compiledCondition{}
	parsed, iss := c.env.Parse(expr)
	if iss != nil && iss.Err() != nil {
		cc.unparsable = true
	} else {
		native := parsed.NativeRep()
		var clauses []ast.Expr
		splitAnd(native.Expr(), &clauses)
		for _, clause := range clauses {
			cl := compiledClause{timeOnly: dependsOnTimeOnly(clause)}
			if cl.timeOnly {
				if text, err := parser.Unparse(clause, native.SourceInfo()); err == nil {
					cl.prg = c.program(text)
				}
			}
			cc.clauses = append(cc.clauses, cl)
		}
	}
	c.mu.Lock()
	if len(c.memo) >= maxMemoConditions {
		clear(c.memo)
	}
	c.memo[expr] = cc
	c.mu.Unlock()
	return cc
}

func (c *conditionEvaluator) program(text string) cel.Program {
	checked, iss := c.env.Compile(text)
	if iss != nil && iss.Err() != nil {
		return nil
	}
	prg, err := c.env.Program(checked)
	if err != nil {
		return nil
	}
	return prg
}

func evalBool(prg cel.Program, at time.Time) (bool, bool) {
	if prg == nil {
		return false, false
	}
	out, _, err := prg.Eval(map[string]any{"request": map[string]any{"time": at}})
	if err != nil {
		return false, false
	}
	b, ok := out.Value().(bool)
	return b, ok
}

func splitAnd(e ast.Expr, out *[]ast.Expr) {
	if e.Kind() == ast.CallKind && e.AsCall().FunctionName() == operators.LogicalAnd {
		for _, arg := range e.AsCall().Args() {
			splitAnd(arg, out)
		}
		return
	}
	*out = append(*out, e)
}

// dependsOnTimeOnly reports whether e reads no attribute but request.time
// and reads that at least once.
func dependsOnTimeOnly(e ast.Expr) bool {
	usesTime := false
	var ok func(ast.Expr) bool
	ok = func(e ast.Expr) bool {
		switch e.Kind() {
		case ast.LiteralKind:
			return true
		case ast.SelectKind:
			s := e.AsSelect()
			if !s.IsTestOnly() && s.FieldName() == "time" && s.Operand().Kind() == ast.IdentKind && s.Operand().AsIdent() == "request" {
				usesTime = true
				return true
			}
			return false
		case ast.CallKind:
			call := e.AsCall()
			if call.IsMemberFunction() && !ok(call.Target()) {
				return false
			}
			for _, a := range call.Args() {
				if !ok(a) {
					return false
				}
			}
			return true
		default:
			return false
		}
	}
	return ok(e) && usesTime
}
