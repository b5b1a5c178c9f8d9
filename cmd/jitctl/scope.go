package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// scopeFlags are --project, --folder and --organization: where a role
// is. A command takes one of them.
type scopeFlags struct{ project, folder, organization string }

func (f scopeFlags) set() bool { return f.project != "" || f.folder != "" || f.organization != "" }

// resource returns the resource name the flags name ("projects/P",
// "folders/F", "organizations/O"), refusing none (when required), several,
// or a malformed one before anything is sent. --project also takes a
// folder's or the organization's resource name, as the web UI's picker
// does.
func (f scopeFlags) resource(required bool) (string, error) {
	var given []string
	for _, v := range []struct{ name, value, prefix string }{
		{"project", f.project, "projects/"},
		{"folder", f.folder, "folders/"},
		{"organization", f.organization, "organizations/"},
	} {
		if v.value == "" {
			continue
		}
		value := v.value
		if v.name == "project" && (strings.HasPrefix(value, "folders/") || strings.HasPrefix(value, "organizations/")) {
			given = append(given, value)
			continue
		}
		value = strings.TrimPrefix(value, v.prefix)
		if v.name != "project" && !allDigits(value) {
			return "", usageError{fmt.Errorf("--%s %q: use the %s's number, such as 1001", v.name, v.value, v.name)}
		}
		if value == "" || strings.ContainsAny(value, "/?#% ") {
			return "", usageError{fmt.Errorf("--%s %q is not a %s ID", v.name, v.value, v.name)}
		}
		given = append(given, v.prefix+value)
	}
	switch {
	case len(given) > 1:
		return "", usageError{errors.New("give one of --project, --folder or --organization")}
	case len(given) == 0 && required:
		return "", usageError{errors.New("one of --project, --folder or --organization is required")}
	case len(given) == 0:
		return "", nil
	}
	return given[0], nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// apiPath is the API's prefix for a resource: /api/projects/P,
// /api/folders/F or /api/organizations/O (docs/api.md).
func apiPath(resource string) string {
	kind, id, _ := strings.Cut(resource, "/")
	return "/api/" + kind + "/" + url.PathEscape(id)
}

// describe names a resource for people: "project P", "folder F". The
// API's projectId is a bare project ID, or a folder's or the
// organization's resource name.
func describe(resource string) string {
	kind, id, ok := strings.Cut(resource, "/")
	switch {
	case !ok:
		return "project " + resource
	case kind == "projects":
		return "project " + id
	case kind == "folders":
		return "folder " + id
	case kind == "organizations":
		return "organization " + id
	}
	return resource
}

// needs says how many approvals a new request needs, when more than one.
func needs(required int) string {
	if required <= 1 {
		return ""
	}
	return fmt.Sprintf("; it needs %d approvals", required)
}

// progress is a request's quorum so far: "1 of 2 approvals (by alice)".
func progress(r activationResponse) string {
	required := max(r.ApprovalsRequired, 1)
	by := make([]string, len(r.Approvals))
	for i, a := range r.Approvals {
		by[i] = a.By
	}
	noun := "approvals"
	if required == 1 {
		noun = "approval"
	}
	s := fmt.Sprintf("%d of %d %s", len(r.Approvals), required, noun)
	if len(by) > 0 {
		s += " (by " + strings.Join(by, ", ") + ")"
	}
	return s
}

// more is what a pending quorum still needs: "1 more approval".
func more(r activationResponse) string {
	n := max(r.ApprovalsRequired, 1) - len(r.Approvals)
	switch {
	case n <= 0:
		return "no more approvals; the access is written when the approvals are confirmed"
	case n == 1:
		return "1 more approval"
	}
	return fmt.Sprintf("%d more approvals", n)
}

// resolveActivation finds the one active or scheduled activation of role
// on resource (the caller's, or user's for an administrator) and returns
// its ID. None, or several (scheduled next to active, several resource
// conditions), is an error that lists what there is.
func resolveActivation(ctx context.Context, cl *client, resource, role, user string) (string, error) {
	q := url.Values{}
	if user != "" {
		q.Set("user", user)
	}
	var out struct{ Activations []activation }
	if _, err := cl.call(ctx, http.MethodGet, "/api/activations", q, nil, &out); err != nil {
		return "", err
	}
	var match []activation
	for _, a := range out.Activations {
		if a.Resource == resource && a.Role == role {
			match = append(match, a)
		}
	}
	whose := "you have"
	if user != "" {
		whose = user + " has"
	}
	switch len(match) {
	case 0:
		return "", &apiError{Status: http.StatusNotFound, Message: fmt.Sprintf("%s no active or scheduled activation of %s on %s ('jitctl status' lists them)", whose, role, describe(resource))}
	case 1:
		return match[0].ID, nil
	}
	lines := make([]string, len(match))
	for i, a := range match {
		cond := ""
		if a.ResourceCondition != "" {
			cond = ", condition " + a.ResourceCondition
		}
		lines[i] = fmt.Sprintf("  %s  (%s, %s to %s%s)", a.ID, a.Status, a.Start, a.End, cond)
	}
	return "", &apiError{Status: http.StatusConflict, Message: fmt.Sprintf("%s %d activations of %s on %s; pass the ID of one:\n%s", whose, len(match), role, describe(resource), strings.Join(lines, "\n"))}
}
