package reliabilitytest

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/app"
	"github.com/jitaccess/jitaccess/internal/config"
	"github.com/jitaccess/jitaccess/internal/emulated"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// TestCompatReportWithCloudAssetFailing: `jitaccess compat-report` reads
// every IAM policy in scope through SearchAllIamPolicies. When Cloud
// Asset fails, it prints no report at all (a partial one would read as
// "nothing else becomes eligible"), returns an error whose message says
// what failed, ends a hang at its own deadline (10 × BACKEND_READ_TIMEOUT),
// and prints the report once the fault clears.
func TestCompatReportWithCloudAssetFailing(t *testing.T) {
	t.Parallel()
	want := map[string]jit.Kind{
		"unavailable": jit.KindUnavailable, // retried by the client library until the deadline
		"internal":    jit.KindUpstream,
		"quota":       jit.KindTooMany,
		"denied":      jit.KindDenied,
		"deadline":    jit.KindUnavailable,
		"hang":        jit.KindUnavailable,
	}
	var wg sync.WaitGroup
	for _, k := range faultKinds {
		// Two of the cases wait out the report's deadline: all at once.
		wg.Go(func() {
			t.Run(k.name, func(t *testing.T) {
				e := emutest.Start(t)
				cfg, err := config.Load(emulated.Config("127.0.0.1:2525", "http://127.0.0.1:1", map[string]string{"BACKEND_READ_TIMEOUT": "1"}))
				if err != nil {
					t.Fatal(err)
				}
				env := emulated.Environment(e, nil, nil, nil)
				const method = searchIamPolicies
				e.World.Faults.Set(method, k.fault)
				var out bytes.Buffer
				_, err = app.CompatReport(t.Context(), cfg, env, &out)
				for e.World.Faults.Held(method) > 0 {
					time.Sleep(5 * time.Millisecond)
				}
				if calls, abandoned := e.World.Faults.Calls(method), e.World.Faults.Abandoned(method); calls == 0 || k.fault.Latency > 0 && abandoned != calls {
					t.Errorf("%d calls to %s, %d abandoned by the report's deadline", calls, method, abandoned)
				}
				if jit.KindOf(err) != want[k.name] || jit.MessageOf(err) == "" {
					t.Errorf("with the fault: %v (kind %v, message %q), want kind %v and a message", err, jit.KindOf(err), jit.MessageOf(err), want[k.name])
				}
				if out.Len() != 0 {
					t.Errorf("a report although Cloud Asset failed:\n%s", out.String())
				}
				e.World.Faults.Clear()
				out.Reset()
				if _, err := app.CompatReport(t.Context(), cfg, env, &out); err != nil || !bytes.HasPrefix(out.Bytes(), []byte("# Bindings in ")) {
					t.Errorf("after the fault cleared: %v\n%s", err, out.String())
				}
				t.Logf("%s: %v", k.name, err)
			})
		})
	}
	wg.Wait()
}
