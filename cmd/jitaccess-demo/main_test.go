package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
)

// TestRunServesUntilCancelled runs the command as `make run` does, finds
// the URL it prints, signs in through the simulator's script header and
// stops it as Ctrl-C would.
func TestRunServesUntilCancelled(t *testing.T) {
	t.Parallel()
	serveDemo(t, "-addr", "127.0.0.1:0", "-seed", emutest.ModuleRoot(t)+"/testdata/demo.yaml")
}

// TestRunFromAnyDirectory: the demo world is embedded, so the binary needs
// no checkout around it.
func TestRunFromAnyDirectory(t *testing.T) {
	t.Chdir(t.TempDir()) // not parallel: the working directory is the process's
	serveDemo(t, "-addr", "127.0.0.1:0")
}

func serveDemo(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, w, io.Discard)
		_ = w.Close()
		done <- err
	}()
	url := regexp.MustCompile(`Open (http://127\.0\.0\.1:\d+) in a browser`)
	var base string
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if m := url.FindStringSubmatch(lines.Text()); m != nil {
			base = m[1]
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	if base == "" {
		t.Fatalf("no URL printed; run: %v", <-done)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/projects", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Demo-User", "dave@example.com")
	req.Header.Set("X-JITACCESS", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /api/projects as dave = %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after Ctrl-C = %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's and the test's
// goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRunWarnsWhenListeningBeyondLoopback: the demo trusts every visitor,
// so an -addr reachable from other machines gets a loud warning, and the
// default does not.
func TestRunWarnsWhenListeningBeyondLoopback(t *testing.T) {
	t.Parallel()
	for addr, warned := range map[string]bool{"0.0.0.0:0": true, ":0": true, "127.0.0.1:0": false, "localhost:0": false} {
		ctx, cancel := context.WithCancel(t.Context())
		out, w := io.Pipe()
		var stderr syncBuffer
		done := make(chan error, 1)
		go func() {
			err := run(ctx, []string{"-addr", addr, "-seed", emutest.ModuleRoot(t) + "/testdata/demo.yaml"}, w, &stderr)
			_ = w.Close()
			done <- err
		}()
		lines := bufio.NewScanner(out)
		for lines.Scan() && !strings.Contains(lines.Text(), "in a browser") {
		}
		go func() { _, _ = io.Copy(io.Discard, out) }()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("-addr %s: %v", addr, err)
		}
		if got := strings.Contains(stderr.String(), "WARNING: -addr "+addr+" listens beyond loopback"); got != warned {
			t.Errorf("-addr %s: warned = %v, want %v; stderr:\n%s", addr, got, warned, stderr.String())
		}
	}
}

func TestRunRefusesAMissingSeed(t *testing.T) {
	t.Parallel()
	if err := run(t.Context(), []string{"-addr", "127.0.0.1:0", "-seed", t.TempDir() + "/none.yaml"}, io.Discard, io.Discard); err == nil {
		t.Error("run with a missing seed file succeeded")
	}
}
