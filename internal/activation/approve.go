package activation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

const msgRequestAccessFailed = "Accessing the activation request failed"

// errNotAuthorized is the original's reason, which its audit entry quotes.
var errNotAuthorized = errors.New("the calling user is not authorized to access this approval request")

// GetRequest shows an approval request to its beneficiary or a reviewer,
// with its state: pending (and the approvals so far), approved (by whom,
// when, with the window written), rejected (by whom, why) or expired.
// The state is read from the binding written for this very request (its
// id is in the binding's description), never from whatever activation of
// the same role the beneficiary holds: an earlier activation does not
// make a renewal read as approved.
func (s *Service) GetRequest(ctx context.Context, caller jit.Principal, token string) (Result, error) {
	const op = "activation.GetRequest"
	req, err := s.openRequest(ctx, caller, token, jit.EventRequestAccessDenied)
	if err != nil {
		return Result{}, err
	}
	if caller.Email != req.Beneficiary && !req.IsReviewer(caller.Email) {
		err := jit.E(op, jit.KindDenied, msgRequestAccessFailed, errNotAuthorized)
		s.record(ctx, jit.Event{Kind: jit.EventRequestAccessDenied, Actor: caller, Request: &req, Err: err})
		return Result{}, err
	}
	if req.IsReviewer(caller.Email) {
		// For the decision that usually follows.
		s.prefetchGrounds(ctx, []jit.UserID{req.Beneficiary, caller.Email}, req.Entitlement)
		s.policies.Prepare(ctx, jit.ScopeOf(req.Entitlement), req.Ancestry)
	}
	state, err := s.requestState(ctx, req, nil, true)
	if err != nil {
		return Result{}, err
	}
	return s.requestResult(caller.Email, req, state), nil
}

// requestResult renders a request and its state for the caller.
func (s *Service) requestResult(caller jit.UserID, req jit.ActivationRequest, state jit.RequestState) Result {
	act := plannedActivation(req, s.now())
	status := jit.StatusActivationPending
	switch state.Status {
	case jit.RequestApproved:
		act.Start, act.End = state.Granted.Start, state.Granted.End
		status = jit.StatusActive
		if !s.now().Before(act.End) {
			status = jit.StatusInactive
		}
	case jit.RequestRejected, jit.RequestExpired, jit.RequestWithdrawn:
		status = jit.StatusInactive
	}
	r := resultOf(caller, &req, []jit.Activation{act}, status)
	r.Request = &state
	r.RequestID, r.RequestedAt, r.ExpiresAt = req.ID, req.RequestedAt, req.ApproveBy
	return r
}

