package reader

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maxErrorBytes bounds every error message a reader gives for a hostile file: a
// location, a reason, an excerpt of at most about 200 characters and a hint.
const maxErrorBytes = 1 << 10

// hostileCase is a file made to break a reader, and what reading it must give.
type hostileCase struct {
	name string
	file string // its name: the extension chooses the format unless opts.Format is set
	data func(t *testing.T) []byte
	opts Options

	openErr  string // in the error of Open; "" when Open must succeed
	is       error  // errors.Is target of the Open or final error
	header   int    // columns of the header
	rows     int    // records read, row errors included
	codes    []Code // the row errors' codes, each once, in the order first seen
	rowMsg   string // in the first row error
	finalErr string // in the final error of Next; "" when reading must end at EOF
}

// hostileResult is what reading a hostile file gave.
type hostileResult struct {
	openErr error
	header  []string
	rows    int
	rowErrs []*RowError
	final   error
}

func TestHostileFiles(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(19, 300))
	random := make([]byte, 300<<10)
	for i := range random {
		random[i] = byte(rnd.UintN(256))
	}
	randomText := bytes.ReplaceAll(bytes.ReplaceAll(random, []byte{0}, []byte{' '}), []byte{'"'}, []byte{' '})
	static := func(b []byte) func(*testing.T) []byte { return func(*testing.T) []byte { return b } }
	text := func(s string) func(*testing.T) []byte { return static([]byte(s)) }
	wideHeader := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "column_%d", i+1)
		}
		return b.String()
	}
	workbook := func(mutate func(p map[string]string)) func(*testing.T) []byte {
		return func(t *testing.T) []byte {
			p := workbookParts()
			mutate(p)
			return zipParts(t, p)
		}
	}
	laughs := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">` +
		`<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
		`<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">` +
		`<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>`
	manySheets := func(p map[string]string) {
		var sheets strings.Builder
		for i := range 50_000 {
			fmt.Fprintf(&sheets, `<sheet name="Sheet number %d" sheetId="%d" r:id="rId1"/>`, i+1, i+1)
		}
		p["xl/workbook.xml"] = `<workbook ` + nsMain + ` xmlns:r="` + nsRel + `"><sheets>` + sheets.String() + `</sheets></workbook>`
	}

	for _, tc := range []hostileCase{
		{name: "empty file", file: "empty.csv", data: text(""), header: 0},
		{name: "empty JSON", file: "empty.json", data: text(""), openErr: `empty.json: records "": line 1: invalid JSON: unexpected end of input, want an array`},
		{name: "empty NDJSON", file: "empty.ndjson", data: text("")},
		{
			name: "random bytes as CSV", file: "random.csv", data: static(random),
			openErr: "random.csv: reading header: line 1 column 2: NUL byte; the file looks like binary data, not text",
		},
		{
			name: "random bytes without NUL or quote", file: "noise.csv", data: static(randomText),
			header: 1, rows: 1213, codes: []Code{CodeInvalidEncoding, CodeRagged},
			rowMsg: "noise.csv: line 2 column 1: not valid windows-1252; the file looks like binary data, not text",
		},
		{name: "random bytes sniffed", file: "upload.dat", data: static(random), openErr: "upload.dat: reading header: line 1 column 2: NUL byte"},
		{
			name: "random bytes as JSON", file: "random.json", data: static(random),
			openErr: `random.json: records "": want an array, found `,
		},
		{name: "random bytes as XLSX", file: "random.xlsx", data: static(random), openErr: "random.xlsx: opening workbook: zip: not a valid zip file"},
		{name: "a BOM and nothing else", file: "bom.csv", data: text("\xEF\xBB\xBF")},
		{name: "a UTF-16 BOM and nothing else", file: "bom16.csv", data: text("\xFF\xFE")},
		{name: "a BOM-only JSON", file: "bom.json", data: text("\xEF\xBB\xBF"), openErr: "bom.json: records \"\": line 1: invalid JSON: unexpected end of input"},
		{name: "a header only", file: "header.csv", data: text("Account No;Name;City\r\n"), header: 3},
		{
			name: "a 200,000-column header", file: "wide.csv", data: text(wideHeader(200_000) + "\n1,2\n"),
			header: 200_000, rows: 1, codes: []Code{CodeRagged}, rowMsg: "wide.csv: line 2: 2 fields, the header has 200000",
		},
		{
			name: "a 20,000-column workbook", file: "wide.xlsx",
			data: workbook(func(p map[string]string) {
				var row strings.Builder
				for i := range 20_000 {
					fmt.Fprintf(&row, `<c t="inlineStr"><is><t>c%d</t></is></c>`, i)
				}
				p["xl/worksheets/sheet1.xml"] = `<worksheet ` + nsMain + `><sheetData><row r="1">` + row.String() + `</row></sheetData></worksheet>`
			}),
			openErr: `wide.xlsx: sheet "Sheet1" after row 1: cell in column 16385, beyond XFD`,
		},
		{
			name: "one 10 MB line", file: "oneline.csv", data: text(strings.Repeat("x", 10<<20)),
			header: 1,
		},
		{
			name: "a 10 MB record", file: "longrow.csv", data: text("a,b,c\n" + strings.Repeat("y", 10<<20) + ",1\n"),
			header: 3, rows: 1, codes: []Code{CodeRagged}, rowMsg: "longrow.csv: line 2: 2 fields, the header has 3",
		},
		{
			name: "a 10 MB line beyond the record limit", file: "limit.csv", data: text("a,b\n" + strings.Repeat("z", 10<<20) + "\n"),
			opts: Options{MaxRecordBytes: 1 << 20}, header: 2, is: ErrRecordTooLarge,
			finalErr: "limit.csv: line 2: record too large: over 1048576 bytes",
		},
		{
			name: "NUL bytes in a value", file: "nul.csv", data: text("a,b\n1,\x002\n3,4\n"),
			header: 2, rows: 2, codes: []Code{CodeNUL}, rowMsg: "nul.csv: line 2 column 2: NUL byte",
		},
		{
			name: "NUL padding after the last line", file: "padded.csv", data: text("a,b\n1,2\n" + strings.Repeat("\x00", 4096)),
			header: 2, rows: 2, codes: []Code{CodeNUL}, rowMsg: "padded.csv: line 3 column 1: NUL byte",
		},
		{
			name: "UTF-16 read as UTF-8", file: "utf16.csv", data: static(utf16Bytes("a;b\r\n1;2\r\n", false, false)),
			opts: Options{Encoding: "utf-8"}, openErr: "utf16.csv: reading header: line 1 column 1: NUL byte; the file looks like utf-16le: encoding: utf-16le?",
		},
		{
			name: "invalid UTF-8 given UTF-8", file: "latin.csv", data: text("id;name\n1;Caf\xe9\n2;Bob\n"),
			opts: Options{Encoding: "utf-8"}, header: 2, rows: 2, codes: []Code{CodeInvalidEncoding},
			rowMsg: "latin.csv: line 2 column 2: not valid UTF-8 (byte 0xE9); the file looks like windows-1252: encoding: windows-1252?",
		},
		{
			name: "invalid UTF-8 after the first 64 KiB", file: "late.csv",
			data:   text("id;name\n" + strings.Repeat("1;plain\n", 10_000) + "2;Caf\xe9\n"),
			header: 2, rows: 10_001, codes: []Code{CodeInvalidEncoding},
			rowMsg: "late.csv: line 10002 column 2: not valid UTF-8 (byte 0xE9); the first 64 KiB of the file are UTF-8, this is not: encoding: windows-1252?",
		},
		{
			name: "UTF-8 read as windows-1252", file: "utf8.csv", data: text("id;name\n1;\xc3\x81lvaro\n"),
			opts: Options{Encoding: "windows-1252"}, header: 2, rows: 1, codes: []Code{CodeInvalidEncoding},
			rowMsg: "utf8.csv: line 2 column 2: not valid windows-1252; the file looks like utf-8: encoding: utf-8?",
		},
		{
			name: "invalid UTF-8 in JSON", file: "latin.json", data: text(`[{"name":"Caf` + "\xe9" + `"}]`),
			header: 1, rows: 1, codes: []Code{CodeInvalidEncoding},
			rowMsg: `latin.json: line 1 column 1: field "name": not valid UTF-8 (byte 0xE9); the file looks like windows-1252: encoding: windows-1252?`,
		},
		{
			name: "an unterminated quote", file: "quote.csv", data: text("a,b\n1,\"abc\n2,3\n4,5\n"),
			header: 2, rows: 1, codes: []Code{CodeUnclosedQuote}, rowMsg: "quote.csv: line 2 column 2: quoted field not closed before the end of the file",
		},
		{
			name: "an unterminated quote in a large file", file: "quotebig.csv", data: text("a,b\n1,\"abc\n" + strings.Repeat("2,3\n", 1<<20)),
			opts: Options{MaxRecordBytes: 1 << 20}, header: 2, is: ErrRecordTooLarge,
			finalErr: "quotebig.csv: line 2: record too large: over 1048576 bytes (an unclosed quote?)",
		},
		{name: "CRLF and LF lines mixed", file: "mixed.csv", data: text("a,b\r\n1,2\n3,4\r\n5,6"), header: 2, rows: 3},
		{
			name: "a lone CR in an LF file", file: "cr.csv", data: text("a,b\n1,2\n3,4\r5,6\n"),
			header: 2, rows: 2, codes: []Code{CodeRagged},
			rowMsg: "cr.csv: line 3: 3 fields, the header has 2; a field holds a lone carriage return (CR), which does not end a line here: mixed line endings?",
		},
		{name: "another delimiter, detected", file: "semi.csv", data: text("a;b;c\n1;2;3\n"), header: 3, rows: 1},
		{
			name: "another delimiter than the one given", file: "semi2.csv", data: text("a;b;c\n1;2;3\n4;\"5,6\";7\n"),
			opts: Options{Delimiter: ","}, header: 1, rows: 2, codes: []Code{CodeRagged},
			rowMsg: "semi2.csv: line 3: 2 fields, the header has 1; the header has one column containing ';': delimiter: ';'?",
		},
		{
			name: "a title line above the header", file: "title.csv", data: text("Customer export 2024-03-01\n\nid,name\n1,Ann\n"),
			header: 1, rows: 2, codes: []Code{CodeRagged},
			rowMsg: `title.csv: line 3: 2 fields, the header has 1; the header is one column, "Customer export 2024-03-01": a title row above the header? header_row: 3?`,
		},
		{
			name: "a zip named .csv", file: "book.csv", data: workbook(func(map[string]string) {}),
			openErr: "book.csv: reading header: line 1 column 1: NUL byte; the file looks like a zip archive (an XLSX workbook? format: xlsx), not text",
		},
		{
			name: "a zip that is not an XLSX", file: "notes.xlsx",
			data:    func(t *testing.T) []byte { return zipParts(t, map[string]string{"notes.txt": "hello"}) },
			openErr: "notes.xlsx: not an XLSX workbook: no xl/workbook.xml",
		},
		{
			name: "a legacy .xls", file: "old.xlsx", data: text(oleMagic + strings.Repeat("\x00", 512)),
			openErr: "old.xlsx: opening workbook: an encrypted (password-protected) workbook or a legacy .xls file",
		},
		{
			name: "an XLSX zip bomb", file: "bomb.xlsx", data: zipBomb(100<<20, 1<<10),
			is: ErrXLSXTooLarge, openErr: "bomb.xlsx: workbook too large: xl/worksheets/sheet1.xml compresses 102400:1, a likely zip bomb",
		},
		{
			name: "an XLSX declaring 100 GiB", file: "huge.xlsx", data: zipBomb(100<<30, 64<<10),
			is: ErrXLSXTooLarge, openErr: "huge.xlsx: workbook too large: xl/worksheets/sheet1.xml is 107374182400 bytes uncompressed, the limit is 2147483648",
		},
		{
			name: "a billion laughs sheet", file: "laughs.xlsx",
			data: workbook(func(p map[string]string) {
				p["xl/worksheets/sheet1.xml"] = laughs + `<worksheet ` + nsMain + `><sheetData><row><c t="inlineStr"><is><t>&lol3;</t></is></c></row></sheetData></worksheet>`
			}),
			openErr: `laughs.xlsx: sheet "Sheet1" after row 0: XML DOCTYPE declarations are not supported`,
		},
		{
			name: "billion laughs shared strings", file: "laughs2.xlsx",
			data: workbook(func(p map[string]string) {
				p["xl/sharedStrings.xml"] = laughs + `<sst ` + nsMain + `><si><t>&lol3;</t></si></sst>`
			}),
			openErr: "laughs2.xlsx: reading shared strings: XML DOCTYPE declarations are not supported",
		},
		{
			name: "a billion laughs workbook part", file: "laughs3.xlsx",
			data: workbook(func(p map[string]string) {
				p["xl/workbook.xml"] = laughs + `<workbook ` + nsMain + ` xmlns:r="` + nsRel + `"><sheets><sheet name="&lol3;" sheetId="1" r:id="rId1"/></sheets></workbook>`
			}),
			openErr: "laughs3.xlsx: reading xl/workbook.xml: XML syntax error on line 1: invalid character entity &lol3;",
		},
		{
			name: "an XLSX with no sheets", file: "nosheets.xlsx",
			data:    workbook(func(p map[string]string) { p["xl/workbook.xml"] = `<workbook ` + nsMain + `><sheets/></workbook>` }),
			openErr: "nosheets.xlsx: the workbook has no sheets",
		},
		{
			name: "an XLSX whose sheet part is missing", file: "nopart.xlsx",
			data:    workbook(func(p map[string]string) { delete(p, "xl/worksheets/sheet1.xml") }),
			openErr: `nopart.xlsx: sheet "Sheet1": part xl/worksheets/sheet1.xml missing from the workbook`,
		},
		{
			name: "a sheet asked for that the workbook lacks", file: "many.xlsx", data: workbook(manySheets),
			opts:    Options{Sheet: "Customers"},
			openErr: `many.xlsx: no sheet "Customers" (the workbook has "Sheet number 1", "Sheet number 2", `,
		},
		{
			name: "a title row above a workbook's header", file: "title.xlsx",
			data: workbook(func(p map[string]string) {
				p["xl/worksheets/sheet1.xml"] = `<worksheet ` + nsMain + `><sheetData>` +
					`<row r="1"><c r="A1" t="inlineStr"><is><t>Customers</t></is></c></row>` +
					`<row r="3"><c r="A3" t="inlineStr"><is><t>id</t></is></c><c r="B3" t="inlineStr"><is><t>name</t></is></c></row>` +
					`</sheetData></worksheet>`
			}),
			header: 1, rows: 1, codes: []Code{CodeRagged},
			rowMsg: `title.xlsx: sheet "Sheet1" row 3 column B: a value beyond the header's 1 column; the header is one column, "Customers": a title row above the header? header_row: 3?`,
		},
		{
			name: "JSON that is not an array", file: "object.json", data: text(`{"customers": [{"id": 1}]}`),
			openErr: `object.json: records "": want an array, found an object; set records to the JSON pointer of the array (e.g. /data/items) or use ndjson`,
		},
		{
			name: "JSON that is a string", file: "string.json", data: text(`"` + strings.Repeat("s", 1<<20) + `"`),
			openErr: `string.json: records "": want an array, found a string`,
		},
		{
			name: "deeply nested JSON", file: "deep.json", data: text("[" + strings.Repeat(`{"a":`, 1<<20)),
			finalErr: "deep.json: line 1: invalid JSON: nesting too deep",
		},
		{
			name: "deeply nested arrays", file: "deep2.json", data: text(strings.Repeat("[", 10<<20)),
			finalErr: "deep2.json: line 1: invalid JSON: nesting too deep",
		},
		{
			name: "deeply nested NDJSON", file: "deep.ndjson", data: text("{\"a\":1}\n" + strings.Repeat(`{"a":`, 100_000) + "\n{\"a\":2}\n"),
			header: 1, rows: 3, codes: []Code{CodeSyntax}, rowMsg: "deep.ndjson: line 2: invalid JSON: nesting too deep",
		},
		{
			name: "NDJSON with a bad line", file: "bad.ndjson", data: text("{\"a\":1}\n{\"a\":\n{\"a\":3}\n"),
			header: 1, rows: 3, codes: []Code{CodeSyntax}, rowMsg: `bad.ndjson: line 2: invalid JSON: unexpected end of line, want a value`,
		},
		{
			name: "a 10 MB JSON key outside the header", file: "key.json",
			data:   text(`[{"a":1},{"` + strings.Repeat("k", 10<<20) + `":2}]`),
			opts:   Options{HeaderSample: 1},
			header: 1, rows: 2, codes: []Code{CodeUnknownField},
			rowMsg: `key.json: line 1: field "` + strings.Repeat("k", 200) + `"… (10,485,560 more characters) is not in the header (built from the first 1 records)`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), tc.file)
			require.NoError(t, os.WriteFile(path, tc.data(t), 0o600))
			opts := tc.opts
			opts.TempDir = t.TempDir()
			res := readHostile(t, path, opts)

			if tc.openErr != "" {
				checkFinal(t, tc, res.openErr, tc.openErr)
				return
			}
			require.NoError(t, res.openErr)
			assert.Len(t, res.header, tc.header, "header columns")
			assert.Equal(t, tc.rows, res.rows, "records")
			var codes []Code
			for _, re := range res.rowErrs {
				if !slices.Contains(codes, re.Code) {
					codes = append(codes, re.Code)
				}
				assertBounded(t, tc.file, re)
				assert.True(t, re.Line > 0 || re.Row > 0, "located: %v", re)
			}
			assert.Equal(t, tc.codes, codes, "row error codes")
			if len(res.rowErrs) > 0 {
				t.Log(res.rowErrs[0])
				assert.Equal(t, tc.rowMsg, res.rowErrs[0].Error())
			}
			if tc.finalErr == "" {
				require.NoError(t, res.final)
				return
			}
			checkFinal(t, tc, res.final, tc.finalErr)
		})
	}
}

