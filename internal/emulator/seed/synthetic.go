package seed

import (
	"fmt"
	"strconv"

	"github.com/jitaccess/jitaccess/internal/emulator/world"
)

// SyntheticOptions size a synthetic world. Zero fields take defaults that
// grow with Projects.
type SyntheticOptions struct {
	// Projects is the number of projects (at least 1).
	Projects int
	// Users defaults to Projects, at least 50 and at most 5,000.
	Users int
	// Groups defaults to Projects/10, at least 1; each has 10 users.
	Groups int
	// LargePolicyPrincipals is the size of the roles/browser binding that
	// every 50th project carries, to exercise policies near Google's
	// limit of 1,500 principals; it defaults to min(1,400, Users).
	LargePolicyPrincipals int
}

// Synthetic world's fixed names, for tools that send requests into it.
const (
	SyntheticOrganization      = "123456789012"
	SyntheticDomain            = "example.com"
	SyntheticAppAccount        = "jitaccess@jitaccess-app.iam.gserviceaccount.com"
	syntheticProjectsPerFolder = 100
)

// SyntheticUser is the i-th user of a synthetic world.
func SyntheticUser(i int) string { return fmt.Sprintf("user%05d@%s", i, SyntheticDomain) }

// SyntheticGroup is the i-th group of a synthetic world.
func SyntheticGroup(i int) string { return fmt.Sprintf("team%04d@%s", i, SyntheticDomain) }

// SyntheticProject is the i-th project of a synthetic world.
func SyntheticProject(i int) string { return fmt.Sprintf("proj-%05d", i) }

func (o SyntheticOptions) withDefaults() SyntheticOptions {
	o.Projects = max(o.Projects, 1)
	if o.Users <= 0 {
		o.Users = min(max(o.Projects, 50), 5000)
	}
	if o.Groups <= 0 {
		o.Groups = max(o.Projects/10, 1)
	}
	if o.LargePolicyPrincipals <= 0 {
		o.LargePolicyPrincipals = min(1400, o.Users)
	}
	o.LargePolicyPrincipals = min(o.LargePolicyPrincipals, 1490)
	return o
}

// SyntheticSeed builds a world for scale tests: an organization, a folder
// per 100 projects, users, groups of 10 users (every 10th group nests the
// next one), and on every project:
//
//   - roles/editor JIT-eligible for group (p mod Groups), so each group,
//     and each of its users, is eligible on about Projects/Groups projects
//     whatever the size of the organization;
//   - roles/owner MPA-eligible for group (p+1 mod Groups);
//   - roles/viewer for the same group without condition (not eligible);
//   - on every 50th project, roles/browser for LargePolicyPrincipals users.
//
// Every folder makes group (f mod Groups) JIT-eligible for
// roles/logging.viewer, inherited by its projects. User i is in groups
// i/10 and (i+Users/2)/10 (mod Groups). The same options always build the
// same world, so a tool can compute the names it sends requests for.
func SyntheticSeed(opts SyntheticOptions) *Seed {
	o := opts.withDefaults()
	const jit, mpa = "has({}.jitAccessConstraint)", "has({}.multiPartyApprovalConstraint)"
	s := &Seed{
		Organization: &SeedOrganization{
			ID: SyntheticOrganization, DisplayName: "Synthetic", Domain: SyntheticDomain, CustomerID: "C0example1",
			IAM: []world.Binding{{Role: "roles/browser", Members: []string{"domain:" + SyntheticDomain}}},
		},
		ServiceAccounts: []world.ServiceAccount{{Email: SyntheticAppAccount, DisplayName: "jitaccess"}},
	}
	group := func(i int) string { return "group:" + SyntheticGroup(((i%o.Groups)+o.Groups)%o.Groups) }
	folders := (o.Projects + syntheticProjectsPerFolder - 1) / syntheticProjectsPerFolder
	for f := range folders {
		s.Folders = append(s.Folders, SeedFolder{
			ID: strconv.Itoa(2000000 + f), DisplayName: fmt.Sprintf("Folder %d", f),
			IAM: []world.Binding{{Role: "roles/logging.viewer", Members: []string{group(f)}, Condition: &world.Expr{Title: "Eligible", Expression: jit}}},
		})
	}
	for p := range o.Projects {
		iam := []world.Binding{
			{Role: "roles/editor", Members: []string{group(p)}, Condition: &world.Expr{Title: "Eligible", Expression: jit}},
			{Role: "roles/owner", Members: []string{group(p + 1)}, Condition: &world.Expr{Title: "Eligible with approval", Expression: mpa}},
			{Role: "roles/viewer", Members: []string{group(p)}},
		}
		if p%50 == 0 {
			members := make([]string, 0, o.LargePolicyPrincipals)
			for u := range o.LargePolicyPrincipals {
				members = append(members, "user:"+SyntheticUser((p+u)%o.Users))
			}
			iam = append(iam, world.Binding{Role: "roles/browser", Members: members})
		}
		s.Projects = append(s.Projects, SeedProject{
			ID: SyntheticProject(p), Parent: "folders/" + strconv.Itoa(2000000+p/syntheticProjectsPerFolder), IAM: iam,
		})
	}
	members := make([][]string, o.Groups)
	for u := range o.Users {
		s.Users = append(s.Users, world.User{Email: SyntheticUser(u), DisplayName: fmt.Sprintf("User %d", u)})
		for _, g := range []int{(u / 10) % o.Groups, ((u + o.Users/2) / 10) % o.Groups} {
			m := "user:" + SyntheticUser(u)
			if len(members[g]) == 0 || members[g][len(members[g])-1] != m {
				members[g] = append(members[g], m)
			}
		}
	}
	for g := range o.Groups {
		m := members[g]
		if g%10 == 0 && g+1 < o.Groups {
			m = append(m, group(g+1))
		}
		s.Groups = append(s.Groups, SeedGroup{Email: SyntheticGroup(g), DisplayName: fmt.Sprintf("Team %d", g), Members: m})
	}
	return s
}
