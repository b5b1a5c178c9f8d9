package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jitaccess/jitaccess/internal/outbox"
)

var catalogs = []string{"PolicyAnalyzer", "AssetInventory"}

// operation is one row of the ratio table, in the demo world.
type operation struct {
	name string
	// floor is, per catalog, the number of Google round trips that must
	// wait for each other (docs/performance.md says why).
	floor map[string]int
	// prepare does, unmeasured, what the UI does before the operation
	// (the reads a user makes on the way); it returns what act needs.
	prepare func(ctx context.Context, a *appInstance) (string, error)
	act     func(ctx context.Context, a *appInstance, prepared string) error
	// elsewhere runs act on another fresh instance than prepare: the
	// reviewer opens the email later, on whichever instance serves them.
	elsewhere bool
	// warm runs, unmeasured, on the instance of act just before it.
	warm func(ctx context.Context, a *appInstance, prepared string) error
}

const (
	mpaProject     = "prod-payments-api"
	mpaEntitlement = "prod-payments-api:roles/run.developer"
	jitProject     = "prod-payments-db"
	jitEntitlement = "prod-payments-db:roles/cloudsql.client"
	requester      = "erin@example.com" // MPA-eligible through a group
	reviewer       = "dave@example.com" // MPA-eligible directly; JIT-eligible on jitProject
)

func both(n int) map[string]int { return map[string]int{"PolicyAnalyzer": n, "AssetInventory": n} }

func get(path, user string) func(context.Context, *appInstance, string) error {
	return func(ctx context.Context, a *appInstance, _ string) error {
		_, err := a.do(ctx, user, http.MethodGet, path, nil)
		return err
	}
}

var (
	rolesPath = func(p string) string { return "/api/projects/" + p + "/roles" }
	peersPath = "/api/projects/" + mpaProject + "/peers?id=" + url.QueryEscape(mpaEntitlement)
)

// requestApproval makes requester ask reviewer and returns the token of
// the approval link mailed to the reviewer.
func requestApproval(ctx context.Context, a *appInstance) (string, error) {
	// As in the UI, the requester picks the role on the project's roles
	// page first (which is also when the instance learns the project's
	// ancestry, and the request then carries it to the reviewer's).
	if _, err := a.do(ctx, requester, http.MethodGet, rolesPath(mpaProject), nil); err != nil {
		return "", err
	}
	if _, err := a.do(ctx, requester, http.MethodPost, "/api/projects/"+mpaProject+"/roles/request", map[string]any{
		"entitlementId": mpaEntitlement, "justification": "CHG-1 bench", "peers": []string{reviewer}, "activationTimeout": 30,
	}); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := a.outbox.WaitFor(ctx, func(m outbox.Message) bool { return slices.Contains(m.To, reviewer) })
	if err != nil {
		return "", fmt.Errorf("no approval email: %w", err)
	}
	link := linkPattern.FindString(m.Text)
	u, err := url.Parse(link)
	if link == "" || err != nil || u.Query().Get("activation") == "" {
		return "", errors.New("no approval link in the email")
	}
	return u.Query().Get("activation"), nil
}

// activateAndFind activates the reviewer's JIT role, as on the roles
// page, and returns the activation's id from My access.
func activateAndFind(ctx context.Context, a *appInstance) (string, error) {
	if _, err := a.do(ctx, reviewer, http.MethodPost, "/api/projects/"+jitProject+"/roles/self-activate", map[string]any{
		"entitlementIds": []string{jitEntitlement}, "justification": "INC-1 bench", "activationTimeout": 30,
	}); err != nil {
		return "", err
	}
	body, err := a.do(ctx, reviewer, http.MethodGet, "/api/activations", nil)
	if err != nil {
		return "", err
	}
	var access struct {
		Activations []struct {
			ID       string `json:"id"`
			Resource string `json:"resource"`
			Role     string `json:"role"`
		} `json:"activations"`
	}
	if err := json.Unmarshal(body, &access); err != nil {
		return "", err
	}
	for _, g := range access.Activations {
		if g.Resource == "projects/"+jitProject && g.Role == "roles/cloudsql.client" {
			return g.ID, nil
		}
	}
	return "", errors.New("my access does not list the activation")
}

var linkPattern = regexp.MustCompile(`https?://[^\s"<>]+\?activation=[^\s"<>]+`)

func requestPath(token string) string {
	return "/api/activation-request?activation=" + url.QueryEscape(token)
}

