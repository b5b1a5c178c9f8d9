package demo

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/internal/condition"
	"github.com/jitaccess/jitaccess/internal/emulated"
	"github.com/jitaccess/jitaccess/internal/emulator"
)

const (
	cookieName = "jitaccess_demo_user"
	// HeaderUser lets scripts act as a demo user without the sign-in page.
	HeaderUser = "X-Demo-User"
	demoCSP    = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

// Handler is the IAP simulator in front of the app, plus the demo pages.
func (d *Demo) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /_demo/static/", http.StripPrefix("/_demo/", http.FileServerFS(static)))
	mux.HandleFunc("GET /_demo/signin", d.signinPage)
	mux.HandleFunc("POST /_demo/signin", d.signin)
	mux.HandleFunc("POST /_demo/signout", d.signout)
	mux.HandleFunc("GET /_demo/signout", d.signout)
	mux.Handle("/_demo/outbox", demoHeaders(d.Outbox.Handler("/_demo/outbox")))
	mux.Handle("/_demo/outbox/", demoHeaders(d.Outbox.Handler("/_demo/outbox")))
	mux.HandleFunc("GET /_demo/iam", d.iamViewer)
	mux.HandleFunc("GET /_demo/info", d.info)
	mux.HandleFunc("/", d.proxy)
	return mux
}

func demoHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/html") {
			w.Header().Set("Content-Security-Policy", demoCSP)
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// user returns the demo user a request acts as, if it names a known one.
func (d *Demo) user(r *http.Request) (emulator.User, bool) {
	email := r.Header.Get(HeaderUser)
	if email == "" {
		if c, err := r.Cookie(cookieName); err == nil {
			email = c.Value
		}
	}
	for _, u := range d.Emulator.World.Users() {
		if strings.EqualFold(u.Email, email) {
			return u, true
		}
	}
	return emulator.User{}, false
}

