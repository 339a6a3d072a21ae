package reader

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/benchmem"
)

// Benchmarks report records/s and the peak memory while reading:
// peak-heap-MB (HeapInuse, sampled every 5 ms) and, where the kernel lets us
// reset it, peak-rss-MB (VmHWM of the process, reset before reading).
//
//	go test ./ingest/reader -run '^$' -bench 'CSV|JSON|XLSX100k'
//	go test ./ingest/reader -run '^$' -bench XLSX1M -benchtime 1x

// drain reads every record and returns how many there were.
func drain(b *testing.B, rd Reader) int {
	n := 0
	for {
		_, err := rd.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
}

// readOver reads every record of a reader that open opens, again on every loop of b,
// and reports the records read per second and the memory used; it returns how many
// records it read in all.
func readOver(b *testing.B, open func() (Reader, error)) int {
	m := benchmem.Start()
	total := 0
	for b.Loop() {
		rd, err := open()
		if err != nil {
			b.Fatal(err)
		}
		total += drain(b, rd)
		if err := rd.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "records/s")
	m.Stop()
	benchmem.Report(b, m.Heap, m.RSS)
	return total
}

// blockReader streams a header and then a block of rows again and again, so
// that a file of any size costs no memory to produce.
type blockReader struct {
	head, block []byte
	repeats     int
	cur         []byte
}

func (r *blockReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		switch {
		case r.head != nil:
			r.cur, r.head = r.head, nil
		case r.repeats > 0:
			r.cur = r.block
			r.repeats--
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

const benchBlockRows = 1000

func csvBlock() (head, block []byte) {
	head = []byte("id;name;email;city;amount;date;qty;active;code;note\r\n")
	cities := []string{"Gent", "Brugge", "Antwerpen", "Leuven", "Liège"}
	var b bytes.Buffer
	for i := range benchBlockRows {
		note := "plain"
		if i%10 == 0 {
			note = `"with ; and ""quotes"""`
		}
		fmt.Fprintf(&b, "%d;Customer %d;c%d@example.com;%s;%d,%02d;2024-03-%02d;%d;%t;P-%04d;%s\r\n",
			100000+i, i, i, cities[i%len(cities)], i*7, i%100, i%28+1, i%50, i%2 == 0, i%977, note)
	}
	return head, b.Bytes()
}

func BenchmarkCSV10Cols(b *testing.B) {
	head, block := csvBlock()
	for _, rows := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			repeats := rows / benchBlockRows
			b.SetBytes(int64(len(head) + repeats*len(block)))
			b.ReportAllocs()
			readOver(b, func() (Reader, error) {
				return Open(&blockReader{head: head, block: block, repeats: repeats}, Options{Format: FormatCSV})
			})
		})
	}
}

func jsonRecord(i int) string {
	return fmt.Sprintf(`{"id":%d,"name":"Customer %d","address":{"city":"Gent","zip":"90%02d"},"amount":%d.%02d,"active":%t,"tags":["a","b\u00e9"],"created":"2024-03-01T10:00:%02dZ","note":null}`,
		100000+i, i, i%100, i*7, i%100, i%2 == 0, i%60)
}

func BenchmarkJSON(b *testing.B) {
	var block bytes.Buffer
	for i := range benchBlockRows {
		block.WriteString(",\n")
		block.WriteString(jsonRecord(i))
	}
	const repeats = 100
	head := []byte(`{"data":{"items":[` + jsonRecord(0))
	tail := []byte("]}}")
	b.SetBytes(int64(len(head) + repeats*block.Len() + len(tail)))
	readOver(b, func() (Reader, error) {
		src := io.MultiReader(&blockReader{head: head, block: block.Bytes(), repeats: repeats}, bytes.NewReader(tail))
		return Open(src, Options{Format: FormatJSON, Records: "/data/items"})
	})
}

func BenchmarkNDJSON(b *testing.B) {
	var block bytes.Buffer
	for i := range benchBlockRows {
		block.WriteString(jsonRecord(i))
		block.WriteByte('\n')
	}
	const repeats = 100
	b.SetBytes(int64(repeats * block.Len()))
	readOver(b, func() (Reader, error) {
		return Open(&blockReader{head: []byte{}, block: block.Bytes(), repeats: repeats}, Options{Format: FormatNDJSON})
	})
}

func BenchmarkXLSX100k(b *testing.B) { benchXLSX(b, 100_000) }

// BenchmarkXLSX1M reads a 1M-row, 10-column workbook with 2M+ shared
// strings; run it with -benchtime 1x.
func BenchmarkXLSX1M(b *testing.B) { benchXLSX(b, 1_000_000) }

