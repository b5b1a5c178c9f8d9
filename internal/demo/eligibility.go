package demo

import (
	"slices"
	"strings"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// eligibleRole is one eligible binding a demo user holds, for the sign-in
// page: what they can try once signed in. It is read from the world, not
// written down next to the seed, so that a different seed (-seed) gets a
// truthful page too.
type eligibleRole struct {
	Role     string // without the roles/ prefix
	Where    string // "prod-payments-db", "folder Production", "the organization"
	Approval bool   // needs a peer's approval
	Limited  bool   // has a resource condition
}

// userAccess is a demo user and their eligible roles.
type userAccess struct {
	emulator.User
	SelfApproval []eligibleRole
	PeerApproval []eligibleRole
}

// accessOf returns every user of the world with the roles they are
// eligible for, directly or through (nested) groups, on the organization,
// its folders and its projects. It is a summary for people, not the
// app's catalog: inherited bindings are listed where they are granted.
func accessOf(w *emulator.World) []userAccess {
	type resource struct{ name, label string }
	var resources []resource
	for _, o := range w.Organizations() {
		resources = append(resources, resource{o.Name, "the organization"})
	}
	for _, f := range w.Folders() {
		resources = append(resources, resource{f.Name, "folder " + f.DisplayName})
	}
	for _, p := range w.Projects() {
		resources = append(resources, resource{"projects/" + p.ID, p.ID})
	}
	var out []userAccess
	for _, u := range w.Users() {
		members := principals(w, u.Email)
		ua := userAccess{User: u}
		for _, r := range resources {
			p, _ := w.Policy(r.name)
			for _, b := range p.Bindings {
				if b.Condition == nil || !slices.ContainsFunc(b.Members, func(m string) bool { return members[strings.ToLower(m)] }) {
					continue
				}
				e, ok, err := condition.ParseEligibility(b.Condition.Expression)
				if err != nil || !ok {
					continue
				}
				role := eligibleRole{
					Role:     strings.TrimPrefix(b.Role, "roles/"),
					Where:    r.label,
					Approval: e.Type == jit.MPA,
					Limited:  e.ResourceCondition != "",
				}
				if role.Approval {
					ua.PeerApproval = append(ua.PeerApproval, role)
				} else {
					ua.SelfApproval = append(ua.SelfApproval, role)
				}
			}
		}
		out = append(out, ua)
	}
	return out
}

// principals returns the IAM members that stand for the user: the user
// and every group that contains them, directly or through other groups.
// Keys are lower case.
func principals(w *emulator.World, email string) map[string]bool {
	set := map[string]bool{"user:" + strings.ToLower(email): true}
	groups := w.Groups()
	for changed := true; changed; {
		changed = false
		for _, g := range groups {
			key := "group:" + strings.ToLower(g.Email)
			if set[key] {
				continue
			}
			if slices.ContainsFunc(g.Members, func(m string) bool { return set[strings.ToLower(m)] }) {
				set[key] = true
				changed = true
			}
		}
	}
	return set
}
