package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/app"
	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/config"
	"github.com/jitaccess/jitaccess/internal/emulated"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/outbox"
	"github.com/jitaccess/jitaccess/internal/webhook"
)

const (
	hookKey    = "webhook-key-for-tests-0123456789"
	chatSecret = "projects/" + emulated.ProjectID + "/secrets/chat-webhook"
	hookSecret = "projects/" + emulated.ProjectID + "/secrets/webhook-key"
)

// hookReceiver is a loopback receiver that keeps every body it accepts.
type hookReceiver struct {
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
	got    chan struct{}
	srv    *httptest.Server
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{got: make(chan struct{}, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies, r.heads = append(r.bodies, b), append(r.heads, req.Header.Clone())
		r.mu.Unlock()
		r.got <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// waitFor returns the first body that match accepts, waiting for more.
func (r *hookReceiver) waitFor(t *testing.T, match func(body []byte, h http.Header) bool) []byte {
	t.Helper()
	ctx := t.Context() // wait for the event; go test -timeout ends a hang
	for seen := 0; ; {
		r.mu.Lock()
		for ; seen < len(r.bodies); seen++ {
			if match(r.bodies[seen], r.heads[seen]) {
				b := r.bodies[seen]
				r.mu.Unlock()
				return b
			}
		}
		r.mu.Unlock()
		select {
		case <-r.got:
		case <-ctx.Done():
			t.Fatal("the receiver did not get the message")
		}
	}
}

// TestChatAndWebhooksTellOfRequestsAndDecisions: with both configured from
// Secret Manager, a request posts a Chat message with the approval link
// and a signed CloudEvent; the approval posts both again.
func TestChatAndWebhooksTellOfRequestsAndDecisions(t *testing.T) {
	t.Parallel()
	chat, hooks := newHookReceiver(t), newHookReceiver(t)
	h := apptest.Start(t, apptest.Options{
		Config: map[string]string{
			"CHAT_WEBHOOK_SECRET": chatSecret + "/versions/latest",
			"WEBHOOK_URL":         hooks.srv.URL + "/jit", "WEBHOOK_SECRET": hookSecret + "/versions/1",
		},
		Setup: func(w *emulator.World) {
			w.AddSecret(chatSecret, []byte(chat.srv.URL+"/v1/spaces/AAA/messages?key=k&token=t\n"))
			w.AddSecret(hookSecret, []byte(hookKey))
		},
	})
	r := h.Do(t, "erin@example.com", http.MethodPost, "/api/projects/prod-payments-api/roles/request", map[string]any{
		"entitlementId": "prod-payments-api:roles/run.developer", "justification": "CHG-7 hotfix deploy",
		"peers": []string{"dave@example.com"}, "activationTimeout": 45,
	})
	if r.Status != 200 {
		t.Fatalf("request = %d %s", r.Status, r.Body)
	}
	var text string
	chat.waitFor(t, func(b []byte, _ http.Header) bool {
		var m map[string]string
		_ = json.Unmarshal(b, &m)
		text = m["text"]
		return strings.Contains(text, "asks for")
	})
	link := linkPattern.FindString(text)
	if !strings.HasPrefix(link, h.URL+"/?activation=") || !strings.Contains(text, "*erin@example.com* asks for `roles/run.developer` on project `prod-payments-api`") {
		t.Fatalf("chat message lacks the request or its link:\n%s", text)
	}
	verified := func(kind string) func([]byte, http.Header) bool {
		return func(b []byte, hd http.Header) bool {
			var ev webhook.Event
			if json.Unmarshal(b, &ev) != nil || ev.Type != webhook.EventTypePrefix+kind {
				return false
			}
			if err := webhook.Verify(hd.Get(webhook.SignatureHeader), b, []byte(hookKey), time.Now(), webhook.ReplayWindow); err != nil {
				t.Errorf("%s: %v", kind, err)
			}
			return ev.Source == h.URL && ev.Subject == "projects/prod-payments-api"
		}
	}
	hooks.waitFor(t, verified("RequestActivation"))

	u, _ := url.Parse(link)
	r = h.Do(t, "dave@example.com", http.MethodPost, "/api/activation-request?activation="+url.QueryEscape(u.Query().Get("activation")), nil)
	if r.Status != 200 {
		t.Fatalf("approve = %d %s", r.Status, r.Body)
	}
	chat.waitFor(t, func(b []byte, _ http.Header) bool {
		return strings.Contains(string(b), "*dave@example.com* approved the request of *erin@example.com*")
	})
	hooks.waitFor(t, verified("ActivationApproved"))
}

// TestDeadReceiversChangeNothingElse: with the Chat space and the webhook
// receiver unreachable, activations, requests, approvals and emails work
// as without them, and answer as fast: nothing waits for a receiver.
func TestDeadReceiversChangeNothingElse(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close() // connections are refused from now on
	h := apptest.Start(t, apptest.Options{Config: map[string]string{
		"CHAT_WEBHOOK_URL": dead.URL + "/v1/spaces/AAA/messages?key=k&token=t",
		"WEBHOOK_URL":      dead.URL + "/jit", "WEBHOOK_SIGNING_KEY": hookKey,
	}})
	r := h.Do(t, "dave@example.com", http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate", map[string]any{
		"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "INC-42 db failover", "activationTimeout": 30,
	})
	if r.Status != 200 {
		t.Fatalf("self-activate = %d %s", r.Status, r.Body)
	}
	if n := h.Emulator.World.PolicyWrites("projects/prod-payments-db"); n != 1 {
		t.Errorf("%d policy writes, want 1", n)
	}
	r = h.Do(t, "erin@example.com", http.MethodPost, "/api/projects/prod-payments-api/roles/request", map[string]any{
		"entitlementId": "prod-payments-api:roles/run.developer", "justification": "CHG-7 hotfix deploy",
		"peers": []string{"dave@example.com"}, "activationTimeout": 45,
	})
	if r.Status != 200 {
		t.Fatalf("request = %d %s", r.Status, r.Body)
	}
	ctx := t.Context() // wait for the event; go test -timeout ends a hang
	mail, err := h.Outbox.WaitFor(ctx, func(m outbox.Message) bool { return strings.Contains(m.Subject, "erin@example.com requests") })
	if err != nil {
		t.Fatalf("no email to the reviewer: %v", err)
	}
	u, _ := url.Parse(linkPattern.FindString(mail.Text))
	r = h.Do(t, "dave@example.com", http.MethodPost, "/api/activation-request?activation="+url.QueryEscape(u.Query().Get("activation")), nil)
	if r.Status != 200 {
		t.Fatalf("approve = %d %s", r.Status, r.Body)
	}
	if status, _ := readiness(t, h); status != http.StatusOK {
		t.Errorf("readiness with dead receivers = %d: they are not what the app needs to serve", status)
	}
}

// TestWebhookStartupErrors: a secret that is missing or holds a bad URL
// stops the app at start-up, naming the variable and never the URL.
func TestWebhookStartupErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		env    map[string]string
		secret []byte // stored in chatSecret, when set
		want   string
	}{
		{"missing_webhook_secret", map[string]string{"WEBHOOK_URL": "https://hooks.example.com/x", "WEBHOOK_SECRET": hookSecret + "/versions/1"}, nil, "WEBHOOK_SECRET: "},
		{"missing_chat_secret", map[string]string{"CHAT_WEBHOOK_SECRET": chatSecret + "/versions/1"}, nil, "CHAT_WEBHOOK_SECRET: "},
		{"chat_secret_not_https", map[string]string{"CHAT_WEBHOOK_SECRET": chatSecret + "/versions/latest"},
			[]byte("http://chat.example.com/v1/spaces/A/messages?token=SECRETTOKEN"), "CHAT_WEBHOOK_SECRET: the secret's payload must use https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := emutest.Start(t, emutest.Options{})
			if tt.secret != nil {
				e.World.AddSecret(chatSecret, tt.secret)
			}
			cfg, err := config.Load(emulated.Config("127.0.0.1:1", "http://127.0.0.1:1", tt.env))
			if err != nil {
				t.Fatal(err)
			}
			a, err := app.Build(t.Context(), cfg, emulated.Environment(e, nil, nil, nil))
			if err == nil {
				_ = a.Close()
				t.Fatal("Build succeeded")
			}
			if !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "SECRETTOKEN") {
				t.Errorf("Build: %v\nwant a message starting %q, without the URL", err, tt.want)
			}
		})
	}
}
