package demo

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
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
	// Another site must not sign a visitor in as someone else (login CSRF).
	cop := http.NewCrossOriginProtection()
	mux.Handle("POST /_demo/signin", cop.Handler(http.HandlerFunc(d.signin)))
	mux.Handle("POST /_demo/signout", cop.Handler(http.HandlerFunc(d.signout)))
	mux.HandleFunc("GET /_demo/signout", d.signout)
	mux.Handle("/_demo/outbox", demoHeaders(d.Outbox.Handler("/_demo/outbox")))
	mux.Handle("/_demo/outbox/", demoHeaders(d.Outbox.Handler("/_demo/outbox")))
	mux.HandleFunc("GET /_demo/iam", d.iamViewer)
	mux.HandleFunc("GET /_demo/info", d.info)
	mux.HandleFunc("GET /_demo/metrics", d.metrics)
	mux.HandleFunc("GET /_demo/credentials", d.credentials)
	mux.HandleFunc("GET /_demo/token", d.token)
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
	if bearer, found := bearerToken(r); found {
		// Programmatic authentication, as IAP does it: an ID token for
		// IAP's OAuth client wins over the cookie, and a bad one is
		// refused rather than ignored.
		var msg string
		if u, msg = d.bearerUser(r, bearer); msg != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			b, _ := json.Marshal(map[string]string{"message": msg}) //nolint:errchkjson // a map of strings always marshals
			_, _ = w.Write(append(b, '\n'))
			return
		}
		ok = true
		r.Header.Del("Authorization")
		r.Header.Del("Proxy-Authorization")
	}
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
		Email: u.Email, Audience: d.audience, DeviceID: "demo-device-" + strings.SplitN(u.Email, "@", 2)[0],
		AccessLevels: []string{"accessPolicies/100/accessLevels/corp_network"},
	})
	if err != nil {
		http.Error(w, "minting the IAP assertion failed", http.StatusInternalServerError)
		return
	}
	r.Header.Del(HeaderUser) // IAP passes no such thing on
	r.Header.Set("X-Goog-Iap-Jwt-Assertion", assertion)
	r.Header.Set("X-Goog-Authenticated-User-Email", "accounts.google.com:"+u.Email)
	d.app.Handler.ServeHTTP(w, r)
}

type signinData struct {
	Users   []userAccess
	Current string
	Next    string
}

func (d *Demo) signinPage(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	data := signinData{Users: accessOf(d.Emulator.World), Next: next}
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
// open redirect through //host, /\host or a scheme, written plainly or
// hidden from a prefix check by characters browsers drop or decode (a
// tab or newline is removed from URLs, so "/\t/evil" is "//evil"; %2F
// and %5C decode to / and \).
func localPath(next string) string {
	if !safePathChars(next) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	if !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") || !safePathChars(u.Path) ||
		!strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	return next
}

// safePathChars refuses control characters, spaces and backslashes.
func safePathChars(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' })
}

func (d *Demo) signout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode}) //nolint:gosec // plain HTTP on loopback
	http.Redirect(w, r, "/_demo/signin", http.StatusSeeOther)
}

type iamBinding struct {
	Role, Members, Condition string
	Activation               *activationView
}

type iamResource struct {
	Name, DisplayName string
	Bindings          []iamBinding
}

// activationView is a binding jitaccess wrote, as the IAM viewer shows it.
type activationView struct {
	Resource, Role, Members, Description string
	Start, End                           time.Time
	State                                string // "active", "expired" or "pending"
	Remaining                            string // "59m30s left", "expired 5m ago", "starts in 1m"
}

type iamPage struct {
	Now         time.Time
	Activations []activationView
	Resources   []iamResource
}

// iamViewer shows every policy of the world as it is now, and the
// activation bindings across all of them first, so a person can watch a
// grant appear and later expire.
func (d *Demo) iamViewer(w http.ResponseWriter, r *http.Request) {
	world := d.Emulator.World
	page := iamPage{Now: world.Now().UTC()}
	var resources []iamResource
	for _, o := range world.Organizations() {
		resources = append(resources, iamResource{Name: o.Name, DisplayName: o.DisplayName})
	}
	for _, f := range world.Folders() {
		resources = append(resources, iamResource{Name: f.Name, DisplayName: f.DisplayName})
	}
	for _, p := range world.Projects() {
		resources = append(resources, iamResource{Name: "projects/" + p.ID, DisplayName: p.DisplayName})
	}
	for _, res := range resources {
		p, _ := world.Policy(res.Name)
		for _, b := range p.Bindings {
			ib := iamBinding{Role: b.Role, Members: strings.Join(b.Members, ", ")}
			if c := b.Condition; c != nil {
				ib.Condition = c.Title + ": " + c.Expression
				if win, ok := condition.ParseActivation(c.Title, c.Expression); ok {
					ib.Activation = describeActivation(page.Now, res.Name, b, win)
					page.Activations = append(page.Activations, *ib.Activation)
				}
			}
			res.Bindings = append(res.Bindings, ib)
		}
		page.Resources = append(page.Resources, res)
	}
	// The latest first: that is the one a person just made.
	sort.SliceStable(page.Activations, func(i, j int) bool { return page.Activations[i].Start.After(page.Activations[j].Start) })
	render(w, iamTemplate, page)
}

