package notify_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/jitaccess/jitaccess/internal/jit"
	"github.com/jitaccess/jitaccess/internal/notify"
	"github.com/jitaccess/jitaccess/internal/outbox"
)

var (
	start   = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	request = jit.ActivationRequest{
		ID: "mpa-1", Beneficiary: "alice@example.com", Reviewers: []jit.UserID{"bob@example.com", "carol@example.com"},
		Entitlement:   jit.Entitlement{Project: "prod-payments-api", Role: "roles/run.developer"},
		Justification: `CHG-1 <script>alert(1)</script>`, Duration: time.Hour, RequestedAt: start, ApproveBy: start.Add(time.Hour),
	}
	planned = jit.Activation{ID: "mpa-1", Type: jit.MPA, Beneficiary: "alice@example.com", Entitlement: request.Entitlement,
		Justification: request.Justification, Start: start, End: start.Add(time.Hour)}
	requested = jit.Event{Kind: jit.EventRequested, Actor: jit.Principal{Email: "alice@example.com"}, Request: &request,
		Activations: []jit.Activation{planned}, ActionURL: "https://jit.example.com/?activation=abc&projectId=prod-payments-api"}
)

func startOutbox(t *testing.T, opts outbox.Options) *outbox.Server {
	t.Helper()
	s, err := outbox.Start(t.Context(), "127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newMailer(t *testing.T, ob *outbox.Server, mutate func(*notify.MailOptions)) *notify.Mailer {
	t.Helper()
	host, port := splitAddr(t, ob.Addr())
	opts := notify.MailOptions{
		Host: host, Port: port, StartTLS: true, SenderName: "JIT Access", SenderAddress: "jit@example.com",
		Username: "jit", Password: "secret", TLSConfig: ob.TLSConfig(), Location: time.UTC, Timeout: 5 * time.Second,
	}
	if mutate != nil {
		mutate(&opts)
	}
	m, err := notify.NewMailer(opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func splitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	var port int
	for _, c := range addr[i+1:] {
		port = port*10 + int(c-'0')
	}
	return addr[:i], port
}

func TestRequestEmailOverSTARTTLSWithAuth(t *testing.T) {
	t.Parallel()
	ob := startOutbox(t, outbox.Options{Username: "jit", Password: "secret"})
	n := notify.New(newMailer(t, ob, nil))
	if err := n.Notify(t.Context(), requested); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	msgs := ob.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages in the outbox, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Subject != "alice@example.com requests access to project prod-payments-api" {
		t.Errorf("subject = %q", m.Subject)
	}
	if strings.Join(m.To, ",") != "bob@example.com,carol@example.com,alice@example.com" {
		t.Errorf("envelope recipients = %v", m.To)
	}
	if !strings.Contains(m.HTML, `href="https://jit.example.com/?activation=abc&amp;projectId=prod-payments-api"`) ||
		!strings.Contains(m.Text, "https://jit.example.com/?activation=abc&projectId=prod-payments-api") {
		t.Errorf("approval link missing:\n%s\n%s", m.HTML, m.Text)
	}
	if strings.Contains(m.HTML, "<script>") || !strings.Contains(m.HTML, "&lt;script&gt;") {
		t.Errorf("justification not escaped in HTML")
	}
	if m.Headers.Get("Precedence") != "bulk" || m.Headers.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("headers = %v", m.Headers)
	}
	if !strings.Contains(m.Text, "Wed, 25 Nov 2026 10:00:00 UTC") {
		t.Errorf("times not RFC 1123 in the configured zone:\n%s", m.Text)
	}
}

func TestWrongPasswordFails(t *testing.T) {
	t.Parallel()
	ob := startOutbox(t, outbox.Options{Username: "jit", Password: "secret"})
	m := newMailer(t, ob, func(o *notify.MailOptions) { o.Password = "wrong" })
	err := notify.New(m).Notify(t.Context(), requested)
	if jit.KindOf(err) != jit.KindUnavailable || len(ob.Messages()) != 0 {
		t.Errorf("Notify with a wrong password: %v (kind %v)", err, jit.KindOf(err))
	}
}

func TestAddressMapping(t *testing.T) {
	t.Parallel()
	ob := startOutbox(t, outbox.Options{})
	m := newMailer(t, ob, func(o *notify.MailOptions) {
		o.Username, o.Password = "", ""
		o.AddressMapping = `user.email.extract('{handle}@example.com') + '@test.example.com'`
		o.Location, _ = time.LoadLocation("Europe/Berlin")
	})
	if err := notify.New(m).Notify(t.Context(), requested); err != nil {
		t.Fatal(err)
	}
	msg := ob.Messages()[0]
	if strings.Join(msg.To, ",") != "bob@test.example.com,carol@test.example.com,alice@test.example.com" {
		t.Errorf("mapped recipients = %v", msg.To)
	}
	if !strings.Contains(msg.Text, "Wed, 25 Nov 2026 11:00:00 CET") {
		t.Errorf("times not in Europe/Berlin:\n%s", msg.Text)
	}
	for _, bad := range []string{`user.email +`, `1 + 1`} {
		if _, err := notify.NewMailer(notify.MailOptions{Host: "h", Port: 587, SenderAddress: "a@b.c", AddressMapping: bad}); err == nil {
			t.Errorf("NewMailer accepted mapping %q", bad)
		}
	}
}

func TestExtract(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ s, tmpl, want string }{
		{"alice@example.com", "{handle}@example.com", "alice"},
		{"alice@example.com", "no braces", "alice@example.com"},
		{"alice@other.com", "{handle}@example.com", ""},
		{"projects/p/zones/z", "projects/p/zones/{zone}", "z"},
	} {
		if got := notify.Extract(tc.s, tc.tmpl); got != tc.want {
			t.Errorf("Extract(%q, %q) = %q, want %q", tc.s, tc.tmpl, got, tc.want)
		}
	}
}

