package main

import (
	"context"
	"net/http"
	"os"
	"runtime/pprof"
)

// throughputTable measures warm role listing: each user's roles are in the
// app's per-user cache after a first listing, so what is measured is the
// app's own overhead (IAP verification, routing, rendering) over loopback.
// The load comes from a child process.
func (b *bench) throughputTable(ctx context.Context) error {
	emu, err := b.startEmulator(ctx, "-world", "seed")
	if err != nil {
		return err
	}
	defer emu.stop()
	a, err := b.startApp(ctx, emu.ep, map[string]string{"RESOURCE_CATALOG": "PolicyAnalyzer"})
	if err != nil {
		return err
	}
	defer a.close()
	users := []string{reviewer, requester, "alice@example.com", "grace@example.com"}
	var headers []map[string]string
	for _, u := range users {
		if _, err := a.do(ctx, u, http.MethodGet, rolesPath(mpaProject), nil); err != nil {
			return err
		}
		h, err := a.headers(u)
		if err != nil {
			return err
		}
		headers = append(headers, h)
	}
	before, err := emu.calls(ctx)
	if err != nil {
		return err
	}
	if b.s.cpuProfile != "" {
		f, err := os.Create(b.s.cpuProfile)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	r, err := b.runLoad(ctx, a.url+rolesPath(mpaProject), headers)
	if b.s.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return err
	}
	after, err := emu.calls(ctx)
	if err != nil {
		return err
	}
	rate := float64(r.Requests) / r.Elapsed.Seconds()
	b.p.f("## Warm role listing (%d users, %d connections, %s, load generator in its own process)\n\n", len(users), b.s.conns, b.s.duration)
	b.p.f("| requests | errors | requests/s | p50 | p99 | max | Google calls during the run |\n|---|---|---|---|---|---|---|\n")
	b.p.f("| %d | %d | %.0f | %.2f ms | %.2f ms | %.2f ms | %d |\n\n",
		r.Requests, r.Errors, rate, ms(r.P50), ms(r.P99), ms(r.Max), total(diff(before, after)))
	b.p.f("target: ≥ 5000 requests/s with p99 ≤ 20 ms\n\n")
	return nil
}
