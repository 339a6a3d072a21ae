package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/dmf/emulator"
)

type emulatorOptions struct {
	addr             string
	cfg              emulator.Config
	exportProjects   []string
	recurringImports []string
	recurringExports []string
	verbose          bool
}

func newEmulatorCmd() *cobra.Command {
	o := &emulatorOptions{}
	cmd := &cobra.Command{
		Use:   "emulator [--addr 127.0.0.1:8089]",
		Short: "Serve a local F&O Data Management Framework emulator",
		Long: `emulator serves a local stand-in for a Dynamics 365 F&O environment: the Entra ID
token endpoints, the data management package API, a blob endpoint for the SAS URLs, the
recurring integrations API and /metadata/DataEntities, with an entity catalog, real
package parsing and validation, and fault injection. It prints the settings to paste into
a config file and serves until interrupted. The inspection API is under /_emulator/.

Export projects: --export-project GROUP=ENTITY[,ENTITY...][@LE]
Recurring jobs:  --recurring-import ACTIVITY[=ENTITY][@LE] (no entity: data packages)
                 --recurring-export ACTIVITY=GROUP[@LE]`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			em, err := o.build(cmd.ErrOrStderr())
			if err != nil {
				return usageError(err)
			}
			return serveEmulator(cmd.Context(), cmd.OutOrStdout(), o.addr, em, o.cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8089", "listen address")
	f.StringVar(&o.cfg.Tenant, "tenant", emulator.DefaultTenant, "accepted Entra ID tenant")
	f.StringVar(&o.cfg.ClientID, "client-id", emulator.DefaultClientID, "accepted client ID")
	f.StringVar(&o.cfg.ClientSecret, "client-secret", emulator.DefaultClientSecret, "accepted client secret (a test secret)")
	f.StringVar(&o.cfg.DefaultLegalEntity, "legal-entity", emulator.DefaultLegalEntity, "company used when a call names none")
	f.DurationVar(&o.cfg.TokenTTL, "token-ttl", emulator.DefaultTokenTTL, "lifetime of issued tokens")
	f.DurationVar(&o.cfg.ExecutionDelay, "execution-delay", 0, "time spent in NotRun and again in Executing per execution")
	f.DurationVar(&o.cfg.MinStatusInterval, "min-status-interval", 0, "flag as protocol violations status calls of one execution closer than this")
	f.Int64Var(&o.cfg.EnqueueLimit, "enqueue-limit", emulator.DefaultEnqueueLimit, "largest recurring enqueue body in bytes (413 above)")
	f.Float64Var(&o.cfg.Faults.Rate429, "fault-429", 0, "share of F&O requests answered 429")
	f.DurationVar(&o.cfg.Faults.RetryAfter, "fault-retry-after", time.Second, "Retry-After sent with a 429 (0 omits it)")
	f.BoolVar(&o.cfg.Faults.RetryAfterHTTPDate, "fault-retry-after-date", false, "send Retry-After as an HTTP date")
	f.Float64Var(&o.cfg.Faults.Rate5xx, "fault-5xx", 0, "share of F&O requests answered 503")
	f.Float64Var(&o.cfg.Faults.Rate5xxOnStatus, "fault-5xx-status", 0, "share of GetExecutionSummaryStatus calls answered 500/503")
	f.IntVar(&o.cfg.Faults.NotFoundAfterImport, "fault-not-found", 0, `first N status polls of a new execution answer 400 "were not found"`)
	f.BoolVar(&o.cfg.Faults.StuckExecuting, "fault-stuck", false, "executions stay Executing until canceled")
	f.BoolVar(&o.cfg.Faults.FailConcurrentImports, "fault-concurrent-imports", false, "overlapping imports of one definition group fail (DMF2025)")
	f.DurationVar(&o.cfg.Faults.Latency, "fault-latency", 0, "latency added to every response")
	f.BoolVar(&o.cfg.Faults.PartialExports, "fault-partial-exports", false, "exports end PartiallySucceeded (their package is built)")
	f.IntVar(&o.cfg.Faults.ExportURLNotReady, "fault-url-not-ready", 0, `first N GetExportedPackageUrl calls after an export answer "", "''" or a zero GUID`)
	f.IntVar(&o.cfg.Faults.DequeueNoFile, "fault-dequeue-no-file", 0, "the next N recurring export messages have no file (null DownloadLocation)")
	f.IntVar(&o.cfg.Faults.AckFailures, "fault-ack-failures", 0, "the next N acks answer 500")
	f.DurationVar(&o.cfg.VisibilityTimeout, "visibility-timeout", 30*time.Minute, "how long a dequeued, unacknowledged message stays hidden")
	f.BoolVar(&o.cfg.Quirks.NestedValue, "quirk-nested-value", false, `ExportToPackage and GetExportedPackageUrl answer {"value":{"value":...}}`)
	f.BoolVar(&o.cfg.Quirks.RISStatusSpelling, "quirk-ris-status", false, "GetMessageStatus uses RIS spellings (PreProcessing, PostProcessingError)")
	f.BoolVar(&o.cfg.Quirks.UnescapedErrors, "quirk-unescaped-errors", false, "GetExecutionErrors leaves quotes in messages unescaped")
	f.BoolVar(&o.cfg.Quirks.HTTPDownloadLocation, "quirk-http-download", false, "dequeue answers DownloadLocation as http://host:80/...")
	f.BoolVar(&o.cfg.Quirks.LenientUTF8, "quirk-lenient-utf8", false, "accept UTF-8 CSV-Unicode data files")
	f.StringArrayVar(&o.exportProjects, "export-project", nil, "export project GROUP=ENTITY[@LE] (repeatable)")
	f.StringArrayVar(&o.recurringImports, "recurring-import", nil, "recurring import job ACTIVITY[=ENTITY][@LE] (repeatable)")
	f.StringArrayVar(&o.recurringExports, "recurring-export", nil, "recurring export job ACTIVITY=GROUP[@LE] (repeatable)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log executions and protocol violations to stderr")
	return cmd
}

// build checks the options and makes the emulator with its projects and jobs.
func (o *emulatorOptions) build(logOut io.Writer) (*emulator.Emulator, error) {
	if err := o.cfg.Faults.Validate(); err != nil {
		return nil, err
	}
	if o.cfg.EnqueueLimit <= 0 || o.cfg.TokenTTL <= 0 || o.cfg.ExecutionDelay < 0 || o.cfg.VisibilityTimeout <= 0 {
		return nil, errors.New("--enqueue-limit, --token-ttl and --visibility-timeout must be positive, --execution-delay not negative")
	}
	if o.verbose {
		o.cfg.Logger = slog.New(slog.NewTextHandler(logOut, nil))
	}
	cat := catalog.Default()
	var projects []emulator.ExportProject
	for _, s := range o.exportProjects {
		group, target, le, ok := parseJobSpec(s)
		if !ok || target == "" {
			return nil, fmt.Errorf("--export-project %q: want GROUP=ENTITY[,ENTITY...][@LE]", s)
		}
		entities := strings.Split(target, ",")
		for i, ent := range entities {
			entities[i] = strings.TrimSpace(ent)
			if _, known := cat.Lookup(entities[i]); !known {
				return nil, fmt.Errorf("--export-project %q: entity %q is not in the catalog", s, entities[i])
			}
		}
		projects = append(projects, emulator.ExportProject{DefinitionGroup: group, Entity: entities[0], Entities: entities[1:], LegalEntity: le})
	}
	var jobs []emulator.RecurringJob
	for _, s := range o.recurringImports {
		id, entity, le, ok := parseJobSpec(s)
		if !ok {
			return nil, fmt.Errorf("--recurring-import %q: want ACTIVITY[=ENTITY][@LE]", s)
		}
		if _, known := cat.Lookup(entity); entity != "" && !known {
			return nil, fmt.Errorf("--recurring-import %q: entity %q is not in the catalog", s, entity)
		}
		jobs = append(jobs, emulator.RecurringJob{ActivityID: id, Direction: emulator.DirectionImport, Entity: entity, LegalEntity: le})
	}
	for _, s := range o.recurringExports {
		id, group, le, ok := parseJobSpec(s)
		if !ok || group == "" {
			return nil, fmt.Errorf("--recurring-export %q: want ACTIVITY=GROUP[@LE]", s)
		}
		jobs = append(jobs, emulator.RecurringJob{ActivityID: id, Direction: emulator.DirectionExport, DefinitionGroup: group, LegalEntity: le})
	}
	em := emulator.New(o.cfg)
	for _, p := range projects {
		em.AddExportProject(p)
	}
	for _, j := range jobs {
		em.AddRecurringJob(j)
	}
	return em, nil
}

// parseJobSpec splits NAME[=TARGET][@LE].
func parseJobSpec(s string) (name, target, le string, ok bool) {
	rest := s
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest, le = rest[:i], strings.TrimSpace(rest[i+1:])
		if le == "" {
			return "", "", "", false
		}
	}
	name, target, _ = strings.Cut(rest, "=")
	name, target = strings.TrimSpace(name), strings.TrimSpace(target)
	return name, target, le, name != ""
}

// serveEmulator listens, prints the connection settings and serves until ctx ends.
func serveEmulator(ctx context.Context, out io.Writer, addr string, em *emulator.Emulator, cfg emulator.Config) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return usageError(fmt.Errorf("listening on %s: %w", addr, err))
	}
	base := "http://" + displayAddr(ln.Addr())
	tokenURL := base + "/" + cfg.Tenant + "/oauth2/v2.0/token"
	secret := cfg.ClientSecret
	if secret != emulator.DefaultClientSecret {
		secret = "<the --client-secret value>" // a chosen secret may be a real one: never print it
	}
	fmt.Fprintf(out, `dmfpipe F&O emulator listening on %[1]s

  base URL       %[1]s
  tenant         %[2]s
  client id      %[3]s
  client secret  %[4]s
  token URL      %[5]s
  admin API      %[1]s/_emulator/stats

Config snippet:

environments:
  emulator:
    url: %[1]s
    tenant: %[2]s
    client_id: %[3]s
    client_secret: %[4]s
    token_url: %[5]s

Press Ctrl-C to stop.
`, base, cfg.Tenant, cfg.ClientID, secret, tokenURL)

	srv := &http.Server{Handler: em, ReadHeaderTimeout: 30 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		em.Close()
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	em.Close()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	fmt.Fprintln(out, "emulator stopped")
	return nil
}

// displayAddr is the listener address as clients reach it: an unspecified IP shows as
// the loopback address.
func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	host := tcp.IP.String()
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
		if tcp.IP != nil && tcp.IP.To4() == nil {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, fmt.Sprint(tcp.Port))
}
