package emulator_test

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
)

func benchRows(n int) [][]string {
	rows := make([][]string, n)
	for i := range rows {
		id := strconv.Itoa(i)
		rows[i] = []string{"CUST-" + id, "Customer number " + id + ", Ltd.", []string{"10", "20", "30"}[i%3], "USD", "Organization", id + ".25"}
	}
	return rows
}

// BenchmarkImport measures an import over HTTP: upload, ImportFromPackage, staging,
// validation and upsert (the second and later iterations update every row).
func BenchmarkImport(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			pkg := customersPackage(b, "BENCH", benchRows(n))
			bu := setup(b, emulator.Config{})
			b.SetBytes(int64(len(pkg)))
			b.ResetTimer()
			for range b.N {
				id := bu.importPackage(pkg, "BENCH", "USMF", "")
				if s := bu.wait(id); s != "Succeeded" {
					b.Fatalf("import ended %s", s)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkStoredRows reports the heap the emulator keeps per imported Customers V3 row
// (six fields plus the default) after importing a million rows.
func BenchmarkStoredRows(b *testing.B) {
	const n = 1_000_000
	pkg := customersPackage(b, "MEM", benchRows(n))
	var perRow float64
	for range b.N {
		bu := setup(b, emulator.Config{})
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		id := bu.importPackage(pkg, "MEM", "USMF", "")
		if s := bu.wait(id); s != "Succeeded" {
			b.Fatalf("import ended %s", s)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if got := len(bu.em.Rows("Customers V3", "USMF")); got != n {
			b.Fatalf("stored %d rows, want %d", got, n)
		}
		// The uploaded package stays in the blob store; count only the rows.
		perRow = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)-int64(len(pkg))) / n
	}
	b.ReportMetric(perRow, "heap-B/row")
	b.ReportMetric(float64(len(pkg))/n, "pkg-B/row")
	fmt.Fprintf(b.Output(), "1M rows: %.0f bytes of heap per stored row\n", perRow)
}
