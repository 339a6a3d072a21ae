package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"golang.org/x/text/encoding/charmap"

	"github.com/dmfpipe/dmfpipe/app"
	"github.com/dmfpipe/dmfpipe/console"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/internal/argon2id"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/worker"
)

// devReviewImport is the larger sample `pipeline dev` imports for the console: its rows
// are written by writeReviewSample.
var devReviewImport = struct{ project, file string }{"customers-csv", "data/inbox/customers/customers_20261126.csv"}

// devReviewRows is how many customers the review sample holds.
const devReviewRows = 2000

// writeReviewSample writes the review sample: customers as the example's partner sends
// them (Windows-1252, semicolons), of which some break the project's rules (an account
// longer than 20 characters, a customer group it does not know, an account twice) and
// some pass them but not F&O's (country UK, which F&O's Countries/regions table has as
// GB: see devEmulatorCatalog).
func writeReviewSample(dir string) error {
	path := filepath.Join(dir, filepath.FromSlash(devReviewImport.file))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(charmap.Windows1252.NewEncoder().Writer(f))
	fmt.Fprintln(w, "Account No;Name;Group;Type;City;Country;Credit limit")
	cities := []struct{ city, country string }{{"München", "DE"}, {"Besançon", "FR"}, {"Århus", "DK"}, {"Málaga", "ES"}, {"Gent", "BE"}, {"Utrecht", "NL"}}
	groups := []string{"Retail", "Wholesale", ""}
	for i := 1; i <= devReviewRows; i++ {
		account, name, group, typ := fmt.Sprintf("C-%05d", 2000+i), fmt.Sprintf("Customer %d", i), groups[i%3], "O"
		switch {
		case i%211 == 0:
			account = fmt.Sprintf("CUSTOMER-ACCOUNT-%07d", i) // longer than 20: our rules
		case i%157 == 0:
			group = "Export" // not a customer group of the project's
		case i%379 == 0:
			account = fmt.Sprintf("C-%05d", 2000+i-1) // the previous row's account again
		case i%97 == 0:
			typ, name = "P", "" // a person needs a name
		}
		c := cities[i%len(cities)]
		if i%89 == 0 {
			c.city, c.country = "London", "UK" // F&O knows the United Kingdom as GB
		}
		fmt.Fprintf(w, "%s;%s;%s;%s;%s;%s;%d.%03d,00\n", account, name, group, typ, c.city, c.country, i%50, (i*37)%1000)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// devLogin is the console's login for one dev run.
type devLogin struct{ user, password, hash string }

func newDevLogin() (devLogin, error) {
	l := devLogin{user: "dev", password: rand.Text()[:16]}
	var err error
	l.hash, err = argon2id.Hash(l.password, argon2id.Default)
	return l, err
}

// consoleConfig is the console section of the dev config: served on ln, the dev login
// an admin.
func consoleConfig(ln net.Listener, l devLogin) string {
	return fmt.Sprintf(`
# The operator console of this dev run (pipeline dev prints the password).
console:
  addr: %[1]s
  base_url: http://%[1]s
  users:
    - { name: %[2]s, role: admin, password_hash: "%[3]s" }
`, ln.Addr(), l.user, l.hash)
}

// listenConsole listens on addr, or on a free loopback port when addr is taken.
func listenConsole(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	ln, err2 := net.Listen("tcp", "127.0.0.1:0")
	if err2 != nil {
		return nil, errors.Join(err, err2)
	}
	return ln, nil
}

// serveDevConsole serves the console of the dev config on ln, with workers for what it
// starts (resubmits, retries, bulk actions), until Ctrl-C.
func serveDevConsole(cmd *cobra.Command, cfgPath string, pool *pgxpool.Pool, ln net.Listener, login devLogin) error {
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	log, err := newLogger(cmd, slog.LevelWarn)
	if err != nil {
		return err
	}
	a, err := loadApp(cfgPath, app.Options{Logger: log})
	if err != nil {
		return err
	}
	w, err := worker.New(worker.Deps{Pool: pool, Parts: a, Logger: log})
	if err != nil {
		return err
	}
	if err := w.Start(ctx); err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), serveShutdownTimeout)
		defer cancel()
		_ = w.Stop(stopCtx)
	}()
	con, err := startConsole(ctx, console.Options{App: a, Pool: pool, Worker: w, Logger: log})
	if err != nil {
		return err
	}
	defer con.Stop()
	srv := &http.Server{Handler: con, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	review, _, err := jobhistory.NewStore(pool).ListJobs(ctx, jobhistory.JobFilter{Project: devReviewImport.project, Limit: 1})
	if err != nil || len(review) == 0 {
		return errors.Join(errors.New("the review sample's job is not in the job history"), err)
	}
	job := review[0].ID
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "\nThe console: %s/jobs/%d/errors  (sign in as %s, password %s)\n", url, job, login.user, login.password)
	fmt.Fprintf(out, "Serving the console, the emulator and Postgres until Ctrl-C. The CLI works too:\n"+
		"  pipeline jobs list -c %[1]s\n"+
		"  pipeline staging errors %[2]d -c %[1]s\n"+
		"  pipeline dmf entities -c %[1]s --env emulator\n", cfgPath, job)
	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("console listener: %w", err)
	}
	fmt.Fprintln(out, "stopping")
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(stopCtx)
}

// devCountries are the countries the dev emulator's F&O knows, as its Countries/regions
// table would.
var devCountries = []string{"BE", "DE", "DK", "ES", "FR", "GB", "IT", "NL", "US"}

// devEmulatorCatalog is the catalog of the dev emulator: the default one, with the
// customers' country checked against devCountries as F&O checks it against its
// Countries/regions table. The projects' rules do not check countries, so a wrong one
// passes them and is rejected by "F&O", as in production.
func devEmulatorCatalog() (*catalog.Catalog, error) {
	def := catalog.Default()
	lists := map[string][]string{"Countries": devCountries}
	for _, name := range []string{"CustomerGroups", "VendorGroups"} {
		if v, ok := def.ReferenceList(name); ok {
			lists[name] = v
		}
	}
	data, err := json.Marshal(map[string]any{"reference_lists": lists, "entities": def.Entities()})
	if err != nil {
		return nil, err
	}
	c, err := catalog.Parse(data) // a copy: the default catalog is shared
	if err != nil {
		return nil, fmt.Errorf("the dev emulator's catalog: %w", err)
	}
	e, ok := c.Lookup("Customers V3")
	if !ok {
		return nil, errors.New("the dev emulator's catalog has no Customers V3")
	}
	f, ok := e.Field("ADDRESSCOUNTRYREGIONID")
	if !ok {
		return nil, errors.New("the dev emulator's catalog: Customers V3 has no ADDRESSCOUNTRYREGIONID")
	}
	f.Ref = &catalog.Ref{List: "Countries", Label: "Countries/regions"}
	return c, nil
}
