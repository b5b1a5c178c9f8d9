package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// mappingCostLimit bounds one evaluation of SMTP_ADDRESS_MAPPING. Real
// mappings (an extract and a concatenation, a conditional) cost well under
// a hundred; the limit stops an expression that loops over a huge
// comprehension from holding a request.
const mappingCostLimit = 10_000

// addressMapping is a compiled SMTP_ADDRESS_MAPPING.
type addressMapping struct {
	expr string
	prg  cel.Program
}

// compileMapping compiles SMTP_ADDRESS_MAPPING with the original's
// environment: the variable user (a map with email), the standard macros
// and the IAM-style member function extract().
func compileMapping(expr string) (*addressMapping, error) {
	env, err := cel.NewEnv(
		cel.Variable("user", cel.MapType(cel.StringType, cel.StringType)),
		cel.Function("extract", cel.MemberOverload("string_extract_string",
			[]*cel.Type{cel.StringType, cel.StringType}, cel.StringType,
			cel.BinaryBinding(func(lhs, rhs ref.Val) ref.Val {
				s, ok1 := lhs.(types.String)
				tmpl, ok2 := rhs.(types.String)
				if !ok1 || !ok2 {
					return types.NewErr("extract() takes strings")
				}
				return types.String(Extract(string(s), string(tmpl)))
			}))),
	)
	if err != nil {
		return nil, fmt.Errorf("SMTP_ADDRESS_MAPPING environment: %w", err)
	}
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("SMTP_ADDRESS_MAPPING is not a valid CEL expression: %w", iss.Err())
	}
	// A dyn result (e.g. from a map lookup through dyn()) is checked
	// again at evaluation; anything else must be a string already.
	if t := ast.OutputType(); !t.IsExactType(cel.StringType) && !t.IsExactType(cel.DynType) {
		return nil, fmt.Errorf("SMTP_ADDRESS_MAPPING must return a string, not %v", t)
	}
	prg, err := env.Program(ast, cel.CostLimit(mappingCostLimit), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, fmt.Errorf("SMTP_ADDRESS_MAPPING: %w", err)
	}
	return &addressMapping{expr: expr, prg: prg}, nil
}

// address evaluates the mapping for u.
func (a *addressMapping) address(ctx context.Context, u jit.UserID) (string, error) {
	out, _, err := a.prg.ContextEval(ctx, map[string]any{"user": map[string]string{"email": string(u)}})
	if err != nil {
		return "", fmt.Errorf("SMTP_ADDRESS_MAPPING failed for %s: %w", u, err)
	}
	s, ok := out.(types.String)
	if !ok {
		return "", fmt.Errorf("SMTP_ADDRESS_MAPPING returned a %v for %s, not a string", out.Type(), u)
	}
	if strings.TrimSpace(string(s)) == "" {
		return "", errors.New("SMTP_ADDRESS_MAPPING returned an empty address for " + string(u))
	}
	return string(s), nil
}

// Extract is IAM's extract() (and the original's ExtractFunction): the
// part of s that stands where "{…}" stands in template.
//
//	Extract("alice@example.com", "{handle}@example.com") == "alice"
//
// The text before "{" is searched for anywhere in s and the text after
// "}" after it. A template without braces returns s; a template that does
// not match returns "".
func Extract(s, template string) string {
	open := strings.Index(template, "{")
	closing := strings.Index(template, "}")
	if open < 0 || closing < open {
		return s
	}
	prefix, suffix := template[:open], template[closing+1:]
	i := strings.Index(s, prefix)
	if i < 0 {
		return ""
	}
	rest := s[i+len(prefix):]
	if suffix == "" {
		return rest
	}
	j := strings.Index(rest, suffix)
	if j < 0 {
		return ""
	}
	return rest[:j]
}
