package app_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/outbox"
)

// In the demo world, roles/securitycenter.admin on security-tools is
// MPA-eligible for frank and heidi, and its approver binding names alice,
// carol and the security group (frank, heidi) with a quorum of 2. For
// frank's request the approvers are alice, carol and heidi: 2 of 3.
const (
	scProject = "security-tools"
	scRole    = "roles/securitycenter.admin"
)

var scApprovers = []string{"alice@example.com", "carol@example.com", "heidi@example.com"}

func records(t *testing.T, h *apptest.Harness) int {
	t.Helper()
	p, _ := h.Emulator.World.Policy("projects/" + scProject)
	n := 0
	for _, b := range p.Bindings {
		if b.Condition != nil && condition.IsRecord(b.Condition.Title, b.Condition.Expression) {
			n++
		}
	}
	return n
}

// TestTwoOfThreeApprovers: the peers list offers the dedicated approvers;
// the first approval is recorded (1 of 2, the others told), the second
// writes the binding, once, and a third is refused. alice and carol hold
// no eligibility and approve all the same.
func TestTwoOfThreeApprovers(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	spec := loadOpenAPI(t)
	const member = "user:frank@example.com"

	peersPath := "/api/projects/" + scProject + "/peers?id=" + url.QueryEscape(scProject+":"+scRole)
	r := h.Do(t, "frank@example.com", http.MethodGet, peersPath, nil)
	if r.Status != 200 || string(r.Body) != `{"peers":[{"email":"alice@example.com"},{"email":"carol@example.com"},{"email":"heidi@example.com"}],"approvalsRequired":2,"approverType":"DEDICATED"}`+"\n" {
		t.Fatalf("peers = %d %s", r.Status, r.Body)
	}
	// Fewer reviewers than the quorum cannot ever be approved.
	r = h.Do(t, "frank@example.com", http.MethodPost, "/api/projects/"+scProject+"/roles/request", map[string]any{
		"entitlementId": scProject + ":" + scRole, "justification": "INC-5 incident", "peers": []string{"alice@example.com"}, "activationTimeout": 30,
	})
	if r.Status != 400 || r.Message(t) != "security-tools:roles/securitycenter.admin needs 2 approvals: select at least 2 reviewers" {
		t.Errorf("one reviewer for a quorum of 2 = %d %s", r.Status, r.Body)
	}
	// A peer who is not an approver is refused as a reviewer.
	r = h.Do(t, "heidi@example.com", http.MethodPost, "/api/projects/"+scProject+"/roles/request", map[string]any{
		"entitlementId": scProject + ":" + scRole, "justification": "INC-5", "peers": []string{"alice@example.com", "bob@example.com"}, "activationTimeout": 30,
	})
	if r.Status != 403 || !strings.Contains(r.Message(t), "bob@example.com") {
		t.Errorf("a non-approver as reviewer = %d %s", r.Status, r.Body)
	}

	token := requestToken(t, h, "frank@example.com", scProject, scRole, "INC-5 incident", scApprovers, 30)
	mail := h.Outbox.Messages()[len(h.Outbox.Messages())-1]
	if !strings.Contains(mail.Text, "2 of the reviewers must approve the request") {
		t.Errorf("request email does not say 2 approvals are needed:\n%s", mail.Text)
	}

	r = h.Do(t, "alice@example.com", http.MethodPost, requestPath(token), nil)
	spec.check(t, http.MethodPost, requestPath(token), r)
	body := r.JSON(t)
	if r.Status != 200 || body["status"] != "PENDING" || body["approvalsRequired"] != 2.0 || len(body["approvals"].([]any)) != 1 {
		t.Fatalf("first approval = %d %s", r.Status, r.Body)
	}
	if n := bindingsOf(t, h.Emulator.World, "projects/"+scProject, member, scRole); n != 0 || records(t, h) != 1 {
		t.Fatalf("after 1 of 2: %d bindings, %d records", n, records(t, h))
	}
	ctx := t.Context() // wait for the event; go test -timeout ends a hang
	progress, err := h.Outbox.WaitFor(ctx, func(m outbox.Message) bool {
		return strings.HasPrefix(m.Subject, "Re: ") && slices.Contains(m.To, "carol@example.com")
	})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(progress.To, "alice@example.com") || !strings.Contains(progress.Text, "1 of 2 approvals (by alice@example.com)") || !linkPattern.MatchString(progress.Text) {
		t.Errorf("progress email to %v:\n%s", progress.To, progress.Text)
	}
	// The requester sees the progress; alice cannot count twice.
	if b := h.Do(t, "frank@example.com", http.MethodGet, requestPath(token), nil).JSON(t); b["status"] != "PENDING" ||
		b["approvals"].([]any)[0].(map[string]any)["by"] != "alice@example.com" {
		t.Errorf("request view after 1 of 2 = %v", b)
	}
	if r := h.Do(t, "alice@example.com", http.MethodPost, requestPath(token), nil); r.Status != 409 || r.Message(t) != "You have already approved this request; it needs 1 more approval(s)" {
		t.Errorf("alice again = %d %s", r.Status, r.Body)
	}
	if r := h.Do(t, "frank@example.com", http.MethodPost, requestPath(token), nil); r.Status != 403 || r.Message(t) != "You cannot approve your own request" {
		t.Errorf("the requester approving = %d %s", r.Status, r.Body)
	}

	r = h.Do(t, "carol@example.com", http.MethodPost, requestPath(token), nil)
	body = r.JSON(t)
	if r.Status != 200 || body["status"] != "APPROVED" || body["decidedBy"] != "carol@example.com" || len(body["approvals"].([]any)) != 2 {
		t.Fatalf("second approval = %d %s", r.Status, r.Body)
	}
	if n := bindingsOf(t, h.Emulator.World, "projects/"+scProject, member, scRole); n != 1 || records(t, h) != 0 {
		t.Errorf("after 2 of 2: %d bindings, %d records", n, records(t, h))
	}
	for _, b := range emutest.Activations(t, h.Emulator.World, "projects/"+scProject) {
		if b.Members[0] == member && !strings.HasPrefix(b.Condition.Description, "Approved by alice@example.com, carol@example.com, justification: INC-5 incident (request mpa-") {
			t.Errorf("binding description = %q", b.Condition.Description)
		}
	}
	if r := h.Do(t, "heidi@example.com", http.MethodPost, requestPath(token), nil); r.Status != 409 || !strings.HasPrefix(r.Message(t), "This request has already been approved by carol@example.com") {
		t.Errorf("a third approval = %d %s", r.Status, r.Body)
	}
}

