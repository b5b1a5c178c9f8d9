package jit

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// UserID is a user's or service account's email address, lower-cased as the
// original does so that comparisons and IAM members agree.
type UserID string

// emailPattern is deliberately narrow: these values end up in IAM members,
// email headers and log labels, so anything unusual is refused.
var emailPattern = regexp.MustCompile(`^[a-z0-9!#$%&'*+/=?^_{|}~.-]{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$`)

// ParseUserID validates and normalises an email address.
func ParseUserID(s string) (UserID, error) {
	e := strings.ToLower(strings.TrimSpace(s))
	if len(e) > 254 || !emailPattern.MatchString(e) {
		return "", Invalid("jit.ParseUserID", fmt.Sprintf("%q is not a valid email address", truncate(s, 80)))
	}
	return UserID(e), nil
}

// String returns the email address.
func (u UserID) String() string { return string(u) }

// Member returns the IAM member string, e.g. "user:alice@example.com".
// Service accounts get "serviceAccount:" so that bindings written for them
// actually apply (the original always wrote "user:").
func (u UserID) Member() string {
	if strings.HasSuffix(string(u), ".gserviceaccount.com") {
		return "serviceAccount:" + string(u)
	}
	return "user:" + string(u)
}

// ProjectID is a Google Cloud project id.
type ProjectID string

var projectPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)

// ParseProjectID validates a project id against Google's rules (6 to 30
// characters, lower-case letters, digits and hyphens, starting with a letter).
func ParseProjectID(s string) (ProjectID, error) {
	if strings.TrimSpace(s) == "" {
		return "", Invalid("jit.ParseProjectID", "A projectId is required")
	}
	if !projectPattern.MatchString(s) {
		return "", Invalid("jit.ParseProjectID", fmt.Sprintf("%q is not a valid project ID", truncate(s, 80)))
	}
	return ProjectID(s), nil
}

// String returns the project id.
func (p ProjectID) String() string { return string(p) }

// ResourceName returns "projects/ID", the Resource Manager v3 name.
func (p ProjectID) ResourceName() string { return "projects/" + string(p) }

// FullResourceName returns the Cloud Asset full resource name.
func (p ProjectID) FullResourceName() string {
	return "//cloudresourcemanager.googleapis.com/projects/" + string(p)
}

var rolePattern = regexp.MustCompile(`^(?:roles/[a-zA-Z0-9_.]{1,100}|projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/roles/[a-zA-Z0-9_.]{1,64}|organizations/[0-9]{1,20}/roles/[a-zA-Z0-9_.]{1,64})$`)

// ValidRole reports whether s is a predefined or custom IAM role name.
func ValidRole(s string) bool { return rolePattern.MatchString(s) }

// Entitlement is a role on a project, optionally narrowed by a resource
// condition, that a user may be eligible to activate. An entitlement at
// the level of a folder or the organization itself has Node set
// ("folders/F" or "organizations/O") and no Project.
type Entitlement struct {
	Project           ProjectID
	Role              string
	ResourceCondition string // CEL, empty when none
	Node              string // "folders/F" or "organizations/O"; empty for a project's
}

// Resource is the entitlement's resource name: "projects/P", "folders/F"
// or "organizations/O".
func (e Entitlement) Resource() string {
	if e.Node != "" {
		return e.Node
	}
	return e.Project.ResourceName()
}

// FullResourceName is the Cloud Asset name of the entitlement's resource.
func (e Entitlement) FullResourceName() string {
	return "//cloudresourcemanager.googleapis.com/" + e.Resource()
}

// scopeOf is the first part of an id: the project id, or the node name.
func (e Entitlement) scopeOf() string {
	if e.Node != "" {
		return e.Node
	}
	return string(e.Project)
}

// ID returns the original's entitlement id: "project:role" or
// "project:role:base64(condition)"; "folders/F:role…" or
// "organizations/O:role…" at those levels.
func (e Entitlement) ID() string {
	if e.ResourceCondition == "" {
		return e.scopeOf() + ":" + e.Role
	}
	return e.scopeOf() + ":" + e.Role + ":" + base64.StdEncoding.EncodeToString([]byte(e.ResourceCondition))
}

// String is the original's log form, "[iam] ROLE on PROJECT (condition: C)".
func (e Entitlement) String() string {
	if e.ResourceCondition == "" {
		return fmt.Sprintf("[iam] %s on %s", e.Role, e.scopeOf())
	}
	return fmt.Sprintf("[iam] %s on %s (condition: %s)", e.Role, e.scopeOf(), e.ResourceCondition)
}

var nodePattern = regexp.MustCompile(`^(?:folders|organizations)/[0-9]{1,20}$`)

// ValidNode reports whether s is "folders/N" or "organizations/N".
func ValidNode(s string) bool { return nodePattern.MatchString(s) }

// ErrInvalidEntitlementID is the original's message for a malformed id.
const msgInvalidEntitlementID = "Invalid ProjectRole ID"

// maxEntitlementIDLen bounds what we parse; real ids are far shorter.
const maxEntitlementIDLen = 4096

// ParseEntitlementID parses an id produced by Entitlement.ID. Beyond the
// original's checks (2 or 3 parts, non-blank), it validates the project id,
// the role name and the condition's encoding, since ids come from clients.
func ParseEntitlementID(id string) (Entitlement, error) {
	const op = "jit.ParseEntitlementID"
	if len(id) > maxEntitlementIDLen {
		return Entitlement{}, Invalid(op, msgInvalidEntitlementID)
	}
	parts := strings.Split(id, ":")
	if len(parts) < 2 || len(parts) > 3 || strings.TrimSpace(parts[0]) == "" || strings.TrimSpace(parts[1]) == "" {
		return Entitlement{}, Invalid(op, msgInvalidEntitlementID)
	}
	if (!projectPattern.MatchString(parts[0]) && !nodePattern.MatchString(parts[0])) || !rolePattern.MatchString(parts[1]) {
		return Entitlement{}, Invalid(op, msgInvalidEntitlementID)
	}
	e := Entitlement{Project: ProjectID(parts[0]), Role: parts[1]}
	if nodePattern.MatchString(parts[0]) {
		e = Entitlement{Node: parts[0], Role: parts[1]}
	}
	if len(parts) == 3 {
		c, err := base64.StdEncoding.DecodeString(parts[2])
		if err != nil || len(c) == 0 || !utf8.Valid(c) {
			return Entitlement{}, Invalid(op, msgInvalidEntitlementID)
		}
		e.ResourceCondition = string(c)
	}
	return e, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