func operations() []operation {
	none := func(context.Context, *appInstance) (string, error) { return "", nil }
	return []operation{
		{name: "list projects", floor: both(1), prepare: none, act: get("/api/projects", reviewer)},
		{name: "list roles", floor: both(1), prepare: none, act: get(rolesPath(mpaProject), reviewer)},
		{
			// AssetInventory with GROUP_MEMBERSHIP=direct (the default, as
			// 1.8.1): the effective policies name the groups, then the
			// Directory API lists their members; transitive (Cloud
			// Identity) needs groups.lookup between the two, a floor of 3.
			name: "list peers", floor: map[string]int{"PolicyAnalyzer": 1, "AssetInventory": 2},
			prepare: none, act: get(peersPath, requester),
		},
		{
			name: "self-activate", floor: both(3),
			prepare: func(ctx context.Context, a *appInstance) (string, error) {
				_, err := a.do(ctx, reviewer, http.MethodGet, rolesPath(jitProject), nil)
				return "", err
			},
			act: func(ctx context.Context, a *appInstance, _ string) error {
				_, err := a.do(ctx, reviewer, http.MethodPost, "/api/projects/"+jitProject+"/roles/self-activate", map[string]any{
					"entitlementIds": []string{jitEntitlement}, "justification": "INC-1 bench", "activationTimeout": 30,
				})
				return err
			},
		},
		{
			name: "request approval", floor: both(2),
			prepare: func(ctx context.Context, a *appInstance) (string, error) {
				if _, err := a.do(ctx, requester, http.MethodGet, rolesPath(mpaProject), nil); err != nil {
					return "", err
				}
				_, err := a.do(ctx, requester, http.MethodGet, peersPath, nil)
				return "", err
			},
			act: func(ctx context.Context, a *appInstance, _ string) error {
				_, err := requestApproval(ctx, a)
				return err
			},
		},
		{
			name: "view request", floor: both(2), prepare: requestApproval, elsewhere: true,
			act: func(ctx context.Context, a *appInstance, token string) error {
				_, err := a.do(ctx, reviewer, http.MethodGet, requestPath(token), nil)
				return err
			},
		},
		{
			// Candidates: the catalog's projects (1: Policy Analyzer or
			// projects.search), read live (1) while Asset's index is
			// searched; then the audit record (1).
			name: "my access", floor: both(3), prepare: none, act: get("/api/activations", reviewer),
		},
		{
			name: "my access, warm", floor: both(2), act: get("/api/activations", reviewer),
			prepare: func(ctx context.Context, a *appInstance) (string, error) {
				_, err := a.do(ctx, reviewer, http.MethodGet, "/api/activations", nil)
				return "", err
			},
		},
		{
			name: "end", floor: both(3), prepare: activateAndFind,
			act: func(ctx context.Context, a *appInstance, id string) error {
				_, err := a.do(ctx, reviewer, http.MethodPost, "/api/activations/end", map[string]any{"id": id})
				return err
			},
		},
		{
			name: "extend", floor: both(3), prepare: activateAndFind,
			act: func(ctx context.Context, a *appInstance, id string) error {
				_, err := a.do(ctx, reviewer, http.MethodPost, "/api/activations/extend", map[string]any{"id": id, "activationTimeout": 60})
				return err
			},
		},
		{
			// Whether the caller is an auditor decides what is read: the
			// group's name (1, once per instance), the membership (1);
			// then the log (1) and the audit record of the read (1).
			name: "history", floor: both(4), prepare: none, act: get("/api/history", reviewer),
		},
		{
			name: "reject", floor: both(3), elsewhere: true,
			prepare: requestApproval,
			warm: func(ctx context.Context, a *appInstance, token string) error {
				_, err := a.do(ctx, reviewer, http.MethodGet, requestPath(token), nil)
				return err
			},
			act: func(ctx context.Context, a *appInstance, token string) error {
				_, err := a.do(ctx, reviewer, http.MethodPost, strings.Replace(requestPath(token), "?", "/reject?", 1), map[string]any{"reason": "bench"})
				return err
			},
		},
		{
			// The requests in the log (1), each token's keys (1), then each
			// request's record and events (1).
			name: "requests to review", floor: both(3), elsewhere: true, prepare: requestApproval,
			act: get("/api/requests?view=review", reviewer),
		},
		{
			// The reviewer's instance has no cache for the request (it
			// was read longer than CATALOG_CACHE_TTL ago, or elsewhere):
			// the catalog's grounds (1), then the write (get with the
			// log, set: 2) and the audit record (1). The floor of 3
			// needs the catalog's read to overlap the policy's, which
			// the write does not do yet (issue #22).
			name: "approve, cache expired", floor: both(3), elsewhere: true,
			prepare: requestApproval,
			act: func(ctx context.Context, a *appInstance, token string) error {
				_, err := a.do(ctx, reviewer, http.MethodPost, requestPath(token), nil)
				return err
			},
		},
		{
			name: "approve", floor: both(3), elsewhere: true,
			prepare: requestApproval,
			// The reviewer opens the request before approving it.
			warm: func(ctx context.Context, a *appInstance, token string) error {
				_, err := a.do(ctx, reviewer, http.MethodGet, requestPath(token), nil)
				return err
			},
			act: func(ctx context.Context, a *appInstance, token string) error {
				_, err := a.do(ctx, reviewer, http.MethodPost, requestPath(token), nil)
				return err
			},
		},
	}
}