func benchXLSX(b *testing.B, rows int) {
	path := benchWorkbook(b, rows)
	total := readOver(b, func() (Reader, error) { return OpenFile(path, Options{}) })
	if total != b.N*rows {
		b.Fatalf("read %d records, want %d", total, b.N*rows)
	}
}

// benchWorkbook writes (once, cached under os.TempDir) a workbook shaped
// like a real export: 10 columns, two unique shared strings per row plus
// repeated ones, a date column, and 1,000 trailing empty styled rows.
func benchWorkbook(b *testing.B, rows int) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "dmfpipe-bench")
	require.NoError(b, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, fmt.Sprintf("xlsx-v1-rows%d.xlsx", rows))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	b.Logf("writing %s (once)", path)
	tmp, err := os.CreateTemp(dir, "tmp-*.xlsx")
	require.NoError(b, err)
	defer os.Remove(tmp.Name())
	zw := zip.NewWriter(tmp)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestSpeed)
	})
	create := func(name string) *bufio.Writer {
		w, err := zw.Create(name)
		require.NoError(b, err)
		return bufio.NewWriterSize(w, 1<<16)
	}
	for name, body := range workbookParts() {
		if name == "xl/worksheets/sheet1.xml" {
			continue
		}
		w := create(name)
		_, err := w.WriteString(body)
		require.NoError(b, err)
		require.NoError(b, w.Flush())
	}
	w := create("xl/styles.xml")
	fmt.Fprint(w, `<styleSheet `+nsMain+`><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>`)
	require.NoError(b, w.Flush())

	// Shared strings: 50 cities, 1,000 product codes, then a name and an email per row.
	const cities, codes = 50, 1000
	w = create("xl/worksheets/sheet1.xml")
	fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`+"\n"+`<worksheet `+nsMain+`><dimension ref="A1:J`+strconv.Itoa(rows+1)+`"/><sheetData>`)
	fmt.Fprint(w, `<row r="1" spans="1:10">`)
	for i, h := range []string{"id", "name", "email", "city", "amount", "date", "qty", "active", "code", "note"} {
		fmt.Fprintf(w, `<c r="%s1" t="inlineStr"><is><t>%s</t></is></c>`, ColumnName(i+1), h)
	}
	fmt.Fprint(w, `</row>`)
	for i := range rows {
		r := i + 2
		base := cities + codes + 2*i
		fmt.Fprintf(w, `<row r="%d" spans="1:10"><c r="A%d"><v>%d</v></c><c r="B%d" t="s"><v>%d</v></c><c r="C%d" t="s"><v>%d</v></c>`+
			`<c r="D%d" t="s"><v>%d</v></c><c r="E%d"><v>%d.%02d</v></c><c r="F%d" s="1"><v>%d</v></c><c r="G%d"><v>%d</v></c>`+
			`<c r="H%d" t="b"><v>%d</v></c><c r="I%d" t="s"><v>%d</v></c><c r="J%d" t="str"><v>note &amp; %d</v></c></row>`,
			r, r, 100000+i, r, base, r, base+1,
			r, i%cities, r, i*7%100000, i%100, r, 40000+i%5000, r, i%50,
			r, i%2, r, cities+i%codes, r, i%10)
	}
	for r := rows + 2; r < rows+1002; r++ {
		fmt.Fprintf(w, `<row r="%d" spans="1:10"><c r="A%d" s="1"/><c r="B%d" s="1"/></row>`, r, r, r)
	}
	fmt.Fprint(w, `</sheetData></worksheet>`)
	require.NoError(b, w.Flush())

	n := cities + codes + 2*rows
	w = create("xl/sharedStrings.xml")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`+"\n"+`<sst `+nsMain+` count="%d" uniqueCount="%d">`, n, n)
	for i := range cities {
		fmt.Fprintf(w, `<si><t>City %d</t></si>`, i)
	}
	for i := range codes {
		fmt.Fprintf(w, `<si><t>P-%04d</t></si>`, i)
	}
	for i := range rows {
		fmt.Fprintf(w, `<si><t>Customer %d Müller-Lüdenscheidt</t></si><si><t>customer.%d@example.com</t></si>`, i, i)
	}
	fmt.Fprint(w, `</sst>`)
	require.NoError(b, w.Flush())
	require.NoError(b, zw.Close())
	require.NoError(b, tmp.Close())
	require.NoError(b, os.Rename(tmp.Name(), path))
	return path
}
