package reliabilitytest

import (
	"net/http"
	"net/url"
	"slices"
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

	w.Faults.Set("cloudresourcemanager.projects.setIamPolicy", emulator.Fault{Latency: 20 * time.Millisecond})
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
}
