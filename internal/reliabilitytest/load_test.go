package reliabilitytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/googleapi"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
)

func ours(t *testing.T, w *emulator.World, resource string) map[string]int {
	out := map[string]int{}
	for _, b := range emutest.Activations(t, w, resource) {
		out[b.Members[0]+" "+b.Role]++
	}
	return out
}

// TestConcurrentSelfActivationsThroughTheAPI: 200 users of one group
// activate the same role on one project at the same moment, with
// Resource Manager slowed down so that writes overlap.
func TestConcurrentSelfActivationsThroughTheAPI(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	w := h.Emulator.World
	const n = 200
	var members []string
	for i := range n {
		email := fmt.Sprintf("dev%03d@example.com", i)
		w.AddUser(emulator.User{Email: email})
		members = append(members, "user:"+email)
	}
	g, _ := w.Group("developers@example.com")
	g.Members = append(g.Members, members...)
	w.AddGroup(g)
	w.Faults.Set("cloudresourcemanager.projects.setIamPolicy", emulator.Fault{Latency: 20 * time.Millisecond})
	const resource = "projects/dev-playground"
	before := emutest.Others(t, w, resource)

	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() {
			r := h.Do(t, fmt.Sprintf("dev%03d@example.com", i), http.MethodPost, "/api/projects/dev-playground/roles/self-activate", map[string]any{
				"entitlementIds": []string{"dev-playground:roles/editor"}, "justification": fmt.Sprintf("INC-%d", i), "activationTimeout": 60,
			})
			statuses[i] = r.Status
		})
	}
	wg.Wait()
	failed := slices.IndexFunc(statuses, func(s int) bool { return s != 200 })
	if failed >= 0 {
		t.Errorf("activation %d answered %d", failed, statuses[failed])
	}
	got := ours(t, w, resource)
	lost, duplicated := 0, 0
	for i := range n {
		switch got[fmt.Sprintf("user:dev%03d@example.com roles/editor", i)] {
		case 0:
			lost++
		case 1:
		default:
			duplicated++
		}
	}
	if lost+duplicated > 0 {
		t.Errorf("%d bindings lost, %d duplicated", lost, duplicated)
	}
	if after := emutest.Others(t, w, resource); !slices.Equal(before, after) {
		t.Errorf("bindings jitaccess did not write changed:\nbefore %v\nafter  %v", before, after)
	}
	t.Logf("%d concurrent self-activations through the API: %d held, %d policy writes, %d lost, %d duplicated",
		n, len(got), w.PolicyWrites(resource), lost, duplicated)
}

