package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is written by the server goroutine and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before run binds it; on a test machine that is rare enough.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

func lookupFrom(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestRunServesHealthAndStops(t *testing.T) {
	// Not parallel: the Google client libraries read their credentials
	// from the process environment. The key is never used: the health
	// check calls no Google API.
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", writeFakeServiceAccountKey(t))
	port, metricsPort := freePort(t), freePort(t)
	env := map[string]string{
		"GOOGLE_CLOUD_PROJECT": "test-project", "PROJECT_NUMBER": "123", "SERVICE_ACCOUNT": "jit@test-project.iam.gserviceaccount.com",
		"PORT": strconv.Itoa(port), "SMTP_PASSWORD": "hunter2", "METRICS_ADDR": "127.0.0.1:" + strconv.Itoa(metricsPort),
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"jitaccess"}, lookupFrom(env), &stdout, &stderr) }()

	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/health/alive"
	var resp *http.Response
	for {
		// Poll until the listener is up; run failing ends the loop too.
		select {
		case err := <-done:
			t.Fatalf("run() returned early: %v\nstdout: %s", err, stdout.String())
		default:
		}
		req, err := http.NewRequestWithContext(t.Context(), "GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp, err = http.DefaultClient.Do(req); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond) // back off between attempts, not an assertion
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"healthy":true,"details":{}}` {
		t.Errorf("GET /health/alive = %d %q (%v)", resp.StatusCode, body, err)
	}
	// Metrics are on their own port, and not on the app's.
	for _, probe := range []struct {
		url  string
		want int
	}{
		{"http://127.0.0.1:" + strconv.Itoa(metricsPort) + "/metrics", 200},
		{"http://127.0.0.1:" + strconv.Itoa(port) + "/metrics", 404},
	} {
		req, err := http.NewRequestWithContext(t.Context(), "GET", probe.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		mresp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", probe.url, err)
		}
		mbody, _ := io.ReadAll(mresp.Body)
		_ = mresp.Body.Close()
		if mresp.StatusCode != probe.want {
			t.Errorf("GET %s = %d, want %d", probe.url, mresp.StatusCode, probe.want)
		}
		if probe.want == 200 && !strings.Contains(string(mbody), `jitaccess_http_request_duration_seconds_count{code="200",method="GET",route="/health/alive"} 1`) {
			t.Errorf("GET %s does not count the health check:\n%s", probe.url, mbody)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("run() after cancel = %v, want nil", err)
	}

	out := stdout.String()
	var sawStartup bool
	for line := range strings.Lines(out) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stdout line %q is not JSON: %v", line, err)
		}
		labels, _ := m["logging.googleapis.com/labels"].(map[string]any)
		// Start-up warnings share the event label; only the first line carries the configuration.
		if cfg, ok := m["config"].(map[string]any); ok && labels["event"] == "runtime.startup" {
			sawStartup = true
			if cfg["resource_scope"] != "projects/test-project" {
				t.Errorf("startup log config = %v", cfg)
			}
		}
	}
	if !sawStartup {
		t.Errorf("no runtime.startup line in %s", out)
	}
	if strings.Contains(out, "hunter2") {
		t.Error("the SMTP password was logged")
	}
}

func TestRunRejectsBadConfiguration(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GOOGLE_CLOUD_PROJECT": "test-project", "PORT": "http", "SMTP_PORT": "25"}
	var stdout, stderr lockedBuffer
	err := run(t.Context(), []string{"jitaccess"}, lookupFrom(env), &stdout, &stderr)
	if err == nil {
		t.Fatal("run() with a bad configuration succeeded")
	}
	for _, want := range []string{"invalid configuration", `PORT="http"`, `SMTP_PORT="25"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if stdout.String() != "" {
		t.Errorf("stdout = %q, want nothing before the configuration is valid", stdout.String())
	}
}

func TestRunRejectsArguments(t *testing.T) {
	t.Parallel()
	var stdout, stderr lockedBuffer
	if err := run(t.Context(), []string{"jitaccess", "-port=1"}, lookupFrom(nil), &stdout, &stderr); err == nil {
		t.Error("run() with arguments succeeded")
	}
}

// writeFakeServiceAccountKey writes a service account key file whose token
// endpoint is a closed loopback port, so nothing can leave the machine.
func writeFakeServiceAccountKey(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "test-project", "private_key_id": "test",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "jit@test-project.iam.gserviceaccount.com", "client_id": "1",
		"token_uri": "http://127.0.0.1:1/token",
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStartupAndConfigErrorsRedactURLCredentials: the start-up log prints
// the configuration, and a bad value is quoted in the error; neither may
// carry a webhook's token, a Chat webhook's key and token or a password in
// a URL (anyone with roles/logging.viewer reads them).
func TestStartupAndConfigErrorsRedactURLCredentials(t *testing.T) {
	// Not parallel: the Google client libraries read their credentials
	// from the process environment.
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", writeFakeServiceAccountKey(t))
	secrets := []string{"wh-s3cr3t-token", "AIzaSyChatKey0123", "chat-t0ken-value", "hunter2", "basic-pw"}
	env := map[string]string{
		"GOOGLE_CLOUD_PROJECT": "test-project", "PROJECT_NUMBER": "123", "SERVICE_ACCOUNT": "jit@test-project.iam.gserviceaccount.com",
		"PORT": strconv.Itoa(freePort(t)), "SMTP_PASSWORD": "hunter2",
		"EXTERNAL_URL":        "https://jit.example.com",
		"WEBHOOK_URL":         "https://hooks.example.com/in?token=wh-s3cr3t-token",
		"WEBHOOK_SIGNING_KEY": "0123456789abcdef0123",
		"CHAT_WEBHOOK_URL":    "https://chat.googleapis.com/v1/spaces/AAAAb3xkZ1E/messages?key=AIzaSyChatKey0123&token=chat-t0ken-value",
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"jitaccess"}, lookupFrom(env), &stdout, &stderr) }()
	for !strings.Contains(stdout.String(), `"message":"Listening on`) {
		select {
		case err := <-done:
			t.Fatalf("run() returned early: %v\nstdout: %s", err, stdout.String())
		case <-time.After(20 * time.Millisecond): // polling the log, not an assertion
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run() after cancel = %v", err)
	}
	out := stdout.String() + stderr.String()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the start-up log holds %q:\n%s", s, out)
		}
	}
	for _, want := range []string{`"webhook_url":"https://hooks.example.com/in?token=REDACTED"`, `"external_url":"https://jit.example.com"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the start-up log lacks %s:\n%s", want, out)
		}
	}

	// A refused value is quoted without its credentials.
	bad := map[string]string{
		"GOOGLE_CLOUD_PROJECT": "test-project",
		"WEBHOOK_URL":          "http://hooks.example.com/in?token=wh-s3cr3t-token", "WEBHOOK_SIGNING_KEY": "0123456789abcdef0123",
		"EXTERNAL_URL": "https://admin:basic-pw@jit.example.com",
	}
	err := run(t.Context(), []string{"jitaccess"}, lookupFrom(bad), &stdout, &stderr)
	if err == nil {
		t.Fatal("run() with an http webhook succeeded")
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("the configuration error holds %q: %v", s, err)
		}
	}
	if !strings.Contains(err.Error(), `WEBHOOK_URL="http://hooks.example.com/in?token=REDACTED"`) {
		t.Errorf("the configuration error does not name the URL: %v", err)
	}
}
