package reader

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
)

func TestCSVHeaderRow(t *testing.T) {
	t.Parallel()
	in := "Customer export\r\n2024-03-01;by ERP\r\nid;name\r\n1;Ann\r\n"
	for _, opts := range []Options{{HeaderRow: 3}, {SkipRows: 2}, {SkipRows: 1, HeaderRow: 3}} {
		rd, err := Open(strings.NewReader(in), opts)
		require.NoError(t, err)
		assert.Equal(t, []string{"id", "name"}, rd.Header(), "%+v", opts)
		assert.Equal(t, byte(';'), rd.Info().Delimiter, "detected below the skipped lines")
		rows, err := readAll(t, rd)
		require.NoError(t, err)
		assert.Equal(t, []row{{Line: 4, Values: []string{"1", "Ann"}}}, rows)
	}

	// The config's header_row applies to CSV; its default of 1 leaves skip_rows alone.
	opts, err := OptionsFor(config.Format{Type: "csv", HeaderRow: 3}, "in/export.csv")
	require.NoError(t, err)
	assert.Equal(t, 3, opts.HeaderRow)
	opts, err = OptionsFor(config.Format{HeaderRow: 1, SkipRows: 2}, "export.csv")
	require.NoError(t, err)
	assert.Equal(t, Options{FileName: "export.csv", SkipRows: 2}, opts)
}

func TestHeaderHint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header []string
		want   string
	}{
		{[]string{"id", "name"}, ""},
		{nil, ""},
		{[]string{"", ""}, ""},
		{[]string{"id;name;city"}, "the header has one column containing ';': delimiter: ';'?"},
		{[]string{"id;name,city;zip", ""}, "the header has one column containing ';': delimiter: ';'?"},
		{[]string{"id\tname"}, `the header has one column containing tabs: delimiter: "\t"?`},
		{[]string{"", "id|name"}, "the header has one column containing '|': delimiter: '|'?"},
		{[]string{"Customers 2024"}, `the header is one column, "Customers 2024": a title row above the header? header_row: N?`},
		{[]string{strings.Repeat("T", 1000)}, `the header is one column, "` + strings.Repeat("T", 200) + `"… (800 more characters): a title row above the header? header_row: N?`},
	} {
		assert.Equal(t, tc.want, HeaderHint(tc.header), "%q", tc.header)
	}
	// A CSV reader does not suggest the delimiter it split with.
	assert.Equal(t, "", delimiterHint([]string{"a,b"}, ','))
}

func TestUTF16Detection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{utf16Bytes("id;name\r\n1;Ann\r\n", false, false), encUTF16LE},
		{utf16Bytes("id;name\r\n1;Ann\r\n", true, false), encUTF16BE},
		{utf16Bytes("no line break", false, false), encUTF16LE},
		// A NUL byte in every other position of a short text does not make it UTF-16.
		{[]byte("a,b\n1,\x002\n"), encUTF8},
		{[]byte("a\x00b\x00\n3,4\n"), encUTF8},
	} {
		assert.Equal(t, tc.want, detectEncoding(tc.in, false, encWindows1252), "%q", tc.in)
	}
}

func TestDescribeBinary(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "", describeBinary([]byte("id;name\n1;Ann\n")))
	assert.Equal(t, "", describeBinary([]byte("id;name\n1;A\x00nn\n")), "one NUL byte")
	assert.Equal(t, "", describeBinary(append([]byte("id;name\n1;Ann\n"), make([]byte, 4096)...)), "NUL padding")
	assert.Equal(t, "binary data", describeBinary([]byte(strings.Repeat("\x01\x02ab", 64))))
	assert.Equal(t, "a PDF document", describeBinary([]byte("%PDF-1.7\n")))
}
