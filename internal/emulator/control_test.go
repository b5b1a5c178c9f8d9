package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jitaccess/jitaccess/internal/emulator/wire/wiretest"
)

func controlDo(t *testing.T, e *Emulator, method, path, body string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.Endpoints().Control+path, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, raw
}

func TestControlWorldAndPolicies(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	code, raw := controlDo(t, e, http.MethodGet, "world", "")
	if code != http.StatusOK {
		t.Fatalf("world = %d %s", code, raw)
	}
	// The control API's JSON, as a tool reads it.
	var w struct {
		Organizations, Folders, Projects, Users, Groups, ServiceAccounts []json.RawMessage
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		t.Fatal(err)
	}
	if len(w.Organizations) != 1 || len(w.Folders) != 4 || len(w.Projects) != len(e.World.Projects()) ||
		len(w.Users) != 8 || len(w.Groups) != len(e.World.Groups()) || len(w.ServiceAccounts) != 1 {
		t.Errorf("world = %d orgs, %d folders, %d projects, %d users, %d groups, %d SAs",
			len(w.Organizations), len(w.Folders), len(w.Projects), len(w.Users), len(w.Groups), len(w.ServiceAccounts))
	}

	code, raw = controlDo(t, e, http.MethodGet, "policies", "")
	if code != http.StatusOK {
		t.Fatalf("policies = %d %s", code, raw)
	}
	var ps struct {
		Policies []struct {
			Resource string `json:"resource"`
			Policy   Policy `json:"policy"`
		} `json:"policies"`
	}
	if err := json.Unmarshal(raw, &ps); err != nil {
		t.Fatal(err)
	}
	want := 1 + len(w.Folders) + len(w.Projects)
	if len(ps.Policies) != want {
		t.Errorf("%d policies, want %d", len(ps.Policies), want)
	}
	for _, p := range ps.Policies {
		cur, _ := e.World.Policy(p.Resource)
		if diff := cmp.Diff(cur, p.Policy); diff != "" {
			t.Errorf("policy of %s (-world +control):\n%s", p.Resource, diff)
		}
	}
}

func TestControlFaults(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	s := newTestCRM(t, e)
	const method = "cloudresourcemanager.folders.*"
	code, raw := controlDo(t, e, http.MethodPut, "faults/"+method, `{"code":503,"count":1,"message":"try later"}`)
	if code != http.StatusOK {
		t.Fatalf("put fault = %d %s", code, raw)
	}
	_, err := s.Folders.Get(prodFolder).Context(t.Context()).Do()
	gerr := wiretest.MustAPIError(t, err, http.StatusServiceUnavailable, "UNAVAILABLE")
	if gerr.Message != "try later" {
		t.Errorf("message = %q", gerr.Message)
	}
	if _, err := s.Folders.Get(prodFolder).Context(t.Context()).Do(); err != nil {
		t.Errorf("after a counted fault: %v", err)
	}

	if code, raw := controlDo(t, e, http.MethodPut, "faults/cloudasset.*", `{"latency":"250ms","code":429,"rate":0.5}`); code != http.StatusOK {
		t.Fatalf("put fault = %d %s", code, raw)
	}
	if got := e.World.Faults.List()["cloudasset.*"]; got != (Fault{Latency: 250 * time.Millisecond, Code: 429, Rate: 0.5}) {
		t.Errorf("installed fault = %+v", got)
	}
	_, raw = controlDo(t, e, http.MethodGet, "faults", "")
	if !strings.Contains(string(raw), `"cloudasset.*":{"latency":"250ms","code":429,"rate":0.5}`) {
		t.Errorf("faults = %s", raw)
	}
	if code, _ := controlDo(t, e, http.MethodDelete, "faults/cloudasset.*", ""); code != http.StatusNoContent {
		t.Errorf("delete = %d", code)
	}
	if n := len(e.World.Faults.List()); n != 0 {
		t.Errorf("%d faults left", n)
	}

	for _, body := range []string{`{"code":200}`, `{"latency":"soon"}`, `{"rate":2}`, `{"count":-1}`, `{"colour":"red"}`, `nope`} {
		if code, raw := controlDo(t, e, http.MethodPut, "faults/x", body); code != http.StatusBadRequest {
			t.Errorf("put %s = %d %s, want 400", body, code, raw)
		}
	}
	if code, _ := controlDo(t, e, http.MethodPut, "faults/[", `{"code":503}`); code != http.StatusBadRequest {
		t.Errorf("bad pattern = %d, want 400", code)
	}
}

func TestControlIndexDelay(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := newTestEmulator(t, func(o *Options) { o.Clock = clock.Now })
	if code, raw := controlDo(t, e, http.MethodPut, "indexDelay", `{"indexDelay":"1m"}`); code != http.StatusOK {
		t.Fatalf("indexDelay = %d %s", code, raw)
	}
	before, _ := e.World.IndexedPolicy(plainProject)
	p, _ := e.World.Policy(plainProject)
	p.Bindings = append(p.Bindings, Binding{Role: "roles/viewer", Members: []string{"user:carol@example.com"}})
	if _, err := e.World.SetIamPolicy(plainProject, p); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.World.IndexedPolicy(plainProject); got.Etag != before.Etag {
		t.Errorf("Asset saw the write before the index delay")
	}
	clock.Advance(time.Minute)
	if got, _ := e.World.IndexedPolicy(plainProject); got.Etag == before.Etag {
		t.Errorf("Asset did not see the write after the index delay")
	}
	if code, _ := controlDo(t, e, http.MethodPut, "indexDelay", `{"indexDelay":"-1s"}`); code != http.StatusBadRequest {
		t.Errorf("negative delay = %d, want 400", code)
	}
}

func TestControlCalls(t *testing.T) {
	t.Parallel()
	e := newTestEmulator(t)
	for range 2 {
		_ = e.World.Faults.Apply(t.Context(), "cloudresourcemanager.projects.getIamPolicy")
	}
	code, raw := controlDo(t, e, http.MethodGet, "calls", "")
	if code != http.StatusOK || !strings.Contains(string(raw), `"cloudresourcemanager.projects.getIamPolicy":2`) {
		t.Errorf("calls = %d %s", code, raw)
	}
}
