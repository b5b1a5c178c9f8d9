package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jitaccess/jitaccess/internal/emulator"
)

// runEmulatorChild serves the emulator until stdin closes (the parent
// exited or is done), printing its endpoints as one JSON line.
func runEmulatorChild(ctx context.Context, s settings, stdin io.Reader, stdout io.Writer) error {
	var seed *emulator.Seed
	switch s.world {
	case "seed":
		f, err := os.Open(s.seed)
		if err != nil {
			return err
		}
		seed, err = emulator.LoadSeed(f)
		_ = f.Close() // read-only
		if err != nil {
			return err
		}
	case "synthetic":
		seed = emulator.SyntheticSeed(emulator.SyntheticOptions{Projects: s.projects})
	default:
		return fmt.Errorf("unknown -world %q", s.world)
	}
	e, err := emulator.Start(ctx, emulator.Options{Seed: seed})
	if err != nil {
		return err
	}
	defer func() { _ = e.Close() }()
	line, err := json.Marshal(e.Endpoints())
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, stdin); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// emulatorProcess is a running emulator child.
type emulatorProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	ep    emulator.Endpoints
	http  *http.Client
}

// startEmulator starts an emulator child with the given world flags.
func (b *bench) startEmulator(ctx context.Context, world ...string) (*emulatorProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := append([]string{"-child", "emulator", "-seed", b.s.seed}, world...)
	cmd := exec.CommandContext(ctx, self, args...) //nolint:gosec // our own binary with our own flags
	cmd.Stderr = b.log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &emulatorProcess{cmd: cmd, stdin: stdin, http: &http.Client{Timeout: 10 * time.Second}}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &p.ep)
	}
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("emulator child: %w", err)
	}
	return p, nil
}

func (p *emulatorProcess) stop() {
	_ = p.stdin.Close()
	_ = p.cmd.Wait()
}

// setLatency makes every Google call a round trip of d: served when it
// arrives and answered d after that, the emulator's own work (signing,
// analysing policies) inside d as Google's is inside its round trip, so
// that what exceeds the floor is the app's and the machine's.
func (p *emulatorProcess) setLatency(ctx context.Context, d time.Duration) error {
	method, body := http.MethodDelete, ""
	if d > 0 {
		method, body = http.MethodPut, fmt.Sprintf(`{"latency":%q,"roundTrip":true}`, d.String())
	}
	req, err := http.NewRequestWithContext(ctx, method, p.ep.Control+"faults/*", bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("set latency: %s", resp.Status)
	}
	return nil
}

// calls reads the emulator's call counters.
func (p *emulatorProcess) calls(ctx context.Context) (map[string]int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.ep.Control+"calls", nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	var out map[string]int
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// loadResult is what the load child reports.
type loadResult struct {
	Requests int           `json:"requests"`
	Errors   int           `json:"errors"`
	Elapsed  time.Duration `json:"elapsed"`
	P50      time.Duration `json:"p50"`
	P99      time.Duration `json:"p99"`
	Max      time.Duration `json:"max"`
}

// runLoadChild sends GET requests to s.url from s.conns connections for
// s.duration, each with the headers read from stdin (one JSON object of
// header → value per line, used round robin), and prints a loadResult.
func runLoadChild(ctx context.Context, s settings, stdin io.Reader, stdout io.Writer) error {
	var headers []map[string]string
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var h map[string]string
		if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
			return err
		}
		headers = append(headers, h)
	}
	if len(headers) == 0 {
		return errors.New("no request headers on stdin")
	}
	transport := &http.Transport{MaxIdleConnsPerHost: s.conns, MaxConnsPerHost: s.conns}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, s.duration)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      int
		wg        sync.WaitGroup
	)
	start := time.Now()
	for i := range s.conns {
		wg.Go(func() {
			var local []time.Duration
			bad := 0
			for n := i; ctx.Err() == nil; n += s.conns {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil) //nolint:gosec // the loopback URL of the app the parent started
				if err != nil {
					bad++
					break
				}
				for k, v := range headers[n%len(headers)] {
					req.Header.Set(k, v)
				}
				t := time.Now()
				resp, err := client.Do(req) //nolint:gosec // the loopback URL of the app the parent started
				if err != nil {
					if ctx.Err() == nil {
						bad++
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad++
					continue
				}
				local = append(local, time.Since(t))
			}
			mu.Lock()
			latencies = append(latencies, local...)
			errs += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	r := loadResult{Requests: len(latencies), Errors: errs, Elapsed: time.Since(start)}
	if len(latencies) > 0 {
		slices.Sort(latencies)
		r.P50 = latencies[len(latencies)/2]
		r.P99 = latencies[len(latencies)*99/100]
		r.Max = latencies[len(latencies)-1]
	}
	return json.NewEncoder(stdout).Encode(r)
}

// runLoad runs the load child against url with the given request headers.
func (b *bench) runLoad(ctx context.Context, url string, headers []map[string]string) (loadResult, error) {
	self, err := os.Executable()
	if err != nil {
		return loadResult{}, err
	}
	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	for _, h := range headers {
		if err := enc.Encode(h); err != nil {
			return loadResult{}, err
		}
	}
	cmd := exec.CommandContext(ctx, self, "-child", "load", "-url", url, //nolint:gosec // our own binary with our own flags
		"-duration", b.s.duration.String(), "-conns", strconv.Itoa(b.s.conns))
	cmd.Stdin = &in
	cmd.Stderr = b.log
	out, err := cmd.Output()
	if err != nil {
		return loadResult{}, fmt.Errorf("load child: %w", err)
	}
	var r loadResult
	return r, json.Unmarshal(out, &r)
}
