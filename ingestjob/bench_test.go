package ingestjob_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/ingest/reader"
	"github.com/dmfpipe/dmfpipe/ingestjob"
	"github.com/dmfpipe/dmfpipe/internal/benchmem"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/mapping"
	"github.com/dmfpipe/dmfpipe/staging"
	"github.com/dmfpipe/dmfpipe/validate"
)

// benchConfig maps the benchmark file's 10 columns to 10 fields of Customers V3 with
// the transforms and rules a real project has, the unique key included.
var benchConfig = testsvc.OfflineImportConfig("bench", `    format: { type: csv, delimiter: "," }
    target: { entity: Customers V3, legal_entity: USMF, definition_group: G }
    mapping:
      CUSTOMERACCOUNT:        { from: account, transforms: [trim, upper] }
      ORGANIZATIONNAME:       { from: name, transforms: [trim] }
      PRIMARYCONTACTEMAIL:    { from: email, transforms: [trim, lower] }
      ADDRESSCITY:            { from: city, transforms: [trim] }
      CREDITLIMIT:            { from: amount, transforms: [number] }
      CUSTOMERGROUPID:        { from: group, default: "30" }
      SALESCURRENCYCODE:      { from: currency, transforms: [upper] }
      ADDRESSZIPCODE:         { from: zip }
      ADDRESSCOUNTRYREGIONID: { from: country, transforms: [trim, upper] }
      NAMEALIAS:              { from: alias, transforms: [{ truncate: 20 }] }
    validate:
      - { field: CUSTOMERACCOUNT, required: true, max_length: 20, unique: UNIQUE }
      - { field: CUSTOMERGROUPID, one_of: ["10", "20", "30"] }
      - { field: PRIMARYCONTACTEMAIL, pattern: '^[^@]+@[^@]+$' }
`)

// benchFile writes (once) a CSV of rows records and 10 columns under the temp dir.
func benchFile(b *testing.B, rows int) string {
	b.Helper()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("dmfpipe-bench-%d-10col.csv", rows))
	if st, err := os.Stat(path); err == nil && st.Size() > int64(rows)*50 {
		return path
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	cities := []string{"Gent", "Brugge", "Antwerpen", "Leuven", "Liège"}
	w.WriteString("account,name,email,city,amount,group,currency,zip,country,alias\n")
	for i := range rows {
		name := "Customer " + strconv.Itoa(i)
		if i%10 == 0 {
			name = `"Customer, ""` + strconv.Itoa(i) + `"" NV"`
		}
		fmt.Fprintf(w, "c-%07d,%s,c%d@example.com,%s,%d.%02d,%d0,eur,%04d,be,P-%04d\n",
			i, name, i, cities[i%len(cities)], i*7, i%100, i%3+1, 1000+i%9000, i%977)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path
}

// psqlPath finds psql on PATH or in a Debian PostgreSQL install.
func psqlPath(b *testing.B) string {
	if p, err := exec.LookPath("psql"); err == nil {
		return p
	}
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/psql"); len(m) > 0 {
		return m[len(m)-1]
	}
	b.Skip("psql not found on PATH or in /usr/lib/postgresql/*/bin")
	return ""
}

// BenchmarkDryRun stages a 10-column CSV through the dry-run path (read, map, row
// rules, binary COPY, indexes, the unique rule, counts) and, in the same iteration, loads
// the same file with psql's \copy into a table of 10 text columns. It reports both
// times, the speed ratio (psql time / dry-run time: 1 is as fast as psql) and the
// process's peak heap. Run it with -benchtime 1x.
func BenchmarkDryRun(b *testing.B) {
	for _, rows := range []int{100_000, 1_000_000} {
		for _, unique := range []bool{true, false} {
			b.Run(fmt.Sprintf("rows=%d/unique=%t", rows, unique), func(b *testing.B) { benchDryRun(b, rows, unique) })
		}
	}
}

func benchDryRun(b *testing.B, rows int, unique bool) {
	ctx := context.Background()
	psql := psqlPath(b)
	file := benchFile(b, rows)
	pool, dbURL := testsvc.MigratedDatabase(b)
	dir := b.TempDir()
	cfgFile := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(cfgFile, []byte(strings.Replace(benchConfig, "UNIQUE", strconv.FormatBool(unique), 1)), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		b.Fatal(err)
	}
	p := cfg.Projects[0]
	m, err := mapping.Compile(p, catalog.Default())
	if err != nil {
		b.Fatal(err)
	}
	rules, err := validate.CompileRowRules(p, m.Fields(), catalog.Default())
	if err != nil {
		b.Fatal(err)
	}
	sets := ingestjob.SetRules{Unique: rules.UniqueFields(), Lookups: rules.Lookups()}

	var psqlTime, runTime time.Duration
	var heap, rss uint64
	n := 0
	for b.Loop() {
		n++
		table := fmt.Sprintf("copy_%d", n)
		if _, err := pool.Exec(ctx, "CREATE TABLE "+table+" (a text, b text, c text, d text, e text, f text, g text, h text, i text, j text)"); err != nil {
			b.Fatal(err)
		}
		quiesce(b, pool)
		start := time.Now()
		out, err := exec.Command(psql, dbURL, "-c", `\copy `+table+` from '`+file+`' csv header`).CombinedOutput()
		if err != nil {
			b.Fatalf("psql: %v: %s", err, out)
		}
		psqlTime += time.Since(start)

		quiesce(b, pool)
		peak := benchmem.Start()
		start = time.Now()
		open := func() (reader.Reader, error) { return reader.OpenFile(file, reader.Options{Delimiter: ","}) }
		job, res, err := ingestjob.DryRun(ctx, pool, "bench", "", file, open, ingestjob.BindMapping(m), rules, sets, ingestjob.Options{})
		if err != nil {
			b.Fatal(err)
		}
		runTime += time.Since(start)
		peak.Stop()
		heap, rss = max(heap, peak.Heap), max(rss, peak.RSS)
		if res.Counts.Total != int64(rows) || res.Counts.Invalid != 0 {
			b.Fatalf("staged %+v, want %d valid rows", res.Counts, rows)
		}
		// Dropped at once, so that autovacuum does not work on them during the next run.
		if _, err := pool.Exec(ctx, "DROP TABLE "+table); err != nil {
			b.Fatal(err)
		}
		if err := staging.NewStore(pool).Drop(ctx, job); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(psqlTime.Seconds()/float64(n), "psql-s")
	b.ReportMetric(runTime.Seconds()/float64(n), "dryrun-s")
	b.ReportMetric(psqlTime.Seconds()/runTime.Seconds(), "speed-vs-psql")
	benchmem.Report(b, heap, rss)
}

// quiesce starts a timed run on an idle server: no dirty buffers left by the run before
// for a checkpoint to write meanwhile.
func quiesce(b *testing.B, pool *pgxpool.Pool) {
	if _, err := pool.Exec(context.Background(), "CHECKPOINT"); err != nil {
		b.Fatal(err)
	}
}
