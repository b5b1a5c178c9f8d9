package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"regexp"
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

func TestRunRefusesAMissingSeed(t *testing.T) {
	t.Parallel()
	if err := run(t.Context(), []string{"-addr", "127.0.0.1:0", "-seed", t.TempDir() + "/none.yaml"}, io.Discard, io.Discard); err == nil {
		t.Error("run with a missing seed file succeeded")
	}
}
