package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jitaccess/jitaccess/internal/jit"
)

const msgPublishFailed = "Publishing the notification failed"

// PubSub publishes every notification to NOTIFICATION_TOPIC as the
// original's JSON, {"type": …, "attributes": {…}}, for other tools.
type PubSub struct {
	publisher *pubsub.Publisher
	topic     string
	timeout   time.Duration
}

// NewPubSub publishes to topic ("projects/P/topics/T") through client.
func NewPubSub(client *pubsub.Client, topic string, timeout time.Duration) *PubSub {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &PubSub{publisher: client.Publisher(topic), topic: topic, timeout: timeout}
}

// Stop flushes and stops the publisher.
func (p *PubSub) Stop() { p.publisher.Stop() }

func isoTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func emails(us []jit.UserID) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = string(u)
	}
	return out
}

// commentOf adds an approval's comment, when it has one: an approval
// without a comment is the message it always was.
func commentOf(attrs map[string]any, n Notification) {
	if n.Comment != "" {
		attrs["comment"] = n.Comment
	}
}

// Payload is the message data of n.
func Payload(n Notification) ([]byte, error) {
	attrs := map[string]any{
		"beneficiary":   string(n.Beneficiary),
		"project_id":    string(n.Project),
		"role":          strings.Join(n.Roles, ", "), // the original's separator
		"start_time":    isoTime(n.Start),
		"end_time":      isoTime(n.End),
		"justification": n.Justification,
	}
	switch n.Kind {
	case RequestActivation:
		attrs["reviewers"] = emails(n.Reviewers)
		attrs["resource_condition"] = n.ResourceCondition
		attrs["request_expiry_time"] = isoTime(n.RequestExpiry)
		attrs["base_url"] = n.BaseURL
		attrs["action_url"] = n.ActionURL
	case ActivationApproved:
		attrs["approver"] = string(n.Approver)
		attrs["reviewers"] = emails(n.Reviewers)
		attrs["resource_condition"] = n.ResourceCondition
		attrs["base_url"] = n.BaseURL
		if n.Required > 1 {
			attrs["approvals"] = emails(n.Approvals)
			attrs["approvals_required"] = n.Required
		}
		commentOf(attrs, n)
	case ActivationRejected:
		attrs["approver"] = string(n.Approver)
		attrs["reviewers"] = emails(n.Reviewers)
		attrs["resource_condition"] = n.ResourceCondition
		attrs["reason"] = n.Reason
		attrs["base_url"] = n.BaseURL
	case ActivationWithdrawn:
		attrs["reviewers"] = emails(n.Reviewers)
		attrs["resource_condition"] = n.ResourceCondition
		attrs["request_expiry_time"] = isoTime(n.RequestExpiry)
		attrs["base_url"] = n.BaseURL
		attrs["action_url"] = n.ActionURL
	case ActivationApprovalAdded:
		attrs["approver"] = string(n.Approver)
		attrs["reviewers"] = emails(n.Reviewers)
		attrs["resource_condition"] = n.ResourceCondition
		attrs["approvals"] = emails(n.Approvals)
		attrs["approvals_required"] = n.Required
		attrs["request_expiry_time"] = isoTime(n.RequestExpiry)
		attrs["base_url"] = n.BaseURL
		attrs["action_url"] = n.ActionURL
		commentOf(attrs, n)
	}
	b, err := json.Marshal(map[string]any{"type": string(n.Kind), "attributes": attrs})
	if err != nil {
		return nil, fmt.Errorf("encode Pub/Sub message: %w", err)
	}
	return b, nil
}

// Send publishes n and waits until Pub/Sub has it, or the context or the
// timeout ends. Errors are *jit.Error: KindUnavailable when the topic is
// missing or closed to us or the publish timed out, KindUpstream when
// Pub/Sub failed in a way a retry may fix.
func (p *PubSub) Send(ctx context.Context, n Notification) error {
	const op = "notify.PubSub.Send"
	data, err := Payload(n)
	if err != nil {
		return jit.E(op, jit.KindInternal, "", err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	id, err := p.publisher.Publish(ctx, &pubsub.Message{Data: data}).Get(ctx)
	if err != nil {
		switch status.Code(err) {
		case codes.NotFound, codes.PermissionDenied:
			// The topic is the operator's to create and to open to the
			// app's service account: a misconfiguration, not the caller's.
			return jit.E(op, jit.KindUnavailable, fmt.Sprintf("Pub/Sub topic '%s' cannot be accessed or does not exist", p.topic), err)
		case codes.Unavailable, codes.ResourceExhausted, codes.Internal, codes.Aborted:
			return jit.E(op, jit.KindUpstream, msgPublishFailed, err)
		}
		return jit.E(op, jit.KindUnavailable, msgPublishFailed, err)
	}
	if id == "" {
		// The original treated a publish without a message id as failed.
		return jit.E(op, jit.KindUpstream, msgPublishFailed, errors.New("Pub/Sub returned no message id"))
	}
	return nil
}
