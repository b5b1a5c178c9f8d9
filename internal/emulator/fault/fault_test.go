package fault

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestFaultsApply(t *testing.T) {
	t.Parallel()
	var f Faults
	f.Set("svc.*", Fault{Code: 503, Count: 2})
	f.Set("svc.b", Fault{Latency: time.Millisecond})
	for i, want := range []int{503, 503, 0} {
		err := f.Apply(t.Context(), "svc.a")
		got := 0
		if err != nil {
			got = err.HTTPCode
		}
		if got != want {
			t.Errorf("call %d: %d, want %d", i, got, want)
		}
	}
	if err := f.Apply(t.Context(), "svc.b"); err != nil {
		t.Errorf("latency-only fault returned %v", err)
	}
	if f.Calls("svc.a") != 3 || f.Calls("svc.b") != 1 {
		t.Errorf("calls = %d, %d", f.Calls("svc.a"), f.Calls("svc.b"))
	}
	f.Set("svc.b", Fault{})
	if len(f.List()) != 0 {
		t.Errorf("faults left: %v", f.List())
	}
}

func TestFaultsCountCallsTheirCallerAbandoned(t *testing.T) {
	t.Parallel()
	var f Faults
	f.Set("svc.hang", Fault{Latency: time.Hour})
	f.Set("svc.slow", Fault{Latency: time.Microsecond})
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	if err := f.Apply(gone, "svc.hang"); err == nil || err.Status != "DEADLINE_EXCEEDED" {
		t.Errorf("abandoned call = %v, want DEADLINE_EXCEEDED", err)
	}
	if err := f.Apply(t.Context(), "svc.slow"); err != nil {
		t.Errorf("a latency waited out = %v", err)
	}
	got := [][3]int{
		{f.Calls("svc.hang"), f.Held("svc.hang"), f.Abandoned("svc.hang")},
		{f.Calls("svc.slow"), f.Held("svc.slow"), f.Abandoned("svc.slow")},
	}
	if want := [][3]int{{1, 0, 1}, {1, 0, 0}}; !slices.Equal(got, want) {
		t.Errorf("calls, held, abandoned = %v, want %v", got, want)
	}
	if n := f.Abandoned("svc.*"); n != 1 {
		t.Errorf("Abandoned(svc.*) = %d, want 1", n)
	}
}

// TestInjectedErrorsCarryGooglesErrorInfo: a 403 names the permission as
// IAM does and a 429 the rate limit, as Google's answers do.
func TestInjectedErrorsCarryGooglesErrorInfo(t *testing.T) {
	t.Parallel()
	var f Faults
	f.Set("*", Fault{Code: 403})
	for method, want := range map[string]string{
		"cloudresourcemanager.projects.getIamPolicy": "resourcemanager.projects.getIamPolicy",
		"iamcredentials.signJwt":                     "iam.serviceAccounts.signJwt",
		"cloudasset.AnalyzeIamPolicy":                "cloudasset.assets.analyzeIamPolicy",
		"logging.WriteLogEntries":                    "logging.logEntries.create",
		"iap.publicKeys":                             "iap.publicKeys",
	} {
		err := f.Apply(t.Context(), method)
		if err == nil || err.Info == nil || err.Info.Reason != "IAM_PERMISSION_DENIED" || err.Info.Metadata["permission"] != want {
			t.Errorf("%s: %+v, want IAM_PERMISSION_DENIED for %s", method, err, want)
		}
	}
	f.Set("*", Fault{Code: 429})
	if err := f.Apply(t.Context(), "cloudasset.SearchAllResources"); err == nil || err.Info == nil || err.Info.Reason != "RATE_LIMIT_EXCEEDED" {
		t.Errorf("429: %+v, want RATE_LIMIT_EXCEEDED", err)
	}
	f.Set("*", Fault{Code: 503})
	if err := f.Apply(t.Context(), "cloudasset.SearchAllResources"); err == nil || err.Info != nil {
		t.Errorf("503: %+v, want no ErrorInfo", err)
	}
}
