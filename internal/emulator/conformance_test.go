package emulator

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	asset "cloud.google.com/go/asset/apiv1"
	"cloud.google.com/go/asset/apiv1/assetpb"
	crm "google.golang.org/api/cloudresourcemanager/v3"
	iamv1 "google.golang.org/api/iam/v1"
	"google.golang.org/api/iamcredentials/v1"

	"github.com/jitaccess/jitaccess/internal/emulator/conformance"
)

// TestEveryRESTMethodConformsToGoogle calls every REST method the
// emulator serves (and the app calls: internal/iam, internal/catalog,
// internal/approval, internal/app's readiness probe) through the real
// client library, on success and on the errors the app handles, and holds
// each exchange to Google's discovery document. A method that was not
// called fails the test too, so a new method needs a line here.
func TestEveryRESTMethodConformsToGoogle(t *testing.T) {
	t.Parallel()
	checker, err := conformance.New()
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEmulator(t, func(o *Options) { o.Conformance = checker })
	ctx := t.Context()
	s := newTestCRM(t, e)
	id := newTestIdentity(t, e)
	dir := newTestDirectory(t, e)
	creds, err := iamcredentials.NewService(ctx, e.HTTPClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	fails := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s succeeded, want an error", what)
		}
	}

	// Resource Manager: the hierarchy.
	_, err = s.Organizations.Get(demoOrg).Context(ctx).Do()
	must("organizations.get", err)
	_, err = s.Organizations.Search().Query("domain:example.com").Context(ctx).Do()
	must("organizations.search", err)
	_, err = s.Folders.Get(prodFolder).Context(ctx).Do()
	must("folders.get", err)
	_, err = s.Folders.List().Parent(demoOrg).PageSize(2).Context(ctx).Do()
	must("folders.list", err)
	_, err = s.Folders.Search().Query("parent:" + demoOrg).Context(ctx).Do()
	must("folders.search", err)
	_, err = s.Projects.Get(condProject).Context(ctx).Do()
	must("projects.get", err)
	_, err = s.Projects.List().Parent(prodFolder).ShowDeleted(true).Context(ctx).Do()
	must("projects.list", err)
	_, err = s.Projects.Search().Query("parent:" + prodFolder + " labels.env:*").PageSize(1).Context(ctx).Do()
	must("projects.search", err)
	_, err = s.Projects.Get("projects/no-such-project").Context(ctx).Do()
	fails("projects.get of a missing project", err)

	// Resource Manager: IAM policies on all three levels, with conditions.
	for _, res := range []string{demoOrg, nonProdFolder, condProject} {
		var p *crm.Policy
		req := &crm.GetIamPolicyRequest{Options: &crm.GetPolicyOptions{RequestedPolicyVersion: 3}}
		switch res {
		case demoOrg:
			p, err = s.Organizations.GetIamPolicy(res, req).Context(ctx).Do()
		case nonProdFolder:
			p, err = s.Folders.GetIamPolicy(res, req).Context(ctx).Do()
		default:
			p, err = s.Projects.GetIamPolicy(res, req).Context(ctx).Do()
		}
		must("getIamPolicy "+res, err)
		p.Bindings = append(p.Bindings, activation("user:alice@example.com", "roles/browser", 1))
		p.Version = 3
		set := &crm.SetIamPolicyRequest{Policy: p, UpdateMask: "bindings,etag"}
		switch res {
		case demoOrg:
			_, err = s.Organizations.SetIamPolicy(res, set).Context(ctx).Do()
		case nonProdFolder:
			_, err = s.Folders.SetIamPolicy(res, set).Context(ctx).Do()
		default:
			_, err = s.Projects.SetIamPolicy(res, set).Context(ctx).Do()
		}
		must("setIamPolicy "+res, err)
		_, err = s.Projects.SetIamPolicy(condProject, set).Context(ctx).Do()
		fails("setIamPolicy with a stale etag", err)
	}
	_, err = s.Projects.GetIamPolicy("projects/no-such-project", &crm.GetIamPolicyRequest{}).Context(ctx).Do()
	fails("getIamPolicy of a missing project", err)

	// Cloud Identity.
	name := mustLookupGroup(t, id, "platform-team@example.com")
	_, err = id.Groups.Get(name).Context(ctx).Do()
	must("groups.get", err)
	_, err = id.Groups.Memberships.List(name).View("FULL").PageSize(1).Context(ctx).Do()
	must("groups.memberships.list", err)
	_, err = id.Groups.Memberships.SearchTransitiveGroups("groups/-").Query("member_key_id == 'dave@example.com'" + forumQuery).Context(ctx).Do()
	must("searchTransitiveGroups", err)
	_, err = id.Groups.Memberships.SearchTransitiveMemberships(name).Context(ctx).Do()
	must("searchTransitiveMemberships", err)
	_, err = id.Groups.Memberships.CheckTransitiveMembership(name).Query("member_key_id == 'dave@example.com'").Context(ctx).Do()
	must("checkTransitiveMembership", err)
	_, err = id.Groups.Lookup().GroupKeyId("nobody@example.com").Context(ctx).Do()
	fails("groups.lookup of a missing group", err)

	// Directory.
	groups, err := dir.Groups.List().Customer("my_customer").Context(ctx).Do()
	must("groups.list", err)
	_, err = dir.Groups.List().Customer("C0example1").Query("memberKey=dave@example.com").Context(ctx).Do()
	must("groups.list by member", err)
	_, err = dir.Groups.Get(groups.Groups[0].Email).Context(ctx).Do()
	must("groups.get", err)
	_, err = dir.Members.List(groups.Groups[0].Email).IncludeDerivedMembership(true).MaxResults(1).Context(ctx).Do()
	must("members.list", err)
	_, err = dir.Groups.Get("nobody@example.com").Context(ctx).Do()
	fails("groups.get of a missing group", err)

	// IAM Credentials.
	sa := e.World.ServiceAccounts()[0].Email
	payload := `{"aud":"x","exp":` + itoa(time.Now().Add(time.Hour).Unix()) + `}`
	_, err = creds.Projects.ServiceAccounts.SignJwt("projects/-/serviceAccounts/"+sa, &iamcredentials.SignJwtRequest{Payload: payload}).Context(ctx).Do()
	must("signJwt", err)
	_, err = creds.Projects.ServiceAccounts.SignJwt("projects/-/serviceAccounts/nobody@example.iam.gserviceaccount.com", &iamcredentials.SignJwtRequest{Payload: payload}).Context(ctx).Do()
	fails("signJwt as a missing account", err)

	// IAM: roles.get in its three name forms.
	iamSvc, err := iamv1.NewService(ctx, e.HTTPClientOptions()...)
	must("iam client", err)
	_, err = iamSvc.Roles.Get("roles/editor").Context(ctx).Do()
	must("roles.get", err)
	_, err = iamSvc.Roles.Get("roles/no.such.role").Context(ctx).Do()
	fails("roles.get of a missing role", err)
	e.World.AddRole(Role{Name: "projects/" + strings.TrimPrefix(condProject, "projects/") + "/roles/deployer", Title: "Deployer", Permissions: []string{"run.services.create"}})
	e.World.AddRole(Role{Name: demoOrg + "/roles/auditor", Title: "Auditor", Stage: "BETA", Permissions: []string{"logging.logEntries.list"}})
	_, err = iamSvc.Projects.Roles.Get("projects/" + strings.TrimPrefix(condProject, "projects/") + "/roles/deployer").Context(ctx).Do()
	must("projects.roles.get", err)
	_, err = iamSvc.Organizations.Roles.Get(demoOrg + "/roles/auditor").Context(ctx).Do()
	must("organizations.roles.get", err)
	_, err = iamSvc.Organizations.Roles.Get(demoOrg + "/roles/nothing").Context(ctx).Do()
	fails("organizations.roles.get of a missing role", err)

	// Faults answer in Google's error model too.
	e.World.Faults.Set("cloudresourcemanager.projects.get", Fault{Code: http.StatusTooManyRequests, Count: 1})
	_, err = s.Projects.Get(condProject).Context(ctx).Do()
	fails("projects.get under a quota fault", err)

	// gRPC answers the app reads: resource names.
	ac := newTestAssetClientOf(t, e)
	_, err = ac.AnalyzeIamPolicy(ctx, &assetpb.AnalyzeIamPolicyRequest{AnalysisQuery: &assetpb.IamPolicyAnalysisQuery{
		Scope: demoOrg, IdentitySelector: &assetpb.IamPolicyAnalysisQuery_IdentitySelector{Identity: "user:dave@example.com"},
		Options: &assetpb.IamPolicyAnalysisQuery_Options{ExpandResources: true},
	}})
	must("AnalyzeIamPolicy", err)
	_, err = ac.SearchAllResources(ctx, &assetpb.SearchAllResourcesRequest{Scope: demoOrg}).Next()
	must("SearchAllResources", err)
	_, err = ac.SearchAllIamPolicies(ctx, &assetpb.SearchAllIamPoliciesRequest{Scope: demoOrg}).Next()
	must("SearchAllIamPolicies", err)
	_, err = ac.SearchAllIamPolicies(ctx, &assetpb.SearchAllIamPoliciesRequest{Scope: "organizations/999"}).Next()
	fails("SearchAllIamPolicies in a scope that does not exist", err)

	for _, v := range checker.Violations() {
		t.Errorf("departs from Google's schema: %v", v)
	}
	checked := checker.Checked()
	for _, m := range restMethods {
		if checked[m] == 0 {
			t.Errorf("%s was not checked", m)
		}
	}
	for _, m := range []string{"/google.cloud.asset.v1.AssetService/AnalyzeIamPolicy", "/google.cloud.asset.v1.AssetService/SearchAllResources", "/google.cloud.asset.v1.AssetService/SearchAllIamPolicies"} {
		if checked[m] == 0 {
			t.Errorf("%s was not checked", m)
		}
	}
}

