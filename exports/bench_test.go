package exports

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/dmf/datapackage"
	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/ingest/local"
	"github.com/dmfpipe/dmfpipe/internal/benchmem"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// benchFields is a Customers V3 row of ten columns, about 120 bytes of UTF-8.
var benchFields = []string{"CUSTOMERACCOUNT", "ORGANIZATIONNAME", "CUSTOMERGROUPID", "SALESCURRENCYCODE",
	"PARTYTYPE", "ADDRESSCITY", "ADDRESSZIPCODE", "CREDITLIMIT", "PRIMARYCONTACTEMAIL", "LANGUAGEID"}

// benchPackage writes a package of n Customers V3 rows (F&O's CSV-Unicode, zipped) and
// returns its path.
func benchPackage(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "package.zip")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := datapackage.NewWriter(bw, datapackage.Spec{DefinitionGroup: "BENCH", Entity: "Customers V3", Fields: benchFields})
	if err != nil {
		b.Fatal(err)
	}
	row := make([]string, len(benchFields))
	for i := range n {
		row[0] = "C" + strconv.Itoa(100000+i)
		row[1] = "Contoso Retail " + strconv.Itoa(i%9973) + ", Ærø"
		row[2], row[3], row[4], row[5] = "10", "EUR", "Organization", "Amsterdam"
		row[6] = strconv.Itoa(1000 + i%8999)
		row[7] = strconv.Itoa(i%50000) + ".00"
		row[8] = "buyer" + strconv.Itoa(i) + "@contoso.example"
		row[9] = "en-us"
		if err := w.WriteRow(row); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkPackageTo writes a package of 250k and of 1M rows to a local folder as CSV and
// as XLSX through the delivery's own path (package reader, writer, temporary name and
// rename, digest, record), and reports rows/s and the peak heap and RSS: memory stays
// flat in the row count. `go test ./exports -run '^$' -bench PackageTo -benchtime 1x`.
func BenchmarkPackageTo(b *testing.B) {
	pool, _ := testsvc.MigratedDatabase(b)
	ctx := context.Background()
	hist := jobhistory.NewStore(pool)
	for _, format := range []string{"csv", "xlsx"} {
		for _, n := range []int{250_000, 1_000_000} {
			b.Run(fmt.Sprintf("%s/rows=%d", format, n), func(b *testing.B) {
				pkgPath := benchPackage(b, n)
				root := b.TempDir()
				dest, err := local.New(root)
				if err != nil {
					b.Fatal(err)
				}
				cp := &config.Project{Name: "bench", Kind: "export", Timezone: "UTC", OnEmpty: config.OnEmptyHeader,
					Destination: &config.Destination{Connection: "out", Path: "{execution}/customers." + format}}
				header := true
				cp.Format.Header = &header
				cp.Format.LineEnd = "crlf"
				p, probs := Compile(cp, catalog.Default())
				if len(probs) > 0 {
					b.Fatal(probs)
				}
				s := New(Deps{DB: pool, Destination: func(context.Context, string) (ingest.Destination, error) { return dest, nil }})
				var peakHeap, peakRSS uint64
				for i := 0; b.Loop(); i++ {
					id, err := hist.CreateJob(ctx, jobhistory.NewJob{Project: "bench", Kind: "export", Trigger: "bench"})
					if err != nil {
						b.Fatal(err)
					}
					j, err := hist.Job(ctx, id)
					if err != nil {
						b.Fatal(err)
					}
					pkg, err := os.Open(pkgPath)
					if err != nil {
						b.Fatal(err)
					}
					st, _ := pkg.Stat()
					peak := benchmem.Start()
					res, err := s.writePackage(ctx, j, p, fmt.Sprintf("run-%d", i), pkg, st.Size(), Manifest{})
					peak.Stop()
					pkg.Close()
					if err != nil {
						b.Fatal(err)
					}
					if res.rows != int64(n) {
						b.Fatalf("%d rows written, want %d", res.rows, n)
					}
					peakHeap, peakRSS = max(peakHeap, peak.Heap), max(peakRSS, peak.RSS)
					os.RemoveAll(filepath.Join(root, fmt.Sprintf("run-%d", i)))
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
				benchmem.Report(b, peakHeap, peakRSS)
			})
		}
	}
}

// Destination is local.Source's too.
var _ ingest.Destination = (*local.Source)(nil)
