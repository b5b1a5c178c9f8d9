package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/internal/jit"
)

// staticFiles serves the embedded UI. Files are read once at start-up: the
// UI is small, and an ETag per file lets browsers revalidate cheaply under
// Cache-Control: no-cache.
type staticFiles struct {
	files map[string]staticFile // by path without leading slash
}

type staticFile struct {
	content     []byte
	contentType string
	etag        string
}

// extraType names the type of every file the UI ships, so that the answer
// is the same on every machine: mime.TypeByExtension reads the system's
// tables (which distroless images do not have, and which differ between
// distributions, e.g. for .js), and loading them costs the idle instance
// half a megabyte.
func extraType(ext string) string {
	switch ext {
	case ".html":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".json":
		return "application/json"
	case ".ico":
		return "image/x-icon"
	case ".woff2":
		return "font/woff2"
	case ".woff":
		return "font/woff"
	case ".txt":
		return "text/plain; charset=utf-8"
	case ".webmanifest":
		return "application/manifest+json"
	case ".map":
		return "application/json"
	}
	return ""
}

func newStaticFiles(fsys fs.FS) (*staticFiles, error) {
	st := &staticFiles{files: map[string]staticFile{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		ext := path.Ext(p)
		ct := extraType(ext)
		if ct == "" {
			ct = mime.TypeByExtension(ext)
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(b)
		st.files[p] = staticFile{
			content:     b,
			contentType: ct,
			etag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`,
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("server: reading UI files: %w", err)
	}
	return st, nil
}

// serve answers GET and HEAD for UI files; "/" is index.html. Directories
// are never listed.
func (st *staticFiles) serve(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" {
		name = "index.html"
	}
	f, ok := st.files[name]
	if !ok {
		return jit.E("server.static", jit.KindNotFound, "", nil)
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("ETag", f.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.content))
	return nil
}
