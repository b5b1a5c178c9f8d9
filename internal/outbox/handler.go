package outbox

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"strings"
)

// Handler serves the outbox for people (an HTML list and each message)
// and for scripts (JSON), under prefix (e.g. "/_demo/outbox"):
//
//	PREFIX            the list
//	PREFIX/N          message N: headers and text, and its HTML in a frame
//	PREFIX/N/html     message N's HTML body, sandboxed: it cannot run script
//	PREFIX/messages   all messages as JSON
func (s *Server) Handler(prefix string) http.Handler {
	prefix = strings.TrimRight(prefix, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.Trim(strings.TrimPrefix(r.URL.Path, prefix), "/")
		switch rest {
		case "":
			s.render(w, listPage, map[string]any{"Prefix": prefix, "Messages": reverse(s.Messages())})
		case "messages":
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(s.Messages())
		default:
			idText, html := strings.CutSuffix(rest, "/html")
			id, err := strconv.Atoi(idText)
			m, ok := s.Message(id)
			if err != nil || !ok {
				http.NotFound(w, r)
				return
			}
			if html {
				// The email's own HTML, shown as the recipient would see it,
				// but unable to run script or reach anything but its links.
				w.Header().Set("Content-Security-Policy", "sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation; default-src 'none'; style-src 'unsafe-inline'; img-src data:")
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				_, _ = w.Write([]byte(targetTop(m.HTML)))
				return
			}
			s.render(w, messagePage, map[string]any{"Prefix": prefix, "M": m})
		}
	})
}

// targetTop makes the email's links open in the whole tab rather than in
// the frame: the app forbids being framed (frame-ancestors 'none'), so an
// approval link followed inside the frame would show nothing.
func targetTop(html string) string {
	const base = `<base target="_top">`
	if i := strings.Index(strings.ToLower(html), "<head>"); i >= 0 {
		i += len("<head>")
		return html[:i] + base + html[i:]
	}
	return base + html
}

func reverse(ms []Message) []Message {
	for i, j := 0, len(ms)-1; i < j; i, j = i+1, j-1 {
		ms[i], ms[j] = ms[j], ms[i]
	}
	return ms
}

func (s *Server) render(w http.ResponseWriter, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		http.Error(w, "rendering failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

const pageHead = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{block "title" .}}Outbox{{end}} · jitaccess demo</title><link rel="stylesheet" href="/_demo/static/demo.css"></head><body>
<header class="demo-bar"><strong>jitaccess demo</strong> <a href="/">App</a> <a href="/_demo/signin">Switch user</a> <a href="{{.Prefix}}">Outbox</a> <a href="/_demo/iam">IAM viewer</a></header><main>`

var listPage = template.Must(template.New("list").Parse(pageHead + `
<h1>Outbox</h1><p>Every email the app sent. Nothing leaves this machine.</p>
{{if not .Messages}}<p id="outbox-empty">No emails yet. Request approval for a role to send one.</p>{{end}}
<table class="demo-table" id="outbox-table"><thead><tr><th>Received</th><th>To</th><th>Subject</th></tr></thead><tbody>
{{range .Messages}}<tr data-testid="outbox-row"><td>{{.Received.Format "15:04:05"}}</td><td>{{range $i, $t := .To}}{{if $i}}, {{end}}{{$t}}{{end}}</td>
<td><a href="{{$.Prefix}}/{{.ID}}">{{.Subject}}</a></td></tr>{{end}}
</tbody></table></main></body></html>`))

var messagePage = template.Must(template.New("message").Parse(pageHead + `
<h1 id="message-subject">{{.M.Subject}}</h1>
<dl class="demo-dl"><dt>From</dt><dd>{{.M.From}}</dd><dt>To</dt><dd>{{range $i, $t := .M.To}}{{if $i}}, {{end}}{{$t}}{{end}}</dd>
{{if .M.CC}}<dt>Cc</dt><dd>{{range $i, $t := .M.CC}}{{if $i}}, {{end}}{{$t}}{{end}}</dd>{{end}}
<dt>Received</dt><dd>{{.M.Received.Format "2006-01-02 15:04:05"}}</dd></dl>
{{if .M.HTML}}<iframe class="demo-mail" title="Email" sandbox="allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation" src="{{.Prefix}}/{{.M.ID}}/html"></iframe>{{end}}
<h2>Plain text</h2><pre id="message-text">{{.M.Text}}</pre></main></body></html>`))
