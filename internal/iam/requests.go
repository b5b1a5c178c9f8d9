package iam

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/api/cloudresourcemanager/v3"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// This file keeps what a project's policy says about approval requests,
// so that a request is decided at most once without a database. Two kinds
// of binding carry a request id:
//
//   - the activation binding written when a request is approved: its
//     description ends in "(request mpa-…)" (jit.Activation.Description);
//   - a record binding (condition.RecordTitle, a condition that never
//     evaluates to true) that holds the approvals collected so far of a
//     request needing several, or its rejection, until the request's
//     approve-by deadline.
//
// Every decision (approve, reject) is one read-modify-write of the policy
// that reads the request's bindings and writes the change under the same
// etag, so that deciding through two instances at once is serialised by
// Resource Manager: the loser's write is refused with a stale etag, it
// reads the winner's change and decides again (usually: already decided).

// RequestRetention is how long an approved request's activation binding is
// kept after its window ended: a request's token lives at most 12 hours
// from its creation (approval.MaxLifetime, signJwt's limit) and the window
// starts at approval, so for as long as the token can be presented the
// binding is there to say that it was approved.
const RequestRetention = 12 * time.Hour

// keepForRequest decides the fate of a binding that belongs to a request
// in a sweep: handled is false for bindings that are not a request's.
// Expired activations of a request are kept for RequestRetention, record
// bindings until their request's deadline; neither is replaced by other
// activations of the same role.
func keepForRequest(b *cloudresourcemanager.Binding, now time.Time) (keep, handled bool) {
	if b == nil || b.Condition == nil || len(b.Members) != 1 {
		return false, false
	}
	if condition.IsRecord(b.Condition.Title, b.Condition.Expression) {
		rec, ok := parseRecord(b.Condition.Description)
		return ok && now.Before(rec.until), true
	}
	if jit.RequestIDOf(b.Condition.Description) == "" {
		return false, false
	}
	w, ok := condition.ParseActivation(b.Condition.Title, b.Condition.Expression)
	if !ok {
		return false, false
	}
	return now.Before(w.End.Add(RequestRetention)), true
}

// record is a record binding's description, parsed.
type record struct {
	id         string
	until      time.Time
	approvers  []string
	rejectedBy jit.UserID
}

const (
	recordRequest  = "request "
	recordUntil    = " until "
	recordApproved = "approved by "
	recordRejected = "rejected by "
	recordSep      = "; "
)

// description renders a record, fitting IAM's limit: addresses that do not
// fit are replaced by their key (jit.ApproverKey), oldest first.
func (r record) description() string {
	approvers := slices.Clone(r.approvers)
	for i := 0; ; i++ {
		parts := []string{recordRequest + r.id + recordUntil + r.until.UTC().Format(time.RFC3339)}
		if len(approvers) > 0 {
			parts = append(parts, recordApproved+strings.Join(approvers, ", "))
		}
		if r.rejectedBy != "" {
			parts = append(parts, recordRejected+string(r.rejectedBy))
		}
		s := strings.Join(parts, recordSep)
		if len(s) <= jit.MaxDescriptionLength || i >= len(approvers) {
			return s
		}
		if !strings.HasPrefix(approvers[i], "#") {
			approvers[i] = jit.ApproverKey(jit.UserID(approvers[i]))
		}
	}
}

func parseRecord(desc string) (record, bool) {
	var r record
	parts := strings.Split(desc, recordSep)
	head, ok := strings.CutPrefix(parts[0], recordRequest)
	if !ok {
		return record{}, false
	}
	id, until, ok := strings.Cut(head, recordUntil)
	t, err := time.Parse(time.RFC3339, until)
	if !ok || err != nil || !jit.ValidRequestID(id) || t.UTC().Format(time.RFC3339) != until {
		return record{}, false
	}
	r.id, r.until = id, t
	for _, p := range parts[1:] {
		switch {
		case strings.HasPrefix(p, recordApproved):
			for a := range strings.SplitSeq(strings.TrimPrefix(p, recordApproved), ", ") {
				if !validApprover(a) {
					return record{}, false
				}
				r.approvers = append(r.approvers, a)
			}
		case strings.HasPrefix(p, recordRejected):
			u, err := jit.ParseUserID(strings.TrimPrefix(p, recordRejected))
			if err != nil {
				return record{}, false
			}
			r.rejectedBy = u
		default:
			return record{}, false
		}
	}
	return r, true
}

