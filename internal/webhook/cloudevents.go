package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/internal/notify"
)

// SignatureHeader carries the signature of a webhook:
//
//	X-Jitaccess-Signature: t=1767225600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//
// v1 is the lower-case hex HMAC-SHA256, keyed with the signing key, of the
// decimal timestamp t, a ".", and the body exactly as sent. A receiver
// recomputes it, compares in constant time, and refuses a t outside its
// replay window (ReplayWindow); the event's id lets it drop a duplicate
// that a retry delivered again.
const SignatureHeader = "X-Jitaccess-Signature"

// ReplayWindow is how far from the receiver's clock a signature's
// timestamp may be. Each attempt is signed afresh, so that retries stay
// inside it.
const ReplayWindow = 5 * time.Minute

// EventTypePrefix starts the CloudEvents type of every event, followed by
// the notification's kind: io.github.jitaccess.RequestActivation.
const EventTypePrefix = "io.github.jitaccess."

// Sign returns the SignatureHeader value for body at t.
func Sign(key, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(key, ts, body))
}

func mac(key []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(ts))
	h.Write([]byte("."))
	h.Write(body)
	return h.Sum(nil)
}

// Errors of Verify.
var (
	ErrBadSignature = errors.New("the signature does not match")
	ErrStale        = errors.New("the signature's timestamp is outside the replay window")
	ErrMalformed    = errors.New("the signature header is malformed")
)

// Verify checks a SignatureHeader value as a receiver should: any v1 that
// matches (several are allowed, for key rotation), with t within window
// of now.
func Verify(header string, body, key []byte, now time.Time, window time.Duration) error {
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrMalformed
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil {
				return ErrMalformed
			}
			sigs = append(sigs, b)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrMalformed
	}
	want := mac(key, ts, body)
	matched := false
	for _, s := range sigs {
		matched = matched || hmac.Equal(s, want)
	}
	if !matched {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > window || d < -window {
		return ErrStale
	}
	return nil
}

// Event is a CloudEvent (specification 1.0) in structured JSON mode.
type Event struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// CloudEvents posts every notification as a signed CloudEvent. Its data
// is the Pub/Sub message of the notification ({"type", "attributes"}), so
// that a consumer of either reads the same fields.
type CloudEvents struct {
	url    string
	key    []byte
	source string
	clock  func() time.Time
	q      *queue
}

// NewCloudEvents posts to url, signed with key; source is the events'
// source, the app's URL. Call Close to stop.
func NewCloudEvents(url string, key []byte, source string, opts Options) *CloudEvents {
	opts.defaults()
	return &CloudEvents{url: url, key: key, source: source, clock: opts.Clock, q: newQueue("webhook", opts)}
}

// Send queues n and returns at once; see the package comment.
func (c *CloudEvents) Send(ctx context.Context, n notify.Notification) error {
	data, err := notify.Payload(n)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	id, err := newID()
	if err != nil {
		return err
	}
	ev := Event{
		SpecVersion: "1.0", ID: id, Source: c.source, Type: EventTypePrefix + string(n.Kind),
		Time: c.clock().UTC().Format(time.RFC3339Nano), DataContentType: "application/json", Data: data,
	}
	switch {
	case n.ScopeNoun() != "project":
		ev.Subject = string(n.Project) // already "folders/F" or "organizations/O"
	case n.Project != "":
		ev.Subject = "projects/" + string(n.Project)
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("webhook: encode the event: %w", err)
	}
	c.q.enqueue(ctx, message{id: id, request: func(ctx context.Context, now time.Time) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/cloudevents+json; charset=utf-8")
		req.Header.Set(SignatureHeader, Sign(c.key, body, now))
		return req, nil
	}})
	return nil
}

// Close stops the queue; see Options.DrainTimeout.
func (c *CloudEvents) Close() { c.q.close() }

func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("webhook: event id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
