package iam

import (
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/cloudresourcemanager/v3"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/jit"
)

// TestEndUngroundedJudgesEachScheduledWindow: the windows whose
// eligibility is gone are removed (an approved request's binding is kept,
// its window ended); those held directly, through a group or in an
// ancestor are kept, and so is every window when an ancestor could not be
// read.
func TestEndUngroundedJudgesEachScheduledWindow(t *testing.T) {
	t.Parallel()
	now := until
	tomorrow := condition.ActivationExpression(now.Add(24*time.Hour), now.Add(25*time.Hour), "")
	const rc = `resource.name.startsWith("projects/p/zones/z/")`
	withRC := condition.ActivationExpression(now.Add(24*time.Hour), now.Add(25*time.Hour), rc)
	eligible := func(role string, members ...string) *cloudresourcemanager.Binding {
		return &cloudresourcemanager.Binding{Role: role, Members: members,
			Condition: &cloudresourcemanager.Expr{Title: "Eligible", Expression: "has({}.jitAccessConstraint)"}}
	}
	policy := func() *cloudresourcemanager.Policy {
		return &cloudresourcemanager.Policy{Bindings: []*cloudresourcemanager.Binding{
			eligible("roles/direct", "user:dave@example.com"),
			eligible("roles/group", "group:sre@example.com"),
			binding("roles/direct", "user:dave@example.com", condition.ActivationTitle, "Self-approved, justification: A", tomorrow),                           // kept
			binding("roles/direct", "user:erin@example.com", condition.ActivationTitle, "Self-approved, justification: B", tomorrow),                           // removed
			binding("roles/group", "user:bob@example.com", condition.ActivationTitle, "Self-approved, justification: C", tomorrow),                             // kept
			binding("roles/direct", "user:dave@example.com", condition.ActivationTitle, "Self-approved, justification: D", withRC),                             // removed: no eligibility with rc
			binding("roles/folder", "user:carol@example.com", condition.ActivationTitle, "Self-approved, justification: E", tomorrow),                          // kept: the folder holds it
			binding("roles/gone", "user:erin@example.com", condition.ActivationTitle, "Approved by x@example.com, justification: F (request mpa-f)", tomorrow), // ended
		}}
	}
	ancestors := map[string]*cloudresourcemanager.Policy{"folders/1": {Bindings: []*cloudresourcemanager.Binding{
		eligible("roles/folder", "domain:example.com"),
	}}}
	c := &Client{opts: Options{Logger: slog.New(slog.DiscardHandler)}}
	judge := func(complete bool) []string {
		p := policy()
		found := map[*cloudresourcemanager.Binding]bool{}
		for _, b := range p.Bindings {
			if _, ok := scheduledWindow(nil, b, now); ok {
				found[b] = true
			}
		}
		c.endUngrounded(t.Context(), "projects/p", p, found, ancestors, complete, now)
		var out []string
		for _, b := range p.Bindings[2:] {
			w, _ := condition.ParseActivation(b.Condition.Title, b.Condition.Expression)
			state := "scheduled"
			if !w.Start.After(now) {
				state = "ended"
			}
			out = append(out, b.Condition.Description[len(b.Condition.Description)-1:]+" "+state)
		}
		return out
	}
	if got, want := judge(true), []string{"A scheduled", "C scheduled", "E scheduled", ") ended"}; !cmp.Equal(got, want) {
		t.Errorf("after the sweep: %q, want %q", got, want)
	}
	if got, want := judge(false), []string{"A scheduled", "B scheduled", "C scheduled", "D scheduled", "E scheduled", ") scheduled"}; !cmp.Equal(got, want) {
		t.Errorf("with an ancestor unread: %q, want %q", got, want)
	}
}

// TestCheckOneScheduled: a second scheduled window of a role for a member
// is refused; the same window again, another role or member, and access
// now are not.
func TestCheckOneScheduled(t *testing.T) {
	t.Parallel()
	now := until
	act := func(user, role string, start time.Time) jit.Activation {
		return jit.Activation{ID: "jit-1", Beneficiary: jit.UserID(user), Entitlement: jit.Entitlement{Project: "p-123456", Role: role},
			Justification: "J", Start: start, End: start.Add(time.Hour)}
	}
	existing := act("dave@example.com", "roles/x", now.Add(24*time.Hour))
	p := &cloudresourcemanager.Policy{}
	if err := applyActivations(nil, p, []jit.Activation{existing}, now); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		a    jit.Activation
		kind jit.Kind
	}{
		{act("dave@example.com", "roles/x", now.Add(48*time.Hour)), jit.KindConflict},
		{act("dave@example.com", "roles/x", now), -1},
		{act("dave@example.com", "roles/x", now.Add(24*time.Hour+30*time.Minute)), -1}, // replaces
		{act("dave@example.com", "roles/y", now.Add(48*time.Hour)), -1},
		{act("erin@example.com", "roles/x", now.Add(48*time.Hour)), -1},
	} {
		q := &cloudresourcemanager.Policy{Bindings: append([]*cloudresourcemanager.Binding(nil), p.Bindings...)}
		err := applyActivations(nil, q, []jit.Activation{tc.a}, now)
		if (tc.kind == -1) != (err == nil) || (err != nil && jit.KindOf(err) != tc.kind) {
			t.Errorf("%s %s from %s: %v", tc.a.Beneficiary, tc.a.Entitlement.Role, tc.a.Start, err)
		}
	}
}
