package app_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/jitaccess/jitaccess/internal/app"
	"github.com/jitaccess/jitaccess/internal/app/apptest"
	"github.com/jitaccess/jitaccess/internal/emulated"
	"github.com/jitaccess/jitaccess/internal/emulator/emutest"
	"github.com/jitaccess/jitaccess/internal/outbox"
)

// withPubSub starts a harness publishing to a pstest server.
func withPubSub(t *testing.T) (*apptest.Harness, *pstest.Server) {
	t.Helper()
	srv := pstest.NewServer()
	t.Cleanup(func() { _ = srv.Close() })
	const topic = "projects/" + emulated.ProjectID + "/topics/jitaccess-events"
	if _, err := srv.GServer.CreateTopic(t.Context(), &pubsubpb.Topic{Name: topic}); err != nil {
		t.Fatal(err)
	}
	h := apptest.Start(t, apptest.Options{Config: map[string]string{"NOTIFICATION_TOPIC": "jitaccess-events"}, Env: func(env *app.Environment) {
		env.PubSub = []option.ClientOption{option.WithEndpoint(srv.Addr), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))}
	}})
	return h, srv
}

// published returns the Pub/Sub messages of a type, decoded.
func published(t *testing.T, srv *pstest.Server, typ string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, m := range srv.Messages() {
		var v map[string]any
		if err := json.Unmarshal(m.Data, &v); err != nil {
			t.Fatal(err)
		}
		if v["type"] == typ {
			out = append(out, v["attributes"].(map[string]any))
		}
	}
	return out
}

// TestRejectWithReason: a reviewer rejects with a reason; the requester is
// told by email and Pub/Sub; the request reads rejected (by whom, why) and
// can be decided no more.
func TestRejectWithReason(t *testing.T) {
	t.Parallel()
	h, ps := withPubSub(t)
	spec := loadOpenAPI(t)
	token := requestToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "CHG-7 hotfix", []string{"dave@example.com"}, 30)
	rejectPath := "/api/activation-request/reject?activation=" + strings.TrimPrefix(requestPath(token), "/api/activation-request?activation=")

	for _, tc := range []struct {
		name, user string
		body       any
		status     int
		message    string
	}{
		{"by_the_requester", "erin@example.com", nil, 403, "You cannot reject your own request"},
		{"by_a_stranger", "grace@example.com", nil, 403, "The request does not permit rejection by grace@example.com"},
		{"reason_too_long", "dave@example.com", map[string]any{"reason": strings.Repeat("x", 201)}, 400, "The reason is too long"},
		{"reason_with_newlines", "dave@example.com", map[string]any{"reason": "no\r\nBcc: x@evil.example"}, 400, "The reason contains characters that are not allowed"},
		{"not_json", "dave@example.com", "{", 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.Do(t, tc.user, http.MethodPost, rejectPath, tc.body)
			if r.Status != tc.status || (tc.message != "" && r.Message(t) != tc.message) {
				t.Errorf("got %d %q, want %d %q", r.Status, r.Message(t), tc.status, tc.message)
			}
		})
	}
	if n := h.Emulator.World.TotalPolicyWrites(); n != 0 {
		t.Fatalf("%d IAM writes by refused rejections", n)
	}

	r := h.Do(t, "dave@example.com", http.MethodPost, rejectPath, map[string]any{"reason": "Use the staging project first"})
	spec.check(t, http.MethodPost, rejectPath, r)
	body := r.JSON(t)
	if r.Status != 200 || body["status"] != "REJECTED" || body["rejectedBy"] != "dave@example.com" || body["rejectReason"] != "Use the staging project first" {
		t.Fatalf("reject = %d %s", r.Status, r.Body)
	}
	ctx := t.Context() // wait for the event; go test -timeout ends a hang
	mail, err := h.Outbox.WaitFor(ctx, func(m outbox.Message) bool {
		return slices.Contains(m.To, "erin@example.com") && strings.HasPrefix(m.Subject, "Re: ")
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(mail.Text, "dave@example.com rejected the request of erin@example.com") || !strings.Contains(mail.Text, "Reason: Use the staging project first") {
		t.Errorf("rejection email:\n%s", mail.Text)
	}
	if got := published(t, ps, "ActivationRejected"); len(got) != 1 || got[0]["approver"] != "dave@example.com" ||
		got[0]["reason"] != "Use the staging project first" || got[0]["beneficiary"] != "erin@example.com" {
		t.Errorf("Pub/Sub ActivationRejected = %v", got)
	}

	// Decided: no approval, no second rejection, and nothing written.
	writes := h.Emulator.World.PolicyWrites("projects/prod-payments-api")
	if r := h.Do(t, "dave@example.com", http.MethodPost, requestPath(token), nil); r.Status != 409 || r.Message(t) != "This request has already been rejected by dave@example.com" {
		t.Errorf("approval after the rejection = %d %s", r.Status, r.Body)
	}
	if r := h.Do(t, "dave@example.com", http.MethodPost, rejectPath, nil); r.Status != 409 {
		t.Errorf("second rejection = %d %s", r.Status, r.Body)
	}
	if n := h.Emulator.World.PolicyWrites("projects/prod-payments-api") - writes; n != 0 {
		t.Errorf("%d IAM writes after the decision", n)
	}
	r = h.Do(t, "erin@example.com", http.MethodGet, requestPath(token), nil)
	spec.check(t, http.MethodGet, requestPath(token), r)
	if b := r.JSON(t); b["status"] != "REJECTED" || b["rejectReason"] != "Use the staging project first" {
		t.Errorf("request view = %s", r.Body)
	}
}

// TestRequestLists: "my requests" and "waiting for my review", from the
// audit log, each verified from its token, state from IAM.
func TestRequestLists(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t)
	spec := loadOpenAPI(t)
	first := requestToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "CHG-1 deploy", []string{"dave@example.com"}, 30)
	second := requestToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "CHG-2 deploy", []string{"dave@example.com"}, 45)
	list := func(user, view string) []map[string]any {
		t.Helper()
		path := "/api/requests?view=" + view
		r := h.Do(t, user, http.MethodGet, path, nil)
		spec.check(t, http.MethodGet, path, r)
		if r.Status != 200 {
			t.Fatalf("%s = %d %s", path, r.Status, r.Body)
		}
		var out []map[string]any
		for _, x := range r.JSON(t)["requests"].([]any) {
			out = append(out, x.(map[string]any))
		}
		return out
	}
	review := list("dave@example.com", "review")
	if len(review) != 2 || review[0]["justification"] != "CHG-2 deploy" || review[0]["token"] != second || review[0]["status"] != "PENDING" {
		t.Fatalf("dave's review list = %v", review)
	}
	if got := list("grace@example.com", "review"); len(got) != 0 {
		t.Errorf("grace's review list = %v", got)
	}
	if r := h.Do(t, "dave@example.com", http.MethodPost, requestPath(first), nil); r.Status != 200 {
		t.Fatalf("approve = %d %s", r.Status, r.Body)
	}
	if review := list("dave@example.com", "review"); len(review) != 1 || review[0]["token"] != second {
		t.Errorf("dave's review list after approving one = %v", review)
	}
	mine := list("erin@example.com", "mine")
	if len(mine) != 2 || mine[0]["status"] != "PENDING" || mine[1]["status"] != "APPROVED" || mine[1]["decidedBy"] != "dave@example.com" ||
		mine[1]["approvalsRequired"] != 1.0 || mine[1]["role"] != "roles/run.developer" || mine[1]["resource"] != "projects/prod-payments-api" {
		t.Errorf("erin's requests = %v", mine)
	}
	if got := list("dave@example.com", "mine"); len(got) != 0 {
		t.Errorf("dave's own requests = %v", got)
	}
	if r := h.Do(t, "dave@example.com", http.MethodGet, "/api/requests?view=everything", nil); r.Status != 400 || r.Message(t) != `The view must be "mine" or "review"` {
		t.Errorf("bad view = %d %s", r.Status, r.Body)
	}
}

