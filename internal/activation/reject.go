package activation

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// RequestLog reads approval requests' events back from the audit log.
// internal/audit implements it.
type RequestLog interface {
	// RequestEvents lists one request's events since a time, oldest first.
	RequestEvents(ctx context.Context, id string, since time.Time) ([]jit.RequestEvent, error)
	// EventsOf is RequestEvents for several requests, in one read.
	EventsOf(ctx context.Context, ids []string, since time.Time) (map[string][]jit.RequestEvent, error)
	// Requests lists Requested events matching q, newest first.
	Requests(ctx context.Context, q jit.RequestQuery) ([]jit.RequestEvent, error)
}

// approverPolicy is ent's approver policy: its dedicated approvers where
// approver bindings declare them, else the original's: peers. Where no
// quorum is declared, the deployment's default (one, unless configured)
// applies.
func (s *Service) approverPolicy(ctx context.Context, ent jit.Entitlement) (jit.ApproverPolicy, error) {
	ap, err := s.catalog.Approvers(ctx, ent)
	if err != nil {
		return jit.ApproverPolicy{}, wrapUpstream("activation.approverPolicy", "Checking the approvers failed", err)
	}
	if ap.Quorum <= 0 {
		ap.Quorum = max(s.opts.DefaultQuorum, 1)
	}
	return ap, nil
}

// Reject rejects a request as one of its reviewers, with an optional
// reason. A rejection by any one approver ends the request (a veto), also
// one that needs several approvals. Like an approval, it is decided in
// one read-modify-write of the project's policy, which records the
// rejection until the request's deadline, so that no approval can follow
// it, through this instance or another.
func (s *Service) Reject(ctx context.Context, caller jit.Principal, token, reason string) (Result, error) {
	const op = "activation.Reject"
	req, err := s.openRequest(ctx, caller, token, jit.EventRejectFailed)
	if err != nil {
		return Result{}, err
	}
	reason = strings.TrimSpace(reason)
	fail := func(err error) (Result, error) {
		s.record(ctx, jit.Event{Kind: jit.EventRejectFailed, Actor: caller, Request: &req, Reason: reason, Err: err})
		return Result{}, err
	}
	if err := checkReason(reason); err != nil {
		return fail(err)
	}
	conf, _, err := s.decision(ctx, caller, req, "reject")
	if err != nil {
		return fail(err)
	}
	// As for an approval, the log is read while the policy is, and waited
	// for only briefly inside the write (Approve).
	logEvents := s.awaitLog(ctx, req)
	attempted := false
	rec, err := s.policies.Decide(ctx, req, conf, func(rec jit.RequestRecord) (jit.Decision, error) {
		if attempted && rec.Unconfirmed && rec.Granted == nil && rec.RejectedBy == caller.Email {
			// Our earlier attempt's write landed, its answer was lost.
			return jit.Decision{Landed: true}, nil
		}
		attempted = true
		if err := alreadyDecided(op, rec, logEvents(logWaitInWrite)); err != nil {
			return jit.Decision{}, err
		}
		return jit.Decision{Reject: caller.Email}, nil
	})
	if err != nil {
		if k := jit.KindOf(err); k == jit.KindConflict || k == jit.KindDenied {
			return fail(err)
		}
		return fail(wrapUpstream(op, "Rejecting the activation request failed", err))
	}
	state := stateOf(req, rec, logEvents(logWaitInWrite), s.now())
	state.DecidedAt, state.RejectReason = s.now(), reason
	e := jit.Event{Kind: jit.EventRejected, Actor: caller, Request: &req,
		Activations: []jit.Activation{plannedActivation(req, req.RequestedAt)}, Reason: reason}
	e.ActionURL, e.BaseURL = s.link(token, req), BaseURLFrom(ctx)
	r := s.requestResult(caller.Email, req, state)
	// The rejection is decided in IAM already: its audit record and its
	// email only report it, and neither waits for the other.
	r.Warnings = s.recordAndNotify(ctx, e)
	return r, nil
}

// checkReason checks a rejection's optional reason: it goes into emails
// and log labels, so it must be one short, printable line.
func checkReason(reason string) error {
	const op = "activation.checkReason"
	if !utf8.ValidString(reason) || strings.ContainsFunc(reason, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) {
		return jit.Invalid(op, "The reason contains characters that are not allowed")
	}
	if utf8.RuneCountInString(reason) > jit.MaxReasonLength {
		return jit.Invalid(op, "The reason is too long")
	}
	return nil
}

// RequestView selects a list of requests.
type RequestView string

// Request views.
const (
	ViewMine   RequestView = "mine"   // the caller's own requests
	ViewReview RequestView = "review" // requests waiting for the caller's approval
)

// RequestItem is one request of a list.
type RequestItem struct {
	Token string
	jit.ActivationRequest
	State jit.RequestState
}

