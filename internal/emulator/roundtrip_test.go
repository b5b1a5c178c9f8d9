package emulator

import (
	"context"
	"errors"
	"testing"
	"time"

	asset "cloud.google.com/go/asset/apiv1"
	"cloud.google.com/go/asset/apiv1/assetpb"
	crm "google.golang.org/api/cloudresourcemanager/v3"
)

// TestRoundTripLatencyServesAtOnceAndAnswersLate: with RoundTrip, a call
// is served when it arrives (a write is applied even if its caller then
// gives up, as at Google once the request is in) and answered no sooner
// than the latency after it arrived, over REST and gRPC alike.
func TestRoundTripLatencyServesAtOnceAndAnswersLate(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestCRM(t, e)

	const set = "cloudresourcemanager.projects.setIamPolicy"
	e.World.Faults.Set(set, Fault{Latency: time.Hour, RoundTrip: true})
	before := e.World.PolicyWrites(plainProject)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for e.World.PolicyWrites(plainProject) == before {
			time.Sleep(time.Millisecond)
		}
		cancel() // the write is in; the answer is still held
	}()
	p, err := s.Projects.GetIamPolicy(plainProject, &crm.GetIamPolicyRequest{}).Context(t.Context()).Do()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Projects.SetIamPolicy(plainProject, &crm.SetIamPolicyRequest{Policy: p}).Context(ctx).Do(); !errors.Is(err, context.Canceled) {
		t.Errorf("setIamPolicy under an hour's round trip = %v, want the caller's cancellation", err)
	}
	if e.World.Faults.Held(set) != 0 {
		t.Errorf("a round trip is not a hold: Held = %d", e.World.Faults.Held(set))
	}

	const latency = 50 * time.Millisecond
	e.World.Faults.Set("*", Fault{Latency: latency, RoundTrip: true})
	start := time.Now()
	if _, err := s.Projects.Get(plainProject).Context(t.Context()).Do(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < latency {
		t.Errorf("REST answer after %v, before its round trip of %v", d, latency)
	}
	ac, err := asset.NewClient(t.Context(), e.GRPCClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ac.Close() })
	start = time.Now()
	it := ac.SearchAllResources(t.Context(), &assetpb.SearchAllResourcesRequest{Scope: demoOrg, AssetTypes: []string{"cloudresourcemanager.googleapis.com/Project"}})
	if _, err := it.Next(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < latency {
		t.Errorf("gRPC answer after %v, before its round trip of %v", d, latency)
	}
}
