package reliabilitytest

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/jitaccess/jitaccess/internal/app"
	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/emulated"
)

// smtpFault is how the mail server misbehaves.
type smtpFault int32

const (
	smtpHealthy     smtpFault = iota
	smtpUnavailable           // greets with 421, as a server shedding load does
	smtpRefused               // closes the connection at once
	smtpSilent                // accepts and never says anything
)

// smtpProxy stands between the app and the outbox on loopback and breaks
// SMTP on demand; healthy, it passes bytes through untouched (STARTTLS
// included).
type smtpProxy struct {
	lis    net.Listener
	target atomic.Value // string
	fault  atomic.Int32
	wg     sync.WaitGroup
}

func startSMTPProxy(t *testing.T) *smtpProxy {
	t.Helper()
	lis, err := new(net.ListenConfig).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &smtpProxy{lis: lis}
	p.target.Store("")
	var conns sync.Map
	t.Cleanup(func() {
		_ = lis.Close()
		conns.Range(func(k, _ any) bool { _ = k.(net.Conn).Close(); return true })
		p.wg.Wait()
	})
	ctx := t.Context()
	p.wg.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			conns.Store(c, nil)
			p.wg.Go(func() { p.serve(ctx, c) })
		}
	})
	return p
}

func (p *smtpProxy) serve(ctx context.Context, c net.Conn) {
	defer func() { _ = c.Close() }()
	switch smtpFault(p.fault.Load()) {
	case smtpUnavailable:
		_, _ = io.WriteString(c, "421 4.3.2 Service not available, closing transmission channel\r\n")
		return
	case smtpRefused:
		return
	case smtpSilent:
		_, _ = io.Copy(io.Discard, c) // until the client gives up
		return
	}
	up, err := new(net.Dialer).DialContext(ctx, "tcp", p.target.Load().(string))
	if err != nil {
		return
	}
	defer func() { _ = up.Close() }()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

func (p *smtpProxy) port() string { return strconv.Itoa(p.lis.Addr().(*net.TCPAddr).Port) }

// TestMailServerFailing: a request for approval whose email cannot be
// sent fails (nobody would know to approve it) with a clear message and
// without writing anything; once the mail server is back, the same
// request goes through.
func TestMailServerFailing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		fault  smtpFault
		status int
	}{
		// internal/notify reports every SMTP failure as unavailable: the
		// message was not accepted, try again later.
		{"unavailable_421", smtpUnavailable, http.StatusServiceUnavailable},
		{"connection_refused", smtpRefused, http.StatusServiceUnavailable},
		{"silent_past_the_deadline", smtpSilent, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			proxy := startSMTPProxy(t)
			h := apptest.Start(t, apptest.Options{Config: map[string]string{
				"SMTP_HOST": "127.0.0.1", "SMTP_PORT": proxy.port(),
				// A margin for a loaded machine, as in TestEveryDependencyFailing.
				"BACKEND_WRITE_TIMEOUT": strconv.Itoa(backendTimeout), "BACKEND_CONNECT_TIMEOUT": strconv.Itoa(backendTimeout),
			}})
			proxy.target.Store(h.Outbox.Addr())
			proxy.fault.Store(int32(tc.fault))
			began := time.Now()
			r := requestApproval(t, h)
			elapsed := time.Since(began)
			if r.Status != tc.status || r.Message(t) == "" {
				t.Errorf("with the mail server %s: %d %s, want %d with a message", tc.name, r.Status, r.Body, tc.status)
			}
			if n := h.Emulator.World.TotalPolicyWrites(); n != 0 {
				t.Errorf("%d policy writes", n)
			}
			proxy.fault.Store(int32(smtpHealthy))
			if r := recovered(t, h, requestApproval); r.Status != 200 {
				t.Errorf("after the mail server recovered: %d %s", r.Status, r.Body)
			}
			if n := len(h.Outbox.Messages()); n != 1 {
				t.Errorf("%d emails after recovery, want 1", n)
			}
			t.Logf("SMTP %s: %d %q after %v", tc.name, r.Status, messageOf(r), elapsed.Round(time.Millisecond))
		})
	}
}

// publishFault makes pstest's Publish fail while it holds an error.
type publishFault struct{ err atomic.Pointer[error] }

func (f *publishFault) React(any) (bool, any, error) {
	if e := f.err.Load(); e != nil {
		return true, nil, *e
	}
	return false, nil, nil
}

// TestPubSubFailing: with NOTIFICATION_TOPIC set, events also go to
// Pub/Sub (pstest here). A request whose notification cannot be
// published fails as unavailable (503) with a message, writes nothing,
// and goes through once Pub/Sub is back. The email channel may already
// have delivered, so reviewers of a retried request can get two emails;
// the figure is logged.
func TestPubSubFailing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		code codes.Code
	}{
		{"unavailable", codes.Unavailable},
		{"internal", codes.Internal},
		{"quota", codes.ResourceExhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fault := &publishFault{}
			srv := pstest.NewServer(pstest.ServerReactorOption{FuncName: "Publish", Reactor: fault})
			t.Cleanup(func() { _ = srv.Close() })
			const topic = "projects/" + emulated.ProjectID + "/topics/jitaccess-events"
			if _, err := srv.GServer.CreateTopic(t.Context(), &pubsubpb.Topic{Name: topic}); err != nil {
				t.Fatal(err)
			}
			c := startClusterEnv(t, 1, map[string]string{"NOTIFICATION_TOPIC": "jitaccess-events", "BACKEND_WRITE_TIMEOUT": strconv.Itoa(backendTimeout)}, func(env *app.Environment) {
				env.PubSub = []option.ClientOption{option.WithEndpoint(srv.Addr), option.WithoutAuthentication(),
					option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))}
			})
			h := c.Instances[0]
			err := status.Error(tc.code, "injected")
			fault.err.Store(&err)
			began := time.Now()
			r := requestApproval(t, h)
			elapsed := time.Since(began)
			if r.Status != http.StatusServiceUnavailable || r.Message(t) == "" {
				t.Errorf("with Pub/Sub failing: %d %s, want 503 with a message", r.Status, r.Body)
			}
			t.Logf("Pub/Sub %s: %d %q after %v; emails sent meanwhile: %d", tc.name, r.Status, messageOf(r), elapsed.Round(time.Millisecond), len(h.Outbox.Messages()))
			if n := h.Emulator.World.TotalPolicyWrites(); n != 0 {
				t.Errorf("%d policy writes", n)
			}
			fault.err.Store(nil)
			if r := recovered(t, h, requestApproval); r.Status != 200 {
				t.Errorf("after Pub/Sub recovered: %d %s", r.Status, r.Body)
			}
			if n := len(srv.Messages()); n == 0 {
				t.Errorf("nothing published after recovery")
			}
		})
	}
}