// TestConcurrentActivationsAndApprovalsAcrossInstances is the load test
// of issue #8: three app instances behind one "load balancer" share one
// project. At the same moment, selfN users self-activate, mpaN requests
// are each approved by two reviewers at once (through different
// instances), and an administrator edits the same policy by hand with
// Resource Manager. Writes are slowed so that they overlap, which forces
// etag conflicts between the instances and the administrator. Afterwards
// every activation holds exactly one binding, no request holds two, and
// every binding jitaccess did not write is byte for byte what it was or
// what the administrator added.
func TestConcurrentActivationsAndApprovalsAcrossInstances(t *testing.T) {
	t.Parallel()
	selfN, mpaN, adminN := 200, 50, 20
	if testing.Short() {
		selfN, mpaN, adminN = 40, 10, 5
	}
	c := startCluster(t, 3, nil)
	w := c.Emulator.World
	const project = "dev-playground"
	const resource = "projects/" + project
	const mpaRole = "roles/cloudsql.admin"
	reviewers := []string{"dave@example.com", "erin@example.com"}

	// Users, and an MPA-eligible role on the same project.
	g, _ := w.Group("developers@example.com")
	for i := range selfN {
		email := fmt.Sprintf("dev%03d@example.com", i)
		w.AddUser(emulator.User{Email: email})
		g.Members = append(g.Members, "user:"+email)
	}
	for i := range mpaN {
		email := fmt.Sprintf("mpa%03d@example.com", i)
		w.AddUser(emulator.User{Email: email})
		g.Members = append(g.Members, "user:"+email)
	}
	w.AddGroup(g)
	p, _ := w.Policy(resource)
	p.Version = 3
	p.Bindings = append(p.Bindings, emulator.Binding{Role: mpaRole, Members: []string{"group:developers@example.com"},
		Condition: &emulator.Expr{Title: "Eligible with peer approval", Expression: "has({}.multiPartyApprovalConstraint)"}})
	if _, err := w.SetIamPolicy(resource, p); err != nil {
		t.Fatal(err)
	}

	// Phase 1: the MPA requests, concurrently; their tokens from the emails.
	var wg sync.WaitGroup
	requests := make([]apptest.Response, mpaN)
	for i := range mpaN {
		wg.Go(func() {
			requests[i] = c.pick(i).Do(t, fmt.Sprintf("mpa%03d@example.com", i), http.MethodPost, "/api/projects/"+project+"/roles/request", map[string]any{
				"entitlementId": project + ":" + mpaRole, "justification": fmt.Sprintf("CHG-%d", i), "peers": reviewers, "activationTimeout": 60,
			})
		})
	}
	wg.Wait()
	tokens := map[string]string{} // beneficiary → token
	for _, m := range c.Outbox.Messages() {
		requester, _, ok := strings.Cut(m.Subject, " requests access")
		if !ok {
			continue
		}
		u, err := url.Parse(linkPattern.FindString(m.Text))
		if err != nil {
			t.Fatal(err)
		}
		tokens[requester] = u.Query().Get("activation")
	}
	for i, r := range requests {
		if r.Status != 200 {
			t.Fatalf("request %d answered %d %s", i, r.Status, r.Body)
		}
	}
	if len(tokens) != mpaN {
		t.Fatalf("%d approval emails for %d requests", len(tokens), mpaN)
	}

	// Phase 2: everything at once, with writes slowed so that they overlap.
	w.Faults.Set("cloudresourcemanager.projects.setIamPolicy", emulator.Fault{Latency: 20 * time.Millisecond})
	before := emutest.Others(t, w, resource)
	writesBefore, callsBefore := w.PolicyWrites(resource), w.Faults.Calls("cloudresourcemanager.projects.setIamPolicy")
	selfStatus := make([]int, selfN)
	approvalStatus := make([]int, 2*mpaN)
	approvalBody := make([]string, 2*mpaN)
	start := make(chan struct{})
	for i := range selfN {
		wg.Go(func() {
			<-start
			selfStatus[i] = c.pick(i).Do(t, fmt.Sprintf("dev%03d@example.com", i), http.MethodPost, "/api/projects/"+project+"/roles/self-activate", map[string]any{
				"entitlementIds": []string{project + ":roles/editor"}, "justification": fmt.Sprintf("INC-%d", i), "activationTimeout": 60,
			}).Status
		})
	}
	for i := range 2 * mpaN {
		// The two reviewers of one request approve through different instances.
		wg.Go(func() {
			<-start
			token := tokens[fmt.Sprintf("mpa%03d@example.com", i/2)]
			r := c.pick(i).Do(t, reviewers[i%2], http.MethodPost, "/api/activation-request?activation="+url.QueryEscape(token), nil)
			approvalStatus[i], approvalBody[i] = r.Status, string(r.Body)
		})
	}
	var adminConflicts atomic.Int64
	admin := make([]string, adminN)
	wg.Go(func() {
		<-start
		crm, err := cloudresourcemanager.NewService(t.Context(), c.Emulator.HTTPClientOptions()...)
		if err != nil {
			t.Error(err)
			return
		}
		for i := range adminN {
			b := &cloudresourcemanager.Binding{Role: "roles/viewer", Members: []string{fmt.Sprintf("user:ops%02d@example.com", i)},
				Condition: &cloudresourcemanager.Expr{Title: fmt.Sprintf("Break-glass %02d", i), Expression: `request.time < timestamp("2099-01-01T00:00:00Z")`}}
			j, _ := json.Marshal(emulator.Binding{Role: b.Role, Members: b.Members, Condition: &emulator.Expr{Title: b.Condition.Title, Expression: b.Condition.Expression}})
			admin[i] = string(j)
			conflicts, err := adminAddBinding(t.Context(), crm, resource, b)
			adminConflicts.Add(int64(conflicts))
			if err != nil {
				t.Errorf("administrator's write %d: %v", i, err)
				return
			}
		}
	})
	began := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(began)
	w.Faults.Clear()

	if i := slices.IndexFunc(selfStatus, func(s int) bool { return s != 200 }); i >= 0 {
		t.Errorf("self-activation %d answered %d", i, selfStatus[i])
	}
	// Each request is decided once: one reviewer's approval wins, the
	// other is told it was already approved.
	for i := range mpaN {
		pair := []int{approvalStatus[2*i], approvalStatus[2*i+1]}
		slices.Sort(pair)
		if pair[0] != 200 || pair[1] != http.StatusConflict {
			t.Errorf("approvals of request %d answered %v (%s | %s), want one 200 and one 409", i, pair, approvalBody[2*i], approvalBody[2*i+1])
		}
	}
	got := ours(t, w, resource)
	lost, duplicated := 0, 0
	count := func(key string) {
		switch got[key] {
		case 0:
			lost++
		case 1:
		default:
			duplicated++
		}
	}
	for i := range selfN {
		count(fmt.Sprintf("user:dev%03d@example.com roles/editor", i))
	}
	for i := range mpaN {
		count(fmt.Sprintf("user:mpa%03d@example.com %s", i, mpaRole))
	}
	if held := len(got); lost+duplicated > 0 || held != selfN+mpaN {
		t.Errorf("%d activation bindings held for %d activations: %d lost, %d duplicated", held, selfN+mpaN, lost, duplicated)
	}
	after := emutest.Others(t, w, resource)
	want := slices.Concat(before, admin)
	slices.Sort(want)
	slices.Sort(after)
	if diff := cmp.Diff(want, after); diff != "" {
		t.Errorf("bindings jitaccess did not write (-want +got):\n%s", diff)
	}
	writes := w.PolicyWrites(resource) - writesBefore
	rejected := w.Faults.Calls("cloudresourcemanager.projects.setIamPolicy") - callsBefore - writes
	t.Logf("3 instances, %d self-activations + %d approvals (2 per request) + %d administrator edits at once on %s in %v: "+
		"%d activation bindings held, %d lost, %d duplicated; %d policy writes, %d writes rejected for a stale etag and retried (%d of them the administrator's)",
		selfN, 2*mpaN, adminN, resource, elapsed.Round(time.Millisecond), len(got), lost, duplicated, writes, rejected, adminConflicts.Load())
}

// adminAddBinding is an administrator's careful read-modify-write, as
// gcloud does it: it retries on a stale etag and reports how many times.
func adminAddBinding(ctx context.Context, crm *cloudresourcemanager.Service, resource string, b *cloudresourcemanager.Binding) (int, error) {
	for conflicts := 0; conflicts < 1000; conflicts++ {
		p, err := crm.Projects.GetIamPolicy(resource, &cloudresourcemanager.GetIamPolicyRequest{
			Options: &cloudresourcemanager.GetPolicyOptions{RequestedPolicyVersion: 3},
		}).Context(ctx).Do()
		if err != nil {
			return conflicts, err
		}
		p.Bindings = append(p.Bindings, b)
		p.Version = 3
		_, err = crm.Projects.SetIamPolicy(resource, &cloudresourcemanager.SetIamPolicyRequest{Policy: p, UpdateMask: "bindings,etag"}).Context(ctx).Do()
		var apiErr *googleapi.Error
		if errors.As(err, &apiErr) && apiErr.Code == http.StatusConflict {
			continue
		}
		return conflicts, err
	}
	return 1000, errors.New("gave up after 1000 conflicts")
}