// freshApp starts an instance and warms its connections to the emulator
// with a read by a user no operation involves, so that what is measured
// is an empty cache, not TCP and HTTP/2 handshakes.
func (b *bench) freshApp(ctx context.Context, emu *emulatorProcess, catalog string) (*appInstance, error) {
	a, err := b.startApp(ctx, emu.ep, map[string]string{"RESOURCE_CATALOG": catalog})
	if err != nil {
		return nil, err
	}
	if _, err := a.do(ctx, "heidi@example.com", http.MethodGet, rolesPath("security-tools"), nil); err != nil {
		a.close()
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	return a, nil
}

// measurement is one operation in one catalog.
type measurement struct {
	median, best time.Duration
	calls        map[string]int // of the median run
}

// measure runs op b.s.runs times, each on a fresh app instance (so that
// reads start with an empty cache) after op.prepare, and returns the
// median latency and the Google calls of the measured part.
func (b *bench) measure(ctx context.Context, emu *emulatorProcess, catalog string, op operation) (measurement, error) {
	type sample struct {
		d     time.Duration
		calls map[string]int
	}
	var samples []sample
	for range b.s.runs {
		err := func() error {
			a, err := b.freshApp(ctx, emu, catalog)
			if err != nil {
				return err
			}
			defer a.close()
			prepared, err := op.prepare(ctx, a)
			if err != nil {
				return fmt.Errorf("prepare: %w", err)
			}
			if op.elsewhere {
				other, err := b.freshApp(ctx, emu, catalog)
				if err != nil {
					return err
				}
				defer other.close()
				a = other
			}
			if op.warm != nil {
				if err := op.warm(ctx, a, prepared); err != nil {
					return fmt.Errorf("warm: %w", err)
				}
			}
			before, err := emu.calls(ctx)
			if err != nil {
				return err
			}
			start := time.Now()
			if err := op.act(ctx, a, prepared); err != nil {
				return err
			}
			d := time.Since(start)
			after, err := emu.calls(ctx)
			if err != nil {
				return err
			}
			samples = append(samples, sample{d, diff(before, after)})
			return nil
		}()
		if err != nil {
			return measurement{}, fmt.Errorf("%s (%s): %w", op.name, catalog, err)
		}
	}
	slices.SortFunc(samples, func(x, y sample) int { return int(x.d - y.d) })
	m := samples[len(samples)/2]
	return measurement{median: m.d, best: samples[0].d, calls: m.calls}, nil
}

func diff(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if n := v - before[k]; n > 0 {
			out[k] = n
		}
	}
	return out
}

func total(calls map[string]int) int {
	n := 0
	for _, v := range calls {
		n += v
	}
	return n
}

// describe lists calls as "AnalyzeIamPolicy, projects.getIamPolicy ×2".
func describe(calls map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(calls)) {
		name := k
		if _, rest, ok := strings.Cut(k, "."); ok {
			name = rest
		}
		if calls[k] > 1 {
			name += fmt.Sprintf(" ×%d", calls[k])
		}
		parts = append(parts, name)
	}
	return strings.Join(parts, ", ")
}

