package app

import "testing"

// TestLintSendsOnlyRoleNames: a role name from a policy goes into the
// roles.get path only when it has one of the shapes the IAM API serves,
// so that no name can point the request elsewhere.
func TestLintSendsOnlyRoleNames(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"roles/editor":                          true,
		"roles/compute.instanceAdmin.v1":        true,
		"projects/app-prod/roles/deployer":      true,
		"projects/example.com:legacy/roles/x_1": true,
		"organizations/123/roles/keyMaker":      true,
		"roles/../v3/projects/p:setIamPolicy":   false,
		"roles/editor?alt=media":                false,
		"projects/p/roles/a/b":                  false,
		"folders/1/roles/x":                     false,
		"organizations/abc/roles/x":             false,
		"roles/":                                false,
		"roles/..":                              false,
		"":                                      false,
	} {
		if got := lintableRole.MatchString(name); got != want {
			t.Errorf("lintableRole(%q) = %v, want %v", name, got, want)
		}
	}
}
