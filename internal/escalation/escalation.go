// Package escalation tells which permissions of an eligible role let its
// holder create access that outlives the activation window: a grant that
// limits privilege in time only if the role cannot be used to make itself,
// or something else, permanent. The permissions and the reasons are data
// (catalogue.json), so that a reviewer can read, argue about and extend
// them without reading code; this package only matches roles against
// them. It is pure: the permissions come from the caller (internal/app
// reads them through the IAM API's roles.get).
package escalation

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

//go:embed catalogue.json
var defaultCatalogue []byte

// Entry is one kind of permission the catalogue warns about.
type Entry struct {
	// Permission is a permission name, or a pattern in which * matches
	// any run of characters ("*.setIamPolicy").
	Permission string `json:"permission"`
	// Reason says why the permission lets access outlive the window.
	Reason string `json:"reason"`
	// Advice says what to do about it.
	Advice string `json:"advice"`
}

// Catalogue is a validated list of entries.
type Catalogue struct {
	entries []Entry
}

// Default returns the catalogue shipped in the repository
// (internal/escalation/catalogue.json).
func Default() (*Catalogue, error) { return Parse(defaultCatalogue) }

// Parse reads a catalogue in the format of catalogue.json and checks
// every entry: a permission or pattern, a reason and an advice, no
// duplicates.
func Parse(data []byte) (*Catalogue, error) {
	var doc struct {
		Entries []Entry `json:"entries"`
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("escalation catalogue: %w", err)
	}
	var errs []error
	seen := map[string]bool{}
	for i, e := range doc.Entries {
		switch {
		case e.Permission == "" || strings.TrimSpace(e.Permission) != e.Permission:
			errs = append(errs, fmt.Errorf("entry %d: permission %q is empty or has spaces", i, e.Permission))
		case seen[e.Permission]:
			errs = append(errs, fmt.Errorf("entry %d: permission %q is listed twice", i, e.Permission))
		case strings.ContainsAny(e.Permission, `[]\?/`):
			errs = append(errs, fmt.Errorf("entry %d: permission %q: only * is a wildcard", i, e.Permission))
		}
		seen[e.Permission] = true
		if strings.TrimSpace(e.Reason) == "" || strings.TrimSpace(e.Advice) == "" {
			errs = append(errs, fmt.Errorf("entry %d (%s): a reason and an advice are required", i, e.Permission))
		}
	}
	if len(doc.Entries) == 0 {
		errs = append(errs, errors.New("no entries"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("escalation catalogue: %w", err)
	}
	return &Catalogue{entries: doc.Entries}, nil
}

// Entries returns the catalogue's entries in their order in the file.
func (c *Catalogue) Entries() []Entry { return slices.Clone(c.entries) }

// Role is what the check needs to know of a role.
type Role struct {
	// Name is roles/X for a predefined role, projects/P/roles/X or
	// organizations/O/roles/X for a custom one.
	Name string
	// Permissions are the role's included permissions.
	Permissions []string
}

// Custom reports whether the role is a custom role (one the organization
// defines and can change), as its name says.
func (r Role) Custom() bool { return !strings.HasPrefix(r.Name, "roles/") }

// Finding is one permission of a role that the catalogue warns about.
type Finding struct {
	Permission string `json:"permission"`
	// Entry is the catalogue entry it matched (a pattern, possibly).
	Entry  string `json:"catalogueEntry"`
	Reason string `json:"reason"`
	Advice string `json:"advice"`
}

// Check returns the findings of a role, sorted by permission: one per
// permission that matches an entry (the first in the catalogue). The
// advice starts with what to change in the role itself, which depends on
// whether it is custom (edit it) or predefined (replace it).
func (c *Catalogue) Check(r Role) []Finding {
	var out []Finding
	seen := map[string]bool{}
	for _, p := range r.Permissions {
		if seen[p] {
			continue
		}
		seen[p] = true
		for _, e := range c.entries {
			if !matches(e.Permission, p) {
				continue
			}
			out = append(out, Finding{Permission: p, Entry: e.Permission, Reason: e.Reason, Advice: roleAdvice(r, p) + "; or " + e.Advice + "."})
			break
		}
	}
	slices.SortFunc(out, func(a, b Finding) int { return strings.Compare(a.Permission, b.Permission) })
	return out
}

func roleAdvice(r Role, permission string) string {
	if r.Custom() {
		return fmt.Sprintf("remove %s from the custom role %s", permission, r.Name)
	}
	return fmt.Sprintf("make a custom role with the permissions of %s that are needed, without %s, eligible instead", r.Name, permission)
}

// matches reports whether a permission matches an entry: the same name,
// or the pattern with * standing for any run of characters (dots
// included: permissions have no slash, which path.Match's * stops at).
func matches(pattern, permission string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == permission
	}
	ok, err := path.Match(pattern, permission)
	return err == nil && ok
}
