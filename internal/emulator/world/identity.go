package world

import (
	"slices"
	"sort"
	"strings"
)

// GroupsOf returns the emails of every group that member ("user:a@x",
// "group:g@x", "serviceAccount:s@x") belongs to, directly or through nested
// groups, sorted. Cycles are tolerated.
func (w *World) GroupsOf(member string) []string {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.groupsOf(NormalizeMember(member))
}

func (w *World) groupsOf(member string) []string {
	seen := map[string]bool{}
	frontier := []string{member}
	for len(frontier) > 0 {
		m := frontier[0]
		frontier = frontier[1:]
		for email, g := range w.groups {
			if seen[email] {
				continue
			}
			if slices.ContainsFunc(g.Members, func(x string) bool { return NormalizeMember(x) == m }) {
				seen[email] = true
				frontier = append(frontier, "group:"+email)
			}
		}
	}
	out := make([]string, 0, len(seen))
	for g := range seen {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

// DirectGroupsOf returns the groups member belongs to directly.
func (w *World) DirectGroupsOf(member string) []string {
	w.mu.RLock()
	defer w.mu.RUnlock()
	m := NormalizeMember(member)
	var out []string
	for email, g := range w.groups {
		if slices.ContainsFunc(g.Members, func(x string) bool { return NormalizeMember(x) == m }) {
			out = append(out, email)
		}
	}
	sort.Strings(out)
	return out
}

// ExpandGroup returns the non-group members (users and service accounts,
// as IAM member strings) of a group, including those of nested groups,
// sorted and de-duplicated.
func (w *World) ExpandGroup(email string) []string {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.expandGroup(strings.ToLower(email))
}

func (w *World) expandGroup(email string) []string {
	seenGroups := map[string]bool{}
	members := map[string]bool{}
	var walk func(string)
	walk = func(g string) {
		if seenGroups[g] {
			return
		}
		seenGroups[g] = true
		grp, ok := w.groups[g]
		if !ok {
			return
		}
		for _, m := range grp.Members {
			m = NormalizeMember(m)
			if rest, ok := strings.CutPrefix(m, "group:"); ok {
				walk(rest)
				continue
			}
			members[m] = true
		}
	}
	walk(email)
	out := make([]string, 0, len(members))
	for m := range members {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// NormalizeMember lower-cases the email part of a member string, since IAM
// compares principals case-insensitively.
func NormalizeMember(m string) string {
	kind, id, ok := strings.Cut(m, ":")
	if !ok {
		return m
	}
	return kind + ":" + strings.ToLower(id)
}
