package conformance

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"cloud.google.com/go/asset/apiv1/assetpb"
)

const goodProject = `{"name":"projects/1","projectId":"proj-one","state":"ACTIVE","etag":"W/\"x\""}`

// TestCheckerFindsWhatGoogleNeverAnswers serves fixed answers through a
// Checker and expects each departure to be named by method and field.
func TestCheckerFindsWhatGoogleNeverAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, path, body string
		status                   int
		answer                   string
		wantMethod, wantField    string // "" wantField: conforms
	}{
		{"conforms", http.MethodGet, "/v3/projects/proj-one", "", 200, goodProject, "cloudresourcemanager.projects.get", ""},
		{"unknown_field", http.MethodGet, "/v3/projects/proj-one", "", 200, `{"name":"projects/1","colour":"red"}`, "cloudresourcemanager.projects.get", "colour"},
		{"wrong_type", http.MethodGet, "/v3/projects/proj-one", "", 200, `{"name":5}`, "cloudresourcemanager.projects.get", "name"},
		{"bad_enum", http.MethodGet, "/v3/projects/proj-one", "", 200, `{"name":"projects/1","state":"LIVE"}`, "cloudresourcemanager.projects.get", "state"},
		{"null", http.MethodGet, "/v3/projects/proj-one", "", 200, `{"name":"projects/1","labels":null}`, "cloudresourcemanager.projects.get", "labels"},
		{"bad_timestamp", http.MethodGet, "/v3/projects/proj-one", "", 200, `{"createTime":"yesterday"}`, "cloudresourcemanager.projects.get", "createTime"},
		{"nested_unknown", http.MethodPost, "/v3/projects/p:getIamPolicy", "", 200, `{"version":3,"bindings":[{"role":"roles/viewer","members":["user:a@example.com"],"condition":{"expr":"true"}}]}`, "cloudresourcemanager.projects.getIamPolicy", "bindings[0].condition.expr"},
		{"int32_as_string", http.MethodPost, "/v3/projects/p:getIamPolicy", "", 200, `{"version":"3"}`, "cloudresourcemanager.projects.getIamPolicy", "version"},
		{"required_missing", http.MethodGet, "/v1/groups/abc", "", 200, `{"name":"groups/abc","labels":{},"parent":"customers/C1"}`, "cloudidentity.groups.get", "groupKey"},
		{"int64_as_number", http.MethodGet, "/admin/directory/v1/groups/g@example.com", "", 200, `{"email":"g@example.com","directMembersCount":3}`, "directory.groups.get", "directMembersCount"},
		{"unknown_query_parameter", http.MethodGet, "/v3/projects/proj-one?colour=red", "", 200, goodProject, "cloudresourcemanager.projects.get", "colour"},
		{"request_unknown_field", http.MethodPost, "/v3/projects/p:setIamPolicy", `{"policy":{},"colour":"red"}`, 200, `{"version":1}`, "cloudresourcemanager.projects.setIamPolicy", "colour"},
		{"request_required_missing", http.MethodPost, "/v1/projects/-/serviceAccounts/a@b.iam.gserviceaccount.com:signJwt", `{}`, 200, `{"keyId":"k","signedJwt":"a.b.c"}`, "iamcredentials.projects.serviceAccounts.signJwt", "payload"},
		{"error_conforms", http.MethodGet, "/v3/projects/x", "", 404, `{"error":{"code":404,"message":"gone","status":"NOT_FOUND"}}`, "cloudresourcemanager.projects.get", ""},
		{"error_without_status", http.MethodGet, "/v3/projects/x", "", 404, `{"error":{"code":404,"message":"gone"}}`, "cloudresourcemanager.projects.get", "error.status"},
		{"error_status_of_another_code", http.MethodGet, "/v3/projects/x", "", 409, `{"error":{"code":409,"message":"x","status":"INVALID_ARGUMENT"}}`, "cloudresourcemanager.projects.get", "error.status"},
		{"error_code_not_http", http.MethodGet, "/v3/projects/x", "", 503, `{"error":{"code":500,"message":"x","status":"UNAVAILABLE"}}`, "cloudresourcemanager.projects.get", "error.code"},
		{"error_unknown_field", http.MethodGet, "/v3/projects/x", "", 400, `{"error":{"code":400,"message":"x","status":"INVALID_ARGUMENT","reason":"bad"}}`, "cloudresourcemanager.projects.get", "error.reason"},
		{"permission_denied_without_error_info", http.MethodGet, "/v3/projects/x", "", 403, `{"error":{"code":403,"message":"x","status":"PERMISSION_DENIED"}}`, "cloudresourcemanager.projects.get", "error.details"},
		{"bad_error_info", http.MethodGet, "/v3/projects/x", "", 403, `{"error":{"code":403,"message":"x","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"denied","domain":"iam.googleapis.com"}]}}`, "cloudresourcemanager.projects.get", "error.details[0].reason"},
		{"not_json", http.MethodGet, "/v9/nothing", "", 404, `<html>Not Found</html>`, "GET /v9/nothing", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := New()
			if err != nil {
				t.Fatal(err)
			}
			h := c.Wrap(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
				rw.WriteHeader(tc.status)
				_, _ = rw.Write([]byte(tc.answer))
			}))
			req := httptest.NewRequestWithContext(t.Context(), tc.method, tc.path, strings.NewReader(tc.body))
			h.ServeHTTP(httptest.NewRecorder(), req)
			if c.Checked()[tc.wantMethod] != 1 {
				t.Errorf("checked %v, want %s once", c.Checked(), tc.wantMethod)
			}
			vs := c.Violations()
			switch {
			case tc.wantField == "" && tc.name != "not_json" && len(vs) > 0:
				t.Errorf("violations %v, want none", vs)
			case tc.name == "not_json" && len(vs) != 1:
				t.Errorf("violations %v, want the body named", vs)
			case tc.wantField != "" && (len(vs) != 1 || vs[0].Field != tc.wantField || vs[0].Method != tc.wantMethod):
				t.Errorf("violations %v, want one in %s at %s", vs, tc.wantMethod, tc.wantField)
			}
		})
	}
}