// TestExpiredRequestsInMyList: a request nobody decided reads expired in
// the requester's list after its deadline (for another request lifetime),
// and leaves the reviewer's list; its link is refused as in the original.
func TestExpiredRequestsInMyList(t *testing.T) {
	t.Parallel()
	clock := emutest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := apptest.Start(t, apptest.Options{Clock: clock.Now})
	token := requestToken(t, h, "erin@example.com", "prod-payments-api", "roles/run.developer", "CHG-3 deploy", []string{"dave@example.com"}, 30)
	clock.Advance(61 * time.Minute)
	r := h.Do(t, "erin@example.com", http.MethodGet, "/api/requests?view=mine", nil)
	reqs, _ := r.JSON(t)["requests"].([]any)
	if r.Status != 200 || len(reqs) != 1 || reqs[0].(map[string]any)["status"] != "EXPIRED" {
		t.Errorf("erin's requests after the deadline = %d %s", r.Status, r.Body)
	}
	r = h.Do(t, "dave@example.com", http.MethodGet, "/api/requests?view=review", nil)
	if reqs, _ := r.JSON(t)["requests"].([]any); r.Status != 200 || len(reqs) != 0 {
		t.Errorf("dave's review list after the deadline = %d %s", r.Status, r.Body)
	}
	if r := h.Do(t, "dave@example.com", http.MethodGet, requestPath(token), nil); r.Status != 403 {
		t.Errorf("the expired link = %d %s", r.Status, r.Body)
	}
	// Two lifetimes later it is gone from the list too.
	clock.Advance(61 * time.Minute)
	r = h.Do(t, "erin@example.com", http.MethodGet, "/api/requests?view=mine", nil)
	if reqs, _ := r.JSON(t)["requests"].([]any); r.Status != 200 || len(reqs) != 0 {
		t.Errorf("erin's requests two lifetimes later = %d %s", r.Status, r.Body)
	}
}
