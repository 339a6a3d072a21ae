package reader

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"
)

const (
	nsMain = `xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"`
	nsRel  = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
)

// workbookParts are the parts of a minimal workbook with one sheet, as Excel
// names them; tests override or add parts.
func workbookParts() map[string]string {
	return map[string]string{
		"[Content_Types].xml": `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>`,
		"_rels/.rels": `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="` + nsRel + `/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
		"xl/workbook.xml": `<?xml version="1.0" encoding="UTF-8"?><workbook ` + nsMain + ` xmlns:r="` + nsRel + `">` +
			`<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`,
		"xl/_rels/workbook.xml.rels": `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="` + nsRel + `/worksheet" Target="worksheets/sheet1.xml"/>` +
			`<Relationship Id="rId2" Type="` + nsRel + `/sharedStrings" Target="sharedStrings.xml"/>` +
			`<Relationship Id="rId3" Type="` + nsRel + `/styles" Target="/xl/styles.xml"/></Relationships>`,
		"xl/worksheets/sheet1.xml": `<worksheet ` + nsMain + `><sheetData/></worksheet>`,
	}
}

// zipParts writes parts into a zip in name order.
func zipParts(t testing.TB, parts map[string]string) []byte {
	t.Helper()
	names := make([]string, 0, len(parts))
	for name := range parts {
		names = append(names, name)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range names {
		w, err := zw.Create(name)
		require.NoError(t, err)
		_, err = io.WriteString(w, parts[name])
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// zipAllButSheet starts a zip in w with the parts of workbookParts but the
// sheet, which the caller adds its own way.
func zipAllButSheet(t testing.TB, w io.Writer) *zip.Writer {
	t.Helper()
	zw := zip.NewWriter(w)
	for name, body := range workbookParts() {
		if name == "xl/worksheets/sheet1.xml" {
			continue
		}
		w, err := zw.Create(name)
		require.NoError(t, err)
		_, err = io.WriteString(w, body)
		require.NoError(t, err)
	}
	return zw
}

func openXLSXBytes(t *testing.T, b []byte, opts Options) Reader {
	t.Helper()
	opts.Format = FormatXLSX
	opts.TempDir = t.TempDir()
	rd, err := Open(bytes.NewReader(b), opts)
	require.NoError(t, err)
	t.Cleanup(func() { rd.Close() })
	return rd
}

func TestXLSXWrittenByExcelize(t *testing.T) {
	t.Parallel()
	f := excelize.NewFile()
	defer f.Close()
	require.NoError(t, f.SetSheetName("Sheet1", "Customers"))
	_, err := f.NewSheet("Other")
	require.NoError(t, err)
	require.NoError(t, f.SetSheetRow("Other", "A1", &[]any{"x"}))

	dateStyle, err := f.NewStyle(&excelize.Style{NumFmt: 14})
	require.NoError(t, err)
	timeStyle, err := f.NewStyle(&excelize.Style{NumFmt: 21})
	require.NoError(t, err)
	stampFmt := `yyyy\-mm\-dd hh:mm;@`
	stampStyle, err := f.NewStyle(&excelize.Style{CustomNumFmt: &stampFmt})
	require.NoError(t, err)
	moneyFmt := `#,##0.00 "EUR"`
	moneyStyle, err := f.NewStyle(&excelize.Style{CustomNumFmt: &moneyFmt})
	require.NoError(t, err)
	fill, err := f.NewStyle(&excelize.Style{Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FFFF00"}}})
	require.NoError(t, err)

	s := "Customers"
	require.NoError(t, f.SetSheetRow(s, "A1", &[]any{"Account", "Name", "Joined", "Balance", "Active", "Time", "Stamp", "Note"}))
	require.NoError(t, f.SetSheetRow(s, "A2", &[]any{"C001", "Ann", 45352, 1234.5, true, 0.5, 45352.75, "first"}))
	require.NoError(t, f.SetCellRichText(s, "H2", []excelize.RichTextRun{{Text: "bold "}, {Text: "and plain"}}))
	require.NoError(t, f.SetCellStyle(s, "C2", "C2", dateStyle))
	require.NoError(t, f.SetCellStyle(s, "D2", "D2", moneyStyle))
	require.NoError(t, f.SetCellStyle(s, "F2", "F2", timeStyle))
	require.NoError(t, f.SetCellStyle(s, "G2", "G2", stampStyle))
	// Row 3 has gaps; row 4 has trailing styled empty cells; rows 5-60 are empty but styled.
	require.NoError(t, f.SetCellValue(s, "A3", "C002"))
	require.NoError(t, f.SetCellValue(s, "D3", 0.1+0.2))
	require.NoError(t, f.SetCellValue(s, "G3", int64(12345678901234567)))
	require.NoError(t, f.SetCellValue(s, "A4", "C003"))
	require.NoError(t, f.SetCellStyle(s, "A4", "H4", fill))
	require.NoError(t, f.SetCellStyle(s, "A5", "H60", fill))
	var buf bytes.Buffer
	require.NoError(t, f.Write(&buf))

	rd := openXLSXBytes(t, buf.Bytes(), Options{FileName: "customers.xlsx"})
	info := rd.Info()
	assert.Equal(t, "Customers", info.Sheet)
	assert.Equal(t, []string{"Customers", "Other"}, info.Sheets)
	assert.False(t, info.Date1904)
	assert.Equal(t, []string{"Account", "Name", "Joined", "Balance", "Active", "Time", "Stamp", "Note"}, rd.Header())
	rows, err := readAll(t, rd)
	require.NoError(t, err)
	assert.Equal(t, []row{
		{Row: 2, Values: []string{"C001", "Ann", "2024-03-01", "1234.5", "TRUE", "12:00:00", "2024-03-01T18:00:00", "bold and plain"}},
		{Row: 3, Values: []string{"C002", "", "", "0.3", "", "", "12345678901234567", ""}},
		{Row: 4, Values: []string{"C003", "", "", "", "", "", "", ""}},
	}, rows)

	// Cross-check the values without a date format against excelize itself.
	want, err := f.GetRows(s, excelize.Options{RawCellValue: true})
	require.NoError(t, err)
	for i, r := range rows {
		for _, col := range []int{0, 1, 3, 7} {
			if col < len(want[i+1]) {
				assert.Equal(t, want[i+1][col], r.Values[col], "row %d col %d", r.Row, col+1)
			}
		}
	}
}

func TestXLSXDate1904ByExcelize(t *testing.T) {
	t.Parallel()
	f := excelize.NewFile()
	defer f.Close()
	yes := true
	require.NoError(t, f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &yes}))
	dateStyle, err := f.NewStyle(&excelize.Style{NumFmt: 14})
	require.NoError(t, err)
	dtStyle, err := f.NewStyle(&excelize.Style{NumFmt: 22})
	require.NoError(t, err)
	require.NoError(t, f.SetSheetRow("Sheet1", "A1", &[]any{"d", "dt"}))
	require.NoError(t, f.SetSheetRow("Sheet1", "A2", &[]any{0, 43890.5}))
	require.NoError(t, f.SetSheetRow("Sheet1", "A3", &[]any{1, 0.25}))
	require.NoError(t, f.SetCellStyle("Sheet1", "A2", "A3", dateStyle))
	require.NoError(t, f.SetCellStyle("Sheet1", "B2", "B3", dtStyle))
	var buf bytes.Buffer
	require.NoError(t, f.Write(&buf))

	rd := openXLSXBytes(t, buf.Bytes(), Options{})
	assert.True(t, rd.Info().Date1904)
	rows, err := readAll(t, rd)
	require.NoError(t, err)
	assert.Equal(t, []row{
		{Row: 2, Values: []string{"1904-01-01", "2024-03-01T12:00:00"}},
		{Row: 3, Values: []string{"1904-01-02", "1904-01-01T06:00:00"}},
	}, rows)
}

// handWorkbook is written the way other producers do it: prefixed
// namespaces, inline strings, cells without references, phonetic runs,
// escapes of every kind, the 1904 date system.
func handWorkbook(t testing.TB) []byte {
	parts := workbookParts()
	parts["xl/workbook.xml"] = `<?xml version="1.0" encoding="UTF-8"?><x:workbook xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="` + nsRel + `">` +
		`<x:workbookPr date1904="true"/><x:sheets><x:sheet name="Data &amp; more" sheetId="1" r:id="rId1"/><x:sheet name="NoRefs" sheetId="2" r:id="rId9"/></x:sheets></x:workbook>`
	parts["xl/_rels/workbook.xml.rels"] = strings.Replace(parts["xl/_rels/workbook.xml.rels"], "</Relationships>",
		`<Relationship Id="rId9" Type="`+nsRel+`/worksheet" Target="worksheets/sheet2.xml"/></Relationships>`, 1)
	parts["xl/sharedStrings.xml"] = `<?xml version="1.0" encoding="UTF-8"?><sst ` + nsMain + ` count="3" uniqueCount="3">` +
		`<si><t>Date</t></si><si><r><t xml:space="preserve">rich </t></r><r><rPr><b/></rPr><t>text &lt;b&gt;</t></r></si><si/></sst>`
	parts["xl/styles.xml"] = `<?xml version="1.0" encoding="UTF-8"?><styleSheet ` + nsMain + `>` +
		`<numFmts count="1"><numFmt numFmtId="164" formatCode="dd/mm/yyyy;@"/></numFmts>` +
		`<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="164" applyNumberFormat="1"/></cellXfs></styleSheet>`
	parts["xl/worksheets/sheet1.xml"] = `<?xml version="1.0" encoding="UTF-8"?>
<!-- written by hand -->
<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<x:dimension ref="A1:E9"/>
<x:sheetData>
<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>Code</x:t></x:is></x:c><x:c t="inlineStr"><x:is><x:t>Name</x:t></x:is></x:c><x:c t="s"><x:v>0</x:v></x:c><x:c t='inlineStr'><x:is><x:t>Flag</x:t></x:is></x:c><x:c t="inlineStr"><x:is><x:t>Calc</x:t></x:is></x:c></x:row>
<x:row r="2"><x:c r="A2" t="inlineStr"><x:is><x:t xml:space="preserve"> A&amp;B </x:t></x:is></x:c><x:c r="B2" t="inlineStr"><x:is><x:r><x:t>Ja</x:t></x:r><x:r><x:rPr><x:b/></x:rPr><x:t>pan</x:t></x:r><x:rPh sb="0" eb="1"><x:t>ジャ</x:t></x:rPh></x:is></x:c><x:c r="C2" s="1"><x:v>1462</x:v></x:c><x:c r="D2" t="b"><x:v>0</x:v></x:c><x:c r="E2" t="str"><x:f>A2&amp;"x"</x:f><x:v> A&amp;Bx</x:v></x:c></x:row>
<x:row r="4"><x:c r="A4" t="inlineStr"><x:is><x:t>line1_x000D__x000A_line2 &#233;&#x20AC;</x:t></x:is></x:c><x:c r="C4" s="1"><x:v>0</x:v></x:c><x:c r="E4" t="e"><x:v>#N/A</x:v></x:c></x:row>
<x:row r="5"><x:c r="A5" t="inlineStr"><x:is><x:t><![CDATA[<raw> & "cdata"]]></x:t></x:is></x:c><x:c r="B5" t="s"><x:v>1</x:v></x:c><x:c r="C5" t="s"><x:v>2</x:v></x:c><x:c r="D5" t="d"><x:v>2024-03-01T10:00:00</x:v></x:c></x:row>
<x:row r="6" spans="1:5"><x:c r="A6" t="s"><x:v>99</x:v></x:c><x:c r="B6"><x:v>6</x:v></x:c></x:row>
<x:row r="7"><x:c r="A7" s="1"/><x:c r="B7" s="1"><x:v></x:v></x:c></x:row>
<x:row r="8"/>
<x:row r="9"><x:c r="A9"><x:v>9</x:v></x:c><x:c r="G9"><x:v>7</x:v></x:c></x:row>
</x:sheetData>
<x:mergeCells count="1"><x:mergeCell ref="A1:B1"/></x:mergeCells>
</x:worksheet>`
	parts["xl/worksheets/sheet2.xml"] = `<worksheet ` + nsMain + `><sheetData><row><c t="inlineStr"><is><t>a</t></is></c><c t="inlineStr"><is><t>b</t></is></c></row>` +
		`<row><c><v>1</v></c><c><v>2</v></c></row></sheetData></worksheet>`
	return zipParts(t, parts)
}

func TestXLSXHandZipped(t *testing.T) {
	t.Parallel()
	rd := openXLSXBytes(t, handWorkbook(t), Options{FileName: "hand.xlsx"})
	info := rd.Info()
	assert.True(t, info.Date1904)
	assert.Equal(t, "Data & more", info.Sheet)
	assert.Equal(t, []string{"Code", "Name", "Date", "Flag", "Calc"}, rd.Header())
	rows, err := readAll(t, rd)
	require.NoError(t, err)
	assert.Equal(t, []row{
		{Row: 2, Values: []string{" A&B ", "Japan", "1908-01-02", "FALSE", " A&Bx"}},
		{Row: 4, Values: []string{"line1\r\nline2 é€", "", "1904-01-01", "", "#N/A"}},
		{Row: 5, Values: []string{`<raw> & "cdata"`, "rich text <b>", "", "2024-03-01T10:00:00", ""}},
		{Row: 6, Values: []string{"", "6", "", "", ""}, Code: CodeBadCell, Col: 1},
		{Row: 9, Values: []string{"9", "", "", "", "", "", "7"}, Code: CodeRagged, Col: 7},
	}, rows)

	rd = openXLSXBytes(t, handWorkbook(t), Options{Sheet: "norefs"})
	assert.Equal(t, []string{"a", "b"}, rd.Header())
	rows, err = readAll(t, rd)
	require.NoError(t, err)
	assert.Equal(t, []row{{Row: 2, Values: []string{"1", "2"}}}, rows)
}

func TestXLSXSheetChoice(t *testing.T) {
	t.Parallel()
	wb := handWorkbook(t)
	for sheet, want := range map[string]string{"": "Data & more", "Data & more": "Data & more", "2": "NoRefs", "1": "Data & more", "NOREFS": "NoRefs"} {
		rd := openXLSXBytes(t, wb, Options{Sheet: sheet})
		assert.Equal(t, want, rd.Info().Sheet, "sheet %q", sheet)
	}
	_, err := Open(bytes.NewReader(wb), Options{Format: FormatXLSX, Sheet: "3", TempDir: t.TempDir()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `no sheet "3" (the workbook has "Data & more", "NoRefs")`)
}

func TestXLSXHeaderRowAndNoHeader(t *testing.T) {
	t.Parallel()
	parts := workbookParts()
	parts["xl/worksheets/sheet1.xml"] = `<worksheet ` + nsMain + `><sheetData>` +
		`<row r="1"><c t="inlineStr"><is><t>Report</t></is></c></row>` +
		`<row r="3"><c t="inlineStr"><is><t>id</t></is></c><c t="inlineStr"><is><t>name</t></is></c></row>` +
		`<row r="4"><c><v>1</v></c><c t="inlineStr"><is><t>Ann</t></is></c></row>` +
		`</sheetData></worksheet>`
	wb := zipParts(t, parts)

	rd := openXLSXBytes(t, wb, Options{HeaderRow: 3})
	assert.Equal(t, []string{"id", "name"}, rd.Header())
	rows, err := readAll(t, rd)
	require.NoError(t, err)
	assert.Equal(t, []row{{Row: 4, Values: []string{"1", "Ann"}}}, rows)

	rd = openXLSXBytes(t, wb, Options{SkipRows: 2})
	assert.Equal(t, []string{"id", "name"}, rd.Header())

	rd = openXLSXBytes(t, wb, Options{NoHeader: true, SkipRows: 1})
	assert.Equal(t, []string{"1", "2"}, rd.Header())
	rows, err = readAll(t, rd)
	require.NoError(t, err)
	assert.Equal(t, []row{{Row: 3, Values: []string{"id", "name"}}, {Row: 4, Values: []string{"1", "Ann"}}}, rows)

	_, err = Open(bytes.NewReader(wb), Options{Format: FormatXLSX, HeaderRow: 2, TempDir: t.TempDir()})
	require.ErrorContains(t, err, "header row 2 is empty")
}

func TestXLSXSpoolRemovedOnClose(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rd, err := Open(hideReaderAt{bytes.NewReader(handWorkbook(t))}, Options{Format: FormatXLSX, TempDir: dir})
	require.NoError(t, err)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "spooled while open")
	_, err = readAll(t, rd)
	require.NoError(t, err)
	require.NoError(t, rd.Close())
	entries, err = os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "removed on close")

	// A failed open removes its spool too.
	_, err = Open(hideReaderAt{strings.NewReader("PK not a zip")}, Options{Format: FormatXLSX, TempDir: dir})
	require.Error(t, err)
	entries, err = os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

func TestXLSXFromFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "book.bin")
	require.NoError(t, os.WriteFile(path, handWorkbook(t), 0o600))
	rd, err := OpenFile(path, Options{}) // sniffed: a zip is XLSX
	require.NoError(t, err)
	assert.Equal(t, FormatXLSX, rd.Info().Format)
	rows, err := readAll(t, rd)
	require.NoError(t, err)
	assert.Len(t, rows, 5)
	require.NoError(t, rd.Close())
}