func describeActivation(now time.Time, resource string, b emulator.Binding, win condition.Window) *activationView {
	a := &activationView{
		Resource: resource, Role: b.Role, Members: strings.Join(b.Members, ", "),
		Description: b.Condition.Description, Start: win.Start.UTC(), End: win.End.UTC(),
	}
	switch {
	case win.Active(now):
		a.State, a.Remaining = "active", win.End.Sub(now).Truncate(time.Second).String()+" left"
	case win.Expired(now):
		a.State, a.Remaining = "expired", "expired "+roughly(now.Sub(win.End))+" ago"
	default:
		a.State, a.Remaining = "pending", "starts in "+win.Start.Sub(now).Truncate(time.Second).String()
	}
	return a
}

// roughly rounds long durations so that "expired 631 days ago" does not
// read as a stopwatch.
func roughly(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return strconv.Itoa(int(d/(24*time.Hour))) + " days"
	case d >= time.Hour:
		return d.Truncate(time.Minute).String()
	}
	return d.Truncate(time.Second).String()
}

func (d *Demo) info(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"url":        d.URL,
		"users":      d.Emulator.World.Users(),
		"emulator":   d.Emulator.Endpoints(),
		"smtp":       d.Outbox.Addr(),
		"userHeader": HeaderUser,
		// What jitctl needs: JITCTL_URL=url, JITCTL_AUDIENCE=iapClientId.
		"iapClientId": emulated.IAPClientID,
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

var signinTemplate = template.Must(template.New("signin").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in · jitaccess demo</title>
<link rel="stylesheet" href="/_demo/static/demo.css"></head><body>` + bar + `<main>
<h1>Sign in to the demo</h1>
<p>This page stands in for Identity-Aware Proxy. Pick a user of the demo company; the simulator then signs every request as that user with a real IAP assertion, which the app verifies. Each card lists the roles the user is eligible for.</p>
{{if .Current}}<p id="current-user">Signed in as <strong>{{.Current}}</strong>. <a href="/_demo/signout">Sign out</a></p>{{end}}
<ul class="demo-users">{{range .Users}}
<li><form method="post" action="/_demo/signin"><input type="hidden" name="email" value="{{.Email}}"><input type="hidden" name="next" value="{{$.Next}}">
<button type="submit" class="demo-user" data-email="{{.Email}}"><span class="demo-user-name">{{.DisplayName}}</span>
<span class="demo-user-title">{{if .Title}}{{.Title}} · {{end}}{{.Email}}</span>
{{if .SelfApproval}}<span class="demo-user-roles"><span class="demo-chip">Self-approval</span> {{range $i, $r := .SelfApproval}}{{if $i}}, {{end}}{{template "role" $r}}{{end}}</span>{{end}}
{{if .PeerApproval}}<span class="demo-user-roles"><span class="demo-chip demo-chip-mpa">Peer approval</span> {{range $i, $r := .PeerApproval}}{{if $i}}, {{end}}{{template "role" $r}}{{end}}</span>{{end}}
{{if not (or .SelfApproval .PeerApproval)}}<span class="demo-user-roles">No eligible roles: sees an empty list.</span>{{end}}
</button></form></li>{{end}}
</ul>
<p class="demo-note">Peer approval roles are approved by another user who is eligible for the same role. The choice is kept in a cookie; <a href="/_demo/signout">sign out</a> to clear it.</p>
</main></body></html>{{define "role"}}<span class="demo-role">{{.Role}}</span> on {{.Where}}{{if .Limited}} (some resources){{end}}{{end}}`))

var iamTemplate = template.Must(template.New("iam").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="refresh" content="10"><title>IAM viewer · jitaccess demo</title>
<link rel="stylesheet" href="/_demo/static/demo.css"></head><body>` + bar + `<main>
<h1>IAM policies</h1><p>The emulated Google Cloud's policies as they are at {{.Now.Format "15:04:05"}} UTC. This page refreshes every 10 seconds.</p>
<section class="demo-resource" id="activations"><h2>Activations written by jitaccess</h2>
{{if .Activations}}<table class="demo-table"><thead><tr><th>Resource</th><th>Role</th><th>Member</th><th>Window (UTC)</th><th>State</th><th>Description</th></tr></thead><tbody>
{{range .Activations}}<tr class="demo-{{.State}}" data-testid="activation-binding"><td>{{.Resource}}</td><td>{{.Role}}</td><td>{{.Members}}</td>
<td>{{.Start.Format "2006-01-02 15:04"}} – {{.End.Format "15:04"}}</td><td><strong>{{.Remaining}}</strong></td><td>{{.Description}}</td></tr>{{end}}
</tbody></table>{{else}}<p>None yet. Activate a role in the <a href="/">app</a> and it appears here.</p>{{end}}</section>
{{range .Resources}}<section class="demo-resource" id="resource-{{.Name}}"><h2>{{.Name}}{{if .DisplayName}} <span class="demo-muted">{{.DisplayName}}</span>{{end}}</h2>{{if .Bindings}}
<table class="demo-table"><thead><tr><th>Role</th><th>Members</th><th>Condition</th></tr></thead><tbody>
{{range .Bindings}}<tr{{with .Activation}} class="demo-{{.State}}-policy"{{end}}>
<td>{{.Role}}</td><td>{{.Members}}</td><td>{{with .Activation}}<strong>{{.Remaining}}</strong><br>{{end}}<code>{{.Condition}}</code></td></tr>{{end}}
</tbody></table>{{else}}<p>No bindings.</p>{{end}}</section>{{end}}
</main></body></html>`))
