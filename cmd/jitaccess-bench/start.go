package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// startRuns is how many times the binary is started.
const startRuns = 5

// startTable measures cmd/jitaccess as Cloud Run starts it: from exec to
// the first 200 from /health/alive (serving; /health/ready also probes
// Google, which this offline run cannot reach), the resident memory after a moment
// idle, and the size of the binary built like `make build` and the
// Dockerfile build it.
func (b *bench) startTable(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "jitaccess-bench")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	bin := b.s.mainBinary
	if bin == "" {
		bin = filepath.Join(dir, "jitaccess")
		//nolint:gosec // the go command with fixed arguments and a temporary output path
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags=grpcnotrace", "-ldflags=-s -w", "-o", bin, "./cmd/jitaccess")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stderr = b.log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build cmd/jitaccess: %w", err)
		}
	}
	st, err := os.Stat(bin)
	if err != nil {
		return err
	}
	creds, err := fakeCredentials(dir)
	if err != nil {
		return err
	}
	var starts []time.Duration
	var rss []int
	for range startRuns {
		d, kb, err := startOnce(ctx, bin, creds)
		if err != nil {
			return err
		}
		starts = append(starts, d)
		rss = append(rss, kb)
	}
	slices.Sort(starts)
	slices.Sort(rss)
	b.p.f("## cmd/jitaccess: start, memory, size (%d starts)\n\n", startRuns)
	b.p.f("| exec → first 200 from /health/alive (min / median / max) | idle RSS (median) | binary (-trimpath -tags=grpcnotrace -ldflags='-s -w') |\n|---|---|---|\n")
	b.p.f("| %.1f / %.1f / %.1f ms | %.1f MB | %.1f MB |\n\n",
		ms(starts[0]), ms(starts[len(starts)/2]), ms(starts[len(starts)-1]), float64(rss[len(rss)/2])/1024, float64(st.Size())/1e6)
	b.p.f("targets: start ≤ 50 ms, idle RSS ≤ 25 MB, binary ≤ 40 MB\n\n")
	return nil
}

// startOnce starts the binary on a free loopback port and returns the time
// to ready and the resident set (KiB) after half a second idle.
func startOnce(ctx context.Context, bin, creds string) (time.Duration, int, error) {
	port, err := freePort(ctx)
	if err != nil {
		return 0, 0, err
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{
		"PORT=" + strconv.Itoa(port),
		"GOOGLE_CLOUD_PROJECT=jitaccess-app", "PROJECT_NUMBER=424242424242",
		"SERVICE_ACCOUNT=jitaccess@jitaccess-app.iam.gserviceaccount.com",
		"RESOURCE_SCOPE=organizations/123456789012", "IAP_BACKEND_SERVICE_ID=7777777777",
		"GOOGLE_APPLICATION_CREDENTIALS=" + creds,
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	client := &http.Client{Timeout: time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d/health/alive", port)
	var ready time.Duration
	for deadline := start.Add(10 * time.Second); ; {
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%s did not become ready in 10s", bin)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ready = time.Since(start)
				break
			}
		}
		time.Sleep(500 * time.Microsecond)
	}
	time.Sleep(500 * time.Millisecond)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		return ready, 0, nil //nolint:nilerr // no /proc: RSS unknown, the start time still counts
	}
	kb := 0
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return ready, kb, nil
}

func freePort(ctx context.Context) (int, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// fakeCredentials writes a service account key file that no Google API
// would accept: the clients load it at start without network access, as
// they load the metadata server's credentials on Cloud Run.
func fakeCredentials(dir string) (string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	raw, err := json.Marshal(map[string]string{ //nolint:gosec // a throw-away key made above, trusted by nothing
		"type": "service_account", "project_id": "jitaccess-app", "private_key_id": "bench",
		"private_key": string(pemKey), "client_email": "jitaccess@jitaccess-app.iam.gserviceaccount.com",
		"client_id": "1", "token_uri": "https://oauth2.googleapis.com/token",
	})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "credentials.json")
	return path, os.WriteFile(path, raw, 0o600)
}
