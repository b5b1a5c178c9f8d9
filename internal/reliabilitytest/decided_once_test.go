package reliabilitytest

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
)

// TestOneRequestApprovedThroughThreeInstancesAtOnce: both reviewers of one
// request click approve several times, through three instances that
// share nothing but Google, with writes slowed so that they overlap. The
// request is decided exactly once: one 200, every other answer 409, and
// one binding. Before, every approval wrote (the last one winning), so a
// request could be approved any number of times.
func TestOneRequestApprovedThroughThreeInstancesAtOnce(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, nil)
	w := c.Emulator.World
	const resource = "projects/shared-networking"
	r := c.pick(0).Do(t, "alice@example.com", http.MethodPost, "/api/projects/shared-networking/roles/request", map[string]any{
		"entitlementId": "shared-networking:roles/compute.networkAdmin", "justification": "CHG-9 firewall",
		"peers": []string{"bob@example.com", "carol@example.com"}, "activationTimeout": 30,
	})
	if r.Status != 200 {
		t.Fatalf("request = %d %s", r.Status, r.Body)
	}
	u, err := url.Parse(linkPattern.FindString(c.Outbox.Messages()[0].Text))
	if err != nil {
		t.Fatal(err)
	}
	path := "/api/activation-request?activation=" + url.QueryEscape(u.Query().Get("activation"))

	// Slow writes, so that the others read the policy while the first
	// write is on its way and meet it at the etag.
	w.Faults.Set("cloudresourcemanager.projects.setIamPolicy", emulator.Fault{Latency: 300 * time.Millisecond})
	writes, calls := w.PolicyWrites(resource), w.Faults.Calls("cloudresourcemanager.projects.setIamPolicy")
	const clicks = 12
	statuses := make([]int, clicks)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clicks {
		wg.Go(func() {
			<-start
			reviewer := []string{"bob@example.com", "carol@example.com"}[i%2]
			statuses[i] = c.pick(i).Do(t, reviewer, http.MethodPost, path, nil).Status
		})
	}
	close(start)
	wg.Wait()
	w.Faults.Clear()

	slices.Sort(statuses)
	if statuses[0] != 200 || statuses[1] != http.StatusConflict || statuses[clicks-1] != http.StatusConflict {
		t.Errorf("answers = %v, want one 200 and %d × 409", statuses, clicks-1)
	}
	n := 0
	for _, b := range emutest.Activations(t, w, resource) {
		if b.Members[0] == "user:alice@example.com" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d activation bindings for alice, want exactly 1", n)
	}
	wrote := w.PolicyWrites(resource) - writes
	t.Logf("%d approvals of one request through 3 instances at once: %d policy write(s), %d write(s) refused for a stale etag, answers %v",
		clicks, wrote, w.Faults.Calls("cloudresourcemanager.projects.setIamPolicy")-calls-wrote, statuses)
}

// TestThreeApproversAtOnceThroughThreeInstances: a request needing 2 of 3
// dedicated approvers (the demo world's securitycenter.admin), all three
// approving at the same moment, each through another instance. The
// approvals meet at the policy's etag: one is recorded, the next completes
// the quorum and writes the binding, the third is told it was already
// approved. Repeated, so that different interleavings are tried; never an
// approval counted twice, lost, or a second binding.
func TestThreeApproversAtOnceThroughThreeInstances(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, nil)
	w := c.Emulator.World
	const resource = "projects/security-tools"
	approvers := []string{"alice@example.com", "carol@example.com", "heidi@example.com"}
	rounds := 5
	if testing.Short() {
		rounds = 2
	}
	w.Faults.Set("cloudresourcemanager.projects.setIamPolicy", emulator.Fault{Latency: 300 * time.Millisecond})
	defer w.Faults.Clear()
	writes, calls := w.PolicyWrites(resource), w.Faults.Calls("cloudresourcemanager.projects.setIamPolicy")
	for round := range rounds {
		before := len(c.Outbox.Messages())
		r := c.pick(round).Do(t, "frank@example.com", http.MethodPost, "/api/projects/security-tools/roles/request", map[string]any{
			"entitlementId": "security-tools:roles/securitycenter.admin", "justification": "INC-" + string(rune('1'+round)),
			"peers": approvers, "activationTimeout": 30,
		})
		if r.Status != 200 {
			t.Fatalf("request = %d %s", r.Status, r.Body)
		}
		msgs := c.Outbox.Messages()
		if len(msgs) <= before {
			t.Fatal("no request email")
		}
		u, err := url.Parse(linkPattern.FindString(msgs[len(msgs)-1].Text))
		if err != nil {
			t.Fatal(err)
		}
		path := "/api/activation-request?activation=" + url.QueryEscape(u.Query().Get("activation"))
		statuses := make([]int, len(approvers))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, a := range approvers {
			wg.Go(func() {
				<-start
				statuses[i] = c.Instances[i].Do(t, a, http.MethodPost, path, nil).Status
			})
		}
		close(start)
		wg.Wait()
		slices.Sort(statuses)
		if !slices.Equal(statuses, []int{200, 200, http.StatusConflict}) {
			t.Errorf("round %d: answers %v, want 200, 200, 409", round, statuses)
		}
		var ours []emulator.Binding
		for _, b := range emutest.Activations(t, w, resource) {
			if b.Members[0] == "user:frank@example.com" && b.Condition.Description != "" &&
				slices.Contains([]string{"INC-" + string(rune('1'+round))}, justificationOf(b.Condition.Description)) {
				ours = append(ours, b)
			}
		}
		if len(ours) != 1 {
			t.Errorf("round %d: %d bindings for the request, want exactly 1", round, len(ours))
		}
	}
	wrote := w.PolicyWrites(resource) - writes
	t.Logf("%d rounds of 3 approvers (2 needed) through 3 instances at once: %d policy writes (2 per round), %d writes refused for a stale etag",
		rounds, wrote, w.Faults.Calls("cloudresourcemanager.projects.setIamPolicy")-calls-wrote)
}

