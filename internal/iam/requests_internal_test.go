package iam

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/api/cloudresourcemanager/v3"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/jit"
)

var until = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func TestRecordDescriptionRoundTrip(t *testing.T) {
	t.Parallel()
	long := jit.UserID(strings.Repeat("a", 64) + "@" + strings.Repeat("b", 60) + ".example.com")
	for _, r := range []record{
		{id: "mpa-abc+/=", until: until},
		{id: "mpa-abc", until: until, approvers: []string{"alice@example.com"}},
		{id: "mpa-abc", until: until, approvers: []string{"alice@example.com", "carol@example.com"}, rejectedBy: "heidi@example.com"},
	} {
		d := r.description()
		got, ok := parseRecord(d)
		if !ok || !cmp.Equal(got, r, cmp.AllowUnexported(record{}), cmpopts.EquateEmpty()) {
			t.Errorf("%q parsed to %+v %v, want %+v", d, got, ok, r)
		}
	}
	// Addresses that do not fit IAM's 256 characters become keys, which
	// still count and match.
	r := record{id: "mpa-" + strings.Repeat("x", 16), until: until, approvers: []string{string(long), string(long) + "x", "carol@example.com"}}
	d := r.description()
	got, ok := parseRecord(d)
	if len(d) > jit.MaxDescriptionLength || !ok || len(got.approvers) != 3 || !strings.HasPrefix(got.approvers[0], "#") {
		t.Fatalf("long record %q (%d) parsed to %+v %v", d, len(d), got, ok)
	}
	rec := jit.RequestRecord{Approvers: got.approvers}
	if !rec.HasApproved(long) || !rec.HasApproved("carol@example.com") || rec.HasApproved("alice@example.com") {
		t.Errorf("HasApproved on %v", got.approvers)
	}
	for _, bad := range []string{"", "request x until y", "request mpa-a until 2026-12-01T10:00:00Z; rejected by not-an-email", "request mpa-a until 2026-12-01T10:00:00Z; hello"} {
		if r, ok := parseRecord(bad); ok {
			t.Errorf("parseRecord(%q) = %+v", bad, r)
		}
	}
}

func binding(role, member, title, desc, expr string) *cloudresourcemanager.Binding {
	return &cloudresourcemanager.Binding{Role: role, Members: []string{member},
		Condition: &cloudresourcemanager.Expr{Title: title, Description: desc, Expression: expr}}
}

// TestSweepKeepsRequestDecisions: an approved request's binding outlives
// its window for RequestRetention, a record lives until its deadline, and
// neither is replaced by a later activation of the same role; plain
// expired activations go as before.
func TestSweepKeepsRequestDecisions(t *testing.T) {
	t.Parallel()
	now := until
	ended := condition.ActivationExpression(now.Add(-2*time.Hour), now.Add(-time.Hour), "")
	long := condition.ActivationExpression(now.Add(-13*time.Hour), now.Add(-12*time.Hour-time.Second), "")
	active := condition.ActivationExpression(now.Add(-time.Minute), now.Add(time.Hour), "")
	const role, member = "roles/x", "user:erin@example.com"
	policy := &cloudresourcemanager.Policy{Bindings: []*cloudresourcemanager.Binding{
		binding(role, member, condition.ActivationTitle, "Self-approved, justification: INC-1", ended),                                           // swept
		binding(role, member, condition.ActivationTitle, "Approved by dave@example.com, justification: J (request mpa-a)", ended),                // kept
		binding(role, member, condition.ActivationTitle, "Approved by dave@example.com, justification: J (request mpa-b)", long),                 // swept
		binding(role, member, condition.ActivationTitle, "Approved by dave@example.com, justification: J (request mpa-c)", active),               // kept, not replaced
		binding(role, member, condition.RecordTitle, record{id: "mpa-d", until: now.Add(time.Minute)}.description(), condition.RecordExpression), // kept
		binding(role, member, condition.RecordTitle, record{id: "mpa-e", until: now}.description(), condition.RecordExpression),                  // swept
	}}
	act := jit.Activation{ID: "jit-1", Beneficiary: "erin@example.com", Entitlement: jit.Entitlement{Project: "p-123456", Role: role},
		Justification: "INC-2", Start: now, End: now.Add(time.Hour)}
	if err := applyActivations(nil, policy, []jit.Activation{act}, now); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range policy.Bindings {
		if id := jit.RequestIDOf(b.Condition.Description); id != "" {
			ids = append(ids, id)
		} else if r, ok := parseRecord(b.Condition.Description); ok {
			ids = append(ids, "record "+r.id)
		} else {
			ids = append(ids, b.Condition.Description)
		}
	}
	want := []string{"mpa-a", "mpa-c", "record mpa-d", "Self-approved, justification: INC-2"}
	if !cmp.Equal(ids, want) {
		t.Errorf("after the sweep: %q, want %q", ids, want)
	}
}

