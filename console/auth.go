package console

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-chi/httprate"

	"github.com/dmfpipe/dmfpipe/config"
)

// identity is who a request comes from.
type identity struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Via is how they were recognised: session, proxy or token.
	Via string `json:"via"`
}

// actor is how the audit trail names them.
func (id *identity) actor() string {
	if id.Via == "token" {
		return "token:" + id.Name
	}
	return id.Name
}

// can reports whether the identity holds role or a higher one.
func (id *identity) can(role string) bool {
	return id != nil && slices.Index(config.Roles, id.Role) >= slices.Index(config.Roles, role)
}

// CanChange is for the templates: may this user change data?
func (id *identity) CanChange() bool { return id.can(config.RoleOperator) }

// IsAdmin is for the templates.
func (id *identity) IsAdmin() bool { return id.can(config.RoleAdmin) }

type identityKey struct{}

func identityOf(ctx context.Context) *identity {
	id, _ := ctx.Value(identityKey{}).(*identity)
	return id
}

const sessionUser = "user"

// whoami recognises a request's identity: an API token (the JSON API only), the trusted
// proxy's header when configured, or the session. Nil when none.
func (c *Console) whoami(r *http.Request) *identity {
	if auth := r.Header.Get("Authorization"); auth != "" && strings.HasPrefix(r.URL.Path, "/api/") {
		secret, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			return nil
		}
		for _, t := range c.tokens {
			if subtle.ConstantTimeCompare([]byte(secret), []byte(t.secret)) == 1 {
				return &identity{Name: t.name, Role: t.role, Via: "token"}
			}
		}
		return nil
	}
	if h := c.cfg.Console.TrustedProxyHeader; h != "" {
		if u, ok := c.users[strings.ToLower(strings.TrimSpace(r.Header.Get(h)))]; ok {
			return &identity{Name: u.name, Role: u.role, Via: "proxy"}
		}
		return nil
	}
	// The role is read from the config at every request, so that a change of role (or a
	// user removed) applies to sessions already open.
	if u, ok := c.users[strings.ToLower(c.sessions.GetString(r.Context(), sessionUser))]; ok {
		return &identity{Name: u.name, Role: u.role, Via: "session"}
	}
	return nil
}

// authorize lets a request through to h when it comes from role or higher ("" lets
// anyone through).
func (c *Console) authorize(role string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := c.whoami(r)
		if id != nil {
			r = r.WithContext(context.WithValue(r.Context(), identityKey{}, id))
		}
		switch {
		case role == "":
		case id == nil && r.Method == http.MethodGet && !isAPI(r):
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		case id == nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="dmfpipe"`)
			c.fail(w, r, http.StatusUnauthorized, "sign in first (or send an API token: Authorization: Bearer <token>)")
			return
		case !id.can(role):
			c.fail(w, r, http.StatusForbidden, "your role ("+id.Role+") may not do this: it needs "+role)
			return
		}
		h(w, r)
	})
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

type loginData struct {
	Next, Name, Error string
	Proxy             bool
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if identityOf(r.Context()) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.render(w, r, http.StatusOK, "login", loginData{Next: r.URL.Query().Get("next"), Proxy: c.cfg.Console.TrustedProxyHeader != ""})
}

// login checks a user's password and opens their session. Attempts are limited per
// client address and per user name, so that guessing is slow whichever varies.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Console.TrustedProxyHeader != "" {
		c.fail(w, r, http.StatusNotFound, "the console signs users in through its proxy")
		return
	}
	name, password := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("password")
	next := r.PostFormValue("next")
	if c.loginByIP.RespondOnLimit(w, r, clientIP(r)) || c.loginByName.RespondOnLimit(w, r, strings.ToLower(name)) {
		return
	}
	u, ok := c.users[strings.ToLower(name)]
	if !ok || u.hash == nil || !u.hash.Check(password) {
		c.render(w, r, http.StatusUnauthorized, "login", loginData{Next: next, Name: name, Error: "Wrong name or password."})
		return
	}
	// A new token at login: a session id planted before it is worth nothing.
	if err := c.sessions.RenewToken(r.Context()); err != nil {
		c.internal(w, r, err)
		return
	}
	c.sessions.Put(r.Context(), sessionUser, u.name)
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if err := c.sessions.Destroy(r.Context()); err != nil {
		c.internal(w, r, err)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext is a path of this site to go to after a form, "/jobs" for anything else (an
// absolute URL, a scheme-relative //host).
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, `/\`) {
		return "/jobs"
	}
	return next
}

// clientIP is the address a request came from (the proxy's, behind one).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return httprate.CanonicalizeIP(host)
}

// riverUI serves River's UI: an admin's with job arguments shown and its actions
// (cancel, retry, delete, pause a queue) allowed; everyone else's read-only (GET and
// HEAD only) with job arguments hidden.
func (c *Console) riverUI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := c.whoami(r)
		switch {
		case id == nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) && !strings.HasPrefix(r.URL.Path, riverPrefix+"/api/"):
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		case id == nil:
			c.fail(w, r, http.StatusUnauthorized, "sign in first")
		case id.IsAdmin():
			c.riverAdmin.ServeHTTP(w, r)
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			c.fail(w, r, http.StatusForbidden, "River's UI is read-only for your role ("+id.Role+"): only an admin acts in it")
		case strings.HasPrefix(r.URL.Path, riverPrefix+"/api/jobs"):
			hideArgs(w, r, c.riverRead)
		default:
			c.riverRead.ServeHTTP(w, r)
		}
	})
}

// hideArgs serves River's job API with every job's arguments replaced by {}: the UI's
// JobListHideArgsByDefault only folds them away, and they may name customers or files.
func hideArgs(w http.ResponseWriter, r *http.Request, h http.Handler) {
	buf := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
	h.ServeHTTP(buf, r)
	body := buf.body.Bytes()
	var v any
	if strings.HasPrefix(buf.header.Get("Content-Type"), "application/json") && json.Unmarshal(body, &v) == nil {
		blankArgs(v)
		if b, err := json.Marshal(v); err == nil {
			body = b
		}
	}
	for k, vs := range buf.header {
		if k != "Content-Length" {
			w.Header()[k] = vs
		}
	}
	w.WriteHeader(buf.status)
	_, _ = w.Write(body)
}

// blankArgs replaces the value of every "args" key below v with "{}".
func blankArgs(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if _, isString := e.(string); k == "args" && isString {
				v[k] = "{}"
				continue
			}
			blankArgs(e)
		}
	case []any:
		for _, e := range v {
			blankArgs(e)
		}
	}
}

// bufferedResponse keeps a handler's response to rewrite it.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedResponse) WriteHeader(status int)      { b.status = status }
