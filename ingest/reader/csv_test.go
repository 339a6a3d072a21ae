package reader

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func utf16Bytes(s string, bigEndian, bom bool) []byte {
	var out []byte
	units := utf16.Encode([]rune(s))
	if bom {
		units = append([]uint16{0xFEFF}, units...)
	}
	for _, u := range units {
		if bigEndian {
			out = append(out, byte(u>>8), byte(u))
		} else {
			out = append(out, byte(u), byte(u>>8))
		}
	}
	return out
}

func TestCSV(t *testing.T) {
	t.Parallel()
	lone := utf16Bytes("id;name\n1;", false, true)
	lone = append(lone, 0x00, 0xD8) // an unpaired high surrogate
	lone = append(lone, utf16Bytes("x\n2;ok\n", false, false)...)

	tests := []struct {
		name       string
		in         []byte
		opts       Options
		header     []string
		rows       []row
		encoding   string
		encSource  string
		delim      byte
		delimFound bool
	}{
		{
			name:   "comma with CRLF",
			in:     []byte("id,name\r\n1,Ann\r\n2,Bob\r\n"),
			header: []string{"id", "name"},
			rows:   []row{{Line: 2, Values: []string{"1", "Ann"}}, {Line: 3, Values: []string{"2", "Bob"}}},
			delim:  ',', delimFound: true, encoding: "utf-8", encSource: "detected",
		},
		{
			name:   "utf-8 BOM removed and semicolon detected",
			in:     []byte("\xEF\xBB\xBFAccount;Name;City\n1;Zoë;Gent\n"),
			header: []string{"Account", "Name", "City"},
			rows:   []row{{Line: 2, Values: []string{"1", "Zoë", "Gent"}}},
			delim:  ';', delimFound: true, encoding: "utf-8", encSource: "bom",
		},
		{
			name:   "tab detected",
			in:     []byte("a\tb\tc\n1\t2,5\t3\n4\t5,5\t6\n"),
			header: []string{"a", "b", "c"},
			rows:   []row{{Line: 2, Values: []string{"1", "2,5", "3"}}, {Line: 3, Values: []string{"4", "5,5", "6"}}},
			delim:  '\t', delimFound: true, encoding: "utf-8", encSource: "detected",
		},
		{
			name:   "pipe detected over a comma inside text",
			in:     []byte("a|b\nx, y|1\nz|2\n"),
			header: []string{"a", "b"},
			rows:   []row{{Line: 2, Values: []string{"x, y", "1"}}, {Line: 3, Values: []string{"z", "2"}}},
			delim:  '|', delimFound: true, encoding: "utf-8", encSource: "detected",
		},
		{
			name:   "semicolon wins when commas are inconsistent",
			in:     []byte("name;amount\nA, B;1,5\nC;2\nD;3,25\n"),
			header: []string{"name", "amount"},
			rows: []row{
				{Line: 2, Values: []string{"A, B", "1,5"}},
				{Line: 3, Values: []string{"C", "2"}},
				{Line: 4, Values: []string{"D", "3,25"}},
			},
			delim: ';', delimFound: true, encoding: "utf-8", encSource: "detected",
		},
		{
			name:   "delimiter given",
			in:     []byte("a;b,c\n1;2,3\n"),
			opts:   Options{Delimiter: ","},
			header: []string{"a;b", "c"},
			rows:   []row{{Line: 2, Values: []string{"1;2", "3"}}},
			delim:  ',', encoding: "utf-8", encSource: "detected",
		},
		{
			name:   "quotes: delimiters, doubled quotes and newlines inside; line numbers stay right",
			in:     []byte("id,note,x\n1,\"a, \"\"b\"\"\",y\n2,\"line1\nline2\r\nline3\",z\n3,plain,\"\"\n"),
			header: []string{"id", "note", "x"},
			rows: []row{
				{Line: 2, Values: []string{"1", `a, "b"`, "y"}},
				{Line: 3, Values: []string{"2", "line1\nline2\r\nline3", "z"}},
				{Line: 6, Values: []string{"3", "plain", ""}},
			},
			delim: ',', delimFound: true, encoding: "utf-8", encSource: "detected",
		},
		{
			name:   "a quote inside an unquoted field is text",
			in:     []byte("size,item\n12\" pipe,x\n"),
			header: []string{"size", "item"},
			rows:   []row{{Line: 2, Values: []string{`12" pipe`, "x"}}},
			delim:  ',', delimFound: true, encoding: "utf-8", encSource: "detected",
		},
		{
			name:   "ragged rows are located and reading goes on",
			in:     []byte("a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n"),
			header: []string{"a", "b", "c"},
			rows: []row{
				{Line: 2, Values: []string{"1", "2", "3"}},
				{Line: 3, Values: []string{"4", "5"}, Code: CodeRagged},
				{Line: 4, Values: []string{"6", "7", "8", "9"}, Code: CodeRagged},
				{Line: 5, Values: []string{"10", "11", "12"}},
			},
			delim: ',', delimFound: true, encoding: "utf-8", encSource: "detected",
		},
		{
			name:   "invalid UTF-8 in a utf-8 file",
			in:     []byte("a,b\n1,ok\n2,bad\xff\xfe\n3,ok\n"),
			opts:   Options{Encoding: "UTF-8"},
			header: []string{"a", "b"},
			rows: []row{
				{Line: 2, Values: []string{"1", "ok"}},
				{Line: 3, Values: []string{"2", "bad\uFFFD"}, Code: CodeInvalidEncoding, Col: 2},
				{Line: 4, Values: []string{"3", "ok"}},
			},
			delim: ',', delimFound: true, encoding: "utf-8", encSource: "given",
		},
		{
			name:   "not UTF-8 without BOM is windows-1252",
			in:     []byte("name;price\nCaf\xe9;\x805\n"),
			header: []string{"name", "price"},
			rows:   []row{{Line: 2, Values: []string{"Café", "€5"}}},
			delim:  ';', delimFound: true, encoding: "windows-1252", encSource: "detected",
		},
		{
			name:   "windows-1252 undefined byte",
			in:     []byte("a;b\nx\x81;y\n"),
			opts:   Options{Encoding: "cp1252"},
			header: []string{"a", "b"},
			rows:   []row{{Line: 2, Values: []string{"x\uFFFD", "y"}, Code: CodeInvalidEncoding, Col: 1}},
			delim:  ';', delimFound: true, encoding: "windows-1252", encSource: "given",
		},
		{
			name:   "iso-8859-1",
			in:     []byte("a;b\n\xa4;\xe9\n"),
			opts:   Options{Encoding: "latin1"},
			header: []string{"a", "b"},
			rows:   []row{{Line: 2, Values: []string{"¤", "é"}}},
			delim:  ';', delimFound: true, encoding: "iso-8859-1", encSource: "given",
		},
		{
			name:   "iso-8859-15",
			in:     []byte("a;b\n\xa4;\xbd\n"),
			opts:   Options{Encoding: "ISO-8859-15"},
			header: []string{"a", "b"},
			rows:   []row{{Line: 2, Values: []string{"€", "œ"}}},
			delim:  ';', delimFound: true, encoding: "iso-8859-15", encSource: "given",
		},
		{
			name:   "utf-16le with BOM",
			in:     utf16Bytes("id;naam\r\n1;Jürgen 😀\r\n", false, true),
			header: []string{"id", "naam"},
			rows:   []row{{Line: 2, Values: []string{"1", "Jürgen 😀"}}},
			delim:  ';', delimFound: true, encoding: "utf-16le", encSource: "bom",
		},
		{
			name:   "utf-16be with BOM, BOM wins over the given encoding",
			in:     utf16Bytes("id,name\n1,Åsa\n", true, true),
			opts:   Options{Encoding: "windows-1252"},
			header: []string{"id", "name"},
			rows:   []row{{Line: 2, Values: []string{"1", "Åsa"}}},
			delim:  ',', delimFound: true, encoding: "utf-16be", encSource: "bom",
		},
		{
			name:   "utf-16le without BOM detected",
			in:     utf16Bytes("id,name\n1,Ann\n", false, false),
			header: []string{"id", "name"},
			rows:   []row{{Line: 2, Values: []string{"1", "Ann"}}},
			delim:  ',', delimFound: true, encoding: "utf-16le", encSource: "detected",
		},
		{
			name:   "utf-16 given without BOM is little-endian",
			in:     utf16Bytes("id,name\n1,Ann\n", false, false),
			opts:   Options{Encoding: "utf-16"},
			header: []string{"id", "name"},
			rows:   []row{{Line: 2, Values: []string{"1", "Ann"}}},
			delim:  ',', delimFound: true, encoding: "utf-16le", encSource: "given",
		},
		{
			name:   "utf-16 unpaired surrogate",
			in:     lone,
			header: []string{"id", "name"},
			rows: []row{
				{Line: 2, Values: []string{"1", "\uFFFDx"}, Code: CodeInvalidEncoding, Col: 2},
				{Line: 3, Values: []string{"2", "ok"}},
			},
			delim: ';', delimFound: true, encoding: "utf-16le", encSource: "bom",
		},
		{
			name:   "unclosed quote at the end of the file",
			in:     []byte("a,b\n1,2\n3,\"never closed\n4,5\n"),
			header: []string{"a", "b"},
			rows: []row{
				{Line: 2, Values: []string{"1", "2"}},
				{Line: 3, Values: []string{"3", "never closed\n4,5\n"}, Code: CodeUnclosedQuote, Col: 2},
			},
			delim: ',', delimFound: true, encoding: "utf-8", encSource: "detected",
		},
		{
			name:   "text after a closing quote",
			in:     []byte("a,b\n\"ab\"c,d\n1,2\n"),
			header: []string{"a", "b"},
			rows: []row{
				{Line: 2, Values: []string{"abc", "d"}, Code: CodeBadQuote, Col: 1},
				{Line: 3, Values: []string{"1", "2"}},
			},
			delim: ',', delimFound: true, encoding: "utf-8", encSource: "detected",
		},
		{
			name:   "rows skipped before the header",
			in:     []byte("Report: customers\nGenerated 2024-05-01, by ERP\nid;name\n1;Ann\n"),
			opts:   Options{SkipRows: 2},
			header: []string{"id", "name"},
			rows:   []row{{Line: 4, Values: []string{"1", "Ann"}}},
			delim:  ';', delimFound: true, encoding: "utf-8", encSource: "detected",
		},
		{
			name:   "blank and empty-field lines skipped, trailing ones too",
			in:     []byte("a;b\n1;2\n\n;\n3;4\n\r\n;;\n\n"),
			header: []string{"a", "b"},
			rows:   []row{{Line: 2, Values: []string{"1", "2"}}, {Line: 5, Values: []string{"3", "4"}}},
			delim:  ';', delimFound: true, encoding: "utf-8", encSource: "detected",
		},
		{
			name:   "NUL byte",
			in:     []byte("a,b\n1,x\x00y\n2,z\n"),
			header: []string{"a", "b"},
			rows: []row{
				{Line: 2, Values: []string{"1", "x\uFFFDy"}, Code: CodeNUL, Col: 2},
				{Line: 3, Values: []string{"2", "z"}},
			},
			delim: ',', delimFound: true, encoding: "utf-8", encSource: "detected",
		},
		{
			name:   "no header",
			in:     []byte("1,Ann,x\n2,Bob,y\n"),
			opts:   Options{NoHeader: true},
			header: []string{"1", "2", "3"},
			rows:   []row{{Line: 1, Values: []string{"1", "Ann", "x"}}, {Line: 2, Values: []string{"2", "Bob", "y"}}},
			delim:  ',', delimFound: true, encoding: "utf-8", encSource: "detected",
		},
		{
			name:   "no header, leading line without data skipped",
			in:     []byte(";\n1;2\n"),
			opts:   Options{NoHeader: true},
			header: []string{"1", "2"},
			rows:   []row{{Line: 2, Values: []string{"1", "2"}}},
			delim:  ';', delimFound: true, encoding: "utf-8", encSource: "detected",
		},
		{
			name:   "old Mac line endings",
			in:     []byte("a,b\r1,2\r3,4"),
			header: []string{"a", "b"},
			rows:   []row{{Line: 2, Values: []string{"1", "2"}}, {Line: 3, Values: []string{"3", "4"}}},
			delim:  ',', delimFound: true, encoding: "utf-8", encSource: "detected",
		},
		{
			name:   "no newline at the end, empty last field",
			in:     []byte("a,b\n1,"),
			header: []string{"a", "b"},
			rows:   []row{{Line: 2, Values: []string{"1", ""}}},
			delim:  ',', delimFound: true, encoding: "utf-8", encSource: "detected",
		},
		{
			name:     "empty file",
			in:       nil,
			header:   nil,
			delim:    ',',
			encoding: "utf-8", delimFound: true, encSource: "detected",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.opts.Format = FormatCSV
			rd, err := Open(bytes.NewReader(tc.in), tc.opts)
			require.NoError(t, err)
			defer rd.Close()
			assert.Equal(t, tc.header, rd.Header())
			info := rd.Info()
			assert.Equal(t, tc.encoding, info.Encoding, "encoding")
			assert.Equal(t, tc.encSource, info.EncodingSource, "encoding source")
			assert.Equal(t, string(tc.delim), string(info.Delimiter), "delimiter")
			assert.Equal(t, tc.delimFound, info.DelimiterDetected, "delimiter detected")
			rows, err := readAll(t, rd)
			require.NoError(t, err)
			assert.Equal(t, tc.rows, rows)
		})
	}
}

