package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestHistoryKindsHideReadsAndNameEachEvent: by default the history
// leaves out reads (listing projects, viewing history), which every visit
// writes; ?kind= asks for kinds, reads among them, or all; every entry
// has one kind and one human name, the same in every client; a failure is
// flagged with its reason; a kind the API does not know is a 400.
func TestHistoryKindsHideReadsAndNameEachEvent(t *testing.T) {
	t.Parallel()
	h := startLifecycle(t, nil)
	spec := loadOpenAPI(t)
	const dave = "dave@example.com"
	if r := selfActivate(t, h, dave, "prod-payments-db", "roles/cloudsql.client", 30, nil); r.Status != 200 {
		t.Fatalf("self-activate = %d %s", r.Status, r.Body)
	}
	if r := h.Do(t, dave, http.MethodGet, "/api/projects", nil); r.Status != 200 {
		t.Fatalf("projects = %d %s", r.Status, r.Body)
	}
	// A refused justification: a failure, with its reason (what the
	// reason says is internal/audit's business).
	bad := h.Do(t, dave, http.MethodPost, "/api/projects/prod-payments-db/roles/self-activate",
		map[string]any{"entitlementIds": []string{"prod-payments-db:roles/cloudsql.client"}, "justification": "no ticket", "activationTimeout": 30})
	if bad.Status != 403 {
		t.Fatalf("bad justification = %d %s", bad.Status, bad.Body)
	}
	entries := func(query string) []map[string]any {
		t.Helper()
		r := h.Do(t, dave, http.MethodGet, "/api/history"+query, nil)
		spec.check(t, http.MethodGet, "/api/history"+query, r)
		if r.Status != 200 {
			t.Fatalf("history%s = %d %s", query, r.Status, r.Body)
		}
		var out []map[string]any
		for _, e := range r.JSON(t)["entries"].([]any) {
			out = append(out, e.(map[string]any))
		}
		return out
	}
	has := func(es []map[string]any, event, title string) bool {
		for _, e := range es {
			if e["event"] == event && e["title"] == title {
				return true
			}
		}
		return false
	}
	// Viewing the history is itself a read: the second view lists the first.
	_ = entries("")
	def := entries("")
	for _, e := range def {
		if e["kind"] == "read" || strings.HasPrefix(e["event"].(string), "api.list") || e["event"] == "api.viewHistory" {
			t.Errorf("the default history shows a read: %v", e)
		}
		if title, _ := e["title"].(string); title == "" || strings.HasPrefix(title, "api.") {
			t.Errorf("entry without a human name: %v", e)
		}
	}
	if !has(def, "api.activateRole", "Activated") {
		t.Errorf("the default history lacks the activation: %v", def)
	}
	var failure map[string]any
	for _, e := range def {
		if e["title"] == "Activation failed" {
			failure = e
		}
	}
	if failure == nil || failure["failed"] != true || failure["kind"] != "activation" || failure["reason"] == "" {
		t.Errorf("the refused activation = %v", failure)
	}

	reads := entries("?kind=read")
	if !has(reads, "api.listProjects", "Listed projects") || !has(reads, "api.viewHistory", "Viewed history") {
		t.Errorf("?kind=read lacks the reads: %v", reads)
	}
	for _, e := range reads {
		if e["kind"] != "read" {
			t.Errorf("?kind=read shows %v", e)
		}
	}
	both := entries("?kind=activation&kind=read")
	if !has(both, "api.activateRole", "Activated") || !has(both, "api.listProjects", "Listed projects") {
		t.Errorf("?kind=activation&kind=read = %v", both)
	}
	if ends := entries("?kind=end,extension"); len(ends) != 0 {
		t.Errorf("?kind=end,extension before any end = %v", ends)
	}
	all := entries("?kind=all")
	if !has(all, "api.activateRole", "Activated") || !has(all, "api.listProjects", "Listed projects") {
		t.Errorf("?kind=all = %v", all)
	}
	for _, q := range []string{"?kind=reads", "?kind=" + url.QueryEscape(`activation" OR labels.event:"`)} {
		r := h.Do(t, dave, http.MethodGet, "/api/history"+q, nil)
		if r.Status != 400 || !strings.Contains(r.Message(t), "is not one of activation, request, decision, end, extension, read, all") {
			t.Errorf("history%s = %d %s", q, r.Status, r.Body)
		}
	}
}
