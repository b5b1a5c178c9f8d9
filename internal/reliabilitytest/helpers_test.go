package reliabilitytest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/jitaccess/jitaccess/internal/app"
	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/config"
	"github.com/jitaccess/jitaccess/internal/emulated"
	"github.com/jitaccess/jitaccess/internal/emulator"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/outbox"
)

type contextT = context.Context

func nextID(n *int64) int64 { return atomic.AddInt64(n, 1) }

// cluster is several instances of the app (as Cloud Run or App Engine
// scale it out) sharing one emulated Google Cloud and one mail server.
// Instances do not share memory, so concurrent grants from different
// instances meet only at setIamPolicy and must resolve through the etag.
type cluster struct {
	Emulator  *emulator.Emulator
	Outbox    *outbox.Server
	Instances []*apptest.Harness
}

// startCluster builds n instances with the production wiring (app.Build)
// against one emulator.
func startCluster(t testing.TB, n int, overrides map[string]string) *cluster {
	t.Helper()
	return startClusterEnv(t, n, overrides, nil)
}

// startClusterEnv is startCluster with a change to the Environment, for
// dependencies the emulator does not serve (Pub/Sub).
func startClusterEnv(t testing.TB, n int, overrides map[string]string, env func(*app.Environment)) *cluster {
	t.Helper()
	e := emutest.Start(t)
	ob, err := outbox.Start(t.Context(), "127.0.0.1:0", outbox.Options{Username: emulated.SMTPUser, Password: emulated.SMTPPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Close() })
	c := &cluster{Emulator: e, Outbox: ob}
	// The service account's key, as apptest.Start makes it: every cluster
	// test signs, most of them from many requests at once, and each first
	// signJwt would make a key of its own.
	if _, err := e.Credentials.RotateKey(emulated.ServiceAccount); err != nil {
		t.Fatal(err)
	}
	// The harness's deadlines (apptest.PatientTimeouts) unless a test sets
	// its own: under load, healthy calls outlast the production defaults.
	vars := apptest.PatientTimeouts()
	for k, v := range overrides {
		vars[k] = v
	}
	for range n {
		// The server's URL is needed for EXTERNAL_URL before the app exists.
		var handler atomic.Pointer[http.Handler]
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) }))
		t.Cleanup(srv.Close)
		cfg, err := config.Load(emulated.Config(ob.Addr(), srv.URL, vars))
		if err != nil {
			t.Fatalf("config: %v", err)
		}
		environment := emulated.Environment(e, ob.TLSConfig(), nil, nil)
		if env != nil {
			env(&environment)
		}
		a, err := app.Build(t.Context(), cfg, environment)
		if err != nil {
			t.Fatalf("app.Build: %v", err)
		}
		t.Cleanup(func() { _ = a.Close() })
		handler.Store(&a.Handler)
		c.Instances = append(c.Instances, &apptest.Harness{Emulator: e, Outbox: ob, Server: srv, URL: srv.URL})
	}
	return c
}

// pick spreads requests over the instances as a load balancer would.
func (c *cluster) pick(i int) *apptest.Harness { return c.Instances[i%len(c.Instances)] }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
