package iam_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/option"

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
	c := iam.New(crm, iam.Options{BaseBackoff: time.Millisecond})
	now := time.Now().UTC().Truncate(time.Second)
	req := jit.ActivationRequest{ID: "mpa-lost", Beneficiary: "erin@example.com", Reviewers: []jit.UserID{"dave@example.com"},
		Entitlement: jit.Entitlement{Project: "prod-payments-api", Role: "roles/run.developer"}, Justification: "CHG-1",
		Duration: time.Hour, RequestedAt: now, ApproveBy: now.Add(time.Hour)}
	act := jit.Activation{ID: req.ID, Type: jit.MPA, Beneficiary: req.Beneficiary, Entitlement: req.Entitlement,
		Justification: req.Justification, Approver: "dave@example.com", Start: now, End: now.Add(time.Hour)}
	var mu sync.Mutex
	calls := 0
	rec, err := c.Decide(t.Context(), req, func(rec jit.RequestRecord) (jit.Decision, error) {
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