// restMethods are the REST methods the emulator serves, by Google's ids.
var restMethods = []string{
	"cloudresourcemanager.organizations.get", "cloudresourcemanager.organizations.search",
	"cloudresourcemanager.organizations.getIamPolicy", "cloudresourcemanager.organizations.setIamPolicy",
	"cloudresourcemanager.folders.get", "cloudresourcemanager.folders.list", "cloudresourcemanager.folders.search",
	"cloudresourcemanager.folders.getIamPolicy", "cloudresourcemanager.folders.setIamPolicy",
	"cloudresourcemanager.projects.get", "cloudresourcemanager.projects.list", "cloudresourcemanager.projects.search",
	"cloudresourcemanager.projects.getIamPolicy", "cloudresourcemanager.projects.setIamPolicy",
	"cloudidentity.groups.lookup", "cloudidentity.groups.get", "cloudidentity.groups.memberships.list",
	"cloudidentity.groups.memberships.searchTransitiveGroups", "cloudidentity.groups.memberships.searchTransitiveMemberships",
	"cloudidentity.groups.memberships.checkTransitiveMembership",
	"directory.groups.list", "directory.groups.get", "directory.members.list",
	"iamcredentials.projects.serviceAccounts.signJwt",
	"iam.roles.get", "iam.projects.roles.get", "iam.organizations.roles.get",
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func newTestAssetClientOf(t *testing.T, e *Emulator) *asset.Client {
	t.Helper()
	c, err := asset.NewClient(t.Context(), e.GRPCClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestGroupsHaveAParentWithoutACustomerID: Google's schema requires a
// group's parent (its customer); a world whose organization has no
// customer id still answers one.
func TestGroupsHaveAParentWithoutACustomerID(t *testing.T) {
	t.Parallel()
	seed, err := LoadSeed(strings.NewReader(`
organization: {id: "1", domain: example.com}
users: [{email: a@example.com}]
groups: [{email: g@example.com, members: ["user:a@example.com"]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	checker, err := conformance.New()
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEmulator(t, func(o *Options) { o.Seed, o.Conformance = seed, checker })
	id := newTestIdentity(t, e)
	g, err := id.Groups.Get(mustLookupGroup(t, id, "g@example.com")).Context(t.Context()).Do()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(g.Parent, "customers/") {
		t.Errorf("parent = %q, want customers/…", g.Parent)
	}
	for _, v := range checker.Violations() {
		t.Errorf("departs from Google's schema: %v", v)
	}
}
