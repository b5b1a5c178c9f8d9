package app

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/api/option"
	htransport "google.golang.org/api/transport/http"
	"google.golang.org/grpc"

	"github.com/jitaccess/jitaccess/internal/activation"
	"github.com/jitaccess/jitaccess/internal/iam"
	"github.com/jitaccess/jitaccess/internal/jit"
	"github.com/jitaccess/jitaccess/internal/metrics"
	"github.com/jitaccess/jitaccess/internal/notify"
	"github.com/jitaccess/jitaccess/internal/server"
)

// cloudPlatformScope is what the REST clients ask for when the app builds
// their HTTP client itself; every API the app calls accepts it.
const cloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"

// instrument returns env with every Google client counted by m: the REST
// clients get an authenticated HTTP client whose transport counts, the
// gRPC clients interceptors. The adapters do not know.
func instrument(ctx context.Context, env Environment, m *metrics.Metrics) (Environment, error) {
	var err error
	rest := []struct {
		api  string
		opts *[]option.ClientOption
	}{
		{"cloudresourcemanager", &env.ResourceManager},
		{"cloudidentity", &env.CloudIdentity},
		{"iamcredentials", &env.IAMCredentials},
	}
	for _, c := range rest {
		if *c.opts, err = instrumentREST(ctx, m, c.api, *c.opts); err != nil {
			return env, err
		}
	}
	for api, opts := range map[string]*[]option.ClientOption{
		"cloudasset": &env.Asset, "logging": &env.Logging, "pubsub": &env.PubSub, "secretmanager": &env.SecretManager,
	} {
		*opts = append(slices.Clone(*opts),
			option.WithGRPCDialOption(grpc.WithChainUnaryInterceptor(m.UnaryClientInterceptor(api))),
			option.WithGRPCDialOption(grpc.WithChainStreamInterceptor(m.StreamClientInterceptor(api))))
	}
	return env, nil
}

// instrumentREST builds the HTTP client the library would build from opts
// (credentials, endpoint, mTLS) and wraps its transport.
func instrumentREST(ctx context.Context, m *metrics.Metrics, api string, opts []option.ClientOption) ([]option.ClientOption, error) {
	client, _, err := htransport.NewClient(ctx, append([]option.ClientOption{option.WithScopes(cloudPlatformScope)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("%s HTTP client: %w", api, err)
	}
	counted := *client
	counted.Transport = m.Transport(api, client.Transport)
	return append(slices.Clone(opts), option.WithHTTPClient(&counted)), nil
}

// countIAM exports internal/iam's counters.
func countIAM(m *metrics.Metrics, grants *iam.Client) {
	m.CounterFunc("iam_policy_writes_total", "Successful setIamPolicy calls.", func() float64 { return float64(grants.Stats().Writes) })
	m.CounterFunc("iam_etag_conflicts_total", "setIamPolicy calls refused for a stale etag (another writer won).", func() float64 { return float64(grants.Stats().Conflicts) })
	m.CounterFunc("iam_write_retries_total", "Read-modify-write cycles of IAM policies started again.", func() float64 { return float64(grants.Stats().Retries) })
	m.CounterFunc("iam_batched_grants_total", "Grants that shared one policy write with others.", func() float64 { return float64(grants.Stats().Batched) })
	m.CounterFunc("iam_batched_decisions_total", "Approval decisions that shared one policy write with others.", func() float64 { return float64(grants.Stats().BatchedDecisions) })
	m.CounterFunc("iam_mixed_writes_total", "Policy writes that carried both grants and approval decisions.", func() float64 { return float64(grants.Stats().Mixed) })
}

// countedAuditor counts the events of the use cases as they are recorded.
type countedAuditor struct {
	next activation.Auditor
	m    *metrics.Metrics
}

func (a countedAuditor) Record(ctx context.Context, e jit.Event) error {
	err := a.next.Record(ctx, e)
	a.m.Event(string(e.Kind), e.Err != nil)
	if e.Err == nil && (e.Kind == jit.EventSelfActivated || e.Kind == jit.EventApproved) {
		typ := jit.JIT
		if e.Kind == jit.EventApproved {
			typ = jit.MPA
		}
		a.m.RolesActivated(string(typ), len(e.Activations))
	}
	return err
}

// countedChannel counts what a synchronous channel (email, Pub/Sub) sends.
type countedChannel struct {
	name string
	next notify.Channel
	m    *metrics.Metrics
}

func (c countedChannel) Send(ctx context.Context, n notify.Notification) error {
	err := c.next.Send(ctx, n)
	outcome := "sent"
	if err != nil {
		outcome = "failed"
	}
	c.m.Notification(c.name, outcome)
	return err
}

// Prepare keeps the channel's preparation (the mailer's SMTP session set
// up ahead of the message), counting what the delivery sends.
func (c countedChannel) Prepare(ctx context.Context, k notify.Kind) notify.Delivery {
	return countedDelivery{Delivery: notify.Prepare(ctx, c.next, k), c: c}
}

type countedDelivery struct {
	notify.Delivery
	c countedChannel
}

func (d countedDelivery) Send(ctx context.Context, n notify.Notification) error {
	err := d.Delivery.Send(ctx, n)
	outcome := "sent"
	if err != nil {
		outcome = "failed"
	}
	d.c.m.Notification(d.c.name, outcome)
	return err
}

// counted counts the events recorded through auditor, when metrics are on.
func (a *App) counted(auditor activation.Auditor) activation.Auditor {
	if a.Metrics == nil {
		return auditor
	}
	return countedAuditor{next: auditor, m: a.Metrics}
}

// countedChannel counts what c sends, when metrics are on.
func (a *App) countedChannel(name string, c notify.Channel) notify.Channel {
	if a.Metrics == nil {
		return c
	}
	return countedChannel{name: name, next: c, m: a.Metrics}
}

// observer records request latency, when metrics are on.
func (a *App) observer() server.RequestObserver {
	if a.Metrics == nil {
		return nil
	}
	return a.Metrics.ObserveRequest
}