// justificationOf reads "…, justification: J (request …)".
func justificationOf(desc string) string {
	_, j, _ := strings.Cut(desc, ", justification: ")
	j, _, _ = strings.Cut(j, " (request ")
	return j
}

// TestWithdrawalAndApprovalsAtOnceThroughThreeInstances: the requester
// withdraws while both reviewers approve, each through another instance,
// writes slowed so that they meet at the etag. Exactly one decision wins,
// five rounds over: either the withdrawal (no binding, every approval 409)
// or an approval (one binding, the withdrawal 409), and the request's
// state says which.
func TestWithdrawalAndApprovalsAtOnceThroughThreeInstances(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, nil)
	w := c.Emulator.World
	const resource = "projects/shared-networking"
	outcomes := map[string]int{}
	for round := range 5 {
		mails := len(c.Outbox.Messages())
		r := c.pick(round).Do(t, "alice@example.com", http.MethodPost, "/api/projects/shared-networking/roles/request", map[string]any{
			"entitlementId": "shared-networking:roles/compute.networkAdmin", "justification": "CHG-9 firewall",
			"peers": []string{"bob@example.com", "carol@example.com"}, "activationTimeout": 30,
		})
		if r.Status != 200 {
			t.Fatalf("request = %d %s", r.Status, r.Body)
		}
		u, err := url.Parse(linkPattern.FindString(c.Outbox.Messages()[mails].Text))
		if err != nil {
			t.Fatal(err)
		}
		token := url.QueryEscape(u.Query().Get("activation"))
		before := 0
		for _, b := range emutest.Activations(t, w, resource) {
			if b.Members[0] == "user:alice@example.com" {
				before++
			}
		}
		w.Faults.Set("cloudresourcemanager.projects.setIamPolicy", emulator.Fault{Latency: 200 * time.Millisecond})
		type call struct{ user, path string }
		calls := []call{
			{"alice@example.com", "/api/activation-request/withdraw?activation=" + token},
			{"bob@example.com", "/api/activation-request?activation=" + token},
			{"carol@example.com", "/api/activation-request?activation=" + token},
		}
		statuses := make([]int, len(calls))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, cl := range calls {
			wg.Go(func() {
				<-start
				statuses[i] = c.pick(i).Do(t, cl.user, http.MethodPost, cl.path, nil).Status
			})
		}
		close(start)
		wg.Wait()
		w.Faults.Clear()

		granted := -before
		for _, b := range emutest.Activations(t, w, resource) {
			if b.Members[0] == "user:alice@example.com" {
				granted++
			}
		}
		var state map[string]any
		if err := jsonUnmarshal(c.pick(round).Do(t, "alice@example.com", http.MethodGet, "/api/activation-request?activation="+token, nil).Body, &state); err != nil {
			t.Fatal(err)
		}
		ok := slices.Equal(slices.Sorted(slices.Values(statuses)), []int{200, 409, 409})
		switch {
		case ok && statuses[0] == 200 && granted == 0 && state["status"] == "WITHDRAWN":
			outcomes["withdrawn"]++
		case ok && statuses[0] == 409 && granted == 1 && state["status"] == "APPROVED":
			outcomes["approved"]++
		default:
			t.Errorf("round %d: answers (withdraw, bob, carol) = %v, %d binding(s) written, state %v", round, statuses, granted, state["status"])
		}
	}
	t.Logf("withdrawal against two approvals through 3 instances, 5 rounds: %v", outcomes)
}
