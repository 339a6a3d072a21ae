package writer_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/dmfpipe/dmfpipe/exports/writer"
)

// hard holds values that break naive writers: delimiters, quotes, line breaks, leading
// spaces, non-ASCII (Latin, CJK, an emoji outside the BMP), a NUL.
var hard = [][]string{
	{"C001", `Contoso, "the" company`, "line1\r\nline2"},
	{"C002", " padded ", "Ærø 日本 😀"},
	{"C003", "", "tab\there\x00nul"},
}

var columns = []string{"ACCOUNT", "NAME", "NOTE"}

func write(t *testing.T, o writer.Options, tables map[string][][]string, order ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := writer.New(&buf, o)
	require.NoError(t, err)
	for _, name := range order {
		require.NoError(t, w.Begin(name, columns))
		for _, r := range tables[name] {
			require.NoError(t, w.Row(r))
		}
	}
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func readCSV(t *testing.T, data []byte, decode transform.Transformer, comma rune) [][]string {
	t.Helper()
	var r io.Reader = bytes.NewReader(data)
	if decode != nil {
		r = transform.NewReader(r, decode)
	}
	cr := csv.NewReader(r)
	cr.Comma = comma
	recs, err := cr.ReadAll()
	require.NoError(t, err)
	return recs
}

func TestCSVRoundTrips(t *testing.T) {
	t.Parallel()
	// encoding/csv reads a quoted "\r\n" back as "\n"; the bytes are checked below.
	want := [][]string{columns, {hard[0][0], hard[0][1], "line1\nline2"}, hard[1], hard[2]}
	for _, tc := range []struct {
		name    string
		opts    writer.Options
		bom     []byte
		decode  transform.Transformer
		comma   rune
		dropBOM int
	}{
		{"utf-8", writer.Options{}, nil, nil, ',', 0},
		{"utf-8 bom semicolon", writer.Options{BOM: true, Delimiter: ';'}, []byte{0xEF, 0xBB, 0xBF}, nil, ';', 3},
		{"utf-16 (CSV-Unicode)", writer.Options{Encoding: writer.UTF16, BOM: true}, []byte{0xFF, 0xFE},
			unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder(), ',', 0},
		{"utf-16be tab", writer.Options{Encoding: writer.UTF16BE, BOM: true, Delimiter: '\t'}, []byte{0xFE, 0xFF},
			unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder(), '\t', 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := write(t, tc.opts, map[string][][]string{"Customers V3": hard}, "Customers V3")
			if tc.bom != nil {
				require.True(t, bytes.HasPrefix(data, tc.bom), "starts with its byte order mark")
			}
			assert.Equal(t, want, readCSV(t, data[tc.dropBOM:], tc.decode, tc.comma))
		})
	}
}

