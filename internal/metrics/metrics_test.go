package metrics

import (
	"net/http"
	"testing"
)

func TestRESTMethodNamesGoogleMethodsWithoutIdentifiers(t *testing.T) {
	t.Parallel()
	tests := []struct{ method, path, want string }{
		{"POST", "/v3/projects/prod-db:getIamPolicy", "projects.getIamPolicy"},
		{"POST", "/v3/folders/123:setIamPolicy", "folders.setIamPolicy"},
		{"GET", "/v3/projects:search", "projects.search"},
		{"GET", "/v3/projects/prod-db", "projects.get"},
		{"POST", "/v1/projects/-/serviceAccounts/jit@p.iam.gserviceaccount.com:signJwt", "serviceAccounts.signJwt"},
		{"GET", "/v1/groups:lookup", "groups.lookup"},
		{"GET", "/v1/groups/abc/memberships:searchTransitiveGroups", "memberships.searchTransitiveGroups"},
		{"GET", "/v1/groups/abc/memberships", "memberships.list"},
		{"DELETE", "/v1/groups/abc", "groups.delete"},
		{"GET", "/", "other"},
		{"GET", "/v1/" + string(make([]byte, 50)), "other.list"},
		{"GET", "/v1/a b c", "other.list"},
	}
	for _, tt := range tests {
		if got := restMethod(tt.method, tt.path); got != tt.want {
			t.Errorf("restMethod(%s %q) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}

func TestKnownMethod(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{http.MethodGet: "GET", "BREW": "other", "": "other"} {
		if got := knownMethod(in); got != want {
			t.Errorf("knownMethod(%q) = %q", in, got)
		}
	}
}
