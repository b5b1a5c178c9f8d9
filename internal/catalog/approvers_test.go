package catalog_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/jit"
)

type approverBackend interface {
	Approvers(ctx context.Context, ent jit.Entitlement) (jit.ApproverPolicy, error)
}

// TestApprovers: both backends read the demo world's approver binding
// (users and a group, quorum 2) and, from the same query, the peers; a
// role without approver bindings keeps the original's peers; a malformed
// marker is ignored.
func TestApprovers(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	w := e.World
	// A typo on another role: ignored, with a warning, never "any peer
	// may now approve nothing".
	p, _ := w.Policy("projects/prod-data-warehouse")
	p.Version = 3
	p.Bindings = append(p.Bindings, emulator.Binding{Role: "roles/bigquery.admin", Members: []string{"user:bob@example.com"},
		Condition: &emulator.Expr{Title: "typo", Expression: "has({}.multiPartyApprovalConstraint.aprover)"}})
	if _, err := w.SetIamPolicy("projects/prod-data-warehouse", p); err != nil {
		t.Fatal(err)
	}
	for name, b := range backends(t, e) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ab := b.(approverBackend)
			got, err := ab.Approvers(t.Context(), jit.Entitlement{Project: "security-tools", Role: "roles/securitycenter.admin"})
			want := jit.ApproverPolicy{Dedicated: true, Quorum: 2,
				Approvers: []jit.UserID{"alice@example.com", "carol@example.com", "frank@example.com", "heidi@example.com"},
				Peers:     []jit.UserID{"frank@example.com", "heidi@example.com"},
				// Where each holds their binding, for a decision to
				// confirm in the live policies.
				ApproverGrounds: map[jit.UserID][]jit.Grounds{
					"alice@example.com": {{Resource: "projects/security-tools", Principals: []string{"user:alice@example.com"}}},
					"carol@example.com": {{Resource: "projects/security-tools", Principals: []string{"user:carol@example.com"}}},
					"frank@example.com": {{Resource: "projects/security-tools", Principals: []string{"group:security@example.com"}}},
					"heidi@example.com": {{Resource: "projects/security-tools", Principals: []string{"group:security@example.com"}}},
				},
				PeerGrounds: map[jit.UserID][]jit.Grounds{
					"frank@example.com": {{Resource: "projects/security-tools", Principals: []string{"user:frank@example.com"}}},
					"heidi@example.com": {{Resource: "projects/security-tools", Principals: []string{"user:heidi@example.com"}}},
				}}
			if err != nil || !cmp.Equal(got, want) {
				t.Errorf("security-tools: %+v, %v; want %+v", got, err, want)
			}
			got, err = ab.Approvers(t.Context(), jit.Entitlement{Project: "prod-data-warehouse", Role: "roles/bigquery.admin"})
			want = jit.ApproverPolicy{Peers: []jit.UserID{"grace@example.com", "heidi@example.com"},
				PeerGrounds: map[jit.UserID][]jit.Grounds{
					"grace@example.com": {{Resource: "projects/prod-data-warehouse", Principals: []string{"user:grace@example.com"}}},
					"heidi@example.com": {{Resource: "projects/prod-data-warehouse", Principals: []string{"user:heidi@example.com"}}},
				}}
			if err != nil || !cmp.Equal(got, want, cmpopts.EquateEmpty()) {
				t.Errorf("prod-data-warehouse: %+v, %v; want %+v", got, err, want)
			}
		})
	}
}