// Approve approves a request as one of its reviewers. A request needing
// one approval (the original's rule) is granted at once; one needing k
// (a quorum declared next to its dedicated approvers) records the
// approval and is granted when the k-th distinct approver approves. The
// window starts at the grant, not when it was requested (the original
// started it at request time, so late approvals shortened or even expired
// the grant). Beneficiary and approver eligibility and the justification
// are re-checked against the current rules.
//
// comment is the approver's optional comment (required where the policy
// says so, jit.Policy.CheckComment): it goes into the audit record, the
// notifications and the request's page, never into the binding.
//
// A request is decided at most once: the decision is one read-modify-write
// of the project's policy that finds this request's binding or record (by
// its id) in the same read as the write, so a second approval, one after
// the window ended, or two at once through different instances answer
// "already approved" and write nothing.
func (s *Service) Approve(ctx context.Context, caller jit.Principal, token, comment string) (Result, error) {
	const op = "activation.Approve"
	req, err := s.openRequest(ctx, caller, token, jit.EventApproveFailed)
	if err != nil {
		return Result{}, err
	}
	act := plannedActivation(req, s.now())
	act.Approver = caller.Email
	comment = strings.TrimSpace(comment)
	audited := "" // the comment, once checked: a refused one is not logged
	fail := func(err error) (Result, error) {
		s.record(ctx, jit.Event{Kind: jit.EventApproveFailed, Actor: caller, Request: &req, Activations: []jit.Activation{act}, Comment: audited, Err: err})
		return Result{}, err
	}
	pol := s.opts.Policy
	if err := pol.CheckComment(comment); err != nil {
		return fail(err)
	}
	audited = comment
	conf, required, err := s.decision(ctx, caller, req, "approve")
	if err != nil {
		return fail(err)
	}
	if err := pol.CheckJustification(req.Justification); err != nil {
		return fail(err)
	}
	if err := pol.CheckJustificationPattern(req.Justification); err != nil {
		return fail(err)
	}
	if err := pol.CheckDuration(req.Duration); err != nil {
		return fail(err)
	}
	// The audit log is read while the policy is, and looked at inside the
	// project's write (alreadyDecided), which every other grant and
	// decision on the project waits for. So the write waits for the log
	// only briefly: it was asked with the policy and normally answers with
	// it; a slow Cloud Logging must not hold other users' activations for
	// BACKEND_READ_TIMEOUT. Without it the decision rests on IAM alone, as
	// when the log cannot be read.
	logEvents := s.awaitLog(ctx, req)
	var granted, attempted bool
	rec, err := s.policies.Decide(ctx, req, conf, func(rec jit.RequestRecord) (jit.Decision, error) {
		if attempted && rec.Unconfirmed && landed(rec, caller.Email, granted) {
			// Our earlier attempt's write landed, its answer was lost.
			if granted {
				act = *rec.Granted
			}
			return jit.Decision{Landed: true}, nil
		}
		attempted = true
		if err := alreadyDecided(op, rec, logEvents(logWaitInWrite)); err != nil {
			return jit.Decision{}, err
		}
		// The live policies may declare a larger quorum than the token
		// and the catalog knew of.
		required = max(required, rec.Required)
		if rec.HasApproved(caller.Email) {
			return jit.Decision{}, jit.E(op, jit.KindConflict, fmt.Sprintf(
				"You have already approved this request; it needs %d more approval(s)", required-len(rec.Approvers)), nil)
		}
		if len(rec.Approvers)+1 < required {
			granted = false
			return jit.Decision{Approve: caller.Email}, nil
		}
		// The window starts now, when the last approval arrives.
		a := plannedActivation(req, s.now())
		a.Approver = caller.Email
		if required > 1 {
			for _, u := range rec.Approvers {
				a.Approvers = append(a.Approvers, jit.UserID(u))
			}
			a.Approvers = append(a.Approvers, caller.Email)
		}
		act, granted = a, true
		return jit.Decision{Approve: caller.Email, Grant: &a}, nil
	})
	if err != nil {
		if jit.KindOf(err) == jit.KindConflict || jit.KindOf(err) == jit.KindDenied {
			return fail(err)
		}
		return fail(wrapUpstream(op, "Approving the activation request failed", err))
	}
	state := stateOf(req, rec, logEvents(logWaitInWrite), s.now())
	// The approval that was just recorded is not in the log yet.
	state = withApproval(state, caller.Email, s.now())
	state = withComment(state, caller.Email, comment)
	state.Required = required
	e := jit.Event{Kind: jit.EventApprovalRecorded, Actor: caller, Request: &req, Activations: []jit.Activation{act},
		Approvals: state.Approvals, Required: required, Comment: comment}
	e.ActionURL, e.BaseURL = s.link(token, req), BaseURLFrom(ctx)
	if granted {
		e.Kind = jit.EventApproved
	}
	r := s.requestResult(caller.Email, req, state)
	r.Warnings = s.recordAndNotify(ctx, e)
	return r, nil
}

// logWaitInWrite bounds how long a decision, inside its project's write,
// waits for the request's audit events that were asked for at the same
// time as the policy.
const logWaitInWrite = time.Second

// awaitLog starts reading req's audit events and returns a function that
// waits at most the given time for them (once they are in, at once); it
// returns nil, logged, when they did not arrive in time.
func (s *Service) awaitLog(ctx context.Context, req jit.ActivationRequest) func(time.Duration) []jit.RequestEvent {
	logged := make(chan []jit.RequestEvent, 1)
	go func() { logged <- s.decidedInLog(ctx, req) }()
	var (
		mu     sync.Mutex
		events []jit.RequestEvent
		done   bool
	)
	return func(wait time.Duration) []jit.RequestEvent {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return events
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case events = <-logged:
			done = true
		case <-t.C:
			s.opts.Logger.WarnContext(ctx, "the audit log did not answer in time; deciding on the IAM policy alone",
				slog.String("request_id", req.ID), slog.Duration("waited", wait))
		}
		return events
	}
}