// TestResourceNamesOfGRPCAnswers: the names the app parses out of Cloud
// Asset answers are held to Google's formats.
func TestResourceNamesOfGRPCAnswers(t *testing.T) {
	t.Parallel()
	good := &assetpb.SearchAllResourcesResponse{Results: []*assetpb.ResourceSearchResult{{
		Name: "//cloudresourcemanager.googleapis.com/projects/proj-one", AssetType: "cloudresourcemanager.googleapis.com/Project",
		Project: "projects/42", Folders: []string{"folders/7"}, Organization: "organizations/1",
		ParentFullResourceName: "//cloudresourcemanager.googleapis.com/folders/7",
	}}}
	if v := checkNames(good); v != nil {
		t.Errorf("a conforming answer: %v", v)
	}
	tests := map[string]func(*assetpb.ResourceSearchResult){
		"results[0].name":    func(r *assetpb.ResourceSearchResult) { r.Name = "projects/proj-one" },
		"results[0].project": func(r *assetpb.ResourceSearchResult) { r.Project = "projects/proj-one" },
		"results[0].folders[0]": func(r *assetpb.ResourceSearchResult) {
			r.Folders = []string{"//cloudresourcemanager.googleapis.com/folders/7"}
		},
		"results[0].organization": func(r *assetpb.ResourceSearchResult) { r.Organization = "1" },
	}
	for field, mutate := range tests {
		r := &assetpb.SearchAllResourcesResponse{Results: []*assetpb.ResourceSearchResult{{
			Name: good.Results[0].Name, AssetType: good.Results[0].AssetType, Project: "projects/42",
		}}}
		mutate(r.Results[0])
		if v := checkNames(r); v == nil || v.Field != field {
			t.Errorf("%s: violation %v, want one at %s", field, v, field)
		}
	}
}