// proxy plays IAP: it replaces whatever assertion the client sent with a
// fresh one for the signed-in demo user and passes the request on.
func (d *Demo) proxy(w http.ResponseWriter, r *http.Request) {
	r.Header.Del("X-Goog-Iap-Jwt-Assertion")
	r.Header.Del("X-Goog-Authenticated-User-Email")
	if strings.HasPrefix(r.URL.Path, "/health/") {
		d.app.Handler.ServeHTTP(w, r)
		return
	}
	u, ok := d.user(r)
	if !ok {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"message":"Sign in to the demo first: open /_demo/signin"}` + "\n"))
			return
		}
		http.Redirect(w, r, "/_demo/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
		return
	}
	assertion, err := d.Emulator.IAP.Mint(emulator.IAPClaims{
		Email: u.Email, Audience: emulated.Audience, DeviceID: "demo-device-" + strings.SplitN(u.Email, "@", 2)[0],
		AccessLevels: []string{"accessPolicies/100/accessLevels/corp_network"},
	})
	if err != nil {
		http.Error(w, "minting the IAP assertion failed", http.StatusInternalServerError)
		return
	}
	r.Header.Set("X-Goog-Iap-Jwt-Assertion", assertion)
	r.Header.Set("X-Goog-Authenticated-User-Email", "accounts.google.com:"+u.Email)
	d.app.Handler.ServeHTTP(w, r)
}

type signinData struct {
	Users   []emulator.User
	Current string
	Next    string
}

// demoRole says, for the sign-in page, what a demo user can try.
func demoRole(email string) string {
	switch email {
	case "alice@example.com":
		return "SRE: logs (JIT) and compute admin (approval) in production; DB admin on payments (approval)"
	case "bob@example.com":
		return "SRE: approves alice's compute admin requests"
	case "carol@example.com":
		return "DBA: approves database and network requests"
	case "dave@example.com":
		return "Developer: Cloud SQL client on prod-payments-db (JIT); approves erin on prod-payments-api"
	case "erin@example.com":
		return "Payments developer (nested group): Cloud Run developer on prod-payments-api (approval)"
	case "frank@example.com":
		return "Security: IAM security reviewer anywhere (JIT, from the organization)"
	case "grace@example.com":
		return "Data analyst: BigQuery viewer (JIT) and export buckets (approval)"
	case "heidi@example.com":
		return "Manager: approves security and data warehouse requests"
	}
	return ""
}

func (d *Demo) signinPage(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	data := signinData{Users: d.Emulator.World.Users(), Next: next}
	if u, ok := d.user(r); ok {
		data.Current = u.Email
	}
	render(w, signinTemplate, data)
}

func (d *Demo) signin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	email := r.PostForm.Get("email")
	known := slices.ContainsFunc(d.Emulator.World.Users(), func(u emulator.User) bool { return u.Email == email })
	if !known {
		http.Error(w, "unknown demo user", http.StatusBadRequest)
		return
	}
	// Not Secure: the demo serves plain HTTP on loopback.
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: email, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode}) //nolint:gosec // see above
	http.Redirect(w, r, localPath(r.PostForm.Get("next")), http.StatusSeeOther)                                                   //nolint:gosec // localPath keeps the redirect on this site
}

// localPath returns next when it is a path on this site, else "/": no
// open redirect through //host, /\host or a scheme.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	return next
}

func (d *Demo) signout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode}) //nolint:gosec // plain HTTP on loopback
	http.Redirect(w, r, "/_demo/signin", http.StatusSeeOther)
}

type iamBinding struct {
	Role, Members, Condition, Window string
	Activation, Active               bool
}

type iamResource struct {
	Name     string
	Bindings []iamBinding
}

func (d *Demo) iamViewer(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	var resources []iamResource
	names := []string{}
	for _, o := range d.Emulator.World.Organizations() {
		names = append(names, o.Name)
	}
	for _, f := range d.Emulator.World.Folders() {
		names = append(names, f.Name)
	}
	for _, p := range d.Emulator.World.Projects() {
		names = append(names, "projects/"+p.ID)
	}
	for _, name := range names {
		p, _ := d.Emulator.World.Policy(name)
		res := iamResource{Name: name}
		for _, b := range p.Bindings {
			ib := iamBinding{Role: b.Role, Members: strings.Join(b.Members, ", ")}
			if c := b.Condition; c != nil {
				ib.Condition = c.Title + ": " + c.Expression
				if win, ok := condition.ParseActivation(c.Title, c.Expression); ok {
					ib.Activation, ib.Active = true, win.Active(now)
					switch {
					case win.Active(now):
						ib.Window = "active, " + win.End.Sub(now).Truncate(time.Second).String() + " left"
					case win.Expired(now):
						ib.Window = "expired " + now.Sub(win.End).Truncate(time.Minute).String() + " ago"
					default:
						ib.Window = "starts in " + win.Start.Sub(now).Truncate(time.Second).String()
					}
				}
			}
			res.Bindings = append(res.Bindings, ib)
		}
		sort.SliceStable(res.Bindings, func(i, j int) bool { return res.Bindings[i].Activation && !res.Bindings[j].Activation })
		resources = append(resources, res)
	}
	render(w, iamTemplate, resources)
}

func (d *Demo) info(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"url":        d.URL,
		"users":      d.Emulator.World.Users(),
		"emulator":   d.Emulator.Endpoints(),
		"smtp":       d.Outbox.Addr(),
		"userHeader": HeaderUser,
	})
}

func render(w http.ResponseWriter, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		http.Error(w, "rendering failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", demoCSP)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

const bar = `<header class="demo-bar"><strong>jitaccess demo</strong> <a href="/">App</a> <a href="/_demo/signin">Switch user</a> <a href="/_demo/outbox">Outbox</a> <a href="/_demo/iam">IAM viewer</a></header>`

var signinTemplate = template.Must(template.New("signin").Funcs(template.FuncMap{"role": demoRole}).Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in · jitaccess demo</title>
<link rel="stylesheet" href="/_demo/static/demo.css"></head><body>` + bar + `<main>
<h1>Sign in to the demo</h1>
<p>This page stands in for Identity-Aware Proxy. Pick a user of the demo company, Example Corp; the simulator then signs every request as that user with a real IAP assertion, which the app verifies.</p>
{{if .Current}}<p id="current-user">Signed in as <strong>{{.Current}}</strong>.</p>{{end}}
<ul class="demo-users">{{range .Users}}
<li><form method="post" action="/_demo/signin"><input type="hidden" name="email" value="{{.Email}}"><input type="hidden" name="next" value="{{$.Next}}">
<button type="submit" class="demo-user" data-email="{{.Email}}"><span class="demo-user-name">{{.DisplayName}}</span>
<span class="demo-user-title">{{.Title}} · {{.Email}}</span><span class="demo-user-roles">{{role .Email}}</span></button></form></li>{{end}}
</ul></main></body></html>`))

var iamTemplate = template.Must(template.New("iam").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="refresh" content="10"><title>IAM viewer · jitaccess demo</title>
<link rel="stylesheet" href="/_demo/static/demo.css"></head><body>` + bar + `<main>
<h1>IAM policies</h1><p>The emulated Google Cloud's policies, as they are now (this page refreshes every 10 seconds). Bindings written by jitaccess come first.</p>
{{range .}}<section class="demo-resource" id="resource-{{.Name}}"><h2>{{.Name}}</h2>{{if .Bindings}}
<table class="demo-table"><thead><tr><th>Role</th><th>Members</th><th>Condition</th></tr></thead><tbody>
{{range .Bindings}}<tr class="{{if .Active}}demo-active{{else if .Activation}}demo-expired{{end}}" {{if .Activation}}data-testid="activation-binding"{{end}}>
<td>{{.Role}}</td><td>{{.Members}}</td><td>{{if .Window}}<strong>{{.Window}}</strong><br>{{end}}<code>{{.Condition}}</code></td></tr>{{end}}
</tbody></table>{{else}}<p>No bindings.</p>{{end}}</section>{{end}}
</main></body></html>`))
