package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
	"github.com/go-chi/httprate"
	"github.com/jackc/pgx/v5/pgxpool"
	"riverqueue.com/riverui"

	"github.com/dmfpipe/dmfpipe/app"
	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/internal/argon2id"
	"github.com/dmfpipe/dmfpipe/worker"
)

//go:embed static templates
var assets embed.FS

// Options are what a Console is built from.
type Options struct {
	// App is the configuration's parts (projects, sources). Required.
	App *app.App
	// Pool is the database. Required.
	Pool *pgxpool.Pool
	// Worker provides the import stages and the River client. Required.
	Worker *worker.Worker
	// Logger receives the console's errors. Defaults to discarding.
	Logger *slog.Logger
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// LoginsPerMinute caps the login attempts per client address and per user name.
	// Defaults to 10.
	LoginsPerMinute int
}

// Route is one route of the console: a method and a ServeMux pattern, and the least
// role that may call it ("" for a route anyone may call: the login form).
type Route struct {
	Method  string
	Pattern string
	Role    string
}

// Mutating reports whether the route changes something (anything but GET).
func (r Route) Mutating() bool { return r.Method != http.MethodGet }

// Console is the operator console's handler.
type Console struct {
	opts     Options
	cfg      *config.Config
	log      *slog.Logger
	now      func() time.Time
	stages   *imports.Stages
	mux      *http.ServeMux
	routes   []Route
	sessions *scs.SessionManager
	store    *pgxstore.PostgresStore
	pages    map[string]*template.Template
	users    map[string]*user
	tokens   []apiToken

	loginByIP, loginByName *httprate.RateLimiter

	riverAdmin, riverRead *riverui.Handler
	handler               http.Handler
}

type user struct {
	name, role string
	hash       *argon2id.Hashed
}

type apiToken struct {
	name, role, secret string
}

// New builds the console; it connects nowhere until Start.
func New(o Options) (*Console, error) {
	if o.App == nil || o.Pool == nil || o.Worker == nil {
		return nil, errors.New("console: the app, the pool and the worker are required")
	}
	c := &Console{opts: o, cfg: o.App.Config(), log: o.Logger, now: o.Now, stages: o.Worker.Stages(),
		mux: http.NewServeMux(), users: map[string]*user{}}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	perMinute := o.LoginsPerMinute
	if perMinute <= 0 {
		perMinute = 10
	}
	c.loginByIP = httprate.NewRateLimiter(perMinute, time.Minute)
	c.loginByName = httprate.NewRateLimiter(perMinute, time.Minute)
	cc := &c.cfg.Console
	for _, u := range cc.Users {
		cu := &user{name: u.Name, role: u.Role}
		if u.PasswordHash != "" {
			h, err := argon2id.Parse(u.PasswordHash)
			if err != nil {
				return nil, fmt.Errorf("console user %s: %w", u.Name, err)
			}
			cu.hash = h
		}
		c.users[strings.ToLower(u.Name)] = cu
	}
	for _, t := range cc.APITokens {
		c.tokens = append(c.tokens, apiToken{name: t.Name, role: t.Role, secret: t.Token.Value()})
	}

	c.sessions = scs.New()
	c.sessions.Lifetime = cc.SessionTTL.D()
	if c.sessions.Lifetime <= 0 {
		c.sessions.Lifetime = config.DefaultSessionTTL
	}
	c.sessions.Cookie.Name = "dmfpipe_session"
	c.sessions.Cookie.HttpOnly = true
	c.sessions.Cookie.SameSite = http.SameSiteLaxMode
	c.sessions.Cookie.Secure = cc.SecureCookies == nil || *cc.SecureCookies
	c.sessions.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		c.log.Error("console session", "err", err)
		http.Error(w, "the session store is unavailable", http.StatusInternalServerError)
	}

	var err error
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	client := o.Worker.Client()
	for _, hide := range []bool{false, true} {
		h, err := riverui.NewHandler(&riverui.HandlerOpts{Endpoints: riverui.NewEndpoints(client, nil), Logger: c.log,
			Prefix: riverPrefix, JobListHideArgsByDefault: hide})
		if err != nil {
			return nil, fmt.Errorf("console: River's UI: %w", err)
		}
		if hide {
			c.riverRead = h
		} else {
			c.riverAdmin = h
		}
	}
	c.register()
	c.mux.Handle(riverPrefix+"/", c.riverUI())
	// The embedded assets need no session: they are served without reading one.
	static, _ := fs.Sub(assets, "static")
	top := http.NewServeMux()
	top.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(time.Hour, http.FileServerFS(static))))
	top.Handle("/", c.sessions.LoadAndSave(c.mux))

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusForbidden, "cross-origin request refused: changes are made from the console's own pages")
	}))
	if cc.BaseURL != "" {
		// Behind a proxy that rewrites the Host, the console's public origin is still its own.
		if err := cop.AddTrustedOrigin(originOf(cc.BaseURL)); err != nil {
			return nil, fmt.Errorf("console: base_url: %w", err)
		}
	}
	c.handler = securityHeaders(cop.Handler(top))
	return c, nil
}

// riverPrefix is where River's UI is mounted.
const riverPrefix = "/riverui"

