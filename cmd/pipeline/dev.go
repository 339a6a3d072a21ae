package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/app"
	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/emulator"
	"github.com/dmfpipe/dmfpipe/examples"
	"github.com/dmfpipe/dmfpipe/internal/devstack"
	"github.com/dmfpipe/dmfpipe/migrations"
)

// The example projects `pipeline dev` imports, with their sample files (embedded).
var devImports = []struct{ project, file string }{
	{"customers-csv", "data/inbox/customers/customers_20261125.csv"},
	{"vendors-xlsx", "data/inbox/vendors/vendors_20261125.xlsx"},
	{"products-json", "data/inbox/products/products_20261125.json"},
}

// devExport is the example export project `pipeline dev` runs after the imports: the
// customers it imported, out again; the emulator gets its export project.
var devExport = struct{ project, group, entity string }{"customers-export", "DMFPIPE-EXPORT-CUSTOMERS", "Customers V3"}

// devConfigName is the example config pointed at this run's Postgres and emulator.
const devConfigName = "dev.yaml"

func newDevCmd() *cobra.Command {
	var (
		dir               string
		exit, keep, serve bool
		addr              string
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run dmfpipe locally on its embedded defaults: Postgres, the emulator, sample imports, the console",
		Long: `dev starts everything dmfpipe needs on this machine, with nothing to configure:

  - a throwaway PostgreSQL cluster (the machine's initdb/pg_ctl) with the schema migrated,
  - the F&O DMF emulator on a free loopback port,
  - the example config and sample files, written to the work folder,

then runs the example import projects end to end on their sample files (a Windows-1252
CSV, an XLSX workbook and a nested JSON feed): read, map, validate, stage, package,
upload, ImportFromPackage, status polling; then exports the imported customers again
(customers-export: ExportToPackage, the package downloaded and written as CSV with a
manifest to data/outbox), and prints what it did.

Then it imports a larger sample of customers (2,000 rows, some invalid by the
project's rules, some that the emulator rejects as F&O would), which ends partially
succeeded and emails its notification to a Mailpit started for the run (built from
tools/mailpit the first time; its inbox URL is printed), and serves the operator
console on --addr (127.0.0.1:8080, or a free port when that one is taken) until
Ctrl-C, with the emulator and Postgres: it prints the console's URL and a login (user
dev, an admin, with a new password each run). Open the job there to review its
errors, fix rows, set some aside and resubmit them.

--exit runs the first three imports, prints the summary and stops instead (for
scripts and CI; exit status 1 when one of them does not succeed). Everything is
stopped and removed when dev ends (--keep leaves the work folder).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd, devOptions{dir: dir, exit: exit, keep: keep, addr: addr})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "", "work folder (default: a new temporary folder)")
	fl.BoolVar(&exit, "exit", false, "run the sample imports, print the summary and stop (no console)")
	fl.BoolVar(&keep, "keep", false, "keep the work folder (config, sample files, Postgres data) afterwards")
	fl.StringVar(&addr, "addr", config.DefaultConsoleAddr, "the console's listen address (a free loopback port when it is taken)")
	fl.BoolVar(&serve, "serve", false, "kept for scripts: dev serves until Ctrl-C unless --exit")
	_ = fl.MarkHidden("serve")
	return cmd
}

// devOptions are dev's flags.
type devOptions struct {
	dir        string
	exit, keep bool
	addr       string
}

func runDev(cmd *cobra.Command, o devOptions) (err error) {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	started := time.Now()
	dir, keep, serve := o.dir, o.keep, !o.exit
	if dir == "" {
		if dir, err = os.MkdirTemp("", "dmfpipe-dev-"); err != nil {
			return err
		}
		if !keep {
			defer os.RemoveAll(dir)
		}
	}
	// Postgres runs as an unprivileged user when we are root: it must reach the folder.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}

	fmt.Fprintln(out, "==> starting PostgreSQL")
	pgDir := filepath.Join(dir, "postgres")
	if err := os.MkdirAll(pgDir, 0o755); err != nil {
		return err
	}
	pg := devstack.NewPostgres("")
	if err := pg.Start(ctx, pgDir); err != nil {
		return fmt.Errorf("starting PostgreSQL: %w", err)
	}
	defer func() { err = errors.Join(err, pg.Stop()) }()
	// The console's workers (every cluster queue) want more than the default pool.
	pool, err := app.OpenDB(ctx, pg.URL(), 2*config.DefaultMaxConns)
	if err != nil {
		return err
	}
	defer pool.Close()
	steps, err := migrations.Up(ctx, pool, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "    %s (%d migrations applied)\n", pg.URL(), len(steps))

	fmt.Fprintln(out, "==> starting the F&O emulator")
	emCfg := emulator.Config{}
	if serve {
		if emCfg.Catalog, err = devEmulatorCatalog(); err != nil {
			return err
		}
	}
	em := emulator.New(emCfg)
	defer em.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: em, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "    %s\n", base)

	if err := writeDevFiles(dir); err != nil {
		return err
	}
	var (
		consoleLn net.Listener
		login     devLogin
	)
	if serve {
		if consoleLn, err = listenConsole(o.addr); err != nil {
			return err
		}
		defer consoleLn.Close()
		if login, err = newDevLogin(); err != nil {
			return err
		}
		if err := writeReviewSample(dir); err != nil {
			return err
		}
	}
	var mail *devstack.Mailpit
	if serve {
		// The review sample's notification goes to Mailpit, where its link into the
		// console can be followed.
		fmt.Fprintln(out, "==> starting Mailpit (built from tools/mailpit the first time: about a minute)")
		if mail, err = startDevMailpit(ctx, dir); err != nil {
			fmt.Fprintf(out, "    not started (%v): the review job's notification will not be sent\n", err)
		} else {
			defer func() { err = errors.Join(err, mail.Stop()) }()
			fmt.Fprintf(out, "    %s (SMTP %s)\n", mail.APIURL(), mail.SMTPAddr())
		}
	}
	cfgPath := filepath.Join(dir, devConfigName)
	if err := writeDevConfig(dir, cfgPath, pg.URL(), base, mail, consoleLn, login); err != nil {
		return err
	}
	fmt.Fprintf(out, "    config %s\n", cfgPath)

	runImport := func(imp struct{ project, file string }) error {
		fmt.Fprintf(out, "==> pipeline run %s --file %s\n", imp.project, imp.file)
		root := newRootCmd()
		root.SetOut(out)
		root.SetErr(cmd.ErrOrStderr())
		root.SetArgs([]string{"run", "-c", cfgPath, imp.project, "--file", filepath.Join(dir, imp.file)})
		return root.ExecuteContext(ctx)
	}
	for _, imp := range devImports {
		if err := runImport(imp); err != nil {
			return fmt.Errorf("sample import of %s: %w", imp.project, err)
		}
	}
	em.AddExportProject(emulator.ExportProject{DefinitionGroup: devExport.group, Entity: devExport.entity, LegalEntity: "USMF"})
	if err := os.MkdirAll(filepath.Join(dir, "data", "outbox"), 0o755); err != nil {
		return err
	}
	fmt.Fprintf(out, "==> pipeline export %s\n", devExport.project)
	root := newRootCmd()
	root.SetOut(out)
	root.SetErr(cmd.ErrOrStderr())
	root.SetArgs([]string{"export", "-c", cfgPath, devExport.project})
	if err := root.ExecuteContext(ctx); err != nil {
		return fmt.Errorf("sample export of %s: %w", devExport.project, err)
	}
	if serve {
		// Rows wait for review in the console: what this sample is for.
		var ee *exitError
		err := runImport(devReviewImport)
		if !errors.As(err, &ee) || ee.code != exitPartial {
			if err == nil {
				err = errors.New("every row was imported")
			}
			return fmt.Errorf("the review sample (%s) did not end partially succeeded: %w", devReviewImport.project, err)
		}
	}
	stats := em.Stats()
	fmt.Fprintf(out, "\ndmfpipe dev: done in %s\n", time.Since(started).Round(time.Millisecond))
	for _, e := range []struct{ entity, le string }{{"Customers V3", "USMF"}, {"Vendors V2", "USMF"}, {"Released products V2", "USMF"}} {
		fmt.Fprintf(out, "  %-22s %d rows in the emulator (%s)\n", e.entity, len(em.Rows(e.entity, e.le)), e.le)
	}
	fmt.Fprintf(out, "  emulator               %s  (%d requests, %d protocol violations)\n  database               %s\n",
		base, totalRequests(stats), len(stats.ProtocolViolations), pg.URL())
	if mail != nil {
		fmt.Fprintf(out, "  mail (Mailpit)         %s  (the review job's notification)\n", mail.APIURL())
	}
	if keep || serve {
		fmt.Fprintf(out, "  work folder            %s\n", dir)
	}
	if len(stats.ProtocolViolations) > 0 {
		return fmt.Errorf("the emulator saw protocol violations: %v", stats.ProtocolViolations)
	}
	if !serve {
		return nil
	}
	return serveDevConsole(cmd, cfgPath, pool, consoleLn, login)
}

func totalRequests(s emulator.Stats) int {
	n := 0
	for _, c := range s.Requests {
		n += int(c)
	}
	return n
}

// writeDevFiles copies the embedded example files into dir.
func writeDevFiles(dir string) error {
	return fs.WalkDir(examples.Files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		in, err := examples.Files.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		f, err := os.Create(dst)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, in); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
}

// startDevMailpit starts Mailpit, built from the checkout's pinned module, with its
// database in dir/mailpit.
func startDevMailpit(ctx context.Context, dir string) (*devstack.Mailpit, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	repo, err := devstack.FindRepo(wd)
	if err != nil {
		return nil, err
	}
	mdir := filepath.Join(dir, "mailpit")
	if err := os.MkdirAll(mdir, 0o755); err != nil {
		return nil, err
	}
	m := repo.NewMailpit()
	if err := m.Start(ctx, mdir); err != nil {
		return nil, err
	}
	return m, nil
}

// writeDevConfig writes the embedded example config pointed at this run's Postgres,
// emulator and Mailpit (when started), with the console on ln (when serving) and its
// dev login.
func writeDevConfig(dir, path, dbURL, base string, mail *devstack.Mailpit, ln net.Listener, login devLogin) error {
	example, err := os.ReadFile(filepath.Join(dir, "pipeline.yaml"))
	if err != nil {
		return err
	}
	pairs := []string{examplesDatabaseURL, dbURL, examplesEmulatorURL, base}
	if mail != nil {
		pairs = append(pairs, examplesSMTPPort, fmt.Sprintf("port: %d\n", mail.SMTPPort))
	}
	cfg := strings.NewReplacer(pairs...).Replace(string(example))
	if !strings.Contains(cfg, dbURL) || !strings.Contains(cfg, base) || (mail != nil && !strings.Contains(string(example), examplesSMTPPort)) {
		return errors.New("the embedded example config no longer names the emulator, database and mail server it is pointed at")
	}
	if ln != nil {
		cfg += consoleConfig(ln, login)
	}
	return os.WriteFile(path, []byte("# Written by pipeline dev: examples/pipeline.yaml on this run's Postgres and emulator.\n"+cfg), 0o600)
}

// What the example config names, replaced by this run's services.
const (
	examplesDatabaseURL = "${env:PIPELINE_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/dmfpipe?sslmode=disable}"
	examplesEmulatorURL = "http://127.0.0.1:8089"
	examplesSMTPPort    = "port: 1025\n"
)