func TestRequestRecordReadsTheBindings(t *testing.T) {
	t.Parallel()
	window := condition.ActivationExpression(until, until.Add(time.Hour), "")
	policy := &cloudresourcemanager.Policy{Bindings: []*cloudresourcemanager.Binding{
		binding("roles/x", "user:erin@example.com", condition.ActivationTitle, "Approved by alice@example.com, carol@example.com, justification: J (request mpa-a)", window),
		binding("roles/x", "user:erin@example.com", condition.RecordTitle, record{id: "mpa-b", until: until, approvers: []string{"alice@example.com"}}.description(), condition.RecordExpression),
		// Carries an id, but is no activation of ours: ignored.
		binding("roles/x", "user:erin@example.com", "Something", "(request mpa-c)", window),
		// The id in a user's text: in a self-approval's justification, or
		// on another member's or role's binding. None decides mpa-d.
		binding("roles/x", "user:erin@example.com", condition.ActivationTitle, "Self-approved, justification: J (request mpa-d)", window),
		binding("roles/x", "user:dave@example.com", condition.ActivationTitle, "Approved by alice@example.com, justification: J (request mpa-d)", window),
		binding("roles/y", "user:erin@example.com", condition.ActivationTitle, "Approved by alice@example.com, justification: J (request mpa-d)", window),
		binding("roles/y", "user:erin@example.com", condition.RecordTitle, record{id: "mpa-d", until: until, rejectedBy: "alice@example.com"}.description(), condition.RecordExpression),
	}}
	reqOf := func(id string) jit.ActivationRequest {
		return jit.ActivationRequest{ID: id, Beneficiary: "erin@example.com", Entitlement: jit.Entitlement{Project: "p-123456", Role: "roles/x"}}
	}
	a, at := requestRecord(nil, policy, reqOf("mpa-a"))
	if at != -1 || a.Granted == nil || a.Granted.Approver != "carol@example.com" || !a.Granted.Start.Equal(until) || a.Granted.Beneficiary != "erin@example.com" {
		t.Errorf("mpa-a = %+v at %d", a.Granted, at)
	}
	b, at := requestRecord(nil, policy, reqOf("mpa-b"))
	if at != 1 || b.Granted != nil || !cmp.Equal(b.Approvers, []string{"alice@example.com"}) {
		t.Errorf("mpa-b = %+v at %d", b, at)
	}
	for _, id := range []string{"mpa-c", "mpa-d"} {
		if c, at := requestRecord(nil, policy, reqOf(id)); c.Decided() || len(c.Approvers) > 0 || at != -1 {
			t.Errorf("%s = %+v at %d", id, c, at)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add(record{id: "mpa-abc", until: until, approvers: []string{"a@example.com", "#0123456789ab"}, rejectedBy: "r@example.com"}.description())
	f.Add("request mpa-a until x")
	f.Fuzz(func(t *testing.T, desc string) {
		r, ok := parseRecord(desc)
		if !ok {
			return
		}
		// What parses renders back to something that parses the same.
		again, ok := parseRecord(r.description())
		if !ok || again.id != r.id || !again.until.Equal(r.until) || again.rejectedBy != r.rejectedBy || len(again.approvers) != len(r.approvers) {
			t.Errorf("%q → %+v → %+v", desc, r, again)
		}
	})
}
