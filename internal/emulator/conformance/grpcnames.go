package conformance

import (
	"context"
	"fmt"
	"regexp"

	"cloud.google.com/go/asset/apiv1/assetpb"
	"cloud.google.com/go/logging/apiv2/loggingpb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The resource name formats Google documents for what the app reads in
// gRPC answers. Full names of the hierarchy name projects by id (as
// Policy Analyzer reports them and as the app and 1.8.1 parse them),
// folders and organizations by number; the project, folders and
// organization fields of search results are "projects/NUMBER",
// "folders/NUMBER" and "organizations/NUMBER".
var (
	fullHierarchyName = regexp.MustCompile(`^//cloudresourcemanager\.googleapis\.com/(projects/[a-z][a-z0-9-]{4,28}[a-z0-9]|projects/[0-9]+|folders/[0-9]+|organizations/[0-9]+)$`)
	projectNumberName = regexp.MustCompile(`^projects/[0-9]+$`)
	folderName        = regexp.MustCompile(`^folders/[0-9]+$`)
	organizationName  = regexp.MustCompile(`^organizations/[0-9]+$`)
	principalName     = regexp.MustCompile(`^((user|group|serviceAccount|domain|deleted:user|deleted:group|deleted:serviceAccount):[^\s:]+|allUsers|allAuthenticatedUsers|principal(Set)?://\S+)$`)
	logEntryName      = regexp.MustCompile(`^(projects|organizations|folders|billingAccounts)/[^/]+/logs/[^/]+$`)
	hierarchyTypes    = []string{"cloudresourcemanager.googleapis.com/Project", "cloudresourcemanager.googleapis.com/Folder", "cloudresourcemanager.googleapis.com/Organization"}
)

// UnaryInterceptor checks the resource names of every successful gRPC
// answer the app reads (Cloud Asset, Cloud Logging) and records those
// outside Google's formats; of an error, it checks that a permission
// denial carries Google's ErrorInfo.
func (c *Checker) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err == nil {
			c.record(info.FullMethod, checkNames(resp))
		} else {
			c.record(info.FullMethod, checkGRPCError(err))
		}
		return resp, err
	}
}

func checkNames(resp any) *Violation {
	bad := func(field, value, want string) *Violation {
		return &Violation{Side: "response", Field: field, Problem: fmt.Sprintf("is %q, want %s", value, want)}
	}
	full := func(field, v string) *Violation {
		if !fullHierarchyName.MatchString(v) {
			return bad(field, v, "a full resource name of the hierarchy (//cloudresourcemanager.googleapis.com/projects/ID, folders/NUMBER or organizations/NUMBER)")
		}
		return nil
	}
	ancestry := func(at, project string, folders []string, org string) *Violation {
		if project != "" && !projectNumberName.MatchString(project) {
			return bad(at+".project", project, "projects/NUMBER")
		}
		for i, f := range folders {
			if !folderName.MatchString(f) {
				return bad(fmt.Sprintf("%s.folders[%d]", at, i), f, "folders/NUMBER")
			}
		}
		if org != "" && !organizationName.MatchString(org) {
			return bad(at+".organization", org, "organizations/NUMBER")
		}
		return nil
	}
	switch r := resp.(type) {
	case *assetpb.AnalyzeIamPolicyResponse:
		for i, res := range r.GetMainAnalysis().GetAnalysisResults() {
			at := fmt.Sprintf("main_analysis.analysis_results[%d]", i)
			if v := full(at+".attached_resource_full_name", res.GetAttachedResourceFullName()); v != nil {
				return v
			}
			for j, acl := range res.GetAccessControlLists() {
				for k, x := range acl.GetResources() {
					if v := full(fmt.Sprintf("%s.access_control_lists[%d].resources[%d].full_resource_name", at, j, k), x.GetFullResourceName()); v != nil {
						return v
					}
				}
			}
			for j, id := range res.GetIdentityList().GetIdentities() {
				if !principalName.MatchString(id.GetName()) {
					return bad(fmt.Sprintf("%s.identity_list.identities[%d].name", at, j), id.GetName(), "a principal such as user:EMAIL or group:EMAIL")
				}
			}
		}
	case *assetpb.SearchAllResourcesResponse:
		for i, res := range r.GetResults() {
			at := fmt.Sprintf("results[%d]", i)
			if v := full(at+".name", res.GetName()); v != nil {
				return v
			}
			if p := res.GetParentFullResourceName(); p != "" {
				if v := full(at+".parent_full_resource_name", p); v != nil {
					return v
				}
			}
			if t := res.GetAssetType(); !contains(hierarchyTypes, t) {
				return bad(at+".asset_type", t, "an asset type of the hierarchy")
			}
			if v := ancestry(at, res.GetProject(), res.GetFolders(), res.GetOrganization()); v != nil {
				return v
			}
		}
	case *assetpb.SearchAllIamPoliciesResponse:
		for i, res := range r.GetResults() {
			at := fmt.Sprintf("results[%d]", i)
			if v := full(at+".resource", res.GetResource()); v != nil {
				return v
			}
			if v := ancestry(at, res.GetProject(), res.GetFolders(), res.GetOrganization()); v != nil {
				return v
			}
		}
	case *assetpb.BatchGetEffectiveIamPoliciesResponse:
		for i, res := range r.GetPolicyResults() {
			for j, p := range res.GetPolicies() {
				if v := full(fmt.Sprintf("policy_results[%d].policies[%d].attached_resource", i, j), p.GetAttachedResource()); v != nil {
					return v
				}
			}
		}
	case *loggingpb.ListLogEntriesResponse:
		for i, e := range r.GetEntries() {
			if !logEntryName.MatchString(e.GetLogName()) {
				return bad(fmt.Sprintf("entries[%d].log_name", i), e.GetLogName(), "PARENT/logs/LOG_ID with the log id URL-encoded")
			}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkGRPCError holds a gRPC error to Google's error model: a permission
// denial carries an ErrorInfo with IAM's reason, as Google's does.
func checkGRPCError(err error) *Violation {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.PermissionDenied {
		return nil
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == "IAM_PERMISSION_DENIED" {
			return nil
		}
	}
	return &Violation{Side: "error", Field: "details", Problem: "has no ErrorInfo with reason IAM_PERMISSION_DENIED; Google gives one with every permission error"}
}
