package catalog_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// TestGroundsSayWhereEligibilityLives: each entitlement and each holder
// comes with the resource whose policy holds the eligible binding and the
// members of that binding through which the user holds it.
func TestGroundsSayWhereEligibilityLives(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	for name, b := range backends(t, e) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			grounds := func(user jit.UserID, project jit.ProjectID, role string) []jit.Grounds {
				t.Helper()
				ents, _, err := b.Entitlements(t.Context(), user, project)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range ents {
					if e.Role == role {
						return e.Grounds
					}
				}
				t.Fatalf("%s has no %s on %s: %+v", user, role, project, ents)
				return nil
			}
			direct := grounds("dave@example.com", "prod-payments-db", "roles/cloudsql.client")
			if diff := cmp.Diff([]jit.Grounds{{Resource: "projects/prod-payments-db", Principals: []string{"user:dave@example.com"}}}, direct); diff != "" {
				t.Errorf("direct binding (-want +got):\n%s", diff)
			}
			inherited := grounds("dave@example.com", "staging-web-frontend", "roles/editor")
			if diff := cmp.Diff([]jit.Grounds{{Resource: "folders/1002", Principals: []string{"group:developers@example.com"}}}, inherited); diff != "" {
				t.Errorf("binding on a folder through a group (-want +got):\n%s", diff)
			}
			type holders interface {
				HolderGrounds(ctx context.Context, ent jit.Entitlement, typ jit.ActivationType) (map[jit.UserID][]jit.Grounds, error)
			}
			h, ok := b.(holders)
			if !ok {
				t.Fatal("no HolderGrounds")
			}
			m, err := h.HolderGrounds(t.Context(), jit.Entitlement{Project: "prod-payments-api", Role: "roles/run.developer"}, jit.MPA)
			if err != nil {
				t.Fatal(err)
			}
			want := map[jit.UserID][]jit.Grounds{
				"dave@example.com": {{Resource: "projects/prod-payments-api", Principals: []string{"user:dave@example.com"}}},
				"erin@example.com": {{Resource: "projects/prod-payments-api", Principals: []string{"group:payments-devs@example.com"}}},
			}
			if diff := cmp.Diff(want, m); diff != "" {
				t.Errorf("holders (-want +got):\n%s", diff)
			}
			type groundsOf interface {
				GroundsOf(ctx context.Context, users []jit.UserID, ent jit.Entitlement, typ jit.ActivationType) (map[jit.UserID][]jit.Grounds, error)
			}
			some, err := b.(groundsOf).GroundsOf(t.Context(), []jit.UserID{"erin@example.com", "dave@example.com", "alice@example.com"},
				jit.Entitlement{Project: "prod-payments-api", Role: "roles/run.developer"}, jit.MPA)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, some); diff != "" {
				t.Errorf("grounds of three users, one not eligible (-want +got):\n%s", diff)
			}
		})
	}
}
