package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const module = "github.com/jitaccess/jitaccess"

// moduleRoot returns the directory holding go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatal("not inside the module")
	}
	return filepath.Dir(gomod)
}

// goCmd runs the go command in the module root and returns its stdout.
func goCmd(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", args...)
	cmd.Dir = moduleRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// TestProductionBinaryDependencies keeps the emulator, the demo and the
// browser-test driver out of cmd/jitaccess.
func TestProductionBinaryDependencies(t *testing.T) {
	t.Parallel()
	deps := strings.Fields(string(goCmd(t, "list", "-deps", "./cmd/jitaccess")))
	if len(deps) == 0 {
		t.Fatal("go list -deps printed nothing")
	}
	forbidden := []struct {
		why     string
		matches func(string) bool
	}{
		{"the emulator is for tests and the demo", func(p string) bool {
			return p == module+"/internal/emulator" || strings.HasPrefix(p, module+"/internal/emulator/")
		}},
		{"demo code is for make run", func(p string) bool {
			return strings.HasPrefix(p, module+"/internal/demo") || strings.HasPrefix(p, module+"/cmd/jitaccess-demo")
		}},
		{"chromedp is for browser tests", func(p string) bool { return strings.HasPrefix(p, "github.com/chromedp/") }},
	}
	for _, p := range deps {
		for _, f := range forbidden {
			if f.matches(p) {
				t.Errorf("cmd/jitaccess depends on %s: %s", p, f.why)
			}
		}
	}
}

// listedPackage is the part of `go list -json` output we read.
type listedPackage struct {
	ImportPath string
	Imports    []string
}

// TestDomainImports keeps HTTP and Google clients out of the domain and the
// use cases (DESIGN §2): they must stay testable without either.
func TestDomainImports(t *testing.T) {
	t.Parallel()
	// -e: a package another engineer is half-way through must not hide the
	// others; its own build fails elsewhere.
	out := goCmd(t, "list", "-e", "-json=ImportPath,Imports", "./internal/...")
	dec := json.NewDecoder(bytes.NewReader(out))
	pure := []string{module + "/internal/jit", module + "/internal/condition", module + "/internal/activation"}
	checked := 0
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		if !isUnder(p.ImportPath, pure) {
			continue
		}
		checked++
		for _, imp := range p.Imports {
			if imp == "net/http" || strings.HasPrefix(imp, "net/http/") ||
				strings.HasPrefix(imp, "google.golang.org/") || strings.HasPrefix(imp, "cloud.google.com/") {
				t.Errorf("%s imports %s; the domain and use cases must not know HTTP or Google clients", p.ImportPath, imp)
			}
		}
	}
	if checked == 0 {
		t.Error("no domain package found; did the layout change?")
	}
}

func isUnder(path string, roots []string) bool {
	for _, r := range roots {
		if path == r || strings.HasPrefix(path, r+"/") {
			return true
		}
	}
	return false
}

// dockerBuild matches the Dockerfile's build command.
var dockerBuild = regexp.MustCompile(`^RUN\s+CGO_ENABLED=0\s+go\s+build\s+(-trimpath)(?:\s+(-tags=\S+))?(?:\s+-ldflags='([^']*)')?\s+-o\s+(\S+)\s+(\./cmd/jitaccess)\s*$`)

// dockerBuildArgs returns the go build arguments of the Dockerfile's build
// command, with extra linker flags and the output path replaced by out.
func dockerBuildArgs(t *testing.T, root, out string, extraLDFlags ...string) ([]string, []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var buildArgs, lines []string
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		lines = append(lines, line)
		if m := dockerBuild.FindStringSubmatch(line); m != nil {
			buildArgs = []string{"build", m[1]}
			if m[2] != "" {
				buildArgs = append(buildArgs, m[2])
			}
			if ld := strings.TrimSpace(m[3] + " " + strings.Join(extraLDFlags, " ")); ld != "" {
				buildArgs = append(buildArgs, "-ldflags="+ld)
			}
			buildArgs = append(buildArgs, "-o", out, m[5])
		}
	}
	if buildArgs == nil {
		t.Fatalf("Dockerfile has no line matching %s", dockerBuild)
	}
	return buildArgs, lines
}

func goBuild(t *testing.T, root string, args []string) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestDockerfileBuilds runs the Dockerfile's build command (docker itself
// is not available everywhere the tests run), checks the image's shape,
// and reads the linker's dependency dump of that same build: one link of
// the production binary serves both checks (two builds were most of this
// package's time, minutes on a loaded machine).
//
// The dump keeps the production binary free of calls that look methods up
// by a name known only at run time (text/template's field evaluation,
// reflect.Value.MethodByName with a variable): one such reachable call
// makes the linker keep every exported method of every type, a third of
// the binary and several MB of resident memory (docs/performance.md). The
// dump marks them <ReflectMethod>; -dumpdep only prints, so the binary is
// the one the Dockerfile builds.
func TestDockerfileBuilds(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	buildArgs, lines := dockerBuildArgs(t, root, filepath.Join(t.TempDir(), "jitaccess"), "-dumpdep")
	for _, want := range []string{
		"FROM golang:1.26 AS build",
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"USER nonroot:nonroot",
		"EXPOSE 8080",
	} {
		if !containsLine(lines, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	out := goBuild(t, root, buildArgs)
	t.Run("unused_methods_are_dropped", func(t *testing.T) {
		var marked []string
		for line := range strings.Lines(string(out)) {
			if strings.Contains(line, "<ReflectMethod>") {
				marked = append(marked, strings.TrimSpace(line))
			}
		}
		if len(marked) > 0 {
			t.Errorf("cmd/jitaccess reaches methods looked up by run-time names, so the linker keeps every method (remove the caller, e.g. a template execution):\n%s", strings.Join(marked, "\n"))
		}
	})
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

// TestAppYAML checks that app.yaml starts the production binary and sets
// no variable the app does not read.
func TestAppYAML(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "app.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"runtime: go1", "main: ./cmd/jitaccess", "RESOURCE_SCOPE:"} {
		if !strings.Contains(s, want) {
			t.Errorf("app.yaml lacks %q", want)
		}
	}
}