func TestCSVOptions(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "ACCOUNT,NAME,NOTE\r\n"+`C001,"Contoso, ""the"" company","line1`+"\r\n"+`line2"`+"\r\n"+`C002," padded ",Ærø 日本 😀`+"\r\n"+
		"C003,,tab\there\x00nul\r\n", string(write(t, writer.Options{}, map[string][][]string{"T": hard}, "T")),
		"quoted where needed, quotes doubled, line breaks kept inside quotes")
	rows := [][]string{{"a", "b", "c"}}
	assert.Equal(t, "ACCOUNT,NAME,NOTE\r\na,b,c\r\n", string(write(t, writer.Options{}, map[string][][]string{"T": rows}, "T")))
	assert.Equal(t, "a,b,c\n", string(write(t, writer.Options{NoHeader: true, LF: true}, map[string][][]string{"T": rows}, "T")))
	assert.Equal(t, "ACCOUNT,NAME,NOTE\r\n", string(write(t, writer.Options{}, map[string][][]string{"T": nil}, "T")), "no rows: the header alone")
	assert.Equal(t, "", string(write(t, writer.Options{}, nil)), "no table: an empty file")
	// Windows-1252 carries Western European text and fails on the rest, located.
	latin := write(t, writer.Options{Encoding: writer.Windows1252}, map[string][][]string{"T": {{"Ærø", "€5", "x"}}}, "T")
	dec, err := io.ReadAll(transform.NewReader(bytes.NewReader(latin), charmap.Windows1252.NewDecoder()))
	require.NoError(t, err)
	assert.Equal(t, "ACCOUNT,NAME,NOTE\r\nÆrø,€5,x\r\n", string(dec))

	var buf bytes.Buffer
	w, err := writer.New(&buf, writer.Options{Encoding: writer.Windows1252})
	require.NoError(t, err)
	require.NoError(t, w.Begin("Customers V3", columns))
	require.NoError(t, w.Row([]string{"C1", "ok", "ok"}))
	err = w.Row([]string{"C2", "日本", "x"})
	var ve *writer.ValueError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, writer.ValueError{Table: "Customers V3", Row: 2, Column: "NAME", Msg: ve.Msg}, *ve)
	assert.Contains(t, ve.Error(), "Customers V3, row 2, column NAME: '日' (U+65E5) cannot be written in windows-1252")

	assert.ErrorIs(t, w.Begin("Second", columns), writer.ErrOneTable)
	assert.ErrorAs(t, w.Row([]string{"too", "few"}), &ve)
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	for _, o := range []writer.Options{
		{Format: "parquet"}, {Delimiter: '"'}, {Encoding: "ebcdic"}, {Encoding: writer.Windows1252, BOM: true},
		{Encoding: writer.ISO88591, Delimiter: '│'},
	} {
		assert.Error(t, o.Validate(), "%+v", o)
		_, err := writer.New(io.Discard, o)
		assert.Error(t, err)
	}
	assert.NoError(t, writer.Options{Format: writer.XLSX}.Validate())
}

func TestJSONAndNDJSON(t *testing.T) {
	t.Parallel()
	data := write(t, writer.Options{Format: writer.JSON}, map[string][][]string{"T": hard}, "T")
	var arr []map[string]string
	require.NoError(t, json.Unmarshal(data, &arr), "%s", data)
	require.Len(t, arr, len(hard))
	for i, r := range hard {
		assert.Equal(t, map[string]string{"ACCOUNT": r[0], "NAME": r[1], "NOTE": r[2]}, arr[i])
	}
	assert.True(t, strings.HasPrefix(string(data), `[`+"\n"+`{"ACCOUNT":"C001","NAME":"Contoso, \"the\" company"`), "keys in column order: %s", data)

	nd := write(t, writer.Options{Format: writer.NDJSON}, map[string][][]string{"T": hard}, "T")
	lines := strings.Split(strings.TrimSuffix(string(nd), "\n"), "\n")
	require.Len(t, lines, len(hard), "one object a line, line breaks in values escaped")
	for i, l := range lines {
		var m map[string]string
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		assert.Equal(t, hard[i][2], m["NOTE"])
	}
	assert.Equal(t, "[]\n", string(write(t, writer.Options{Format: writer.JSON}, map[string][][]string{"T": nil}, "T")))
	assert.Equal(t, "", string(write(t, writer.Options{Format: writer.NDJSON}, map[string][][]string{"T": nil}, "T")))
	// Invalid UTF-8 becomes U+FFFD rather than invalid JSON.
	bad := write(t, writer.Options{Format: writer.NDJSON}, map[string][][]string{"T": {{"a\xffb", "\u2028", "x"}}}, "T")
	var m map[string]string
	require.NoError(t, json.Unmarshal(bad, &m))
	assert.Equal(t, "a\uFFFDb", m["ACCOUNT"])
	assert.Equal(t, "\u2028", m["NAME"])
}

func readXLSX(t *testing.T, data []byte) (*excelize.File, map[string][][]string) {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	out := map[string][][]string{}
	for _, s := range f.GetSheetList() {
		rows, err := f.GetRows(s)
		require.NoError(t, err)
		out[s] = rows
	}
	return f, out
}

