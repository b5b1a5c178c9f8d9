package resourcemanager

import (
	"net/http"
	"testing"

	"github.com/jitaccess/jitaccess/internal/emulator/world"
)

func TestRouteCRM(t *testing.T) {
	t.Parallel()
	tests := []struct {
		verb, path             string
		collection, id, method string
		ok                     bool
	}{
		{http.MethodGet, "/v3/projects/p1", "projects", "p1", "get", true},
		{http.MethodGet, "/v3/projects", "projects", "", "list", true},
		{http.MethodGet, "/v3/projects:search", "projects", "", "search", true},
		{http.MethodPost, "/v3/folders/1:getIamPolicy", "folders", "1", "getIamPolicy", true},
		{http.MethodPost, "/v3/organizations/2:setIamPolicy", "organizations", "2", "setIamPolicy", true},
		{http.MethodPost, "/v3/projects/p1:testIamPermissions", "", "", "", false},
		{http.MethodGet, "/v3/projects/p1/x", "", "", "", false},
		{http.MethodGet, "/v3/projects/", "", "", "", false},
		{http.MethodGet, "/v1/projects/p1", "", "", "", false},
	}
	for _, tc := range tests {
		c, id, m, ok := routeCRM(tc.verb, tc.path)
		if c != tc.collection || id != tc.id || m != tc.method || ok != tc.ok {
			t.Errorf("routeCRM(%s %s) = %q %q %q %v", tc.verb, tc.path, c, id, m, ok)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, value string
		want           bool
	}{
		{"abc", "ABC", true},
		{"abc", "abcd", false},
		{"ab*", "abcd", true},
		{"*cd", "abcd", true},
		{"a*c*e", "abcde", true},
		{"a*c*e", "abdde", false},
		{"*", "", true},
		{"a*a", "a", false},
	}
	for _, tc := range tests {
		if got := globMatch(tc.pattern, tc.value); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v", tc.pattern, tc.value, got)
		}
	}
}

func FuzzParseCRMQuery(f *testing.F) {
	for _, s := range []string{"parent:folders/1 AND labels.env:prod", `name:"a b*"`, "id:x OR id:y", `"`, "a:b:c", "labels.:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		terms, err := parseCRMQuery(q, crmSearchFields("projects"))
		if err != nil {
			return
		}
		terms.match(func(field string) []string { return projectField(world.Project{ID: "p", Parent: "folders/1"}, field) })
	})
}