// landed reports whether rec holds the decision an earlier attempt of the
// same call wrote: its grant by approver, or its approval.
func landed(rec jit.RequestRecord, approver jit.UserID, granted bool) bool {
	if granted {
		return rec.Granted != nil && rec.Granted.Approver == approver
	}
	return rec.Granted == nil && rec.RejectedBy == "" && !rec.Withdrawn && rec.HasApproved(approver)
}

// alreadyDecided refuses a decision on a request whose record, or the
// audit log, says it was decided.
func alreadyDecided(op string, rec jit.RequestRecord, events []jit.RequestEvent) error {
	switch {
	case rec.Granted != nil:
		by := rec.Granted.Approver
		msg := "This request has already been approved"
		if by != "" {
			msg += " by " + string(by)
		}
		return jit.E(op, jit.KindConflict, msg+" at "+rec.Granted.Start.UTC().Format(time.RFC3339), nil)
	case rec.RejectedBy != "":
		return jit.E(op, jit.KindConflict, "This request has already been rejected by "+string(rec.RejectedBy), nil)
	case rec.Withdrawn:
		return jit.E(op, jit.KindConflict, msgWithdrawn, nil)
	}
	return decidedError(op, events)
}

const msgWithdrawn = "This request has been withdrawn by its requester"

// decidedError refuses a decision on a request the audit log shows
// decided. It matters once the request's bindings are gone (an
// administrator removed them, or the activation was ended early).
func decidedError(op string, events []jit.RequestEvent) error {
	for _, e := range events {
		switch e.Kind {
		case jit.EventApproved:
			return jit.E(op, jit.KindConflict, fmt.Sprintf("This request has already been approved by %s at %s", e.Actor, e.Time.UTC().Format(time.RFC3339)), nil)
		case jit.EventRejected:
			return jit.E(op, jit.KindConflict, fmt.Sprintf("This request has already been rejected by %s", e.Actor), nil)
		case jit.EventWithdrawn:
			return jit.E(op, jit.KindConflict, msgWithdrawn, nil)
		}
	}
	return nil
}

// decidedInLog reads the request's events from the audit log. The log is
// the second line of defence (IAM is the first, and the serialisation
// point): when it cannot be read, the decision goes ahead on IAM alone.
func (s *Service) decidedInLog(ctx context.Context, req jit.ActivationRequest) []jit.RequestEvent {
	if s.opts.RequestLog == nil {
		return nil
	}
	events, err := s.opts.RequestLog.RequestEvents(ctx, req.ID, req.RequestedAt.Add(-time.Minute))
	if err != nil {
		s.opts.Logger.WarnContext(ctx, "reading the request's audit events failed; relying on the IAM policy alone",
			slog.String("request_id", req.ID), slog.Any("error", err))
		return nil
	}
	return events
}

// requestState derives a request's state from IAM (the fresh truth) and
// the audit log (times, reasons, and decisions whose bindings are gone).
// withPolicy also reads the role's current quorum (a Cloud Asset query),
// which lists skip: there the token's quorum is shown.
func (s *Service) requestState(ctx context.Context, req jit.ActivationRequest, events []jit.RequestEvent, withPolicy bool) (jit.RequestState, error) {
	const op = "activation.requestState"
	// The log, the policy and the quorum do not depend on each other: all
	// three are asked at once (the quorum is only used while pending).
	var (
		wg     sync.WaitGroup
		rec    jit.RequestRecord
		recErr error
		ap     jit.ApproverPolicy
		apErr  error
	)
	if events == nil {
		wg.Go(func() { events = s.decidedInLog(ctx, req) })
	}
	wg.Go(func() { rec, recErr = s.policies.RequestRecord(ctx, req) })
	if withPolicy {
		wg.Go(func() { ap, apErr = s.approvalRule(ctx, req.Entitlement) })
	}
	wg.Wait()
	if recErr != nil {
		return jit.RequestState{}, wrapUpstream(op, "Reading the request's state failed", recErr)
	}
	st := stateOf(req, rec, events, s.now())
	if withPolicy && st.Status == jit.RequestPending && apErr == nil {
		st.Required = max(st.Required, ap.Quorum)
	}
	return st, nil
}

