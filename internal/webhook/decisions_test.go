package webhook

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jitaccess/jitaccess/internal/jit"
	"github.com/jitaccess/jitaccess/internal/notify"
)

func TestChatMessagesOfDecisions(t *testing.T) {
	t.Parallel()
	r := jit.ActivationRequest{ID: "mpa-1", Beneficiary: "alice@example.com", Reviewers: []jit.UserID{"bob@example.com", "carol@example.com"},
		Entitlement: jit.Entitlement{Project: "prod-db", Role: "roles/cloudsql.admin"}, Justification: "INC-1", Required: 2,
		ApproveBy: time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC)}
	rejected, ok := ChatText(notify.NewActivationRejected(r, "bob@example.com", "not <https://evil.example|now>", ""), time.UTC)
	want := "*bob@example.com* rejected the request of *alice@example.com* for `roles/cloudsql.admin` on project `prod-db`.\n" +
		"Reason: not  https[:]//evil[.]example now \nJustification: INC-1"
	if diff := cmp.Diff(want, rejected); !ok || diff != "" {
		t.Errorf("rejected (-want +got):\n%s", diff)
	}
	added, ok := ChatText(notify.NewActivationApprovalAdded(r, "bob@example.com", []jit.Approval{{By: "bob@example.com"}}, 2, "", "https://jit.example.com/?activation=tok"), time.UTC)
	want = "*bob@example.com* approved the request of *alice@example.com* for `roles/cloudsql.admin` on project `prod-db`: 1 of 2 approvals (by bob@example.com).\n" +
		"Still to approve: carol@example.com\nJustification: INC-1\n<https://jit.example.com/?activation=tok|Review the request>"
	if diff := cmp.Diff(want, added); !ok || diff != "" {
		t.Errorf("approval added (-want +got):\n%s", diff)
	}
}

// TestChatMessagesCarryTheApprovalComment: an approval's comment is in its
// Chat message, made inert like every other text people typed.
func TestChatMessagesCarryTheApprovalComment(t *testing.T) {
	t.Parallel()
	r := jit.ActivationRequest{ID: "mpa-1", Beneficiary: "alice@example.com", Reviewers: []jit.UserID{"bob@example.com", "carol@example.com"},
		Entitlement: jit.Entitlement{Project: "prod-db", Role: "roles/cloudsql.admin"}, Justification: "INC-1", Required: 2}
	added := notify.NewActivationApprovalAdded(r, "bob@example.com", []jit.Approval{{By: "bob@example.com"}}, 2, "", "")
	added.Comment = "see https://evil.example"
	got, ok := ChatText(added, time.UTC)
	want := "*bob@example.com* approved the request of *alice@example.com* for `roles/cloudsql.admin` on project `prod-db`: 1 of 2 approvals (by bob@example.com).\n" +
		"Comment: see https[:]//evil[.]example\nStill to approve: carol@example.com\nJustification: INC-1"
	if diff := cmp.Diff(want, got); !ok || diff != "" {
		t.Errorf("approval added (-want +got):\n%s", diff)
	}
	approved := notify.NewActivationApproved(jit.Activation{Beneficiary: "alice@example.com",
		Entitlement: jit.Entitlement{Project: "prod-db", Role: "roles/cloudsql.admin"}, Justification: "INC-1"}, "carol@example.com", r.Reviewers, "")
	approved.Comment = "fine"
	if got, _ := ChatText(approved, time.UTC); !strings.HasSuffix(got, "Justification: INC-1\nComment: fine") {
		t.Errorf("approved = %q", got)
	}
}

// TestChatMessageOfAWithdrawal: the reviewers' space hears that the
// request was withdrawn.
func TestChatMessageOfAWithdrawal(t *testing.T) {
	t.Parallel()
	r := jit.ActivationRequest{ID: "mpa-1", Beneficiary: "alice@example.com", Reviewers: []jit.UserID{"bob@example.com"},
		Entitlement: jit.Entitlement{Project: "prod-db", Role: "roles/cloudsql.admin"}, Justification: "INC-1 see evil.example"}
	got, ok := ChatText(notify.NewActivationWithdrawn(r, "https://jit.example.com/", ""), time.UTC)
	want := "*alice@example.com* withdrew their request for `roles/cloudsql.admin` on project `prod-db`: it can no longer be approved.\n" +
		"Justification: INC-1 see evil[.]example\nReviewers: bob@example.com\n<https://jit.example.com/|Open JIT Access>"
	if diff := cmp.Diff(want, got); !ok || diff != "" {
		t.Errorf("withdrawn (-want +got):\n%s", diff)
	}
}