// TestVetoEndsAQuorumRequest: after one of two approvals, another approver
// rejects; the request is over: the last approval is refused and nothing
// is granted.
func TestVetoEndsAQuorumRequest(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	token := requestToken(t, h, "frank@example.com", scProject, scRole, "INC-6 incident", scApprovers, 30)
	if r := h.Do(t, "alice@example.com", http.MethodPost, requestPath(token), nil); r.Status != 200 {
		t.Fatalf("first approval = %d %s", r.Status, r.Body)
	}
	rejectPath := strings.Replace(requestPath(token), "/api/activation-request?", "/api/activation-request/reject?", 1)
	r := h.Do(t, "heidi@example.com", http.MethodPost, rejectPath, map[string]any{"reason": "Not during the freeze"})
	if b := r.JSON(t); r.Status != 200 || b["status"] != "REJECTED" || b["rejectedBy"] != "heidi@example.com" {
		t.Fatalf("veto = %d %s", r.Status, r.Body)
	}
	if r := h.Do(t, "carol@example.com", http.MethodPost, requestPath(token), nil); r.Status != 409 || r.Message(t) != "This request has already been rejected by heidi@example.com" {
		t.Errorf("approval after the veto = %d %s", r.Status, r.Body)
	}
	if n := bindingsOf(t, h.Emulator.World, "projects/"+scProject, "user:frank@example.com", scRole); n != 0 {
		t.Errorf("%d bindings after the veto", n)
	}
	b := h.Do(t, "frank@example.com", http.MethodGet, requestPath(token), nil).JSON(t)
	if b["status"] != "REJECTED" || b["rejectReason"] != "Not during the freeze" || len(b["approvals"].([]any)) != 1 {
		t.Errorf("request view after the veto = %v", b)
	}
}

// TestQuorumLargerThanTheApprovers: an approver binding asking for more
// approvals than there are approvers is reported at the request, and
// nothing is sent.
func TestQuorumLargerThanTheApprovers(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	w := h.Emulator.World
	p, _ := w.Policy("projects/" + scProject)
	for i, b := range p.Bindings {
		if b.Condition != nil && strings.Contains(b.Condition.Expression, "quorum_2") {
			c := *b.Condition
			c.Expression = strings.Replace(c.Expression, "quorum_2", "quorum_4", 1)
			p.Bindings[i].Condition = &c
		}
	}
	if _, err := w.SetIamPolicy("projects/"+scProject, p); err != nil {
		t.Fatal(err)
	}
	writes := w.TotalPolicyWrites()
	r := h.Do(t, "frank@example.com", http.MethodPost, "/api/projects/"+scProject+"/roles/request", map[string]any{
		"entitlementId": scProject + ":" + scRole, "justification": "INC-7", "peers": scApprovers, "activationTimeout": 30,
	})
	if r.Status != 400 || r.Message(t) != "security-tools:roles/securitycenter.admin needs 4 approvals, but only 3 people other than you can approve it; ask an administrator to fix its approvers" {
		t.Errorf("request = %d %s", r.Status, r.Body)
	}
	if len(h.Outbox.Messages()) != 0 || w.TotalPolicyWrites() != writes {
		t.Errorf("the refused request sent %d emails", len(h.Outbox.Messages()))
	}
}

// TestDeploymentWideQuorumForPeers: ACTIVATION_REQUEST_APPROVALS=2 makes
// peer-approved roles without a declared quorum need two peers.
func TestDeploymentWideQuorumForPeers(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t, apptest.Options{Config: map[string]string{"ACTIVATION_REQUEST_APPROVALS": "2"}})
	const project, role = "shared-networking", "roles/compute.networkAdmin"
	r := h.Do(t, "alice@example.com", http.MethodPost, "/api/projects/"+project+"/roles/request", map[string]any{
		"entitlementId": project + ":" + role, "justification": "CHG-9", "peers": []string{"bob@example.com"}, "activationTimeout": 30,
	})
	if r.Status != 400 || r.Message(t) != "shared-networking:roles/compute.networkAdmin needs 2 approvals: select at least 2 reviewers" {
		t.Errorf("one peer = %d %s", r.Status, r.Body)
	}
	token := requestToken(t, h, "alice@example.com", project, role, "CHG-9 firewall", []string{"bob@example.com", "carol@example.com"}, 30)
	if b := h.Do(t, "bob@example.com", http.MethodPost, requestPath(token), nil).JSON(t); b["status"] != "PENDING" || b["approvalsRequired"] != 2.0 {
		t.Errorf("first peer = %v", b)
	}
	if b := h.Do(t, "carol@example.com", http.MethodPost, requestPath(token), nil).JSON(t); b["status"] != "APPROVED" {
		t.Errorf("second peer = %v", b)
	}
	if n := bindingsOf(t, h.Emulator.World, "projects/"+project, "user:alice@example.com", role); n != 1 {
		t.Errorf("%d bindings, want 1", n)
	}
}