// validApprover accepts an address or a key (jit.ApproverKey).
func validApprover(a string) bool {
	if key, ok := strings.CutPrefix(a, "#"); ok {
		if len(key) != 12 {
			return false
		}
		for i := 0; i < len(key); i++ {
			if (key[i] < '0' || key[i] > '9') && (key[i] < 'a' || key[i] > 'f') {
				return false
			}
		}
		return true
	}
	u, err := jit.ParseUserID(a)
	return err == nil && string(u) == a
}

// requestRecord finds what policy says about request id, and the index of
// its record binding (-1 when there is none).
func requestRecord(policy *cloudresourcemanager.Policy, id string) (jit.RequestRecord, int) {
	var out jit.RequestRecord
	at := -1
	for i, b := range policy.Bindings {
		if b == nil || b.Condition == nil || len(b.Members) != 1 {
			continue
		}
		if condition.IsRecord(b.Condition.Title, b.Condition.Expression) {
			if r, ok := parseRecord(b.Condition.Description); ok && r.id == id {
				out.Approvers, out.RejectedBy, at = r.approvers, r.rejectedBy, i
			}
			continue
		}
		if jit.RequestIDOf(b.Condition.Description) != id {
			continue
		}
		w, ok := condition.ParseActivation(b.Condition.Title, b.Condition.Expression)
		if !ok {
			continue
		}
		member := b.Members[0]
		_, email, _ := strings.Cut(member, ":")
		out.Granted = &jit.Activation{
			ID: id, Type: jit.MPA, Beneficiary: jit.UserID(strings.ToLower(email)),
			Entitlement: jit.Entitlement{Role: b.Role, ResourceCondition: w.ResourceCondition},
			Approver:    approverOf(b.Condition.Description),
			Start:       w.Start, End: w.End,
		}
	}
	return out, at
}

// approverOf reads the last approver from "Approved by A[, B], justification: …".
func approverOf(desc string) jit.UserID {
	rest, ok := strings.CutPrefix(desc, "Approved by ")
	if !ok {
		return ""
	}
	by, _, _ := strings.Cut(rest, ", justification: ")
	names := strings.Split(by, ", ")
	u, err := jit.ParseUserID(names[len(names)-1])
	if err != nil {
		return ""
	}
	return u
}

// RequestRecord reads what the project's live policy says about a request.
// Errors are as Grant's.
func (c *Client) RequestRecord(ctx context.Context, req jit.ActivationRequest) (jit.RequestRecord, error) {
	const op = "iam.RequestRecord"
	// Projects, folders and the organization alike (grants.go).
	policy, err := c.getPolicy(ctx, req.Entitlement.Resource())
	if err != nil {
		return jit.RequestRecord{}, translateResource(op, req.Entitlement.Resource(), err)
	}
	rec, _ := requestRecord(policy, req.ID)
	return fill(rec, req), nil
}

// fill completes a granted activation with what the request knows.
func fill(rec jit.RequestRecord, req jit.ActivationRequest) jit.RequestRecord {
	if rec.Granted != nil {
		g := *rec.Granted
		g.Entitlement.Project, g.Entitlement.Node = req.Entitlement.Project, req.Entitlement.Node
		g.Justification = req.Justification
		rec.Granted = &g
	}
	return rec
}

