package datapackage

import (
	"io"
	"strconv"
	"testing"
)

// benchFields is a realistic Customers V3 row shape: ten columns, about 120 bytes of
// UTF-8 per row.
var benchFields = []string{"CUSTOMERACCOUNT", "ORGANIZATIONNAME", "CUSTOMERGROUPID", "SALESCURRENCYCODE",
	"PARTYTYPE", "ADDRESSCITY", "ADDRESSZIPCODE", "CREDITLIMIT", "PRIMARYCONTACTEMAIL", "LANGUAGEID"}

// benchRows returns n distinct rows. The benchmark cycles through them; 65536 rows
// span megabytes, far beyond Deflate's 32 KiB window, so cycling does not flatter
// the compression.
func benchRows(n int) [][]string {
	rows := make([][]string, n)
	for i := range rows {
		rows[i] = []string{
			"C" + strconv.Itoa(100000+i),
			"Contoso Retail " + strconv.Itoa(i%9973) + ", Ærø",
			"10",
			"EUR",
			"Organization",
			"Amsterdam",
			strconv.Itoa(1000 + i%8999),
			strconv.Itoa(i%50000) + ".00",
			"buyer" + strconv.Itoa(i) + "@contoso.example",
			"en-us",
		}
	}
	return rows
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// BenchmarkWriter builds a 1M-row package per iteration and reports rows/s, input
// MB/s (UTF-8 bytes of the row values), the package size and allocations.
func BenchmarkWriter(b *testing.B) {
	const rowsPerPackage = 1_000_000
	rows := benchRows(1 << 16)
	var inputBytes int64
	for i := range rowsPerPackage {
		for _, v := range rows[i%len(rows)] {
			inputBytes += int64(len(v))
		}
	}
	b.ReportAllocs()
	b.SetBytes(inputBytes)
	var zipBytes int64
	for b.Loop() {
		out := &countingWriter{}
		w, err := NewWriter(out, Spec{DefinitionGroup: "BENCH", Entity: "Customers V3", Fields: benchFields})
		if err != nil {
			b.Fatal(err)
		}
		for i := range rowsPerPackage {
			if err := w.WriteRow(rows[i%len(rows)]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		zipBytes = out.n
	}
	b.ReportMetric(float64(rowsPerPackage)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(zipBytes)/1e6, "zipMB")
}

var _ io.Writer = (*countingWriter)(nil)
