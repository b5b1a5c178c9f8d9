package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/jitaccess/jitaccess/internal/emulator"
)

// scaleRuns is how many times each operation runs per world size.
const scaleRuns = 5

// cost is the app's own cost of one operation.
type cost struct {
	latency       time.Duration // median
	allocs, bytes uint64        // per operation
	answer        int           // projects or roles in the answer
}

// scaleTable measures, as the synthetic world grows, the app's own cost of
// list projects, list roles, self-activate, My access and the request
// list with L = 0 and the cache
// off (every request does its work). The emulator runs in a child
// process, so allocations and bytes are this process's: the app's
// handler, called directly (no HTTP client in the measurement).
func (b *bench) scaleTable(ctx context.Context) error {
	b.p.f("## Scale: the app's own cost with L = 0, cache off, median of %d (user00000: 10 groups' worth of eligibility)\n\n", scaleRuns)
	tw := tabwriter.NewWriter(b.out, 0, 0, 1, ' ', 0)
	t := &printer{w: tw}
	t.f("| projects\t| catalog\t| operation\t| answer\t| latency\t| allocs/op\t| KiB/op\t| heap after\t|\n")
	t.f("|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|\n")
	user := emulator.SyntheticUser(0)
	project := emulator.SyntheticProject(0)
	for _, n := range b.s.scale {
		emu, err := b.startEmulator(ctx, "-world", "synthetic", "-projects", strconv.Itoa(n))
		if err != nil {
			return err
		}
		for _, c := range catalogs {
			a, err := b.startApp(ctx, emu.ep, map[string]string{
				"RESOURCE_CATALOG": c, "CATALOG_CACHE_TTL": "0",
				"RESOURCE_SCOPE": "organizations/" + emulator.SyntheticOrganization,
				// The synthetic world has no administrator or auditor
				// group; the demo's would not exist there.
				"ADMINISTRATOR_GROUP": "", "AUDITOR_GROUP": "",
			})
			if err != nil {
				emu.stop()
				return err
			}
			ops := []struct {
				name, method, path string
				body               any
				count              func([]byte) int
			}{
				{"list projects", http.MethodGet, "/api/projects", nil, countField("projects")},
				{"list roles", http.MethodGet, rolesPath(project), nil, countField("entitlements")},
				{"self-activate", http.MethodPost, "/api/projects/" + project + "/roles/self-activate", map[string]any{
					"entitlementIds": []string{project + ":roles/editor"}, "justification": "INC-1 scale", "activationTimeout": 30,
				}, countField("entitlements")},
				// The user's active activations (the one just made):
				// the live reads follow the user's projects, not the
				// organization's.
				{"my access", http.MethodGet, "/api/activations", nil, countField("activations")},
				{"my requests", http.MethodGet, "/api/requests?view=mine", nil, countField("requests")},
			}
			for _, op := range ops {
				cst, err := a.cost(ctx, user, op.method, op.path, op.body, op.count)
				if err != nil {
					a.close()
					emu.stop()
					return fmt.Errorf("%d projects, %s, %s: %w", n, c, op.name, err)
				}
				var ms runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&ms)
				t.f("| %d\t| %s\t| %s\t| %d\t| %.2f ms\t| %d\t| %.0f\t| %.1f MiB\t|\n",
					n, c, op.name, cst.answer, float64(cst.latency)/float64(time.Millisecond), cst.allocs, float64(cst.bytes)/1024, float64(ms.HeapInuse)/(1<<20))
			}
			a.close()
		}
		emu.stop()
	}
	if err := errors.Join(t.err, tw.Flush()); err != nil {
		return err
	}
	b.p.f("\n")
	return nil
}

// cost calls the app's handler directly scaleRuns times (after one
// warm-up call) and reports the median latency and the mean allocations.
func (a *appInstance) cost(ctx context.Context, user, method, path string, body any, count func([]byte) int) (cost, error) {
	h, err := a.headers(user)
	if err != nil {
		return cost{}, err
	}
	var raw []byte
	if body != nil {
		if raw, err = json.Marshal(body); err != nil {
			return cost{}, err
		}
	}
	call := func() (*httptest.ResponseRecorder, error) {
		req := httptest.NewRequestWithContext(ctx, method, path, bytes.NewReader(raw))
		for k, v := range h {
			req.Header.Set(k, v)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		a.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			return nil, fmt.Errorf("%d %s", rec.Code, rec.Body.String())
		}
		return rec, nil
	}
	rec, err := call()
	if err != nil {
		return cost{}, err
	}
	c := cost{answer: count(rec.Body.Bytes())}
	var before, after runtime.MemStats
	var lat []time.Duration
	runtime.ReadMemStats(&before)
	for range scaleRuns {
		t := time.Now()
		if _, err := call(); err != nil {
			return cost{}, err
		}
		lat = append(lat, time.Since(t))
	}
	runtime.ReadMemStats(&after)
	slices.Sort(lat)
	c.latency = lat[len(lat)/2]
	c.allocs = (after.Mallocs - before.Mallocs) / scaleRuns
	c.bytes = (after.TotalAlloc - before.TotalAlloc) / scaleRuns
	return c, nil
}

// countField counts the elements of a top-level JSON array field.
func countField(name string) func([]byte) int {
	return func(b []byte) int {
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil {
			return -1
		}
		var items []json.RawMessage
		if json.Unmarshal(m[name], &items) != nil {
			return -1
		}
		return len(items)
	}
}