// Decide applies a decision about req to the project's policy. decide is
// called with the request's record as read in the read-modify-write (again
// after every stale etag) and returns the change, or an error that ends
// the attempt and is returned as it is. The record after the write is
// returned.
//
// Decisions on one project in one instance are committed together, like
// grants: the first caller writes, and every decision that arrives while
// it writes joins the next write, each applied in turn to the policy read
// (so two approvals of one request in one batch see each other). Under a
// burst of approvals this is one write instead of a storm of stale etags;
// the etag still serialises decisions made in other instances.
//
// The write is detached from the caller's cancellation (a client that
// hangs up must not cut a decision in half) and bounded by the retry
// budget. When Google's answer to a write is lost, the next attempt reads
// the policy again with the record marked Unconfirmed; decide sees its own
// decision there, answers Landed, and the decision counts as made without
// another write. (After a stale etag the record is not Unconfirmed: the
// write was refused, so a decision found then is someone else's, even one
// by the same person clicking twice.)
func (c *Client) Decide(ctx context.Context, req jit.ActivationRequest, decide func(jit.RequestRecord) (jit.Decision, error)) (jit.RequestRecord, error) {
	return c.decide(ctx, req, nil, decide)
}

func (c *Client) decide(ctx context.Context, req jit.ActivationRequest, reqs []jit.Requirement, decide func(jit.RequestRecord) (jit.Decision, error)) (jit.RequestRecord, error) {
	d := &decision{ctx: context.WithoutCancel(ctx), req: req, decide: decide, done: make(chan decisionResult, 1), reqs: reqs}
	// The policies of the folders and organization holding eligible
	// bindings are read while the decision waits for its write.
	if req.Entitlement.Node != "" {
		// A request on a folder or the organization (grants.go).
		return c.decideOnNode(d)
	}
	d.ancestors = c.readAncestors(d.ctx, req.Entitlement.Project, reqs)
	project := req.Entitlement.Project
	if c.decisions.enqueue(project, d) {
		go c.commitDecisions(project)
	}
	r := <-d.done
	return r.rec, r.err
}

// decisionQueues hold the decisions waiting for each project's next write.
// The zero value is ready to use.
type decisionQueues struct {
	mu sync.Mutex
	m  map[jit.ProjectID][]*decision // present while the project's writer runs
}

type decision struct {
	ctx    context.Context
	req    jit.ActivationRequest
	decide func(jit.RequestRecord) (jit.Decision, error)
	done   chan decisionResult
	// reqs are confirmed in the live policies before the decision is
	// applied (DecideConfirmed); ancestors waits for the policies they
	// name besides the project's.
	reqs      []jit.Requirement
	ancestors func() (map[string]*cloudresourcemanager.Policy, error)
	// During one batch's read-modify-write: the outcome of the attempt.
	rec     jit.RequestRecord
	err     error
	changed bool
}

type decisionResult struct {
	rec jit.RequestRecord
	err error
}

// enqueue adds d and reports whether the caller must start the writer.
func (q *decisionQueues) enqueue(project jit.ProjectID, d *decision) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.m == nil {
		q.m = map[jit.ProjectID][]*decision{}
	}
	pending, running := q.m[project]
	q.m[project] = append(pending, d)
	return !running
}

// take removes the pending batch; none left ends the writer.
func (q *decisionQueues) take(project jit.ProjectID) []*decision {
	q.mu.Lock()
	defer q.mu.Unlock()
	batch := q.m[project]
	if len(batch) == 0 {
		delete(q.m, project)
		return nil
	}
	q.m[project] = []*decision{}
	return batch
}

// commitDecisions writes the project's pending decisions, batch after
// batch, until none are left.
func (c *Client) commitDecisions(project jit.ProjectID) {
	for {
		batch := c.decisions.take(project)
		if batch == nil {
			return
		}
		c.writeDecisions(project, batch)
	}
}