// maxListed bounds a list: each request costs a token verification and a
// policy read.
const maxListed = 50

// ListRequests lists requests from the audit log (the only place that
// knows them all), each verified from its signed token and its state read
// from IAM: for ViewMine the caller's requests of the last two request
// lifetimes (ACTIVATION_REQUEST_TIMEOUT), pending, decided or expired; for
// ViewReview the pending requests naming the caller as reviewer that the
// caller has not approved yet. Requests whose log entry is still being
// ingested appear moments later.
func (s *Service) ListRequests(ctx context.Context, caller jit.Principal, view RequestView) ([]RequestItem, error) {
	const op = "activation.ListRequests"
	lifetime := min(s.opts.RequestTimeout, s.opts.Policy.MaxDuration)
	q := jit.RequestQuery{Since: s.now().Add(-lifetime - time.Minute)}
	switch view {
	case ViewMine:
		q.Beneficiary = caller.Email
		// Expired ones too, for a while, so that they do not just vanish.
		q.Since = q.Since.Add(-lifetime)
	case ViewReview:
		q.Reviewer = caller.Email
	default:
		return nil, jit.Invalid(op, `The view must be "mine" or "review"`)
	}
	if s.opts.RequestLog == nil {
		return nil, jit.E(op, jit.KindUnavailable, "Listing requests needs the audit log in Cloud Logging, which this deployment does not read", nil)
	}
	events, err := s.opts.RequestLog.Requests(ctx, q)
	if err != nil {
		return nil, wrapUpstream(op, "Listing requests failed", err)
	}
	// Each request is verified and its state read on its own: they do
	// not wait for each other (a bounded number at a time).
	var picked []jit.RequestEvent
	seen := map[string]bool{}
	for _, e := range events {
		if len(picked) >= maxListed || e.Token == "" || seen[e.RequestID] {
			continue
		}
		seen[e.RequestID] = true
		picked = append(picked, e)
	}
	// The tokens are verified first (no Google call once the keys are
	// known); then the requests' events are read from the log in one
	// query while each request's record is read from IAM.
	reqs := make([]*jit.ActivationRequest, len(picked))
	var wg sync.WaitGroup
	for i, e := range picked {
		wg.Go(func() { reqs[i] = s.listedRequest(ctx, caller, view, e) })
	}
	wg.Wait()
	var (
		ids    []string
		listed []jit.ActivationRequest
		since  = s.now()
	)
	for _, r := range reqs {
		if r != nil {
			ids, listed = append(ids, r.ID), append(listed, *r)
			since = minTime(since, r.RequestedAt.Add(-time.Minute))
		}
	}
	var (
		logged map[string][]jit.RequestEvent
		logErr error
	)
	wg.Go(func() { logged, logErr = s.opts.RequestLog.EventsOf(ctx, ids, since) })
	recs, errs := s.policies.RequestRecords(ctx, listed)
	wg.Wait()
	if logErr != nil {
		// As for one request: IAM is the first source, the log the second.
		s.opts.Logger.WarnContext(ctx, "reading the requests' audit events failed; their states rest on IAM alone", slog.Any("error", logErr))
	}
	out := []RequestItem{}
	n := 0
	for i, r := range reqs {
		if r == nil {
			continue
		}
		rec, err := recs[n], errs[n]
		n++
		if err != nil {
			return nil, wrapUpstream(op, "Reading the request's state failed", err)
		}
		state := stateOf(*r, rec, logged[r.ID], s.now())
		if view == ViewReview && (state.Status != jit.RequestPending ||
			slices.ContainsFunc(state.Approvals, func(a jit.Approval) bool { return a.By == caller.Email })) {
			continue
		}
		out = append(out, RequestItem{Token: picked[i].Token, ActivationRequest: *r, State: state})
	}
	return out, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// listedRequest is the request of a list's entry, or nil when it is not
// to be listed: the token, not the log entry, says what the request is (a
// forged entry cannot carry a valid signature, and an expired token is no
// longer open).
func (s *Service) listedRequest(ctx context.Context, caller jit.Principal, view RequestView, e jit.RequestEvent) *jit.ActivationRequest {
	verify := s.tokens.Verify
	if view == ViewMine {
		verify = s.tokens.Inspect
	}
	req, err := verify(ctx, e.Token)
	if err != nil || req.ID != e.RequestID {
		return nil
	}
	if (view == ViewMine && req.Beneficiary != caller.Email) || (view == ViewReview && !req.IsReviewer(caller.Email)) {
		return nil
	}
	return &req
}

// link is the request page's link, or "" without Options.Link.
func (s *Service) link(token string, req jit.ActivationRequest) string {
	if s.opts.Link == nil {
		return ""
	}
	return s.opts.Link(token, jit.ScopeOf(req.Entitlement))
}
