package iam_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/option"

	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/iam"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// loseAnswers passes setIamPolicy on to the emulator but, while armed,
// answers 500 as if the answer had been lost on the way back.
type loseAnswers struct {
	next  http.RoundTripper
	armed atomic.Int32
}

func (l *loseAnswers) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err != nil || !strings.HasSuffix(r.URL.Path, ":setIamPolicy") || l.armed.Add(-1) < 0 {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return &http.Response{StatusCode: 500, Header: http.Header{"Content-Type": {"application/json"}}, Request: r,
		Body: io.NopCloser(strings.NewReader(`{"error":{"code":500,"message":"lost"}}`))}, nil
}

// TestDecideWhoseAnswerWasLost: the write of an approval reaches the
// policy but its answer is lost; the retry reads the policy, finds its own
// decision there and reports it as made, instead of "already approved"
// to the approver whose approval it is, and writes nothing more.
func TestDecideWhoseAnswerWasLost(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	lose := &loseAnswers{next: http.DefaultTransport}
	lose.armed.Store(1)
	crm, err := cloudresourcemanager.NewService(t.Context(), append(e.HTTPClientOptions(), option.WithHTTPClient(&http.Client{Transport: lose}))...)
	if err != nil {
		t.Fatal(err)
	}
	c := iam.New(crm, iam.Options{BaseBackoff: time.Millisecond, Unconfirmed: true})
	now := time.Now().UTC().Truncate(time.Second)
	req := jit.ActivationRequest{ID: "mpa-lost", Beneficiary: "erin@example.com", Reviewers: []jit.UserID{"dave@example.com"},
		Entitlement: jit.Entitlement{Project: "prod-payments-api", Role: "roles/run.developer"}, Justification: "CHG-1",
		Duration: time.Hour, RequestedAt: now, ApproveBy: now.Add(time.Hour)}
	act := jit.Activation{ID: req.ID, Type: jit.MPA, Beneficiary: req.Beneficiary, Entitlement: req.Entitlement,
		Justification: req.Justification, Approver: "dave@example.com", Start: now, End: now.Add(time.Hour)}
	var mu sync.Mutex
	calls := 0
	rec, err := c.Decide(t.Context(), req, jit.Confirmation{}, func(rec jit.RequestRecord) (jit.Decision, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if rec.Unconfirmed && rec.Granted != nil && rec.Granted.Approver == "dave@example.com" {
			return jit.Decision{Landed: true}, nil
		}
		if rec.Granted != nil {
			return jit.Decision{}, jit.E("test", jit.KindConflict, "already approved", nil)
		}
		return jit.Decision{Approve: "dave@example.com", Grant: &act}, nil
	})
	if err != nil || rec.Granted == nil || rec.Granted.Approver != "dave@example.com" || calls != 2 {
		t.Fatalf("Decide = %+v, %v after %d reads", rec, err, calls)
	}
	if n := len(emutest.Activations(t, e.World, "projects/prod-payments-api")); n != 1 {
		t.Errorf("%d activation bindings, want 1", n)
	}
	if n := e.World.PolicyWrites("projects/prod-payments-api"); n != 1 {
		t.Errorf("%d policy writes, want the one whose answer was lost", n)
	}
	// Read back: the record is the grant.
	got, err := c.RequestRecord(t.Context(), req)
	if err != nil || got.Granted == nil || !got.Granted.Start.Equal(now) || got.Granted.Entitlement.Project != "prod-payments-api" {
		t.Errorf("RequestRecord = %+v, %v", got, err)
	}
}

// TestConcurrentDecisionsAreCommittedTogether: 30 approvals of different
// requests on one project at once, in one instance, share writes instead
// of fighting over the etag; two approvals of the same request in one
// batch see each other (one grant, one "already").
func TestConcurrentDecisionsAreCommittedTogether(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	e.World.Faults.Set("cloudresourcemanager.projects.setIamPolicy", emulator.Fault{Latency: 50 * time.Millisecond})
	c := newTestClient(t, e, iam.Options{})
	now := time.Now().UTC().Truncate(time.Second)
	const n = 30
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	for i := range n + 1 {
		id := fmt.Sprintf("mpa-r%02d", min(i, n-1)) // the last two decide the same request
		user := jit.UserID(fmt.Sprintf("u%02d@example.com", min(i, n-1)))
		req := jit.ActivationRequest{ID: id, Beneficiary: user, Reviewers: []jit.UserID{"dave@example.com"},
			Entitlement: jit.Entitlement{Project: "dev-playground", Role: "roles/viewer"}, Justification: "CHG-1",
			Duration: time.Hour, RequestedAt: now, ApproveBy: now.Add(time.Hour)}
		wg.Go(func() {
			_, errs[i] = c.Decide(t.Context(), req, jit.Confirmation{}, func(rec jit.RequestRecord) (jit.Decision, error) {
				if rec.Granted != nil {
					return jit.Decision{}, jit.E("test", jit.KindConflict, "already approved", nil)
				}
				a := jit.Activation{ID: req.ID, Type: jit.MPA, Beneficiary: req.Beneficiary, Entitlement: req.Entitlement,
					Justification: req.Justification, Approver: "dave@example.com", Start: now, End: now.Add(time.Hour)}
				return jit.Decision{Approve: "dave@example.com", Grant: &a}, nil
			})
		})
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
			if jit.KindOf(err) != jit.KindConflict {
				t.Errorf("unexpected error %v", err)
			}
		}
	}
	writes := e.World.PolicyWrites("projects/dev-playground")
	if got := len(emutest.Activations(t, e.World, "projects/dev-playground")); got != n || failed != 1 || writes > n/3 {
		t.Errorf("%d bindings for %d requests, %d refused (want 1: the same request twice), %d writes", got, n, failed, writes)
	}
	t.Logf("%d decisions at once: %d policy writes", n+1, writes)
}
