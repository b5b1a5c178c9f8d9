// Package fault injects latency and errors into the emulator's methods,
// by Google's method names, for every emulated API alike: tests and
// benchmarks set faults through the seed, the control API or directly.
package fault

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/jitaccess/jitaccess/internal/emulator/wire"
)

// Fault describes how calls to one method misbehave: an added latency, and
// an error returned either always (Rate 1) or at random with probability Rate.
type Fault struct {
	Latency time.Duration `yaml:"latency" json:"latency"`
	// Code is the HTTP code of the injected error (e.g. 503, 429, 504);
	// 0 injects no error, only latency.
	Code    int     `yaml:"code" json:"code"`
	Rate    float64 `yaml:"rate" json:"rate"` // 0..1; 0 with a Code means 1
	Message string  `yaml:"message" json:"message"`
	// Count, when positive, limits how many errors are injected; after that
	// the method recovers. It lets tests check that a retry succeeds.
	Count int `yaml:"count" json:"count"`
	// RoundTrip makes Latency the whole round trip: the call is served at
	// once and answered no sooner than Latency after it arrived, the
	// emulator's own work included, as Google's work is part of its round
	// trip (the benchmark's model of a Google call). Without it Latency is
	// waited before the call is served, so that a caller who gives up in
	// the meantime changes nothing (the fault tests' model of a hang).
	RoundTrip bool `yaml:"roundTrip" json:"roundTrip"`
}

// Faults is the set of faults by method name. Method names are Google's
// RPC names as used in this package, e.g.
// "cloudresourcemanager.projects.getIamPolicy",
// "cloudresourcemanager.projects.setIamPolicy", "cloudasset.AnalyzeIamPolicy",
// "iamcredentials.signJwt", "logging.WriteLogEntries", "iap.publicKeys"
// (IAP's key set at www.gstatic.com). A pattern may use
// path.Match wildcards: "cloudasset.*", "*".
type Faults struct {
	mu        sync.Mutex
	faults    map[string]*Fault
	calls     map[string]int
	held      map[string]int // calls waiting out an injected latency now
	abandoned map[string]int
}

// Set installs (or, with a zero Fault, removes) the fault for a method pattern.
func (f *Faults) Set(pattern string, fault Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.faults == nil {
		f.faults = map[string]*Fault{}
	}
	if fault == (Fault{}) {
		delete(f.faults, pattern)
		return
	}
	c := fault
	f.faults[pattern] = &c
}

// Clear removes every fault.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// List returns a copy of the installed faults by pattern, for the control
// API and for tests.
func (f *Faults) List() map[string]Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]Fault, len(f.faults))
	for p, fault := range f.faults {
		out[p] = *fault
	}
	return out
}

// Calls reports how many times a method was called since the world began.
func (f *Faults) Calls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// Abandoned reports how many calls to the methods a pattern matches
// their caller gave up on (its context ended: a deadline, a cancellation,
// a closed connection) while an injected latency held them. Tests compare
// it with the calls made to tell that the app's own deadline cut a
// hanging call, without timing it: a call that waited the latency out is
// not counted.
func (f *Faults) Abandoned(pattern string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return sumMatching(f.abandoned, pattern)
}

// Held reports how many calls to the methods a pattern matches an injected
// latency is holding right now. A client that gives up closes its
// connection or lets its gRPC deadline pass, and the emulator notices a
// moment later; a test waits for Held to reach 0 before it reads
// Abandoned.
func (f *Faults) Held(pattern string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return sumMatching(f.held, pattern)
}

func sumMatching(counts map[string]int, pattern string) int {
	n := 0
	for m, c := range counts {
		if ok, _ := path.Match(pattern, m); ok {
			n += c
		}
	}
	return n
}

// CallCounts returns how many times each method was called since the
// world began, for benchmarks that count the Google calls an operation
// makes.
func (f *Faults) CallCounts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.calls))
	for m, n := range f.calls {
		out[m] = n
	}
	return out
}