// checkFinal checks a final error: want in it, bounded, errors.Is tc.is when set.
func checkFinal(t *testing.T, tc hostileCase, err error, want string) {
	t.Helper()
	require.Error(t, err)
	t.Log(err)
	assert.Contains(t, err.Error(), want)
	assertBounded(t, tc.file, err)
	if tc.is != nil {
		assert.ErrorIs(t, err, tc.is)
	}
}

// readHostile opens and drains the file at path, failing the test if that has not
// ended by shortly before the test's deadline (or within a minute without one).
func readHostile(t *testing.T, path string, opts Options) hostileResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	if deadline, ok := t.Deadline(); ok {
		ctx, cancel = context.WithDeadline(t.Context(), deadline.Add(-10*time.Second))
	}
	defer cancel()
	done := make(chan hostileResult, 1)
	go func() {
		var res hostileResult
		defer func() { done <- res }()
		rd, err := OpenFile(path, opts)
		if err != nil {
			res.openErr = err
			return
		}
		defer rd.Close()
		res.header = rd.Header()
		for {
			_, err := rd.Next()
			if err == io.EOF {
				return
			}
			var re *RowError
			if errors.As(err, &re) {
				res.rowErrs = append(res.rowErrs, re)
			} else if err != nil {
				res.final = err
				if _, again := rd.Next(); again != err {
					res.final = fmt.Errorf("final error %v not repeated: %v", err, again)
				}
				return
			}
			res.rows++
		}
	}()
	select {
	case res := <-done:
		return res
	case <-ctx.Done():
		t.Fatalf("reading %s has not ended: %v", filepath.Base(path), ctx.Err())
		return hostileResult{}
	}
}

// assertBounded checks that err is short and names the file it is about.
func assertBounded(t *testing.T, file string, err error) {
	t.Helper()
	msg := err.Error()
	assert.LessOrEqual(t, len(msg), maxErrorBytes, "error of %d bytes: %.300s…", len(msg), msg)
	assert.True(t, strings.HasPrefix(msg, file+": "), "names the file first: %.300s", msg)
	assert.Equal(t, 1, strings.Count(msg, file), "names the file once: %.300s", msg)
}

// zipBomb is a workbook whose sheet part declares size bytes uncompressed for
// compressed bytes of data; it is never inflated, so what those bytes hold
// does not matter.
func zipBomb(size uint64, compressed int) func(*testing.T) []byte {
	return func(t *testing.T) []byte {
		var buf bytes.Buffer
		zw := zipAllButSheet(t, &buf)
		w, err := zw.CreateRaw(&zip.FileHeader{
			Name: "xl/worksheets/sheet1.xml", Method: zip.Deflate,
			CompressedSize64: uint64(compressed), UncompressedSize64: size,
		})
		require.NoError(t, err)
		_, err = w.Write(make([]byte, compressed))
		require.NoError(t, err)
		require.NoError(t, zw.Close())
		return buf.Bytes()
	}
}