func TestSelfActivationSendsNoEmail(t *testing.T) {
	t.Parallel()
	ob := startOutbox(t, outbox.Options{})
	m := newMailer(t, ob, func(o *notify.MailOptions) { o.Username, o.Password = "", "" })
	if err := notify.New(m).Notify(t.Context(), jit.Event{Kind: jit.EventSelfActivated, Activations: []jit.Activation{planned}}); err != nil {
		t.Fatal(err)
	}
	if n := len(ob.Messages()); n != 0 {
		t.Errorf("%d emails for a self-activation, want 0", n)
	}
}

func TestPubSubPublishesTheOriginalsJSON(t *testing.T) {
	t.Parallel()
	srv := pstest.NewServer()
	t.Cleanup(func() { _ = srv.Close() })
	const topic = "projects/jitaccess-app/topics/jit-events"
	if _, err := srv.GServer.CreateTopic(context.Background(), &pubsubpb.Topic{Name: topic}); err != nil {
		t.Fatal(err)
	}
	client, err := pubsub.NewClient(t.Context(), "jitaccess-app", option.WithEndpoint(srv.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	ps := notify.NewPubSub(client, topic, 0)
	t.Cleanup(ps.Stop)
	if err := notify.New(ps).Notify(t.Context(), requested); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	var got struct {
		Type       string         `json:"type"`
		Attributes map[string]any `json:"attributes"`
	}
	if err := json.Unmarshal(msgs[0].Data, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != "RequestActivation" || got.Attributes["beneficiary"] != "alice@example.com" ||
		got.Attributes["start_time"] != "2026-11-25T10:00:00Z" || got.Attributes["action_url"] != requested.ActionURL {
		t.Errorf("message = %+v", got)
	}
	missing := notify.NewPubSub(client, "projects/jitaccess-app/topics/missing", 2*time.Second)
	t.Cleanup(missing.Stop)
	if err := notify.New(missing).Notify(t.Context(), requested); jit.KindOf(err) != jit.KindUnavailable {
		t.Errorf("publishing to a missing topic: %v", err)
	}
}
