package world

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/google/cel-go/cel"

	"github.com/jitaccess/jitaccess/internal/emulator/wire"
)

// Google's documented limits for allow policies: at most 1,500 principals
// (each occurrence counts), at most 250 of them groups, and at most 20
// conditional bindings for the same role and principal.
const (
	maxPrincipalsPerPolicy     = 1500
	maxGroupsPerPolicy         = 250
	maxConditionalPerRoleAndPr = 20
	maxConditionTitle          = 100
	maxConditionDescription    = 256
	maxConditionExpression     = 12800
)

var (
	rolePattern   = regexp.MustCompile(`^(roles/[a-zA-Z0-9_.]+|projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/roles/[a-zA-Z0-9_.]+|organizations/[0-9]+/roles/[a-zA-Z0-9_.]+)$`)
	memberPattern = regexp.MustCompile(`^(user|group|serviceAccount|domain|deleted:user|deleted:group|deleted:serviceAccount):[^\s:]+(\?uid=[0-9]+)?$|^(allUsers|allAuthenticatedUsers)$|^principal(Set)?://\S+$`)
)

// ValidatePolicy checks a policy as setIamPolicy does before storing it.
// Condition expressions in known were validated before (they are in the
// current policy) and are not parsed again: parsing dominates the cost of
// a write, and writes hold the world's lock.
func ValidatePolicy(p Policy, known map[string]bool) *wire.Error {
	if p.Version != 0 && p.Version != 1 && p.Version != 3 {
		return wire.InvalidArgument("Invalid policy version %d; valid values are 0, 1 and 3.", p.Version)
	}
	principals, groups := 0, 0
	conditional := map[string]int{}
	env, err := cel.NewEnv()
	if err != nil {
		return wire.New(http.StatusInternalServerError, "condition environment: "+err.Error())
	}
	for i, b := range p.Bindings {
		if strings.Contains(b.Role, "_withcond_") {
			return wire.InvalidArgument("Role %s in binding %d is a version-1 placeholder for a conditional binding; request policy version 3 to modify conditional bindings.", b.Role, i)
		}
		if !rolePattern.MatchString(b.Role) {
			return wire.InvalidArgument("Role (%s) does not exist in the resource's hierarchy.", b.Role)
		}
		if len(b.Members) == 0 {
			return wire.InvalidArgument("Binding %d for role %s has no members; each binding must contain at least one principal.", i, b.Role)
		}
		if b.Condition != nil {
			if p.Version != 3 {
				return wire.InvalidArgument("Conditional binding %d for role %s requires policy version 3, but the request used version %d.", i, b.Role, p.Version)
			}
			// Conditions stored before were parsed when they were stored.
			if !known[b.Condition.Expression] || !validConditionText(b.Condition) {
				if err := validateCondition(env, b.Condition); err != nil {
					return err
				}
			}
		}
		for _, m := range b.Members {
			if !memberPattern.MatchString(m) {
				return wire.InvalidArgument("Invalid principal %q in binding for role %s.", m, b.Role)
			}
			principals++
			if strings.HasPrefix(m, "group:") {
				groups++
			}
			if b.Condition != nil {
				conditional[b.Role+"\x00"+strings.ToLower(m)]++
			}
		}
	}
	if principals > maxPrincipalsPerPolicy {
		return wire.InvalidArgument("The number of members in the policy (%d) is larger than the maximum allowed size %d.", principals, maxPrincipalsPerPolicy)
	}
	if groups > maxGroupsPerPolicy {
		return wire.InvalidArgument("The number of group members in the policy (%d) is larger than the maximum allowed size %d.", groups, maxGroupsPerPolicy)
	}
	for k, n := range conditional {
		if n > maxConditionalPerRoleAndPr {
			role, member, _ := strings.Cut(k, "\x00")
			return wire.InvalidArgument("The policy has %d conditional bindings for role %s and principal %s; at most %d are allowed.", n, role, member, maxConditionalPerRoleAndPr)
		}
	}
	return nil
}

// ValidMember reports whether m is a principal as IAM policies name them
// ("user:a@x", "group:g@x", "domain:x", "allUsers", …).
func ValidMember(m string) bool { return memberPattern.MatchString(m) }

// validConditionText reports whether c passes the checks of
// validateCondition other than parsing.
func validConditionText(c *Expr) bool {
	return strings.TrimSpace(c.Title) != "" && len(c.Title) <= maxConditionTitle &&
		len(c.Description) <= maxConditionDescription && strings.TrimSpace(c.Expression) != "" &&
		len(c.Expression) <= maxConditionExpression
}

func validateCondition(env *cel.Env, c *Expr) *wire.Error {
	switch {
	case strings.TrimSpace(c.Title) == "":
		return wire.InvalidArgument("Condition title is required.")
	case len(c.Title) > maxConditionTitle:
		return wire.InvalidArgument("Condition title is longer than %d characters.", maxConditionTitle)
	case len(c.Description) > maxConditionDescription:
		return wire.InvalidArgument("Condition description is longer than %d characters.", maxConditionDescription)
	case strings.TrimSpace(c.Expression) == "":
		return wire.InvalidArgument("Condition expression is required.")
	case len(c.Expression) > maxConditionExpression:
		return wire.InvalidArgument("Condition expression is longer than %d characters.", maxConditionExpression)
	}
	if _, iss := env.Parse(c.Expression); iss != nil && iss.Err() != nil {
		return wire.InvalidArgument("Condition expression %q is invalid: %s", c.Expression, strings.TrimSpace(iss.Err().Error()))
	}
	return nil
}
