package reliabilitytest

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

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
