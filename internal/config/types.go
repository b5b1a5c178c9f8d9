package config

import (
	"fmt"
	"regexp"
	"strings"
)

// Platform is where the app runs, detected from variables the platform sets.
type Platform string

// Platforms, detected as the original does: GAE_SERVICE means App Engine,
// K_SERVICE means Cloud Run.
const (
	PlatformAppEngine Platform = "AppEngine"
	PlatformCloudRun  Platform = "CloudRun"
	PlatformLocal     Platform = "Local"
)

// Catalog names the backend used to discover eligible role bindings.
type Catalog string

// Catalogs (RESOURCE_CATALOG), spelled as in the original's documentation.
const (
	CatalogPolicyAnalyzer Catalog = "PolicyAnalyzer"
	CatalogAssetInventory Catalog = "AssetInventory"
)

// parseCatalog matches case-insensitively, like the original's upper-cased
// enum lookup.
func parseCatalog(s string) (Catalog, bool) {
	switch strings.ToLower(s) {
	case "policyanalyzer":
		return CatalogPolicyAnalyzer, true
	case "assetinventory":
		return CatalogAssetInventory, true
	}
	return "", false
}

// AuditLog says where audit entries go (AUDIT_LOG).
type AuditLog string

// Audit log destinations.
const (
	// AuditLogStdout writes JSON lines to stdout, as the original did: App
	// Engine and Cloud Run put them in the platform's stdout log.
	AuditLogStdout AuditLog = "stdout"
	// AuditLogCloudLogging writes through the Logging API to the log
	// jitaccess-audit, synchronously.
	AuditLogCloudLogging AuditLog = "cloud-logging"
)

// GroupMembership says how the AssetInventory catalog resolves groups
// (GROUP_MEMBERSHIP).
type GroupMembership string

// Group resolutions.
const (
	// GroupsDirect uses the Admin SDK Directory API and direct
	// memberships only, for RESOURCE_CUSTOMER_ID, as the original did.
	GroupsDirect GroupMembership = "direct"
	// GroupsTransitive uses Cloud Identity's transitive search: members
	// of nested groups count.
	GroupsTransitive GroupMembership = "transitive"
)

// ScopeType is the kind of resource in RESOURCE_SCOPE.
type ScopeType string

// Scope types, as they appear in Resource Manager names.
const (
	ScopeOrganization ScopeType = "organizations"
	ScopeFolder       ScopeType = "folders"
	ScopeProject      ScopeType = "projects"
)

// Scope is the organization, folder or project the app manages
// (RESOURCE_SCOPE). It bounds the projects listed and the policies analysed.
type Scope struct {
	Type ScopeType
	ID   string
}

// String returns the Resource Manager name, e.g. "folders/123".
func (s Scope) String() string { return string(s.Type) + "/" + s.ID }

// FullResourceName returns the Cloud Asset full resource name, e.g.
// "//cloudresourcemanager.googleapis.com/folders/123".
func (s Scope) FullResourceName() string {
	return "//cloudresourcemanager.googleapis.com/" + s.String()
}

var (
	numericIDPattern = regexp.MustCompile(`^[0-9]{1,20}$`)
	projectIDPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
)

// ParseScope parses "organizations/ID", "folders/ID" or "projects/ID".
// Organization and folder IDs are numeric; project IDs follow Google's rules.
func ParseScope(s string) (Scope, error) {
	typ, id, ok := strings.Cut(s, "/")
	if !ok {
		return Scope{}, fmt.Errorf("must be organizations/ID, folders/ID or projects/ID")
	}
	switch ScopeType(typ) {
	case ScopeOrganization, ScopeFolder:
		if !numericIDPattern.MatchString(id) {
			return Scope{}, fmt.Errorf("%s IDs are numbers, e.g. %s/123456789012", typ, typ)
		}
	case ScopeProject:
		if !projectIDPattern.MatchString(id) {
			return Scope{}, fmt.Errorf("%q is not a valid project ID (6 to 30 lower-case letters, digits or hyphens, starting with a letter)", id)
		}
	default:
		return Scope{}, fmt.Errorf("must be organizations/ID, folders/ID or projects/ID")
	}
	return Scope{Type: ScopeType(typ), ID: id}, nil
}
