// Package webhook delivers notifications to HTTP receivers: Google Chat
// incoming webhooks (a message in a space for approval requests and
// decisions, with the request's link), and any receiver of CloudEvents
// signed with HMAC-SHA256. See docs/operations.md#webhooks.
//
// Both are notify.Channel implementations that never make the caller
// wait: Send puts the message in a bounded queue and returns; one worker
// per receiver posts it, retrying with exponential backoff. A receiver
// that is down, slow or refusing only delays its own queue: grants,
// emails and other receivers go on, and when the queue is full new
// messages are dropped (and counted) rather than held in memory without
// bound.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Options tune a receiver's queue.
type Options struct {
	// QueueSize bounds the messages waiting; 0 means 100.
	QueueSize int
	// MaxAttempts bounds the posts of one message; 0 means 6.
	MaxAttempts int
	// Backoff is the wait before the first retry, doubled for each further
	// one up to MaxBackoff, with jitter; 0 means 1s.
	Backoff time.Duration
	// MaxBackoff caps the wait, including a receiver's Retry-After; 0
	// means one minute.
	MaxBackoff time.Duration
	// Timeout bounds one post; 0 means 10s.
	Timeout time.Duration
	// DrainTimeout is how long Close waits for queued messages; 0 means 5s.
	DrainTimeout time.Duration
	// HTTPClient posts the messages; nil means a client that does not
	// follow redirects.
	HTTPClient *http.Client
	// OnResult is told the fate of every message: "sent", "failed" (every
	// attempt failed, or the receiver refused it for good) or "dropped"
	// (the queue was full); for metrics. nil tells nobody.
	OnResult func(outcome string)
	Clock    func() time.Time
	Logger   *slog.Logger
}

func (o *Options) defaults() {
	if o.QueueSize <= 0 {
		o.QueueSize = 100
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 6
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 5 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.OnResult == nil {
		o.OnResult = func(string) {}
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// message is one queued delivery. request builds the post afresh for each
// attempt, so that a signature carries the time of the attempt.
type message struct {
	id      string
	request func(ctx context.Context, now time.Time) (*http.Request, error)
}

// queue posts messages to one receiver from one worker.
type queue struct {
	name string // "chat" or "webhook", for logs
	opts Options
	ch   chan message

	ctx      context.Context //nolint:containedctx // the worker's lifetime, ended by Close
	cancel   context.CancelFunc
	draining chan struct{} // closed by Close: one last attempt each, no more waits
	done     chan struct{}

	mu     sync.Mutex // guards closed and sends on ch
	closed bool
}

func newQueue(name string, opts Options) *queue {
	opts.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	q := &queue{name: name, opts: opts, ch: make(chan message, opts.QueueSize), ctx: ctx, cancel: cancel, draining: make(chan struct{}), done: make(chan struct{})}
	go q.work()
	return q
}

// enqueue never blocks: a full queue drops the message.
func (q *queue) enqueue(ctx context.Context, m message) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	select {
	case q.ch <- m:
	default:
		q.opts.OnResult("dropped")
		q.opts.Logger.WarnContext(ctx, "Dropped a "+q.name+" notification: the queue is full, the receiver is not keeping up",
			slog.String("notification_id", m.id), slog.Int("queue_size", q.opts.QueueSize))
	}
}

func (q *queue) work() {
	defer close(q.done)
	for m := range q.ch {
		q.deliver(m)
	}
}

// deliver posts m until the receiver takes it, refuses it for good, or
// the attempts run out.
func (q *queue) deliver(m message) {
	log := q.opts.Logger.With(slog.String("notification_id", m.id), slog.String("channel", q.name))
	wait := q.opts.Backoff
	for attempt := 1; ; attempt++ {
		retryAfter, err := q.post(m)
		if err == nil {
			q.opts.OnResult("sent")
			return
		}
		var permanent *permanentError
		if errors.As(err, &permanent) || attempt >= q.opts.MaxAttempts || q.isDraining() {
			q.opts.OnResult("failed")
			log.WarnContext(q.ctx, "Delivering a "+q.name+" notification failed", slog.Int("attempts", attempt), slog.Any("error", err))
			return
		}
		delay := max(jitter(wait), retryAfter)
		delay = min(delay, q.opts.MaxBackoff)
		log.InfoContext(q.ctx, "Retrying a "+q.name+" notification", slog.Int("attempt", attempt), slog.Duration("delay", delay), slog.Any("error", err))
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-q.draining:
			t.Stop()
		}
		wait = min(2*wait, q.opts.MaxBackoff)
	}
}

func (q *queue) isDraining() bool {
	select {
	case <-q.draining:
		return true
	default:
		return false
	}
}

// jitter spreads retries over [d/2, d) so that instances do not retry in
// step.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1) //nolint:gosec // spreading retries needs no secure randomness
}

// permanentError is a failure that a retry would repeat.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// post makes one attempt. Network errors, 408, 429 and 5xx are worth
// retrying; any other status is the receiver's final word.
func (q *queue) post(m message) (retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(q.ctx, q.opts.Timeout)
	defer cancel()
	req, err := m.request(ctx, q.opts.Clock())
	if err != nil {
		return 0, &permanentError{redactURL(err)}
	}
	resp, err := q.opts.HTTPClient.Do(req)
	if err != nil {
		return 0, redactURL(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return 0, nil
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			retryAfter = time.Duration(s) * time.Second
		}
		return retryAfter, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return 0, &permanentError{fmt.Errorf("the receiver refused the message: HTTP %d", resp.StatusCode)}
}

// redactURL keeps the receiver's URL out of logs: a Chat webhook URL
// carries its key and token.
func redactURL(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return fmt.Errorf("%s: %w", uerr.Op, uerr.Err)
	}
	return err
}

// close stops taking messages and gives each queued one a last attempt,
// without waiting between them, for up to DrainTimeout; then abandons the
// rest.
func (q *queue) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
		close(q.draining)
	}
	q.mu.Unlock()
	t := time.NewTimer(q.opts.DrainTimeout)
	defer t.Stop()
	select {
	case <-q.done:
	case <-t.C:
		q.cancel()
		<-q.done
	}
	q.cancel()
}