func TestXLSXSheetPerTableDeterministic(t *testing.T) {
	t.Parallel()
	xlsxHard := [][]string{hard[0], hard[1], {"C003", "", "tab\there"}}
	tables := map[string][][]string{
		"Customers V3":                          xlsxHard,
		"Sales order headers V2":                {{"SO1", "x", "y"}},
		"A name that is longer than thirty-one": {{"1", "2", "3"}},
		"Bad/name:[x]":                          {{"4", "5", "6"}},
	}
	order := []string{"Customers V3", "Sales order headers V2", "A name that is longer than thirty-one", "Bad/name:[x]"}
	data := write(t, writer.Options{Format: writer.XLSX}, tables, order...)
	f, got := readXLSX(t, data)
	assert.Equal(t, []string{"Customers V3", "Sales order headers V2", "A name that is longer than thir", "Bad_name__x_"}, f.GetSheetList())
	assert.Equal(t, append([][]string{columns}, xlsxHard...), got["Customers V3"])
	assert.Equal(t, [][]string{columns, {"SO1", "x", "y"}}, got["Sales order headers V2"])
	for range 3 {
		again := write(t, writer.Options{Format: writer.XLSX}, tables, order...)
		require.True(t, bytes.Equal(data, again), "the same tables give the same bytes")
	}
	one := write(t, writer.Options{Format: writer.XLSX}, tables, "Customers V3")
	require.True(t, bytes.Equal(one, write(t, writer.Options{Format: writer.XLSX}, tables, "Customers V3")))
}

func TestXLSXLimits(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, err := writer.New(&buf, writer.Options{Format: writer.XLSX})
	require.NoError(t, err)
	require.NoError(t, w.Begin("Customers V3", columns))
	require.NoError(t, w.Row([]string{"ok", strings.Repeat("é", writer.MaxXLSXCellChars), ""}), "32,767 characters fit")
	err = w.Row([]string{"long", strings.Repeat("😀", writer.MaxXLSXCellChars/2+1), ""})
	var ve *writer.ValueError
	require.ErrorAs(t, err, &ve, "an emoji is two UTF-16 units: 16,384 of them are 32,768")
	assert.Equal(t, int64(2), ve.Row)
	assert.Equal(t, "NAME", ve.Column)
	assert.Contains(t, ve.Msg, "Excel's limit is 32767 a cell")

	err = w.Row([]string{"nul", "a\x00b", ""})
	require.ErrorAs(t, err, &ve, "a control character is refused, not turned into U+FFFD")
	assert.Contains(t, ve.Msg, "U+0000")

	cols := make([]string, writer.MaxXLSXColumns+1)
	for i := range cols {
		cols[i] = "C"
	}
	w2, err := writer.New(io.Discard, writer.Options{Format: writer.XLSX})
	require.NoError(t, err)
	assert.ErrorAs(t, w2.Begin("Wide", cols), &ve)
}

// A sheet takes Excel's 1,048,576 rows, the header included, and fails clearly on the
// next, rather than dropping it or writing a workbook Excel cannot open.
func TestXLSXRowLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a million rows")
	}
	t.Parallel()
	w, err := writer.New(io.Discard, writer.Options{Format: writer.XLSX})
	require.NoError(t, err)
	require.NoError(t, w.Begin("Inventory", []string{"ITEM"}))
	row := []string{"1"}
	for i := 1; i < writer.MaxXLSXRows; i++ {
		require.NoError(t, w.Row(row))
	}
	err = w.Row(row)
	var ve *writer.ValueError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, int64(writer.MaxXLSXRows), ve.Row)
	assert.Contains(t, ve.Error(), "Excel's limit is 1048576 rows a sheet")
	assert.Contains(t, ve.Error(), "destination.split.rows")
	require.NoError(t, w.Close(), "the rows written before the limit make a workbook")
}
