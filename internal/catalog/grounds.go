package catalog

import (
	"slices"
	"strings"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// groundsOf says through which members of a binding, attached to the
// resource with the given full or plain name, user holds it: the member
// that names them, else the binding's groups — all of them when the
// user's groups are unknown (groups == nil; the user is in at least one),
// or those the user is known to be in, each on its own.
func groundsOf(resource string, members []string, user jit.UserID, groups map[string]bool) []jit.Grounds {
	resource = strings.TrimPrefix(resource, "//cloudresourcemanager.googleapis.com/")
	if resource == "" {
		return nil
	}
	for _, m := range members {
		if user.NamedBy(m) {
			return []jit.Grounds{{Resource: resource, Principals: []string{m}}}
		}
	}
	var via []string
	var out []jit.Grounds
	for _, m := range members {
		kind, id, _ := strings.Cut(m, ":")
		if !strings.EqualFold(kind, "group") {
			continue
		}
		switch {
		case groups == nil:
			via = append(via, m)
		case groups[strings.ToLower(id)]:
			out = append(out, jit.Grounds{Resource: resource, Principals: []string{m}})
		}
	}
	if groups == nil && len(via) > 0 {
		slices.Sort(via)
		return []jit.Grounds{{Resource: resource, Principals: via}}
	}
	return out
}
