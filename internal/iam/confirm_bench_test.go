package iam

import (
	"fmt"
	"testing"

	"google.golang.org/api/cloudresourcemanager/v3"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// BenchmarkConfirmLargePolicy: the eligibility check inside a write, on a
// policy at Google's limit of 1,500 principals.
func BenchmarkConfirmLargePolicy(b *testing.B) {
	p := &cloudresourcemanager.Policy{}
	members := make([]string, 0, 1400)
	for i := range 1400 {
		members = append(members, fmt.Sprintf("user:u%d@example.com", i))
	}
	p.Bindings = append(p.Bindings, &cloudresourcemanager.Binding{Role: "roles/browser", Members: members})
	for i := range 90 {
		p.Bindings = append(p.Bindings, &cloudresourcemanager.Binding{
			Role: fmt.Sprintf("roles/custom%d", i%10), Members: []string{fmt.Sprintf("group:g%d@example.com", i)},
			Condition: &cloudresourcemanager.Expr{Expression: "has({}.jitAccessConstraint)"},
		})
	}
	p.Bindings = append(p.Bindings, &cloudresourcemanager.Binding{
		Role: "roles/editor", Members: []string{"group:team@example.com", "user:u1@example.com"},
		Condition: &cloudresourcemanager.Expr{Expression: "has({}.jitAccessConstraint)"},
	})
	req := jit.Requirement{
		User: "dave@example.com", Type: jit.JIT, Entitlement: jit.Entitlement{Project: "p-1", Role: "roles/editor"},
		Grounds: []jit.Grounds{{Resource: "projects/p-1", Principals: []string{"group:team@example.com"}}},
	}
	lv := livePolicies{resource: "projects/p-1", own: p}
	b.ReportAllocs()
	for b.Loop() {
		if !lv.holds(req) {
			b.Fatal("the eligibility does not hold")
		}
	}
}