// writeDecisions applies a batch in one read-modify-write; each decision
// gets its own outcome.
func (c *Client) writeDecisions(project jit.ProjectID, batch []*decision) {
	ctx, cancel := context.WithTimeout(batch[0].ctx, c.opts.RetryBudget)
	defer cancel()
	reason := "Approval request " + batch[0].req.ID
	if len(batch) > 1 {
		reason = fmt.Sprintf("%d approval request decisions", len(batch))
	}
	err := c.readModifyWriteUnsure(ctx, project, func(policy *cloudresourcemanager.Policy, unsure bool) error {
		changed := false
		for _, d := range batch {
			// An earlier attempt may have landed only if it changed
			// something for this decision.
			d.rec, d.err = c.applyOne(policy, d, unsure && d.changed)
			// What this attempt writes for d, if the write goes through.
			d.changed = d.err == nil
			changed = changed || d.changed
		}
		if !changed {
			return errLanded // nothing to write
		}
		return nil
	}, reason)
	if err != nil && !errors.Is(err, errLanded) {
		for _, d := range batch {
			if d.err == nil {
				d.err = err
			}
		}
	}
	for _, d := range batch {
		if errors.Is(d.err, errLanded) {
			d.err = nil
		}
		if d.err != nil {
			d.done <- decisionResult{err: d.err}
			continue
		}
		d.done <- decisionResult{rec: d.rec}
	}
}

// applyOne asks one decision what to change on the policy as it stands
// (with the batch's earlier decisions applied) and applies it; a change
// that cannot be written leaves the policy as it was.
func (c *Client) applyOne(policy *cloudresourcemanager.Policy, d *decision, unconfirmed bool) (jit.RequestRecord, error) {
	rec, at := requestRecord(policy, d.req.ID)
	rec = fill(rec, d.req)
	rec.Unconfirmed = unconfirmed
	dec, err := d.decide(rec)
	if err != nil {
		return jit.RequestRecord{}, err
	}
	if dec.Landed {
		return rec, errLanded
	}
	if err := confirmIn(d.req.Entitlement.Project, policy, d.ancestors, d.reqs); err != nil {
		return jit.RequestRecord{}, err
	}
	saved := slices.Clone(policy.Bindings)
	out, err := applyDecision(policy, d.req, rec, at, dec, c.opts.Clock())
	if err != nil {
		policy.Bindings = saved
		return jit.RequestRecord{}, err
	}
	return out, nil
}

// errLanded ends a read-modify-write that has nothing left to write.
var errLanded = errors.New("the decision is already in the policy")

func applyDecision(policy *cloudresourcemanager.Policy, req jit.ActivationRequest, rec jit.RequestRecord, at int, d jit.Decision, now time.Time) (jit.RequestRecord, error) {
	const op = "iam.Decide"
	r := record{id: req.ID, until: req.ApproveBy, approvers: rec.Approvers, rejectedBy: rec.RejectedBy}
	switch {
	case d.Grant != nil:
		if at >= 0 {
			policy.Bindings = slices.Delete(policy.Bindings, at, at+1)
		}
		if err := applyActivations(policy, []jit.Activation{*d.Grant}, now); err != nil {
			return jit.RequestRecord{}, err
		}
		g := *d.Grant
		rec.Granted = &g
		if d.Approve != "" {
			rec.Approvers = append(slices.Clone(rec.Approvers), string(d.Approve))
		}
		return rec, nil
	case d.Approve != "":
		r.approvers = append(slices.Clone(r.approvers), string(d.Approve))
		rec.Approvers = r.approvers
	case d.Reject != "":
		r.rejectedBy = d.Reject
		rec.RejectedBy = d.Reject
	default:
		return jit.RequestRecord{}, jit.E(op, jit.KindInternal, "", errors.New("an empty decision"))
	}
	b := &cloudresourcemanager.Binding{
		Role:    req.Entitlement.Role,
		Members: []string{req.Beneficiary.Member()},
		Condition: &cloudresourcemanager.Expr{
			Title: condition.RecordTitle, Description: r.description(), Expression: condition.RecordExpression,
		},
	}
	if at >= 0 {
		policy.Bindings[at] = b
	} else {
		policy.Bindings = append(policy.Bindings, b)
	}
	// The sweep of expired bindings runs with grants; a record only
	// needs the limits checked.
	return rec, checkLimits(op, policy)
}
