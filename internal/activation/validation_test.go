package activation

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// These tests cover the checks that run before any adapter is called, in
// the original's order; the Service has no adapters, so reaching one would
// fail the test. The flows past validation are tested through the real
// adapters against the emulator in internal/server.
func newValidatingService(canNotify bool) *Service {
	return New(nil, nil, nil, nil, nil, Options{
		Policy: jit.Policy{
			MaxDuration: 2 * time.Hour, MaxRoles: 2, MinReviewers: 1, MaxReviewers: 2,
			JustificationPattern: regexp.MustCompile(`^(?:[A-Z]+-[0-9]+.*)$`), JustificationHint: "Ticket number",
		},
		RequestTimeout: time.Hour,
		CanNotify:      canNotify,
	})
}

var alice = jit.Principal{Email: "alice@example.com"}

func TestSelfActivateValidationOrderAndMessages(t *testing.T) {
	t.Parallel()
	const id = "prod-payments-db:roles/cloudsql.client"
	valid := SelfActivateInput{Project: "prod-payments-db", EntitlementIDs: []string{id}, Justification: "INC-1", Duration: time.Hour}
	for _, tc := range []struct {
		name   string
		mutate func(*SelfActivateInput)
		kind   jit.Kind
		msg    string
	}{
		{"blank_project", func(in *SelfActivateInput) { in.Project = " " }, jit.KindInvalid, "You must provide a projectId"},
		{"bad_project", func(in *SelfActivateInput) { in.Project = "../etc" }, jit.KindInvalid, `"../etc" is not a valid project ID`},
		{"no_roles", func(in *SelfActivateInput) { in.EntitlementIDs = nil }, jit.KindInvalid, "Specify one or more roles to activate"},
		{"no_justification", func(in *SelfActivateInput) { in.Justification = "  " }, jit.KindInvalid, "Provide a justification"},
		{"long_justification", func(in *SelfActivateInput) { in.Justification = "INC-" + strings.Repeat("1", 97) }, jit.KindInvalid, "The justification is too long"},
		{"control_chars", func(in *SelfActivateInput) { in.Justification = "INC-1\r\nforged: yes" }, jit.KindInvalid, "The justification contains characters that are not allowed"},
		{"too_many_roles", func(in *SelfActivateInput) { in.EntitlementIDs = []string{id, id + "x", id + "y"} }, jit.KindInvalid, "The number of roles exceeds the allowed maximum of 2"},
		{"bad_id", func(in *SelfActivateInput) { in.EntitlementIDs = []string{"prod-payments-db"} }, jit.KindInvalid, "Invalid ProjectRole ID"},
		{"injected_condition", func(in *SelfActivateInput) {
			in.EntitlementIDs = []string{"prod-payments-db:roles/owner:!!notbase64"}
		}, jit.KindInvalid, "Invalid ProjectRole ID"},
		{"other_project_only", func(in *SelfActivateInput) { in.EntitlementIDs = []string{"prod-web-frontend:roles/viewer"} }, jit.KindInvalid, "At least one entitlement must be specified"},
		{"zero_duration", func(in *SelfActivateInput) { in.Duration = 0 }, jit.KindInvalid, "The duration must be positive"},
		{"negative_duration", func(in *SelfActivateInput) { in.Duration = -time.Minute }, jit.KindInvalid, "The duration must be positive"},
		{"pattern", func(in *SelfActivateInput) { in.Justification = "because" }, jit.KindDenied, "Justification does not meet criteria: Ticket number"},
		{"too_short", func(in *SelfActivateInput) { in.Duration = 30 * time.Second }, jit.KindInvalid, "The activation duration must be no shorter than 1 minutes"},
		{"too_long", func(in *SelfActivateInput) { in.Duration = 3 * time.Hour }, jit.KindInvalid, "The activation duration must be no longer than 120 minutes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := valid
			in.EntitlementIDs = append([]string(nil), valid.EntitlementIDs...)
			tc.mutate(&in)
			_, err := newValidatingService(true).SelfActivate(t.Context(), alice, in)
			if jit.KindOf(err) != tc.kind || jit.MessageOf(err) != tc.msg {
				t.Errorf("got kind %v message %q, want %v %q", jit.KindOf(err), jit.MessageOf(err), tc.kind, tc.msg)
			}
		})
	}
}

func TestRequestApprovalValidationOrderAndMessages(t *testing.T) {
	t.Parallel()
	valid := RequestInput{
		Project: "prod-payments-api", EntitlementID: "prod-payments-api:roles/run.developer",
		Justification: "CHG-7", Reviewers: []string{"erin@example.com"}, Duration: time.Hour,
	}
	for _, tc := range []struct {
		name      string
		mutate    func(*RequestInput)
		canNotify bool
		kind      jit.Kind
		msg       string
	}{
		{"blank_project", func(in *RequestInput) { in.Project = "" }, true, jit.KindInvalid, "You must provide a projectId"},
		{"no_role", func(in *RequestInput) { in.EntitlementID = "" }, true, jit.KindInvalid, "Specify a role to activate"},
		{"no_reviewers", func(in *RequestInput) { in.Reviewers = nil }, true, jit.KindInvalid, "You must select at least 1 reviewers"},
		{"too_many_reviewers", func(in *RequestInput) { in.Reviewers = []string{"a@example.com", "b@example.com", "c@example.com"} }, true, jit.KindInvalid, "The number of reviewers exceeds the allowed maximum of 2"},
		{"no_justification", func(in *RequestInput) { in.Justification = "" }, true, jit.KindInvalid, "Provide a justification"},
		{"not_configured", func(*RequestInput) {}, false, jit.KindUnavailable, "The multi-party approval feature is not available because the server-side configuration is incomplete"},
		{"other_project", func(in *RequestInput) { in.EntitlementID = "prod-web-frontend:roles/viewer" }, true, jit.KindInvalid, "The project ID does not match the current project"},
		{"bad_reviewer", func(in *RequestInput) { in.Reviewers = []string{"erin@example.com>, evil@attacker.test"} }, true, jit.KindInvalid, `"erin@example.com>, evil@attacker.test" is not a valid email address`},
		{"self_review", func(in *RequestInput) { in.Reviewers = []string{"ALICE@example.com"} }, true, jit.KindInvalid, "You cannot select yourself as a reviewer"},
		{"pattern", func(in *RequestInput) { in.Justification = "please" }, true, jit.KindDenied, "Justification does not meet criteria: Ticket number"},
		{"too_long", func(in *RequestInput) { in.Duration = 121 * time.Minute }, true, jit.KindInvalid, "The activation duration must be no longer than 120 minutes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := valid
			tc.mutate(&in)
			_, err := newValidatingService(tc.canNotify).RequestApproval(t.Context(), alice, in)
			if jit.KindOf(err) != tc.kind || jit.MessageOf(err) != tc.msg {
				t.Errorf("got kind %v message %q, want %v %q", jit.KindOf(err), jit.MessageOf(err), tc.kind, tc.msg)
			}
		})
	}
}

func TestTokenRequired(t *testing.T) {
	t.Parallel()
	s := newValidatingService(true)
	for _, f := range []func() error{
		func() error { _, err := s.GetRequest(t.Context(), alice, " "); return err },
		func() error { _, err := s.Approve(t.Context(), alice, "", ""); return err },
	} {
		if err := f(); jit.KindOf(err) != jit.KindInvalid || jit.MessageOf(err) != "An activation token is required" {
			t.Errorf("got %v", err)
		}
	}
}
