package web_test

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/web"
)

// TestIndexIsCSPClean guards the Content-Security-Policy the server sends
// (script-src 'self', style-src 'self'): the page must not need inline
// script, inline style or event handler attributes, and must only refer to
// files it ships.
func TestIndexIsCSPClean(t *testing.T) {
	t.Parallel()
	fsys, err := web.FS()
	if err != nil {
		t.Fatal(err)
	}
	b, err := fs.ReadFile(fsys, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`), // inline script body
		regexp.MustCompile(`<style`),
		regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`),
		regexp.MustCompile(`javascript:`),
		regexp.MustCompile(`(?:src|href)="(?:https?:)?//`),
	} {
		if m := bad.FindString(html); m != "" {
			t.Errorf("index.html contains %q", m)
		}
	}
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"#?]+)"`).FindAllStringSubmatch(html, -1) {
		if m[1] == "./" {
			continue
		}
		if _, err := fs.Stat(fsys, strings.TrimPrefix(m[1], "/")); err != nil {
			t.Errorf("index.html refers to %s, which is not shipped", m[1])
		}
	}
	js, err := fs.ReadFile(fsys, "app.js")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), "innerHTML") || strings.Contains(string(js), "eval(") {
		t.Error("app.js builds HTML from strings or evaluates code")
	}
}
