package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestUseCasesHaveOneWritePath holds DESIGN.md §10 in the use cases
// (internal/activation): a collaborator is a required port passed to the
// constructor, never a capability found by a type assertion, and a
// project, a folder and the organization are one jit.Scope, never told
// apart by the use cases — a path that cannot skip the confirmation of
// what a write rests on is safer than a rule every path must remember.
func TestUseCasesHaveOneWritePath(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(moduleRoot(t), "internal", "activation")
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, problem := range writePathProblems(f) {
			t.Errorf("%s: %s", fset.Position(problem.pos), problem.what)
		}
	}
	if checked == 0 {
		t.Fatalf("no Go files in %s", dir)
	}
}

type problem struct {
	pos  token.Pos
	what string
}

// scopeKinds are what telling a project from a folder or the
// organization looks like: the Entitlement's Node field, the helpers that
// recognise kinds of resource names, and the names' prefixes.
var scopeKinds = map[string]string{
	"Node":              "reads Entitlement.Node",
	"ValidNode":         "recognises folders and organizations (jit.ValidNode)",
	"ProjectOfResource": "recognises projects (jit.ProjectOfResource)",
}

func writePathProblems(f *ast.File) []problem {
	var out []problem
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.TypeSwitchStmt:
			out = append(out, problem{n.Pos(), "a type switch: a use case must not find out what its collaborators can do"})
		case *ast.TypeAssertExpr:
			if n.Type != nil && !isContextValue(n.X) { // a nil Type is a type switch's guard
				out = append(out, problem{n.Pos(), "a type assertion: collaborators are required ports, not capabilities found at run time"})
			}
		case *ast.SelectorExpr:
			if what, ok := scopeKinds[n.Sel.Name]; ok {
				out = append(out, problem{n.Pos(), what + ": the use cases treat every scope alike"})
			}
		case *ast.BasicLit:
			if n.Kind == token.STRING {
				if v, err := strconv.Unquote(n.Value); err == nil {
					for _, prefix := range []string{"projects/", "folders/", "organizations/"} {
						if strings.HasPrefix(v, prefix) {
							out = append(out, problem{n.Pos(), "the literal " + n.Value + ": the use cases treat every scope alike"})
						}
					}
				}
			}
		}
		return true
	})
	return out
}

// isContextValue reports whether x is ctx.Value(...): a request-scoped
// value's type is asserted where it is read, which finds no capability.
func isContextValue(x ast.Expr) bool {
	call, ok := x.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "Value"
}

// TestWritePathProblemsAreFound checks the checker on examples of what it
// is to refuse.
func TestWritePathProblemsAreFound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		want      int
	}{
		{"capability", `package p; func f(c any) { if g, ok := c.(interface{ G() }); ok { g.G() } }`, 1},
		{"type_switch", `package p; func f(c any) { switch c.(type) { case nil: } }`, 1},
		{"node_branch", `package p; func f(e E) bool { return e.Node != "" }`, 1},
		{"prefix", `package p; import "strings"; func f(r string) bool { return strings.HasPrefix(r, "folders/") }`, 1},
		{"valid_node", `package p; func f(r string) bool { return jit.ValidNode(r) }`, 1},
		{"context_value", `package p; func f(ctx C) string { u, _ := ctx.Value(k{}).(string); return u }`, 0},
		{"plain_port_call", `package p; func f(s S) error { return s.policies.Grant(nil, nil, c) }`, 0},
	}
	for _, tt := range tests {
		f, err := parser.ParseFile(token.NewFileSet(), tt.name+".go", tt.src, 0)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := len(writePathProblems(f)); got != tt.want {
			t.Errorf("%s: %d problems, want %d", tt.name, got, tt.want)
		}
	}
}
