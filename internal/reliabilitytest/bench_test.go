package reliabilitytest

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	asset "cloud.google.com/go/asset/apiv1"
	"google.golang.org/api/cloudidentity/v1"
	"google.golang.org/api/cloudresourcemanager/v3"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/catalog"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/iam"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// unlimited turns off the per-user request limit: a benchmark is one user
// sending as fast as it can, exactly what RATE_LIMIT_REQUESTS stops.
var unlimited = apptest.Options{Config: map[string]string{"RATE_LIMIT_REQUESTS": "0"}}

// BenchmarkSelfActivationOverHTTP measures a whole self-activation: IAP
// verification, eligibility through Cloud Asset, the policy write, the
// audit record, all over loopback against the emulator.
func BenchmarkSelfActivationOverHTTP(b *testing.B) {
	h := apptest.Start(b, unlimited)
	body := map[string]any{"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "INC-1", "activationTimeout": 30}
	b.ReportAllocs()
	for b.Loop() {
		if r := h.Do(b, "dave@example.com", http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate", body); r.Status != 200 {
			b.Fatalf("%d %s", r.Status, r.Body)
		}
	}
}

// BenchmarkListRolesOverHTTP measures the page users open most.
func BenchmarkListRolesOverHTTP(b *testing.B) {
	h := apptest.Start(b, unlimited)
	b.ReportAllocs()
	for b.Loop() {
		if r := h.Do(b, "alice@example.com", http.MethodGet, "/api/projects/prod-payments-api/roles", nil); r.Status != 200 {
			b.Fatalf("%d %s", r.Status, r.Body)
		}
	}
}

func BenchmarkCatalogEntitlements(b *testing.B) {
	e := emutest.Start(b)
	a, err := asset.NewClient(b.Context(), e.GRPCClientOptions()...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Close() })
	crm, _ := cloudresourcemanager.NewService(b.Context(), e.HTTPClientOptions()...)
	ci, _ := cloudidentity.NewService(b.Context(), e.HTTPClientOptions()...)
	opts := catalog.Options{Scope: "organizations/123456789012"}
	for name, c := range map[string]interface {
		Entitlements(ctx contextT, user jit.UserID, project jit.ProjectID) ([]jit.EligibleEntitlement, []string, error)
	}{
		"PolicyAnalyzer": catalog.NewPolicyAnalyzer(a, crm, opts),
		"AssetInventory": catalog.NewAssetInventory(a, crm, ci, opts),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := c.Entitlements(b.Context(), "alice@example.com", "prod-payments-api"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// contendedClient is an IAM client for 8 goroutines writing to one
// project of an emulator whose setIamPolicy takes a millisecond.
func contendedClient(b *testing.B) *iam.Client {
	e := emutest.Start(b)
	e.World.Faults.Set("cloudresourcemanager.projects.setIamPolicy", emulator.Fault{Latency: time.Millisecond})
	crm, _ := cloudresourcemanager.NewService(b.Context(), e.HTTPClientOptions()...)
	b.SetParallelism(8)
	b.ReportAllocs()
	return iam.New(crm, iam.Options{Unconfirmed: true})
}

// benchGrant self-activates roles/editor on dev-playground for user.
func benchGrant(b *testing.B, c *iam.Client, user jit.UserID, start time.Time) error {
	return c.Grant(b.Context(), []jit.Activation{{
		ID: "jit-bench", Type: jit.JIT, Beneficiary: user, Justification: "INC-1",
		Entitlement: jit.Entitlement{Project: "dev-playground", Role: "roles/editor"}, Start: start, End: start.Add(time.Hour),
	}}, jit.Confirmation{})
}

// BenchmarkGrantUnderContention: 8 goroutines granting on one project.
func BenchmarkGrantUnderContention(b *testing.B) {
	c := contendedClient(b)
	var n int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := nextID(&n)
			if err := benchGrant(b, c, jit.UserID(fmt.Sprintf("u%d@example.com", i%1000)), time.Now().UTC().Truncate(time.Second)); err != nil {
				b.Error(err)
			}
		}
	})
	st := c.Stats()
	b.ReportMetric(float64(st.Writes)/float64(b.N), "writes/grant")
}

// BenchmarkGrantsAndDecisionsUnderContention: 8 goroutines on one
// project, every fourth operation an approval decision, the rest
// self-activation grants, as on a busy project where both go on at once.
func BenchmarkGrantsAndDecisionsUnderContention(b *testing.B) {
	c := contendedClient(b)
	var n int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := nextID(&n)
			start := time.Now().UTC().Truncate(time.Second)
			user := jit.UserID(fmt.Sprintf("u%d@example.com", i%1000))
			if i%4 != 0 {
				if err := benchGrant(b, c, user, start); err != nil {
					b.Error(err)
				}
				continue
			}
			req := jit.ActivationRequest{ID: fmt.Sprintf("mpa-bench-%d", i), Beneficiary: user, Reviewers: []jit.UserID{"dave@example.com"},
				Entitlement: jit.Entitlement{Project: "dev-playground", Role: "roles/viewer"}, Justification: "CHG-1",
				Duration: time.Hour, RequestedAt: start, ApproveBy: start.Add(time.Hour)}
			_, err := c.Decide(b.Context(), req, jit.Confirmation{}, func(rec jit.RequestRecord) (jit.Decision, error) {
				a := jit.Activation{ID: req.ID, Type: jit.MPA, Beneficiary: user, Entitlement: req.Entitlement,
					Justification: req.Justification, Approver: "dave@example.com", Start: start, End: start.Add(time.Hour)}
				return jit.Decision{Approve: "dave@example.com", Grant: &a}, nil
			})
			if err != nil {
				b.Error(err)
			}
		}
	})
	st := c.Stats()
	b.ReportMetric(float64(st.Writes)/float64(b.N), "writes/op")
	b.ReportMetric(float64(st.Conflicts)/float64(b.N), "conflicts/op")
}