func TestCSVEncodingDetectedFromFirst64KiB(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	b.WriteString("id,name\n")
	for b.Len() < 2*sampleSize {
		b.WriteString("1,plain ascii and é\n")
	}
	b.WriteString("2,caf\xe9\n3,end\n")
	rd, err := Open(&b, Options{Format: FormatCSV})
	require.NoError(t, err)
	assert.Equal(t, "utf-8", rd.Info().Encoding)
	rows, err := readAll(t, rd)
	require.NoError(t, err)
	last := rows[len(rows)-2:]
	assert.Equal(t, CodeInvalidEncoding, last[0].Code)
	assert.Equal(t, []string{"2", "caf\uFFFD"}, last[0].Values)
	assert.Equal(t, []string{"3", "end"}, last[1].Values)
	assert.Equal(t, len(rows)+1, last[1].Line)
}

func TestCSVRecordTooLarge(t *testing.T) {
	t.Parallel()
	in := "a,b\n1,\"" + strings.Repeat("x\n", 1000)
	rd, err := Open(strings.NewReader(in), Options{Format: FormatCSV, MaxRecordBytes: 100, FileName: "big.csv"})
	require.NoError(t, err)
	_, err = rd.Next()
	require.ErrorIs(t, err, ErrRecordTooLarge)
	assert.Contains(t, err.Error(), "big.csv: line 2")
	_, err2 := rd.Next()
	assert.Equal(t, err, err2, "final errors repeat")

	in = "a,b\n" + strings.Repeat("y", 100<<10) + "\n"
	rd, err = Open(strings.NewReader(in), Options{Format: FormatCSV, Delimiter: ",", MaxRecordBytes: 1000})
	require.NoError(t, err)
	_, err = rd.Next()
	require.ErrorIs(t, err, ErrRecordTooLarge)
}

