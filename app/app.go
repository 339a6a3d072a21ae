// Package app is dmfpipe's composition root: it turns a loaded configuration into the
// running parts, built once per process and shared by every command and the console:
// the compiled import projects, one DMF client per F&O environment (with the
// environment's request limit shared by everything in the process), the sources behind
// the connections, the notifier, and the database pool. Commands take their parts from
// an App and keep only flags, output and exit codes.
//
// Construction has no side effects: New compiles nothing and connects nowhere; every
// part is built on first use (a project's mapping on the first step that needs it, a DMF
// client on the first call, a pool in OpenDB), so that a command uses only what it needs
// (`pipeline dmf status` never compiles a mapping). CompileAll checks every project at
// once, for `check` and `serve`.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/exports"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/notify"

	// The source backends a connection may name.
	_ "github.com/dmfpipe/dmfpipe/ingest/azblob"
	_ "github.com/dmfpipe/dmfpipe/ingest/local"
	"github.com/dmfpipe/dmfpipe/ingest/pattern"
	_ "github.com/dmfpipe/dmfpipe/ingest/sftp"
)

// Options tune what New builds.
type Options struct {
	// Catalog is the entity catalog. Defaults to catalog.Default().
	Catalog *catalog.Catalog
	// Logger receives the parts' logs (DMF retries, throttling). Defaults to discarding.
	Logger *slog.Logger
	// DMFOptions, when set, adjusts each environment's client options before the client
	// is built (a foreground run reports retries as they happen and fails fast on errors
	// retrying will not cure; tests shorten the backoff).
	DMFOptions func(env string, o *dmf.Options)
}

// App is the running parts of one configuration.
type App struct {
	cfg  *config.Config
	cat  *catalog.Catalog
	log  *slog.Logger
	opts Options

	imp compiled[*imports.Project]
	exp compiled[*exports.Project] // exports.go

	mu       sync.Mutex
	clients  map[string]*dmf.Client
	notifier notify.Sender
	notifyOK bool
}

