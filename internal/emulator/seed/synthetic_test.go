package seed

import (
	"context"
	"strings"
	"testing"

	"cloud.google.com/go/asset/apiv1/assetpb"

	"github.com/jitaccess/jitaccess/internal/emulator/cloudasset"
	"github.com/jitaccess/jitaccess/internal/emulator/world"
)

func TestSyntheticSeed(t *testing.T) {
	t.Parallel()
	s := SyntheticSeed(SyntheticOptions{Projects: 120})
	if err := s.validate(); err != nil {
		t.Fatalf("the synthetic seed does not validate: %v", err)
	}
	if len(s.Projects) != 120 || len(s.Folders) != 2 || len(s.Groups) != 12 || len(s.Users) != 120 {
		t.Errorf("sizes: %d projects, %d folders, %d groups, %d users", len(s.Projects), len(s.Folders), len(s.Groups), len(s.Users))
	}
	w := world.New(nil)
	if err := s.Apply(w); err != nil {
		t.Fatal(err)
	}
	p, _ := w.Policy("projects/" + SyntheticProject(0))
	principals := 0
	for _, b := range p.Bindings {
		principals += len(b.Members)
	}
	if principals < 120 {
		t.Errorf("the large policy has %d principals", principals)
	}
	a, err := cloudasset.New(w)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.AnalyzeIamPolicy(context.Background(), &assetpb.AnalyzeIamPolicyRequest{AnalysisQuery: &assetpb.IamPolicyAnalysisQuery{
		Scope:            "organizations/" + SyntheticOrganization,
		IdentitySelector: &assetpb.IamPolicyAnalysisQuery_IdentitySelector{Identity: "user:" + SyntheticUser(0)},
		AccessSelector:   &assetpb.IamPolicyAnalysisQuery_AccessSelector{Roles: []string{"roles/editor"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// user00000 is in team0000 and team0006, each JIT-eligible for
	// roles/editor on every 12th project.
	var projects []string
	for _, r := range resp.GetMainAnalysis().GetAnalysisResults() {
		if strings.Contains(r.GetIamBinding().GetCondition().GetExpression(), "jitAccessConstraint") {
			projects = append(projects, r.GetAttachedResourceFullName())
		}
	}
	if len(projects) != 20 {
		t.Errorf("user00000 is JIT-eligible for roles/editor on %d projects, want 20: %v", len(projects), projects)
	}
	again := SyntheticSeed(SyntheticOptions{Projects: 120})
	if again.Groups[3].Members[0] != s.Groups[3].Members[0] {
		t.Error("the same options built another world")
	}
}