func (b *bench) ratioTable(ctx context.Context) error {
	ops := operations()
	results := map[string]map[string]measurement{}
	for _, op := range ops {
		results[op.name] = map[string]measurement{}
		// A fresh world per operation: the requests and grants of the
		// rows before would otherwise fill the policies up to Google's
		// limit of 20 conditional bindings per role and member.
		emu, err := b.startEmulator(ctx, "-world", "seed")
		if err != nil {
			return err
		}
		if err := emu.setLatency(ctx, b.s.latency); err != nil {
			emu.stop()
			return err
		}
		for _, c := range catalogs {
			m, err := b.measure(ctx, emu, c, op)
			if err != nil {
				emu.stop()
				return err
			}
			results[op.name][c] = m
		}
		emu.stop()
	}
	b.p.f("## Latency / floor, L = %s on every Google call, median of %d, fresh instance per run\n\n", b.s.latency, b.s.runs)
	tw := tabwriter.NewWriter(b.out, 0, 0, 1, ' ', 0)
	t := &printer{w: tw}
	t.f("| operation\t| catalog\t| floor\t| median\t| ratio\t| best\t| overhead\t| calls\t| Google calls made\t|\n")
	t.f("|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|\n")
	worst := 0.0
	for _, op := range ops {
		for _, c := range catalogs {
			m := results[op.name][c]
			ratio := float64(m.median) / float64(time.Duration(op.floor[c])*b.s.latency)
			worst = max(worst, ratio)
			floor := time.Duration(op.floor[c]) * b.s.latency
			t.f("| %s\t| %s\t| %d × L\t| %.1f ms\t| %.2f\t| %.2f\t| %.1f ms\t| %d\t| %s\t|\n",
				op.name, c, op.floor[c], ms(m.median), ratio, float64(m.best)/float64(floor), ms(m.median-floor), total(m.calls), describe(m.calls))
		}
	}
	if err := errors.Join(t.err, tw.Flush()); err != nil {
		return err
	}
	b.p.f("\nworst ratio: %.2f (target ≤ 1.10). best: the fastest run's ratio; overhead: median − floor (the app's own time, the emulator's and the machine's scheduling)\n\n", worst)
	return nil
}

// sessionTable counts the quota-limited calls of "open the app, pick a
// project, activate a role", twice within one cache period.
func (b *bench) sessionTable(ctx context.Context) error {
	emu, err := b.startEmulator(ctx, "-world", "seed")
	if err != nil {
		return err
	}
	defer emu.stop()
	b.p.f("## Quota-limited calls of one session (open the app, pick a project, activate a role)\n\n")
	tw := tabwriter.NewWriter(b.out, 0, 0, 1, ' ', 0)
	t := &printer{w: tw}
	t.f("| catalog\t| session\t| AnalyzeIamPolicy\t| other Cloud Asset\t| all Google calls\t|\n")
	t.f("|---\t|---\t|---\t|---\t|---\t|\n")
	for _, c := range catalogs {
		a, err := b.startApp(ctx, emu.ep, map[string]string{"RESOURCE_CATALOG": c})
		if err != nil {
			return err
		}
		for i, label := range []string{"first", "second, same cache period"} {
			before, err := emu.calls(ctx)
			if err != nil {
				a.close()
				return err
			}
			steps := []func() error{
				func() error { _, err := a.do(ctx, reviewer, http.MethodGet, "/api/projects", nil); return err },
				func() error { _, err := a.do(ctx, reviewer, http.MethodGet, rolesPath(jitProject), nil); return err },
				func() error {
					_, err := a.do(ctx, reviewer, http.MethodPost, "/api/projects/"+jitProject+"/roles/self-activate", map[string]any{
						"entitlementIds": []string{jitEntitlement}, "justification": fmt.Sprintf("INC-%d bench", i+1), "activationTimeout": 30,
					})
					return err
				},
			}
			for _, st := range steps {
				if err := st(); err != nil {
					a.close()
					return err
				}
			}
			after, err := emu.calls(ctx)
			if err != nil {
				a.close()
				return err
			}
			d := diff(before, after)
			other := 0
			for k, v := range d {
				if strings.HasPrefix(k, "cloudasset.") && k != "cloudasset.AnalyzeIamPolicy" {
					other += v
				}
			}
			t.f("| %s\t| %s\t| %d\t| %d\t| %d\t|\n", c, label, d["cloudasset.AnalyzeIamPolicy"], other, total(d))
		}
		a.close()
	}
	if err := errors.Join(t.err, tw.Flush()); err != nil {
		return err
	}
	b.p.f("\n")
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func machine() string {
	return fmt.Sprintf("%s/%s, %d CPUs (GOMAXPROCS %d), %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
}
