package iam

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
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
//     approve-by deadline. A withdrawal is kept there as a rejection by
//     the request's beneficiary ("rejected by REQUESTER"), whom no
//     rejection can otherwise name (a requester never decides their own
//     request): earlier versions of the app, which know rejections only,
//     read it as decided and keep it until the deadline, so a rolling
//     update cannot approve a withdrawn request.
//
// Every decision (approve, reject, withdraw) is one read-modify-write of the policy
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
func keepForRequest(m *conds, b *cloudresourcemanager.Binding, now time.Time) (keep, handled bool) {
	if b == nil || b.Condition == nil || len(b.Members) != 1 {
		return false, false
	}
	if m.isRecord(b.Condition.Title, b.Condition.Expression) {
		rec, ok := parseRecord(b.Condition.Description)
		return ok && now.Before(rec.until), true
	}
	if jit.RequestIDOf(b.Condition.Description) == "" {
		return false, false
	}
	w, ok := m.activation(b.Condition.Title, b.Condition.Expression)
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

// requestRecord finds what policy says about req, and the index of its
// record binding (-1 when there is none). Only bindings the app wrote for
// the request count (DESIGN §10): the request's role and beneficiary as
// the only member, the app's title and a condition that parses as its
// window or record, and the request's id where the app puts it. Text a
// user supplied (a justification that names another request's id) never
// makes a binding a request's decision.
func requestRecord(m *conds, policy *cloudresourcemanager.Policy, req jit.ActivationRequest) (jit.RequestRecord, int) {
	var out jit.RequestRecord
	id := req.ID
	at := -1
	for i, b := range policy.Bindings {
		if b == nil || b.Condition == nil || len(b.Members) != 1 ||
			b.Role != req.Entitlement.Role || !strings.EqualFold(b.Members[0], req.Beneficiary.Member()) {
			continue
		}
		if m.isRecord(b.Condition.Title, b.Condition.Expression) {
			if r, ok := parseRecord(b.Condition.Description); ok && r.id == id {
				out.Approvers, out.RejectedBy, at = r.approvers, r.rejectedBy, i
				if r.rejectedBy != "" && strings.EqualFold(string(r.rejectedBy), string(req.Beneficiary)) {
					out.RejectedBy, out.Withdrawn = "", true
				}
			}
			continue
		}
		if jit.RequestIDOf(b.Condition.Description) != id {
			continue
		}
		w, ok := m.activation(b.Condition.Title, b.Condition.Expression)
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
	rec, _ := requestRecord(c.conds, policy, req)
	return fill(rec, req), nil
}

// RequestRecords is RequestRecord for several requests, reading each
// resource's policy once (a list of requests is mostly on a few
// projects), a bounded number at a time; errs holds, per request, the
// error of its resource's read.
func (c *Client) RequestRecords(ctx context.Context, reqs []jit.ActivationRequest) ([]jit.RequestRecord, []error) {
	const op = "iam.RequestRecords"
	type read struct {
		policy *cloudresourcemanager.Policy
		err    error
	}
	reads := map[string]*read{}
	for _, r := range reqs {
		reads[r.Entitlement.Resource()] = &read{}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxParallelReads)
	for resource, rd := range reads {
		g.Go(func() error {
			p, err := c.getPolicy(gctx, resource)
			if err != nil {
				rd.err = translateResource(op, resource, err)
			}
			rd.policy = p
			return nil
		})
	}
	_ = g.Wait()
	recs := make([]jit.RequestRecord, len(reqs))
	errs := make([]error, len(reqs))
	for i, r := range reqs {
		rd := reads[r.Entitlement.Resource()]
		if errs[i] = rd.err; rd.err == nil {
			rec, _ := requestRecord(c.conds, rd.policy, r)
			recs[i] = fill(rec, r)
		}
	}
	return recs, errs
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

// Decide applies a decision about req to the policy of the request's
// resource. decide is called with the request's record as read in the
// read-modify-write (again after every stale etag) and returns the change,
// or an error that ends the attempt and is returned as it is. The record
// after the write is returned.
//
// Decisions go through the resource's one writer, with the grants (see
// Client): every decision and grant that arrives while a write is under
// way joins the next write, the decisions each applied in turn to the
// policy read (so two approvals of one request in one batch see each
// other). Under a burst this is one write instead of a storm of stale
// etags, and a stream of self-activations cannot keep approvals from
// being written; the etag still serialises decisions made in other
// instances.
//
// Like a grant, a decision still queued when its caller's context ends is
// withdrawn; one being written is written under a deadline no later than
// its caller's, detached from cancellation (a client that hangs up must
// not cut a decision in half). When Google's answer to a write is lost,
// the next attempt reads the policy again with the record marked
// Unconfirmed; decide sees its own decision there, answers Landed, and the
// decision counts as made without another write; when no attempt is left,
// the policy is read back (and fenced) the same way. (Without a lost
// answer the record is not Unconfirmed: a refused write did not land, so
// a decision found then is someone else's, even one by the same person
// clicking twice.)
//
// conf is confirmed in the live policies before decide sees the record,
// and the record then carries the approvals they require (Required).
func (c *Client) Decide(ctx context.Context, req jit.ActivationRequest, conf jit.Confirmation, decide func(jit.RequestRecord) (jit.Decision, error)) (jit.RequestRecord, error) {
	const op = "iam.Decide"
	if conf.Empty() && conf.Requester == "" && !c.opts.Unconfirmed {
		return jit.RequestRecord{}, errUnconfirmed(op)
	}
	defer c.written(req.Beneficiary)
	// Decisions share the resource's writer with grants (writer.go).
	return c.submit(req.Entitlement.Resource(), &item{op: op, ctx: ctx, req: req, decide: decide, conf: conf})
}

// applyOne asks one decision what to change on the policy as it stands
// (with the batch's earlier decisions applied) and applies it; a change
// that cannot be written leaves the policy as it was. errLanded means the
// caller recognised its own earlier decision, whose answer was lost, in
// the record (item.maybe).
func (c *Client) applyOne(resource string, policy *cloudresourcemanager.Policy, it *item, now time.Time) (jit.RequestRecord, error) {
	rec, at := requestRecord(c.conds, policy, it.req)
	rec = fill(rec, it.req)
	rec.Unconfirmed = it.maybe
	required, confirmErr := confirmIn(resource, policy, it.up, it.conf)
	rec.Required = required
	dec, err := it.decide(rec)
	if err != nil {
		return jit.RequestRecord{}, err
	}
	if dec.Landed {
		return rec, errLanded
	}
	if confirmErr != nil {
		return jit.RequestRecord{}, confirmErr
	}
	if err := restsOn(it.req, it.conf, dec); err != nil {
		return jit.RequestRecord{}, err
	}
	saved := slices.Clone(policy.Bindings)
	out, err := applyDecision(c.conds, policy, it.req, rec, at, dec, now)
	if err != nil {
		policy.Bindings = saved
		return jit.RequestRecord{}, err
	}
	return out, nil
}

// restsOn refuses a decision that its confirmation does not cover: an
// approval or a rejection rests on a reviewer's right (Decider), a
// withdrawal on the caller being the request's beneficiary (Requester),
// and neither confirmation lends itself to the other decision.
func restsOn(req jit.ActivationRequest, conf jit.Confirmation, d jit.Decision) error {
	const op = "iam.Decide"
	switch {
	case d.Withdraw != "":
		if d.Approve != "" || d.Reject != "" || d.Grant != nil || conf.Requester == "" || d.Withdraw != conf.Requester {
			return jit.E(op, jit.KindInternal, "", errors.New("a withdrawal must rest on its requester, alone"))
		}
		if !strings.EqualFold(string(conf.Requester), string(req.Beneficiary)) {
			return jit.Denied(op, "Only the requester can withdraw this request")
		}
	case conf.Decider == nil && !conf.Empty():
		return jit.E(op, jit.KindInternal, "", errors.New("a decision by a reviewer must rest on their right to decide"))
	case conf.Requester != "":
		return jit.E(op, jit.KindInternal, "", errors.New("a requester's confirmation allows only a withdrawal"))
	}
	return nil
}

func applyDecision(m *conds, policy *cloudresourcemanager.Policy, req jit.ActivationRequest, rec jit.RequestRecord, at int, d jit.Decision, now time.Time) (jit.RequestRecord, error) {
	const op = "iam.Decide"
	r := record{id: req.ID, until: req.ApproveBy, approvers: rec.Approvers, rejectedBy: rec.RejectedBy}
	if rec.Withdrawn {
		r.rejectedBy = req.Beneficiary
	}
	switch {
	case d.Grant != nil:
		if at >= 0 {
			policy.Bindings = slices.Delete(policy.Bindings, at, at+1)
		}
		if err := applyActivations(m, policy, []jit.Activation{*d.Grant}, now); err != nil {
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
	case d.Withdraw != "":
		// Kept as the requester's rejection (see the top of this file).
		r.rejectedBy = req.Beneficiary
		rec.Withdrawn = true
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
