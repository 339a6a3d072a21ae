package reader

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// The fuzz targets check that no input panics or hangs a reader and that
// every value it yields is valid UTF-8 without NUL bytes. Seed corpora live
// in testdata/fuzz/<target>; run one with
//
//	go test ./ingest/reader -run '^$' -fuzz '^FuzzCSV$' -fuzztime 10s

// drainFuzz reads rd to its end, bounding the number of records by the
// input size so that a reader that stops consuming input fails the target.
func drainFuzz(t *testing.T, rd Reader, inputLen int, minWidth bool) {
	t.Helper()
	header := rd.Header()
	for _, h := range header {
		checkValue(t, h)
	}
	lastLine := 0
	for n := 0; ; n++ {
		if n > 4*inputLen+16 {
			t.Fatalf("more than %d records from %d bytes: the reader does not advance", n, inputLen)
		}
		rec, err := rd.Next()
		if err == io.EOF {
			return
		}
		var re *RowError
		if err != nil && !errors.As(err, &re) {
			if _, again := rd.Next(); again == nil || again == io.EOF {
				t.Fatalf("final error %v not repeated", err)
			}
			return
		}
		for _, v := range rec.Values {
			checkValue(t, v)
		}
		if minWidth && len(rec.Values) < len(header) {
			t.Fatalf("record of %d values, header of %d", len(rec.Values), len(header))
		}
		if rec.Loc.Line > 0 {
			if rec.Loc.Line < lastLine {
				t.Fatalf("line %d after line %d", rec.Loc.Line, lastLine)
			}
			lastLine = rec.Loc.Line
		}
	}
}

func checkValue(t *testing.T, v string) {
	t.Helper()
	if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
		t.Fatalf("value %q is not valid UTF-8 without NUL", v)
	}
}

// FuzzCSV reads arbitrary bytes as CSV; mode picks the options.
func FuzzCSV(f *testing.F) {
	f.Add([]byte("a;b\n1;\"x\ny\"\n"), uint8(0))
	encodings := []string{"", "utf-8", "utf-16le", "utf-16be", "windows-1252", "iso-8859-15"}
	delimiters := []string{"", ",", ";", "\t"}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		opts := Options{
			Format:         FormatCSV,
			Encoding:       encodings[int(mode)%len(encodings)],
			Delimiter:      delimiters[int(mode>>3)%len(delimiters)],
			NoHeader:       mode&0x20 != 0,
			SkipRows:       int(mode >> 6),
			MaxRecordBytes: 1 << 12,
		}
		rd, err := Open(bytes.NewReader(data), opts)
		if err != nil {
			return
		}
		defer rd.Close()
		drainFuzz(t, rd, len(data)*2, false)
	})
}

// FuzzJSON reads arbitrary bytes as a JSON array (at /items when pointer is
// set) or as NDJSON.
func FuzzJSON(f *testing.F) {
	f.Add([]byte(`[{"a":{"b":[1,"x"]}}]`), false, false)
	f.Fuzz(func(t *testing.T, data []byte, ndjson, pointer bool) {
		opts := Options{Format: FormatJSON, HeaderSample: 3}
		if ndjson {
			opts.Format = FormatNDJSON
		}
		if pointer {
			opts.Records = "/items"
		}
		rd, err := Open(bytes.NewReader(data), opts)
		if err != nil {
			return
		}
		defer rd.Close()
		drainFuzz(t, rd, len(data)*2, true)
	})
}

// FuzzXLSX zips arbitrary sheet, shared strings and styles parts into a
// small workbook and reads it.
func FuzzXLSX(f *testing.F) {
	f.Add([]byte(`<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row><row><c s="1"><v>45000</v></c></row></sheetData></worksheet>`),
		[]byte(`<sst><si><t>h</t></si></sst>`),
		[]byte(`<styleSheet><cellXfs><xf numFmtId="0"/><xf numFmtId="14"/></cellXfs></styleSheet>`), false)
	f.Fuzz(func(t *testing.T, sheet, sst, styles []byte, date1904 bool) {
		parts := workbookParts()
		parts["xl/worksheets/sheet1.xml"] = string(sheet)
		parts["xl/sharedStrings.xml"] = string(sst)
		parts["xl/styles.xml"] = string(styles)
		if date1904 {
			parts["xl/workbook.xml"] = strings.Replace(parts["xl/workbook.xml"], "<sheets>", `<workbookPr date1904="1"/><sheets>`, 1)
		}
		wb := zipParts(t, parts)
		// newXLSX reads the zip in memory; spooling is tested elsewhere.
		rd, err := newXLSX(bytes.NewReader(wb), int64(len(wb)), Options{MaxXLSXBytes: 1 << 20})
		if err != nil {
			return
		}
		defer rd.Close()
		drainFuzz(t, rd, len(sheet)+1, true)
	})
}