// Apply records the call, waits out any latency (or the context), and
// returns the injected error, if any.
func (f *Faults) Apply(ctx context.Context, method string) *wire.Error {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[method]++
	var latency time.Duration
	var roundTrip bool
	var injected *wire.Error
	for pattern, fault := range f.faults {
		if ok, _ := path.Match(pattern, method); !ok {
			continue
		}
		if fault.Latency > latency {
			latency, roundTrip = fault.Latency, fault.RoundTrip
		}
		if fault.Code == 0 || injected != nil {
			continue
		}
		rate := fault.Rate
		if rate == 0 {
			rate = 1
		}
		if rand.Float64() >= rate { //nolint:gosec // fault injection needs no cryptographic randomness
			continue
		}
		if fault.Count > 0 {
			fault.Count--
			if fault.Count == 0 {
				delete(f.faults, pattern)
			}
		}
		msg := fault.Message
		if msg == "" {
			msg = http.StatusText(fault.Code)
		}
		injected = wire.New(fault.Code, msg)
		injected.Info = errorInfo(method, fault.Code)
	}
	f.mu.Unlock()
	if slot, ok := ctx.Value(answerKey{}).(*answerSlot); ok && roundTrip && latency > 0 {
		slot.at = slot.arrived.Add(latency)
		return injected
	}
	if latency > 0 {
		f.mu.Lock()
		if f.held == nil {
			f.held, f.abandoned = map[string]int{}, map[string]int{}
		}
		f.held[method]++
		f.mu.Unlock()
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
			f.release(method, false)
		case <-ctx.Done():
			f.release(method, true)
			return wire.New(http.StatusGatewayTimeout, "Deadline exceeded while waiting for "+method)
		}
	}
	return injected
}

// release ends a call's injected latency, abandoned by its caller or not.
func (f *Faults) release(method string, abandoned bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held[method]--
	if abandoned {
		f.abandoned[method]++
	}
}

// answerKey holds the *answerSlot of a call in its context.
type answerKey struct{}

// answerSlot is when a call arrived and, for a RoundTrip latency, the
// earliest time its answer may leave.
type answerSlot struct {
	arrived, at time.Time
}

// withAnswerSlot gives a call's context a slot for a RoundTrip latency.
func withAnswerSlot(ctx context.Context) (context.Context, *answerSlot) {
	s := &answerSlot{arrived: time.Now()}
	return context.WithValue(ctx, answerKey{}, s), s
}

// wait holds the answer until the slot's time, or until the caller gives
// up.
func (s *answerSlot) wait(ctx context.Context) {
	d := time.Until(s.at)
	if s.at.IsZero() || d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// heldResponse keeps a REST answer until its slot's time: the handler
// writes it here, and it is sent once the round trip is over.
type heldResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (h *heldResponse) Header() http.Header { return h.header }

func (h *heldResponse) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}

func (h *heldResponse) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return h.body.Write(b)
}

// HeldHTTP serves REST calls with an answer slot, holding each answer
// until its RoundTrip latency has passed.
func HeldHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ctx, slot := withAnswerSlot(r.Context())
		held := &heldResponse{header: rw.Header()}
		next.ServeHTTP(held, r.WithContext(ctx))
		slot.wait(ctx)
		if held.status == 0 {
			held.status = http.StatusOK
		}
		rw.WriteHeader(held.status)
		_, _ = rw.Write(held.body.Bytes()) // the caller may be gone; nothing to do then
	})
}

// HeldGRPC is HeldHTTP for unary gRPC calls.
func HeldGRPC(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, slot := withAnswerSlot(ctx)
	resp, err := handler(ctx, req)
	slot.wait(ctx)
	return resp, err
}

// errorInfo is the google.rpc.ErrorInfo Google sends with an error of
// this code from this method, or nil: IAM's reason for a permission
// denied, the quota system's for a rate limit.
func errorInfo(method string, code int) *wire.ErrorInfo {
	service, rest, _ := strings.Cut(method, ".")
	switch code {
	case http.StatusForbidden:
		permission := method
		switch service {
		case "cloudresourcemanager":
			permission = "resourcemanager." + rest
		case "iamcredentials":
			permission = "iam.serviceAccounts." + rest
		case "cloudasset":
			if rest != "" {
				permission = "cloudasset.assets." + strings.ToLower(rest[:1]) + rest[1:]
			}
		case "logging":
			permission = map[string]string{"WriteLogEntries": "logging.logEntries.create", "ListLogEntries": "logging.logEntries.list"}[rest]
		}
		if permission == "" {
			permission = method
		}
		return &wire.ErrorInfo{Reason: "IAM_PERMISSION_DENIED", Domain: "iam.googleapis.com", Metadata: map[string]string{"permission": permission}}
	case http.StatusTooManyRequests:
		return &wire.ErrorInfo{Reason: "RATE_LIMIT_EXCEEDED", Domain: "googleapis.com", Metadata: map[string]string{"service": service + ".googleapis.com"}}
	}
	return nil
}