// Start starts what the console runs in the background: the session store's cleanup and
// River's UI.
func (c *Console) Start(ctx context.Context) error {
	c.store = pgxstore.New(c.opts.Pool)
	c.sessions.Store = c.store
	for _, h := range []*riverui.Handler{c.riverAdmin, c.riverRead} {
		if err := h.Start(ctx); err != nil {
			return fmt.Errorf("console: starting River's UI: %w", err)
		}
	}
	return nil
}

// Stop stops the session store's cleanup.
func (c *Console) Stop() {
	if c.store != nil {
		c.store.StopCleanup()
	}
}

// ServeHTTP serves the console.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c.store == nil {
		http.Error(w, "the console is not started", http.StatusServiceUnavailable)
		return
	}
	c.handler.ServeHTTP(w, r)
}

// Routes lists the console's own routes (River's UI aside), in registration order.
func (c *Console) Routes() []Route { return slices.Clone(c.routes) }

// route registers h for method and pattern, for role and above ("" for anyone).
func (c *Console) route(method, pattern, role string, h http.HandlerFunc) {
	c.routes = append(c.routes, Route{Method: method, Pattern: pattern, Role: role})
	c.mux.Handle(method+" "+pattern, c.authorize(role, h))
}

func (c *Console) register() {
	get := func(pattern, role string, h http.HandlerFunc) { c.route(http.MethodGet, pattern, role, h) }
	post := func(pattern string, h http.HandlerFunc) { c.route(http.MethodPost, pattern, config.RoleOperator, h) }

	get("/login", "", c.loginPage)
	c.route(http.MethodPost, "/login", "", c.login)
	c.route(http.MethodPost, "/logout", config.RoleViewer, c.logout)
	get("/{$}", config.RoleViewer, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/jobs", http.StatusSeeOther)
	})

	// Pages.
	get("/jobs", config.RoleViewer, c.page("jobs", c.jobsView))
	get("/jobs/{job}", config.RoleViewer, c.page("job", c.jobView))
	get("/jobs/{job}/source", config.RoleViewer, c.source)
	get("/jobs/{job}/errors", config.RoleViewer, c.page("review", c.reviewView))
	get("/jobs/{job}/errors/report", config.RoleViewer, c.errorReport)
	get("/jobs/{job}/rows/{row}", config.RoleViewer, c.page("row", c.rowView))
	get("/jobs/{job}/rows/{row}/edit", config.RoleOperator, c.rowEditForm)
	get("/jobs/{job}/actions/{entry}", config.RoleViewer, c.page("action", c.actionView))
	get("/projects", config.RoleViewer, c.page("projects", c.projectsView))
	post("/jobs/{job}/retry", c.form(c.doRetry))
	post("/jobs/{job}/cancel", c.form(c.doCancel))
	post("/jobs/{job}/resubmit", c.form(c.doResubmit))
	post("/jobs/{job}/rows/{row}", c.editRowForm)
	post("/jobs/{job}/rows/{row}/reject", c.form(c.doRejectRow))
	post("/jobs/{job}/actions", c.form(c.doBulk))
	post("/projects/{project}/pause", c.form(c.doPause))
	post("/projects/{project}/resume", c.form(c.doResume))
	post("/projects/{project}/run-now", c.form(c.doRunNow))

	// The JSON API: the same views and actions.
	get("/api/v1/me", config.RoleViewer, c.api(c.meView))
	get("/api/v1/jobs", config.RoleViewer, c.api(c.jobsView))
	get("/api/v1/jobs/{job}", config.RoleViewer, c.api(c.jobView))
	get("/api/v1/jobs/{job}/errors", config.RoleViewer, c.api(c.reviewView))
	get("/api/v1/jobs/{job}/errors/report", config.RoleViewer, c.errorReport)
	get("/api/v1/jobs/{job}/rows/{row}", config.RoleViewer, c.api(c.rowView))
	get("/api/v1/jobs/{job}/actions/{entry}", config.RoleViewer, c.api(c.actionView))
	get("/api/v1/projects", config.RoleViewer, c.api(c.projectsView))
	post("/api/v1/jobs/{job}/retry", c.apiAction(c.doRetry))
	post("/api/v1/jobs/{job}/cancel", c.apiAction(c.doCancel))
	post("/api/v1/jobs/{job}/resubmit", c.apiAction(c.doResubmit))
	post("/api/v1/jobs/{job}/rows/{row}", c.apiAction(c.doEditRow))
	post("/api/v1/jobs/{job}/rows/{row}/reject", c.apiAction(c.doRejectRow))
	post("/api/v1/jobs/{job}/actions", c.apiAction(c.doBulk))
	post("/api/v1/projects/{project}/pause", c.apiAction(c.doPause))
	post("/api/v1/projects/{project}/resume", c.apiAction(c.doResume))
	post("/api/v1/projects/{project}/run-now", c.apiAction(c.doRunNow))
}

// cacheFor lets browsers keep the embedded assets for d.
func cacheFor(d time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(d.Seconds())))
		h.ServeHTTP(w, r)
	})
}

// securityHeaders keeps the console's pages to their own assets and out of frames.
// River's UI brings its own bundle and is left its defaults.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, riverPrefix+"/") {
			hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
			hd.Set("X-Frame-Options", "DENY")
		}
		h.ServeHTTP(w, r)
	})
}

// originOf is the scheme and host of an absolute URL.
func originOf(u string) string {
	scheme, rest, _ := strings.Cut(u, "://")
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}