func TestXLSXSizeLimits(t *testing.T) {
	t.Parallel()
	_, err := Open(bytes.NewReader(handWorkbook(t)), Options{Format: FormatXLSX, MaxXLSXBytes: 500, TempDir: t.TempDir()})
	require.ErrorIs(t, err, ErrXLSXTooLarge)

	// A part that compresses like a zip bomb is refused before it is read.
	var buf bytes.Buffer
	zw := zipAllButSheet(t, &buf)
	w, err := zw.Create("xl/worksheets/sheet1.xml")
	require.NoError(t, err)
	_, err = io.WriteString(w, `<worksheet `+nsMain+`><sheetData>`)
	require.NoError(t, err)
	_, err = io.CopyN(w, zeroSpaces{}, maxXLSXRatioFloor+1)
	require.NoError(t, err)
	_, err = io.WriteString(w, `</sheetData></worksheet>`)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	_, err = Open(bytes.NewReader(buf.Bytes()), Options{Format: FormatXLSX, TempDir: t.TempDir()})
	require.ErrorIs(t, err, ErrXLSXTooLarge)
	assert.Contains(t, err.Error(), "zip bomb")
}

// zeroSpaces is an endless stream of spaces.
type zeroSpaces struct{}

func (zeroSpaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// hideReaderAt keeps Open from seeing an *os.File.
type hideReaderAt struct{ r io.Reader }

func (h hideReaderAt) Read(p []byte) (int, error) { return h.r.Read(p) }

func TestXLSXBrokenWorkbooks(t *testing.T) {
	t.Parallel()
	_, err := Open(bytes.NewReader([]byte(oleMagic+"rest of a compound file")), Options{Format: FormatXLSX, TempDir: t.TempDir()})
	require.ErrorContains(t, err, "password-protected")

	for name, mutate := range map[string]func(map[string]string){
		"no workbook":        func(p map[string]string) { delete(p, "xl/workbook.xml") },
		"no sheets":          func(p map[string]string) { p["xl/workbook.xml"] = `<workbook ` + nsMain + `><sheets/></workbook>` },
		"missing sheet part": func(p map[string]string) { delete(p, "xl/worksheets/sheet1.xml") },
		"doctype": func(p map[string]string) {
			p["xl/worksheets/sheet1.xml"] = `<!DOCTYPE x [<!ENTITY a "aaaa">]><worksheet><sheetData><row><c><v>&a;</v></c></row></sheetData></worksheet>`
		},
		"truncated sheet": func(p map[string]string) {
			p["xl/worksheets/sheet1.xml"] = `<worksheet><sheetData><row r="1"><c t="inlineStr"><is><t>a`
		},
	} {
		parts := workbookParts()
		mutate(parts)
		_, err := Open(bytes.NewReader(zipParts(t, parts)), Options{Format: FormatXLSX, TempDir: t.TempDir()})
		assert.Error(t, err, name)
	}
}

func TestSharedStringsChunks(t *testing.T) {
	t.Parallel()
	var want []string
	var xml strings.Builder
	xml.WriteString(`<sst ` + nsMain + ` uniqueCount="6000">`)
	for i := range 6000 {
		s := fmt.Sprintf("%d:%s", i, strings.Repeat("é", 400+i%7))
		want = append(want, s)
		fmt.Fprintf(&xml, "<si><t>%s</t></si>", s)
	}
	xml.WriteString(`<si><t>bad &#0;</t></si></sst>`)
	sst, err := readSharedStrings(strings.NewReader(xml.String()), uint64(xml.Len()))
	require.NoError(t, err)
	require.Greater(t, len(sst.chunks), 1, "spans chunks")
	require.Equal(t, len(want)+1, sst.len())
	for i, s := range want {
		require.Equal(t, s, sst.get(i))
	}
	assert.Equal(t, "bad \uFFFD", sst.get(len(want)))
	assert.Equal(t, map[int]Code{len(want): CodeNUL}, sst.bad)
}

func TestDateFormats(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]dateKind{
		"General":                   notDate,
		"0.00":                      notDate,
		"#,##0.00 \"days\"":         notDate,
		"0.00E+00":                  notDate,
		"[Red]#,##0;[Blue]-#,##0":   notDate,
		`_-* #,##0.00\ "€"_-`:       notDate,
		"@":                         notDate,
		"yyyy-mm-dd":                kindDate,
		"dd/mm/yyyy;@":              kindDate,
		"[$-409]mmmm d, yyyy":       kindDate,
		"mmm-yy":                    kindDate,
		"h:mm AM/PM":                kindTime,
		"[h]:mm:ss":                 kindTime,
		"mm:ss.0":                   kindTime,
		"yyyy-mm-dd hh:mm:ss":       kindDateTime,
		`d/m/yyyy\ h:mm`:            kindDateTime,
		`"Date: "0`:                 notDate,
		"[$€-2] #,##0.00;[RED]-0.0": notDate,
	} {
		assert.Equal(t, want, formatDateKind(code), code)
	}
	assert.Equal(t, kindDate, builtinDateKind(14))
	assert.Equal(t, kindDateTime, builtinDateKind(22))
	assert.Equal(t, kindTime, builtinDateKind(46))
	assert.Equal(t, notDate, builtinDateKind(49))

	for _, tc := range []struct {
		v        float64
		kind     dateKind
		date1904 bool
		want     string // "" means not converted
	}{
		{1, kindDate, false, "1900-01-01"},
		{59, kindDate, false, "1900-02-28"},
		{60, kindDate, false, ""},
		{61, kindDate, false, "1900-03-01"},
		{0, kindDate, false, ""},
		{45352, kindDate, false, "2024-03-01"},
		{45352.5, kindDate, false, "2024-03-01T12:00:00"},
		{45352.000011574, kindDateTime, false, "2024-03-01T00:00:01"},
		{0.75, kindTime, false, "18:00:00"},
		{0.5000005787, kindTime, false, "12:00:00.050"},
		{1.25, kindTime, false, "1900-01-01T06:00:00"},
		{0, kindDate, true, "1904-01-01"},
		{43890.5, kindDateTime, true, "2024-03-01T12:00:00"},
		{0.999999999, kindDate, false, "1900-01-01"},
		{2958465, kindDate, false, "9999-12-31"},
		{2958466, kindDate, false, ""},
		{-1, kindDate, false, ""},
	} {
		got, ok := appendSerial(nil, tc.v, tc.kind, tc.date1904)
		if tc.want == "" {
			assert.False(t, ok, "%v", tc.v)
			continue
		}
		assert.True(t, ok, "%v", tc.v)
		assert.Equal(t, tc.want, string(got), "%v", tc.v)
	}
}
