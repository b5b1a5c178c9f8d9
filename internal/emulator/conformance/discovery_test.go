package conformance

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDiscoveryDocumentsMatchTheClientLibrary keeps the embedded copies
// equal to the documents of the google.golang.org/api version the client
// libraries are built from, so that the check and the clients agree on
// what Google's schema is.
func TestDiscoveryDocumentsMatchTheClientLibrary(t *testing.T) {
	t.Parallel()
	out, err := exec.CommandContext(t.Context(), "go", "list", "-m", "-f", "{{.Dir}} {{.Version}}", "google.golang.org/api").Output()
	if err != nil {
		t.Fatalf("go list -m google.golang.org/api: %v", err)
	}
	root, version, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	for name, dir := range map[string]string{
		"cloudresourcemanager-api.json": "cloudresourcemanager/v3",
		"iamcredentials-api.json":       "iamcredentials/v1",
		"iam-api.json":                  "iam/v1",
		"cloudidentity-api.json":        "cloudidentity/v1",
		"admin-api.json":                "admin/directory/v1",
	} {
		want, err := os.ReadFile(filepath.Join(root, dir, name))
		if err != nil {
			t.Fatalf("the client library's %s: %v", name, err)
		}
		got, err := docs.ReadFile("discovery/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("discovery/%s differs from %s/%s of google.golang.org/api %s; copy it over (see discovery/README.md)", name, dir, name, version)
		}
	}
}