func TestCSVLongLines(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("z", 3*sampleSize)
	in := "a,b\n" + long + ",\"" + long + "\n" + long + "\"\n1,2\n"
	rd, err := Open(strings.NewReader(in), Options{Format: FormatCSV})
	require.NoError(t, err)
	rows, err := readAll(t, rd)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	assert.Equal(t, []string{long, long + "\n" + long}, rows[0].Values)
	assert.Equal(t, row{Line: 4, Values: []string{"1", "2"}}, rows[1])
}

func TestCSVValuesOutliveNext(t *testing.T) {
	t.Parallel()
	rd, err := Open(strings.NewReader("a,b\n1,2\n3,4\n"), Options{Format: FormatCSV})
	require.NoError(t, err)
	first, err := rd.Next()
	require.NoError(t, err)
	a, b := first.Values[0], first.Values[1]
	_, err = rd.Next()
	require.NoError(t, err)
	assert.Equal(t, "1", a)
	assert.Equal(t, "2", b)
}

func TestCSVHeaderErrors(t *testing.T) {
	t.Parallel()
	_, err := Open(strings.NewReader("a,\"b\n"), Options{Format: FormatCSV, FileName: "h.csv"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "reading header")
	assert.Equal(t, `h.csv: reading header: line 1 column 2: quoted field not closed before the end of the file`, err.Error(),
		"the file named once, first")
	var re *RowError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, RowError{File: "h.csv", Line: 1, Column: 2, Code: CodeUnclosedQuote, Msg: "quoted field not closed before the end of the file"}, *re)
	_, err = Open(strings.NewReader("a,b\n"), Options{Format: FormatCSV, Delimiter: "ab"})
	require.Error(t, err)
	_, err = Open(strings.NewReader("a,b\n"), Options{Format: FormatCSV, Encoding: "ebcdic"})
	require.Error(t, err)
}
