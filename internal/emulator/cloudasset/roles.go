package cloudasset

import "strings"

// rolePermissions returns the few permissions of a predefined role that
// the emulator's permission queries need. Real roles hold many more; the
// emulator is honest only about the permissions listed here.
func rolePermissions(role string) []string {
	switch role {
	case "roles/owner", "roles/resourcemanager.projectIamAdmin":
		return []string{"resourcemanager.projects.setIamPolicy", "resourcemanager.projects.getIamPolicy"}
	case "roles/editor", "roles/viewer", "roles/iam.securityReviewer":
		return []string{"resourcemanager.projects.getIamPolicy"}
	case "roles/browser":
		return []string{"resourcemanager.folders.get", "resourcemanager.projects.list"}
	case "roles/resourcemanager.organizationViewer":
		return []string{"resourcemanager.organizations.get"}
	}
	return nil
}

// roleHasPermission reports whether role grants perm. Nearly every
// predefined role includes resourcemanager.projects.get, the permission
// jitaccess asks Policy Analyzer about, so the emulator assumes every role
// does; other permissions come from rolePermissions.
func roleHasPermission(role, perm string) bool {
	if perm == "resourcemanager.projects.get" {
		return !strings.HasPrefix(role, "roles/resourcemanager.organization")
	}
	for _, p := range rolePermissions(role) {
		if p == perm {
			return true
		}
	}
	return false
}
