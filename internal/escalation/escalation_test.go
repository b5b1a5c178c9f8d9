package escalation_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/jitaccess/jitaccess/internal/escalation"
)

func mustDefault(t *testing.T) *escalation.Catalogue {
	t.Helper()
	c, err := escalation.Default()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCatalogueNamesTheIssuesPermissions: every permission issue 24 names
// is in the shipped catalogue, with a reason and an advice.
func TestCatalogueNamesTheIssuesPermissions(t *testing.T) {
	t.Parallel()
	c := mustDefault(t)
	have := map[string]bool{}
	for _, e := range c.Entries() {
		have[e.Permission] = true
	}
	for _, p := range []string{
		"*.setIamPolicy", "iam.serviceAccountKeys.create", "iam.serviceAccounts.getAccessToken",
		"iam.serviceAccounts.signBlob", "iam.serviceAccounts.signJwt", "iam.serviceAccounts.implicitDelegation",
		"iam.serviceAccounts.actAs", "iam.roles.update", "orgpolicy.policy.set", "storage.hmacKeys.create",
		"iam.workloadIdentityPoolProviders.create",
	} {
		if !have[p] {
			t.Errorf("the catalogue has no entry %s", p)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	c := mustDefault(t)
	for _, tc := range []struct {
		name string
		role escalation.Role
		want []string // permissions found
	}{
		{"harmless_predefined", escalation.Role{Name: "roles/cloudsql.client", Permissions: []string{"cloudsql.instances.connect", "cloudsql.instances.get"}}, nil},
		{"get_iam_policy_is_not_set", escalation.Role{Name: "roles/browser", Permissions: []string{"resourcemanager.projects.getIamPolicy", "resourcemanager.projects.get"}}, nil},
		{"set_iam_policy_of_any_service", escalation.Role{Name: "roles/owner", Permissions: []string{"resourcemanager.projects.setIamPolicy", "compute.instances.get", "bigquery.tables.setIamPolicy"}},
			[]string{"bigquery.tables.setIamPolicy", "resourcemanager.projects.setIamPolicy"}},
		{"token_creator", escalation.Role{Name: "roles/iam.serviceAccountTokenCreator", Permissions: []string{
			"iam.serviceAccounts.signJwt", "iam.serviceAccounts.get", "iam.serviceAccounts.getAccessToken", "iam.serviceAccounts.implicitDelegation", "iam.serviceAccounts.signBlob", "iam.serviceAccounts.getAccessToken"}},
			[]string{"iam.serviceAccounts.getAccessToken", "iam.serviceAccounts.implicitDelegation", "iam.serviceAccounts.signBlob", "iam.serviceAccounts.signJwt"}},
		{"custom_role", escalation.Role{Name: "projects/p/roles/deployer", Permissions: []string{"iam.serviceAccounts.actAs", "run.services.create"}}, []string{"iam.serviceAccounts.actAs"}},
		{"a_suffix_is_not_a_match", escalation.Role{Name: "roles/x", Permissions: []string{"iam.serviceAccounts.actAsX", "setIamPolicy", "x.setIamPolicyY"}}, nil},
		{"no_permissions", escalation.Role{Name: "organizations/1/roles/empty"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, f := range c.Check(tc.role) {
				got = append(got, f.Permission)
				if f.Reason == "" || f.Advice == "" || f.Entry == "" {
					t.Errorf("finding %+v lacks a reason, an advice or its entry", f)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAdviceDependsOnTheKindOfRole: a custom role is edited, a
// predefined one replaced.
func TestAdviceDependsOnTheKindOfRole(t *testing.T) {
	t.Parallel()
	c := mustDefault(t)
	perms := []string{"orgpolicy.policy.set"}
	custom := c.Check(escalation.Role{Name: "organizations/1/roles/policy", Permissions: perms})
	predefined := c.Check(escalation.Role{Name: "roles/orgpolicy.policyAdmin", Permissions: perms})
	if len(custom) != 1 || len(predefined) != 1 {
		t.Fatalf("findings: custom %v, predefined %v; want one each", custom, predefined)
	}
	if !strings.HasPrefix(custom[0].Advice, "remove orgpolicy.policy.set from the custom role organizations/1/roles/policy") {
		t.Errorf("custom role advice = %q", custom[0].Advice)
	}
	if !strings.HasPrefix(predefined[0].Advice, "make a custom role with the permissions of roles/orgpolicy.policyAdmin") {
		t.Errorf("predefined role advice = %q", predefined[0].Advice)
	}
	if !(escalation.Role{Name: "projects/p/roles/x"}).Custom() || (escalation.Role{Name: "roles/viewer"}).Custom() {
		t.Error("Custom() does not follow the role's name")
	}
}

func TestParseRejectsABadCatalogue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, data, want string }{
		{"not_json", `{`, "unexpected EOF"},
		{"empty", `{"entries": []}`, "no entries"},
		{"no_reason", `{"entries": [{"permission": "a.b.c", "advice": "x"}]}`, "a reason and an advice are required"},
		{"twice", `{"entries": [{"permission": "a.b.c", "reason": "r", "advice": "x"}, {"permission": "a.b.c", "reason": "r", "advice": "x"}]}`, "listed twice"},
		{"other_wildcard", `{"entries": [{"permission": "a.?.c", "reason": "r", "advice": "x"}]}`, "only * is a wildcard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := escalation.Parse([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse: %v, want an error with %q", err, tc.want)
			}
		})
	}
}
