package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// contractServer plays the app's side of the API contract that the
// lifecycle and approvals endpoints follow (docs/api.md): it records what
// jitctl sent and answers as documented, so that jitctl's requests and
// rendering are checked where the endpoints are not yet served.
type contractServer struct {
	mu   sync.Mutex
	seen []seenRequest
	srv  *httptest.Server
}

type seenRequest struct {
	Method, Path, Query, Body, Auth, XSRF string
}

func newContractServer(t *testing.T, answers map[string]string) *contractServer {
	c := &contractServer{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.seen = append(c.seen, seenRequest{r.Method, r.URL.Path, r.URL.RawQuery, string(b), r.Header.Get("Authorization"), r.Header.Get("X-JITACCESS")})
		c.mu.Unlock()
		answer, ok := answers[r.Method+" "+r.URL.Path]
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			answer = `{"message":"Not found"}`
		}
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *contractServer) env() func(string) string {
	m := map[string]string{"JITCTL_URL": c.srv.URL, "JITCTL_TOKEN": "id-token", "HOME": "/nonexistent"}
	return func(k string) string { return m[k] }
}

func TestLifecycleAndApprovalCommandsFollowTheContract(t *testing.T) {
	t.Parallel()
	act := `{"id":"act-1","resource":"projects/prod-db","role":"roles/cloudsql.admin","resourceCondition":"","beneficiary":"alice@example.com","start":"2026-01-01T10:00:00Z","end":"2026-01-01T11:00:00Z","status":"ACTIVE","justification":"INC-1"}`
	c := newContractServer(t, map[string]string{
		"POST /api/activation-request/reject": `{"status":"REJECTED"}`,
		"POST /api/activations/end":           act,
		"GET /api/activations":                `{"activations":[` + act + `]}`,
		"GET /api/history":                    `{"entries":[{"time":"2026-01-01T10:00:00Z","event":"SelfActivated","user":"alice@example.com","resource":"projects/prod-db","role":"roles/cloudsql.admin","justification":"INC-1"}],"nextPageToken":"p2"}`,
	})
	env := c.env()
	jitctl(t, env, "reject", "https://jit.example.com/?activation=TOKEN%2B1", "--reason", "not now").want(t, exitOK, "Rejected the request.", "")
	jitctl(t, env, "end", "act-1").want(t, exitOK, "Ended roles/cloudsql.admin on projects/prod-db for alice@example.com.", "")
	jitctl(t, env, "status", "--all").want(t, exitOK, "projects/prod-db  roles/cloudsql.admin  alice@example.com  ACTIVE", "")
	jitctl(t, env, "history", "--user", "alice@example.com", "--page-size", "10").want(t, exitOK, "More: --page-token p2", "")
	r := jitctl(t, env, "--json", "status")
	var body map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &body); err != nil || body["activations"] == nil {
		t.Errorf("--json status: %v %s", err, r.stdout)
	}
	want := []seenRequest{
		{"POST", "/api/activation-request/reject", "activation=TOKEN%2B1", `{"reason":"not now"}`, "Bearer id-token", "1"},
		{"POST", "/api/activations/end", "", `{"id":"act-1"}`, "Bearer id-token", "1"},
		{"GET", "/api/activations", "all=true", "", "Bearer id-token", "1"},
		{"GET", "/api/history", "pageSize=10&user=alice%40example.com", "", "Bearer id-token", "1"},
		{"GET", "/api/activations", "", "", "Bearer id-token", "1"},
	}
	if diff := cmp.Diff(want, c.seen); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	// An endpoint that is not there yet answers with the API's message.
	c2 := newContractServer(t, nil)
	jitctl(t, c2.env(), "end", "act-1").want(t, exitInvalid, "", "jitctl: Not found: POST /api/activations/end")
}

// TestServiceAccountCredentials: a service account key goes through
// google.golang.org/api/idtoken, which exchanges a self-signed JWT at the
// key's token_uri for an ID token with the IAP client's audience.
func TestServiceAccountCredentials(t *testing.T) {
	t.Parallel()
	var asked url.Values
	var mu sync.Mutex
	// The token endpoint's ID token; idtoken reads its expiry.
	idTok := b64(`{"alg":"RS256","typ":"JWT"}`) + "." + b64(`{"aud":"iap-client.apps.googleusercontent.com","exp":`+strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)+`}`) + ".c2ln"
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		asked = r.PostForm
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id_token":"`+idTok+`"}`)
	}))
	t.Cleanup(tokenSrv.Close)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: mustPKCS8(t, key)})
	sa, _ := json.Marshal(map[string]string{
		"type": "service_account", "client_email": "ci@p.iam.gserviceaccount.com", "private_key_id": "k1",
		"private_key": string(pemKey), "token_uri": tokenSrv.URL + "/token", "project_id": "p",
	})
	path := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(path, sa, 0o600); err != nil {
		t.Fatal(err)
	}
	c := newContractServer(t, map[string]string{"GET /api/projects": `{"projects":["p1"]}`})
	env := map[string]string{"JITCTL_URL": c.srv.URL, "JITCTL_AUDIENCE": "iap-client.apps.googleusercontent.com", "GOOGLE_APPLICATION_CREDENTIALS": path, "HOME": "/nonexistent"}
	jitctl(t, func(k string) string { return env[k] }, "projects").want(t, exitOK, "p1", "")
	if len(c.seen) != 1 || c.seen[0].Auth != "Bearer "+idTok {
		t.Errorf("requests: %+v", c.seen)
	}
	mu.Lock()
	defer mu.Unlock()
	if asked.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || !strings.Contains(asked.Get("assertion"), ".") {
		t.Errorf("token request: %v", asked)
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func mustPKCS8(t *testing.T, key *rsa.PrivateKey) []byte {
	t.Helper()
	b, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
