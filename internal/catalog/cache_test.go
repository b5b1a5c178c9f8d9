package catalog_test

import (
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/catalog"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/iam"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// TestOnePolicyAnalyzerQueryPerUserPerPeriod: the projects list and the
// roles of every project come from one query, and the user's own
// activation shows at once.
func TestOnePolicyAnalyzerQueryPerUserPerPeriod(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	c := newClients(t, e)
	cache := catalog.NewCache(catalog.CacheOptions{TTL: time.Minute})
	pa := catalog.NewPolicyAnalyzer(c.asset, c.crm, catalog.Options{Scope: demoScope, Cache: cache})
	const dave jit.UserID = "dave@example.com"
	calls := func() int { return e.World.Faults.Calls("cloudasset.AnalyzeIamPolicy") }
	before := calls()
	projects, err := pa.Projects(t.Context(), dave)
	if err != nil {
		t.Fatal(err)
	}
	if len(projects) < 2 {
		t.Fatalf("projects = %v", projects)
	}
	for _, p := range projects {
		if _, _, err := pa.Entitlements(t.Context(), dave, p); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls() - before; n != 1 {
		t.Errorf("%d AnalyzeIamPolicy calls for the projects and %d projects' roles, want 1", n, len(projects))
	}
	reads := e.World.Faults.Calls("cloudresourcemanager.projects.getIamPolicy")
	ents, _, _ := pa.Entitlements(t.Context(), dave, "prod-payments-db")
	if n := e.World.Faults.Calls("cloudresourcemanager.projects.getIamPolicy") - reads; n != 0 {
		t.Errorf("a second listing read %d policies, want 0", n)
	}
	if len(ents) != 1 || ents[0].Status != jit.StatusInactive {
		t.Fatalf("entitlements = %+v", ents)
	}
	now := time.Now().UTC().Truncate(time.Second)
	if err := iam.New(c.crm, iam.Options{Unconfirmed: true}).Grant(t.Context(), []jit.Activation{{
		ID: "jit-1", Type: jit.JIT, Beneficiary: dave, Entitlement: ents[0].Entitlement,
		Justification: "INC-1", Start: now, End: now.Add(time.Hour),
	}}, jit.Confirmation{}); err != nil {
		t.Fatal(err)
	}
	cache.Forget(dave) // what the app's wiring does after every write (internal/app)
	ents, _, _ = pa.Entitlements(t.Context(), dave, "prod-payments-db")
	if len(ents) != 1 || ents[0].Status != jit.StatusActive {
		t.Errorf("after the user's own activation: %+v, want it active", ents)
	}
	if n := calls() - before; n != 1 {
		t.Errorf("%d AnalyzeIamPolicy calls in all, want still 1", n)
	}
}
