package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
)

func readiness(t *testing.T, h *apptest.Harness) (int, map[string]any) {
	t.Helper()
	r := h.DoRaw(t, http.MethodGet, "/health/ready", http.Header{}, nil)
	body := r.JSON(t)
	details, _ := body["details"].(map[string]any)
	if healthy, _ := body["healthy"].(bool); healthy != (r.Status == http.StatusOK) {
		t.Errorf("healthy = %v with status %d", body["healthy"], r.Status)
	}
	return r.Status, details
}

func allReady() map[string]any {
	return map[string]any{
		"ConfigurationIsValid": true, "IapKeysAreAvailable": true, "ServiceAccountKeysAreAvailable": true,
		"ResourceManagerIsReachable": true, "CloudAssetIsReachable": true, "IamCredentialsIsReachable": true,
	}
}

// TestReadinessProbesEachDependency: /health/ready calls each Google API
// the app needs through the real clients; a failing one turns its detail
// false and the answer 503, and a 403 still counts as an answer.
func TestReadinessProbesEachDependency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		fault  emulator.Fault
		detail string // false in the answer; "" means all true
	}{
		{"healthy", "", emulator.Fault{}, ""},
		{"resource_manager_down", "cloudresourcemanager.*", emulator.Fault{Code: 503}, "ResourceManagerIsReachable"},
		// 500, not 503: the client retries Unavailable until the probe's
		// deadline, which would make the test as slow as the timeout.
		{"asset_down", "cloudasset.SearchAllResources", emulator.Fault{Code: 500}, "CloudAssetIsReachable"},
		{"sign_jwt_down", "iamcredentials.signJwt", emulator.Fault{Code: 500}, "IamCredentialsIsReachable"},
		{"service_account_keys_down", "iamcredentials.publicKeys", emulator.Fault{Code: 503}, "ServiceAccountKeysAreAvailable"},
		{"asset_denied_is_an_answer", "cloudasset.SearchAllResources", emulator.Fault{Code: 403}, ""},
		{"resource_manager_denied_is_an_answer", "cloudresourcemanager.*", emulator.Fault{Code: 403}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := apptest.Start(t)
			if tt.method != "" {
				h.Emulator.World.Faults.Set(tt.method, tt.fault)
			}
			status, details := readiness(t, h)
			want, wantStatus := allReady(), http.StatusOK
			if tt.detail != "" {
				want[tt.detail], wantStatus = false, http.StatusServiceUnavailable
			}
			if diff := cmp.Diff(want, details); status != wantStatus || diff != "" {
				t.Errorf("status %d (want %d), details (-want +got):\n%s", status, wantStatus, diff)
			}
		})
	}
}

// TestReadinessIsCached: probes within the cache's lifetime do not reach
// Google; after it, a failure shows.
func TestReadinessIsCached(t *testing.T) {
	t.Parallel()
	clock := emutest.NewClock(time.Now())
	h := apptest.Start(t, apptest.Options{Clock: clock.Now})
	if status, _ := readiness(t, h); status != http.StatusOK {
		t.Fatalf("first probe: %d", status)
	}
	h.Emulator.World.Faults.Set("iamcredentials.signJwt", emulator.Fault{Code: 503})
	for range 3 {
		if status, _ := readiness(t, h); status != http.StatusOK {
			t.Fatalf("a probe within the cache lifetime answered %d", status)
		}
	}
	clock.Advance(time.Minute)
	if status, details := readiness(t, h); status != http.StatusServiceUnavailable || details["IamCredentialsIsReachable"] != false {
		t.Errorf("after the cache lifetime: %d %v", status, details)
	}
}