// New returns the parts of cfg; nothing is compiled or connected yet.
func New(cfg *config.Config, opts Options) *App {
	a := &App{cfg: cfg, cat: opts.Catalog, log: opts.Logger, opts: opts,
		clients: map[string]*dmf.Client{}}
	if a.cat == nil {
		a.cat = catalog.Default()
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a
}

// Config is the configuration the parts are built from.
func (a *App) Config() *config.Config { return a.cfg }

// Catalog is the entity catalog.
func (a *App) Catalog() *catalog.Catalog { return a.cat }

// Logger is the parts' logger.
func (a *App) Logger() *slog.Logger { return a.log }

// ErrUnknownProject is returned (wrapped) for a project name that is not in the
// configuration.
var ErrUnknownProject = errors.New("no project")

// Project returns a configured project by name; the error names the projects there are.
func (a *App) Project(name string) (*config.Project, error) {
	names := make([]string, 0, len(a.cfg.Projects))
	for _, p := range a.cfg.Projects {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	hint := ""
	if c := config.Closest(name, names); c != "" {
		hint = fmt.Sprintf("; did you mean %s?", c)
	}
	return nil, fmt.Errorf("%w %q (projects: %s)%s", ErrUnknownProject, name, strings.Join(names, ", "), hint)
}

// ImportProject compiles an import project of the configuration (once) and returns it:
// an error wrapping imports.ErrUnknownProject when the configuration has no import
// project of that name, config.Problems when it does not compile (the project is then
// returned too, with its settings and version only: finding files needs no mapping).
func (a *App) ImportProject(name string) (*imports.Project, error) {
	p, err := a.Compile(name)
	var probs config.Problems
	if errors.As(err, &probs) {
		cp, _ := a.Project(name)
		p := &imports.Project{Project: cp, Version: cp.Fingerprint()}
		if cp.Source != nil {
			p.Pattern, _ = pattern.Parse(cp.Source.Pattern) // nil for a bad one: among the problems
		}
		return p, err
	}
	return p, err
}

// Compile compiles an import project of the configuration, once; the problems of one
// that does not compile are located in the config.
func (a *App) Compile(name string) (*imports.Project, error) {
	cp, err := a.Project(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", imports.ErrUnknownProject, err)
	}
	if cp.Kind != "import" {
		return nil, fmt.Errorf("project %s is an %s project; only imports map files: %w", name, cp.Kind, imports.ErrUnknownProject)
	}
	return a.imp.get(name, func() (*imports.Project, config.Problems) { return imports.Compile(cp, a.cat) })
}

// CompileAll compiles every import and export project and returns every problem, in file
// order. Projects whose target or destination is missing are left to config validation,
// which reports them.
func (a *App) CompileAll() config.Problems {
	var probs config.Problems
	for _, p := range a.cfg.Projects {
		if p.Kind != "import" || p.Target == nil || p.Target.Entity == "" || len(p.Mapping) == 0 {
			continue
		}
		var ps config.Problems
		if _, err := a.Compile(p.Name); errors.As(err, &ps) {
			probs = append(probs, ps...)
		}
	}
	return append(probs, a.compileExports()...)
}

// Environment returns a configured F&O environment by name; "" names the only one.
func (a *App) Environment(name string) (*config.Environment, error) {
	known := make([]string, 0, len(a.cfg.Environments))
	for n := range a.cfg.Environments {
		known = append(known, n)
	}
	slices.Sort(known)
	if name == "" {
		if len(known) != 1 {
			return nil, fmt.Errorf("the config defines %d environments: name one (%s)", len(known), strings.Join(known, ", "))
		}
		name = known[0]
	}
	env, ok := a.cfg.Environments[name]
	if !ok {
		return nil, fmt.Errorf("environment %q is not in the config (known: %s)", name, strings.Join(known, ", "))
	}
	return env, nil
}

// DMF returns the client of an F&O environment ("" for the only one), built on first use
// and shared by the process: the environment's request limit covers every caller.
func (a *App) DMF(env string) (*dmf.Client, error) {
	e, err := a.Environment(env)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.clients[e.Name]; ok {
		return c, nil
	}
	opts := dmf.Options{
		BaseURL:              e.URL,
		Tenant:               e.Tenant,
		ClientID:             e.ClientID,
		ClientSecret:         e.ClientSecret.Value(),
		TokenURL:             e.TokenURL,
		TokenVersion:         e.TokenVersion,
		MaxRequestsPerMinute: e.MaxRequestsPerMinute,
		Logger:               a.log,
		Poll:                 dmf.PollOptions{Initial: e.Poll.Initial.D(), Max: e.Poll.Max.D(), Deadline: e.Poll.Deadline.D()},
	}
	if a.opts.DMFOptions != nil {
		a.opts.DMFOptions(e.Name, &opts)
	}
	c, err := dmf.New(opts)
	if err != nil {
		return nil, fmt.Errorf("environment %s: %w", e.Name, err)
	}
	a.clients[e.Name] = c
	return c, nil
}

// Source opens the source of a connection by name. imports.LocalFiles, the connection
// `run --file` reads local files through, needs no configuration.
func (a *App) Source(ctx context.Context, connection string) (ingest.Source, error) {
	cn, ok := a.cfg.Connections[connection]
	if connection == imports.LocalFiles {
		cn, ok = &config.Connection{Name: imports.LocalFiles, Type: "local", Root: "/"}, true
	}
	if !ok {
		return nil, fmt.Errorf("connection %q is not in the configuration", connection)
	}
	return ingest.OpenSource(ctx, cn)
}

// Notifier sends each job's notification to its project's email recipients and webhook;
// nil when no project asks for notifications.
func (a *App) Notifier() notify.Sender {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.notifyOK {
		return a.notifier
	}
	a.notifyOK = true
	senders := map[string]notify.Sender{}
	for _, p := range a.cfg.Projects {
		if p.Notify == nil {
			continue
		}
		var multi notify.Multi
		if len(p.Notify.Email) > 0 && a.cfg.SMTP != nil {
			multi = append(multi, &notify.Email{SMTP: *a.cfg.SMTP, To: p.Notify.Email})
		}
		if !p.Notify.Webhook.IsZero() {
			multi = append(multi, &notify.Webhook{URL: p.Notify.Webhook})
		}
		if len(multi) > 0 {
			senders[p.Name] = multi
		}
	}
	if len(senders) > 0 {
		a.notifier = byProject(senders)
	}
	return a.notifier
}

// byProject routes a notification to its project's senders.
type byProject map[string]notify.Sender

func (b byProject) Send(ctx context.Context, j notify.Job) error {
	s, ok := b[j.Project]
	if !ok {
		return &notify.Error{Channel: notify.ChannelEmail, Permanent: true, Err: fmt.Errorf("project %s has no notification configured", j.Project)}
	}
	return s.Send(ctx, j)
}

// ErrNoDatabase is returned by OpenDB when neither the config nor the caller names a
// database.
var ErrNoDatabase = errors.New("no database: set database.url in the config or pass --database-url")

// ErrBadDatabaseURL is returned by OpenDB for a URL that does not parse; it never echoes
// the URL, which may hold a password.
var ErrBadDatabaseURL = errors.New("database url is not a valid Postgres URL or keyword/value string")

// OpenDB connects to the configured database (or url, when set), with the configured
// pool size, and checks that it answers.
func (a *App) OpenDB(ctx context.Context, url string) (*pgxpool.Pool, error) {
	if url == "" {
		url = a.cfg.Database.URL.Value()
	}
	return OpenDB(ctx, url, a.cfg.Database.MaxConns)
}

// OpenDB connects to the database at url with a pool of maxConns (config.DefaultMaxConns
// when 0) and checks that it answers.
func OpenDB(ctx context.Context, url string, maxConns int) (*pgxpool.Pool, error) {
	if url == "" {
		return nil, ErrNoDatabase
	}
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, ErrBadDatabaseURL
	}
	if maxConns <= 0 {
		maxConns = config.DefaultMaxConns
	}
	pc.MaxConns = int32(maxConns)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connecting to the database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to the database at %s:%d: %w", pc.ConnConfig.Host, pc.ConnConfig.Port, err)
	}
	return pool, nil
}
