package catalog

import (
	"fmt"
	"testing"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// syntheticScope is an organization with folders of projects: on every
// project two eligible bindings (self and peer approval) and a plain one,
// and on every tenth folder an approver binding with a quorum.
func syntheticScope(folders, projectsPerFolder int) []policyNode {
	nodes := []policyNode{{key: "organizations/1", fullName: crmPrefix + "organizations/1", crm: true,
		bindings: []policyBinding{bind("roles/browser", "", "domain:example.com")}}}
	for f := range folders {
		folder := fmt.Sprintf("folders/%d", 1000+f)
		n := policyNode{key: folder, fullName: crmPrefix + folder, crm: true, ancestors: []string{"organizations/1"}}
		if f%10 == 0 {
			n.bindings = append(n.bindings, bind("roles/owner", approver+" && has({}.multiPartyApprovalConstraint.quorum_2)", "user:a@x.com", "group:g@x.com"))
		}
		nodes = append(nodes, n)
		for p := range projectsPerFolder {
			key := fmt.Sprintf("projects/%d", 100000+f*projectsPerFolder+p)
			nodes = append(nodes, policyNode{key: key, fullName: crmPrefix + fmt.Sprintf("projects/p-%d-%d", f, p), crm: true,
				ancestors: []string{folder, "organizations/1"}, bindings: []policyBinding{
					bind("roles/owner", mpa, "group:admins@x.com"),
					bind("roles/viewer", selfOnly, "group:devs@x.com"),
					bind("roles/browser", "", "group:devs@x.com"),
				}})
		}
	}
	return nodes
}

// BenchmarkApproverReportChecks: the report's checks over 100 folders of
// 100 projects (10,000 projects, 20,000 eligible bindings, 10 approver
// bindings), after Cloud Asset's search.
func BenchmarkApproverReportChecks(b *testing.B) {
	nodes := syntheticScope(100, 100)
	b.ReportAllocs()
	for b.Loop() {
		v := newPolicyView(nodes)
		_ = v.markerIssues()
		if got := v.quorumCandidates(1); len(got) != 10 {
			b.Fatalf("%d candidates, want one per approver binding", len(got))
		}
	}
}

// BenchmarkDiscoveryCheck: what one read of a project's effective
// policies adds at discovery (once per cache period).
func BenchmarkDiscoveryCheck(b *testing.B) {
	var bindings []*binding
	for _, n := range syntheticScope(1, 1) {
		for _, pb := range n.bindings {
			bindings = append(bindings, &binding{resource: n.fullName, role: pb.role, members: pb.members, expr: pb.expr})
		}
	}
	opts := Options{}
	opts.defaults()
	b.ReportAllocs()
	for b.Loop() {
		opts.noteApprovers(b.Context(), projectEnt("p-0-0"), bindings)
	}
}

func projectEnt(id string) jit.Entitlement { return jit.Entitlement{Project: jit.ProjectID(id)} }
