package emulator

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/cloudidentity/v1"
	"google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/googleapi"

	"github.com/jitaccess/jitaccess/internal/emulator/conformance"
)

func mustDemoSeed(t testing.TB) *Seed {
	t.Helper()
	f, err := os.Open("../../testdata/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seed, err := LoadSeed(f)
	if err != nil {
		t.Fatal(err)
	}
	return seed
}

// newTestEmulator starts the emulator with the demo world (or opts.Seed)
// on loopback and stops it when the test ends.
func newTestEmulator(t *testing.T, mutate ...func(*Options)) *Emulator {
	t.Helper()
	checker, err := conformance.New()
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Seed: mustDemoSeed(t), Conformance: checker}
	for _, m := range mutate {
		m(&opts)
	}
	t.Cleanup(func() {
		for i, v := range checker.Violations() {
			if i < 5 {
				t.Errorf("the emulator departed from Google's schema: %v", v)
			}
		}
	})
	e, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

func newTestCRM(t *testing.T, e *Emulator) *cloudresourcemanager.Service {
	t.Helper()
	s, err := cloudresourcemanager.NewService(t.Context(), e.HTTPClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newTestIdentity(t *testing.T, e *Emulator) *cloudidentity.Service {
	t.Helper()
	s, err := cloudidentity.NewService(t.Context(), e.HTTPClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEndpointsAreServed(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	ep := e.Endpoints()
	for _, base := range []string{ep.ResourceManager, ep.CloudIdentity, ep.IAMCredentials} {
		if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasSuffix(base, "/") {
			t.Errorf("REST endpoint %q is not an http base URL on loopback ending in /", base)
		}
	}
	if !strings.HasPrefix(ep.Asset, "127.0.0.1:") || ep.Logging != ep.Asset {
		t.Errorf("gRPC endpoints = %q, %q", ep.Asset, ep.Logging)
	}
	resp, err := httpGet(t, ep.Control+"endpoints")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got Endpoints
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ep, got); diff != "" {
		t.Errorf("control endpoints (-want +got):\n%s", diff)
	}
}

func TestUnknownPathsAreGoogleNotFound(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	base := e.Endpoints().ResourceManager
	tests := []struct {
		name, method, path string
	}{
		{"unknown_service", http.MethodGet, "v9/whatever"},
		{"unknown_crm_collection", http.MethodGet, "v3/liens"},
		{"crm_wrong_verb", http.MethodDelete, "v3/projects/dev-playground"},
		{"crm_unknown_custom_method", http.MethodPost, "v3/projects/dev-playground:move"},
		{"organizations_have_no_list", http.MethodGet, "v3/organizations"},
		{"identity_unknown", http.MethodGet, "v1/groups/-/memberships:getMembershipGraph"},
		{"control_unknown", http.MethodGet, "_emulator/nothing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), tc.method, base+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), `"status":"NOT_FOUND"`) {
				t.Errorf("%s %s = %d %s, want 404 NOT_FOUND", tc.method, tc.path, resp.StatusCode, body)
			}
		})
	}
}

func TestCloseIsIdempotentAndStopsServing(t *testing.T) {
	t.Parallel()
	e, err := Start(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	url := e.Endpoints().Control + "world"
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if resp, err := httpGet(t, url); err == nil {
		resp.Body.Close()
		t.Errorf("GET after Close succeeded with %d", resp.StatusCode)
	}
}

func TestStartRejectsBadAddress(t *testing.T) {
	t.Parallel()
	if e, err := Start(t.Context(), Options{HTTPAddr: "127.0.0.1:notaport"}); err == nil {
		_ = e.Close()
		t.Fatal("Start with a bad address succeeded")
	}
}

func asGoogleError(err error) *googleapi.Error {
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		return gerr
	}
	return nil
}

func httpGet(t *testing.T, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return http.DefaultClient.Do(req)
}

func TestIAPKeysCanFail(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	get := func() int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.Endpoints().IAPJWKS, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	e.World.Faults.Set("iap.publicKeys", Fault{Code: http.StatusServiceUnavailable, Count: 1})
	if got := [2]int{get(), get()}; got != [2]int{http.StatusServiceUnavailable, http.StatusOK} {
		t.Errorf("key set with one fault, then without = %v", got)
	}
	if n := e.World.Faults.Calls("iap.publicKeys"); n != 2 {
		t.Errorf("Calls = %d, want 2", n)
	}
}

// fakeClock is a settable clock for index-delay tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