// stateOf combines the IAM record and the audit events of a request.
func stateOf(req jit.ActivationRequest, rec jit.RequestRecord, events []jit.RequestEvent, now time.Time) jit.RequestState {
	st := jit.RequestState{Status: jit.RequestPending, Required: req.Quorum()}
	times := map[jit.UserID]time.Time{}
	for _, e := range events {
		switch e.Kind {
		case jit.EventApprovalRecorded, jit.EventApproved:
			if _, seen := times[e.Actor]; !seen {
				times[e.Actor] = e.Time
				st.Approvals = append(st.Approvals, jit.Approval{By: e.Actor, At: e.Time, Comment: e.Comment})
			}
			if e.Kind == jit.EventApproved {
				st.Status, st.DecidedBy, st.DecidedAt = jit.RequestApproved, e.Actor, e.Time
			}
		case jit.EventRejected:
			st.Status, st.DecidedBy, st.DecidedAt, st.RejectReason = jit.RequestRejected, e.Actor, e.Time, e.Reason
		case jit.EventWithdrawn:
			if e.Actor == req.Beneficiary {
				st.Status, st.DecidedBy, st.DecidedAt = jit.RequestWithdrawn, e.Actor, e.Time
			}
		}
	}
	// IAM is ahead of the log: approvals it holds that the log does not
	// show yet are added without a time.
	for _, a := range rec.Approvers {
		u := jit.UserID(a)
		if _, seen := times[u]; !seen && !slices.ContainsFunc(st.Approvals, func(x jit.Approval) bool { return jit.ApproverKey(x.By) == a }) {
			st.Approvals = append(st.Approvals, jit.Approval{By: u})
		}
	}
	switch {
	case rec.Granted != nil:
		st.Status, st.Granted = jit.RequestApproved, rec.Granted
		st.DecidedBy, st.DecidedAt = rec.Granted.Approver, rec.Granted.Start
		if rec.Granted.Approver != "" {
			if _, seen := times[rec.Granted.Approver]; !seen {
				st = withApproval(st, rec.Granted.Approver, rec.Granted.Start)
			}
		}
	case rec.RejectedBy != "":
		st.Status, st.DecidedBy = jit.RequestRejected, rec.RejectedBy
	case rec.Withdrawn:
		st.Status, st.DecidedBy = jit.RequestWithdrawn, req.Beneficiary
	}
	if st.Status == jit.RequestApproved && st.Granted == nil {
		// Approved per the log, but the binding is gone (swept, ended or
		// removed): the window is what the request asked for.
		g := plannedActivation(req, st.DecidedAt)
		g.Approver = st.DecidedBy
		st.Granted = &g
	}
	if st.Status == jit.RequestPending && !now.Before(req.ApproveBy) {
		st.Status = jit.RequestExpired
	}
	return st
}

// withApproval adds u's approval at t unless it is there already (then it
// fills in the time if it was unknown).
func withApproval(st jit.RequestState, u jit.UserID, t time.Time) jit.RequestState {
	for i, a := range st.Approvals {
		if a.By == u || string(a.By) == jit.ApproverKey(u) {
			st.Approvals[i].By = u
			if a.At.IsZero() {
				st.Approvals[i].At = t
			}
			return st
		}
	}
	st.Approvals = append(st.Approvals, jit.Approval{By: u, At: t})
	return st
}

// withComment sets u's approval's comment, unless it is "".
func withComment(st jit.RequestState, u jit.UserID, comment string) jit.RequestState {
	if comment == "" {
		return st
	}
	for i, a := range st.Approvals {
		if a.By == u {
			st.Approvals[i].Comment = comment
		}
	}
	return st
}

// openRequest verifies a token; any failure is the original's 403, audited
// as refused (the original's api.getActivationRequest when a request is
// opened, api.activateRole when it is approved).
func (s *Service) openRequest(ctx context.Context, caller jit.Principal, token string, refused jit.EventKind) (jit.ActivationRequest, error) {
	const op = "activation.openRequest"
	if strings.TrimSpace(token) == "" {
		return jit.ActivationRequest{}, jit.Invalid(op, "An activation token is required")
	}
	req, err := s.tokens.Verify(ctx, token)
	if err != nil {
		if k := jit.KindOf(err); k == jit.KindUpstream || k == jit.KindUnavailable || k == jit.KindTooMany {
			return jit.ActivationRequest{}, wrapUpstream(op, msgRequestAccessFailed, err)
		}
		err = jit.E(op, jit.KindDenied, msgRequestAccessFailed, err)
		s.record(ctx, jit.Event{Kind: refused, Actor: caller, Err: err})
		return jit.ActivationRequest{}, err
	}
	return req, nil
}
