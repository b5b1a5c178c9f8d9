package iam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/googleapi"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// This file is the one read-modify-write of an IAM policy, for projects,
// folders and organizations alike: read at version 3, change, write back
// with the etag that was read, and start over with jittered backoff when
// the etag is stale or Google answers with a retryable error. Every write
// of the package goes through it: the project writers' batches
// (writer.go), the folder and organization grants and decisions that use
// the same writers, and the lifecycle operations (grants.go).

const (
	msgTimedOut    = "Updating the IAM policy timed out, please try again"
	msgConcurrent  = "Failed to update IAM bindings due to concurrent modifications, please try again"
	msgUnconfirmed = "Google Cloud did not confirm the IAM policy update; check whether the role is active before trying again"
)

// errNothingToWrite is what a modify function returns when the policy as
// read needs no write: the change is already in it (an earlier attempt,
// whose answer was lost, landed), or every change of a batch failed on
// its own. The read-modify-write then ends without a write, successfully.
var errNothingToWrite = errors.New("nothing left to write")

// readModifyWrite applies modify to the resource's current policy and
// writes it back with its etag, starting over when the etag is stale, when
// Google answers with a retryable error, and when the answer to a write
// was lost. ctx bounds the whole cycle.
//
// modify is told (lost) when the previous attempt's write got no answer
// that says whether it was applied, so that it can recognise its own
// change in the policy it now reads; it returns the write's request
// reason, errNothingToWrite, or an error that ends the cycle and is
// returned as it is. When the cycle fails after a lost answer, the error
// says so (maybeApplied): Google may have applied that write.
func (c *Client) readModifyWrite(ctx context.Context, resource string, modify func(p *cloudresourcemanager.Policy, lost bool) (string, error)) error {
	const op = "iam.readModifyWrite"
	backoff := c.opts.BaseBackoff
	unsure, inFlight, lastLost := false, false, false
	fail := func(err error) error {
		if unsure {
			return &maybeAppliedError{err: err, inFlight: inFlight}
		}
		return err
	}
	for attempt := 1; ; attempt++ {
		wasLost := lastLost
		err := c.tryOnce(ctx, resource, func(p *cloudresourcemanager.Policy) (string, error) { return modify(p, wasLost) })
		lastLost = false
		switch {
		case err == nil, errors.Is(err, errNothingToWrite):
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			// modify decided on the policy as it stands, after any lost
			// write: its answer is the outcome.
			return perm.err
		}
		var lost *lostAnswerError
		if errors.As(err, &lost) {
			unsure, inFlight, lastLost = true, inFlight || lost.inFlight, true
			err = lost.err
		} else if !retryable(err) {
			return fail(translateResource(op, resource, err))
		}
		if isConflict(err) {
			c.conflicts.Add(1)
		}
		wait := rand.N(backoff) + time.Millisecond //nolint:gosec // jitter needs no cryptographic randomness
		backoff = min(2*backoff, c.opts.MaxBackoff)
		c.opts.Logger.DebugContext(ctx, "retrying IAM policy update",
			slog.String("resource", resource), slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.Any("error", err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			if isConflict(err) {
				return fail(jit.E(op, jit.KindConflict, msgConcurrent, err))
			}
			return fail(translateResource(op, resource, err))
		case <-t.C:
		}
		c.retries.Add(1)
	}
}

func (c *Client) tryOnce(ctx context.Context, resource string, modify func(*cloudresourcemanager.Policy) (string, error)) error {
	policy, err := c.getPolicy(ctx, resource)
	if err != nil {
		return err
	}
	// Conditions need version 3 on write, whatever version came back.
	policy.Version = 3
	sweep := c.scheduleSweep(ctx, resource, policy)
	reason, err := modify(policy)
	if errors.Is(err, errNothingToWrite) {
		return err
	}
	if err != nil {
		return &permanentError{err: err}
	}
	if sweep != nil {
		// Scheduled windows whose eligibility is gone end with this write
		// (schedules.go).
		sweep(policy)
	}
	return c.setPolicy(ctx, resource, policy, reason)
}

// maybeAppliedError marks a failure after a setIamPolicy call whose answer
// was lost: Google may have applied it, and (inFlight) may still do so.
type maybeAppliedError struct {
	err      error
	inFlight bool
}

func (e *maybeAppliedError) Error() string { return e.err.Error() }
func (e *maybeAppliedError) Unwrap() error { return e.err }

func maybeApplied(err error) (applied, inFlight bool) {
	var m *maybeAppliedError
	if errors.As(err, &m) {
		return true, m.inFlight
	}
	return false, false
}

// lostAnswerError is a setIamPolicy call whose outcome Google's answer
// does not tell: none came (inFlight: it may still be applied), or a 500.
type lostAnswerError struct {
	err      error
	inFlight bool
}

func (e *lostAnswerError) Error() string { return e.err.Error() }
func (e *lostAnswerError) Unwrap() error { return e.err }

// permanentError marks a failure of modify that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// getPolicy reads the policy of "projects/P", "folders/F" or
// "organizations/O" at version 3.
func (c *Client) getPolicy(ctx context.Context, resource string) (*cloudresourcemanager.Policy, error) {
	req := &cloudresourcemanager.GetIamPolicyRequest{
		Options: &cloudresourcemanager.GetPolicyOptions{RequestedPolicyVersion: 3},
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.ReadTimeout)
	defer cancel()
	var (
		p   *cloudresourcemanager.Policy
		err error
	)
	switch {
	case strings.HasPrefix(resource, "projects/"):
		p, err = c.crm.Projects.GetIamPolicy(resource, req).Context(ctx).Do()
	case strings.HasPrefix(resource, "folders/"):
		p, err = c.crm.Folders.GetIamPolicy(resource, req).Context(ctx).Do()
	case strings.HasPrefix(resource, "organizations/"):
		p, err = c.crm.Organizations.GetIamPolicy(resource, req).Context(ctx).Do()
	default:
		return nil, jit.E("iam.getPolicy", jit.KindInternal, "", fmt.Errorf("unsupported resource %q", resource))
	}
	if err != nil {
		return nil, &policyReadError{fmt.Errorf("get IAM policy of %s: %w", resource, err)}
	}
	return p, nil
}

// policyReadError marks a failure to read a policy, so that the message
// says so: nothing was written, and "failed to update" sends people
// looking for a change that was never attempted.
type policyReadError struct{ err error }

func (e *policyReadError) Error() string { return e.err.Error() }
func (e *policyReadError) Unwrap() error { return e.err }

// readMessages are translate's messages for a policy that could not be
// read, by the message they replace.
var readMessages = map[string]string{
	msgTimedOut:                      "Reading the IAM policy timed out, please try again",
	"Updating the IAM policy failed": "Reading the IAM policy failed",
	"Google Cloud failed to update the IAM policy, please try again": "Google Cloud failed to read the IAM policy, please try again",
}

// setPolicy writes p with the etag it carries. An answer that does not
// tell whether Google applied the write is a *lostAnswerError.
func (c *Client) setPolicy(ctx context.Context, resource string, p *cloudresourcemanager.Policy, reason string) error {
	req := &cloudresourcemanager.SetIamPolicyRequest{
		Policy: p,
		// Only bindings change; auditConfigs and anything else stay as they are.
		UpdateMask: "bindings,etag",
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.WriteTimeout)
	defer cancel()
	var call interface {
		Header() http.Header
		Do(...googleapi.CallOption) (*cloudresourcemanager.Policy, error)
	}
	switch {
	case strings.HasPrefix(resource, "projects/"):
		call = c.crm.Projects.SetIamPolicy(resource, req).Context(ctx)
	case strings.HasPrefix(resource, "folders/"):
		call = c.crm.Folders.SetIamPolicy(resource, req).Context(ctx)
	case strings.HasPrefix(resource, "organizations/"):
		call = c.crm.Organizations.SetIamPolicy(resource, req).Context(ctx)
	default:
		return jit.E("iam.setPolicy", jit.KindInternal, "", fmt.Errorf("unsupported resource %q", resource))
	}
	call.Header().Set("x-goog-request-reason", headerSafe(reason))
	if _, err := call.Do(); err != nil {
		err = fmt.Errorf("set IAM policy of %s: %w", resource, err)
		var g *googleapi.Error
		switch {
		case !errors.As(err, &g) || g.Code == http.StatusBadGateway || g.Code == http.StatusGatewayTimeout:
			// No answer (a timeout, a dropped connection), or a gateway
			// that gave up waiting: the call may still be on its way and
			// be applied later.
			return &lostAnswerError{err: err, inFlight: true}
		case g.Code == http.StatusInternalServerError:
			// An answer, but one that does not say whether the change was
			// made before the failure; the call itself is over.
			return &lostAnswerError{err: err}
		}
		// Any other answer is Google's decision, and means it did not.
		return err
	}
	c.writes.Add(1)
	return nil
}

func retryable(err error) bool {
	var g *googleapi.Error
	if errors.As(err, &g) {
		switch g.Code {
		case http.StatusConflict, http.StatusPreconditionFailed, http.StatusTooManyRequests,
			http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	// Per-call timeouts inside the overall budget are worth another try.
	return errors.Is(err, context.DeadlineExceeded)
}

func isConflict(err error) bool {
	var g *googleapi.Error
	return errors.As(err, &g) && (g.Code == http.StatusConflict || g.Code == http.StatusPreconditionFailed)
}

// translate turns a Resource Manager failure on a project into a *jit.Error,
// worded for a read when getIamPolicy failed.
func translate(op string, project jit.ProjectID, err error) error {
	e := translateWrite(op, project, err)
	var read *policyReadError
	var je *jit.Error
	if errors.As(err, &read) && errors.As(e, &je) {
		if m, ok := readMessages[je.Msg]; ok {
			je.Msg = m
		} else if rest, ok := strings.CutPrefix(je.Msg, "Google Cloud refused the IAM policy update: "); ok {
			je.Msg = "Google Cloud refused to read the IAM policy: " + rest
		}
	}
	return e
}

func translateWrite(op string, project jit.ProjectID, err error) error {
	var g *googleapi.Error
	if !errors.As(err, &g) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return jit.E(op, jit.KindUnavailable, msgTimedOut, err)
		}
		return jit.E(op, jit.KindUpstream, "Updating the IAM policy failed", err)
	}
	switch g.Code {
	case http.StatusBadRequest:
		if strings.Contains(g.Message, "not supported") || strings.Contains(g.Message, "does not exist") {
			return jit.E(op, jit.KindDenied, "The role cannot be granted on a project", err)
		}
		return jit.E(op, jit.KindInvalid, "Google Cloud refused the IAM policy update: "+g.Message, err)
	case http.StatusUnauthorized:
		return jit.E(op, jit.KindUnavailable, "The application's credentials were refused by Google Cloud", err)
	case http.StatusForbidden:
		return jit.E(op, jit.KindDenied, fmt.Sprintf("Denied access to project '%s'", project), err)
	case http.StatusNotFound:
		return jit.E(op, jit.KindNotFound, fmt.Sprintf("The project '%s' does not exist", project), err)
	case http.StatusConflict, http.StatusPreconditionFailed:
		return jit.E(op, jit.KindConflict, msgConcurrent, err)
	case http.StatusTooManyRequests:
		return jit.E(op, jit.KindTooMany, "Google Cloud's IAM quota is exhausted, please try again later", err)
	}
	if g.Code >= 500 {
		return jit.E(op, jit.KindUpstream, "Google Cloud failed to update the IAM policy, please try again", err)
	}
	return jit.E(op, jit.KindUpstream, "Updating the IAM policy failed", err)
}

// translateResource is translate for any resource: the messages name a
// folder or organization where translate would say project.
func translateResource(op, resource string, err error) error {
	kind, name, _ := strings.Cut(resource, "/")
	if kind == "projects" {
		return translate(op, jit.ProjectID(name), err)
	}
	e := translate(op, jit.ProjectID(name), err)
	var je *jit.Error
	if errors.As(e, &je) {
		noun := strings.TrimSuffix(kind, "s")
		if kind == "organizations" {
			noun = "organization"
		}
		je.Msg = strings.ReplaceAll(strings.ReplaceAll(je.Msg, "project '", noun+" '"), "on a project", "on a "+noun)
	}
	return e
}
