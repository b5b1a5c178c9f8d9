// Package web holds the single-page UI: plain HTML, CSS and JavaScript, no
// build step and nothing fetched from the network, so it works offline and
// under a strict Content-Security-Policy (no inline script or style).
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var files embed.FS

// FS returns the UI's files with index.html at the root.
func FS() (fs.FS, error) {
	return fs.Sub(files, "static")
}
