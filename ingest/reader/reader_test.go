package reader

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// row is one result of Next, copied so it outlives the reader's buffers.
type row struct {
	Line   int
	Row    int
	Values []string
	Code   Code // the RowError's code, "" for none
	Col    int  // the RowError's column
}

// readAll drains rd and returns its rows and the final error (nil at EOF).
func readAll(t *testing.T, rd Reader) ([]row, error) {
	t.Helper()
	var rows []row
	for i := 0; ; i++ {
		require.Less(t, i, 1_000_000, "reader does not end")
		rec, err := rd.Next()
		if err == io.EOF {
			return rows, nil
		}
		var re *RowError
		if err != nil && !errors.As(err, &re) {
			return rows, err
		}
		r := row{Line: rec.Loc.Line, Row: rec.Loc.Row, Values: append([]string{}, rec.Values...)}
		if re != nil {
			r.Code, r.Col = re.Code, re.Column
			if re.Sheet == "" {
				assert.Equal(t, rec.Loc.Line, re.Line, "error line = record line")
			} else {
				assert.Equal(t, rec.Loc.Row, re.Row, "error row = record row")
			}
		}
		rows = append(rows, r)
	}
}

func TestRowErrorMessage(t *testing.T) {
	t.Parallel()
	e := &RowError{File: "a.csv", Line: 12, Column: 3, Code: CodeRagged, Msg: "3 fields, the header has 4"}
	assert.Equal(t, "a.csv: line 12 column 3: 3 fields, the header has 4", e.Error())
	e = &RowError{File: "b.xlsx", Sheet: "Data", Row: 5, Column: 28, Code: CodeBadCell, Msg: "bad"}
	assert.Equal(t, `b.xlsx: sheet "Data" row 5 column AB: bad`, e.Error())
	var target *RowError
	require.True(t, errors.As(error(e), &target))
}

func TestColumnName(t *testing.T) {
	t.Parallel()
	for col, want := range map[int]string{1: "A", 26: "Z", 27: "AA", 52: "AZ", 703: "AAA", 16384: "XFD"} {
		assert.Equal(t, want, ColumnName(col))
		got, ok := parseColumn([]byte(want + "1"))
		require.True(t, ok)
		assert.Equal(t, col-1, got)
	}
}

func TestFormatChoice(t *testing.T) {
	t.Parallel()
	assert.Equal(t, FormatCSV, FormatFromName("x/Customers.CSV"))
	assert.Equal(t, FormatXLSX, FormatFromName("book.xlsx"))
	assert.Equal(t, FormatNDJSON, FormatFromName("events.jsonl"))
	assert.Equal(t, FormatJSON, FormatFromName("a.json"))
	assert.Equal(t, Format(""), FormatFromName("a.dat"))
	_, err := ParseFormat("parquet")
	require.Error(t, err)

	for _, tc := range []struct {
		in, records string
		want        Format
	}{
		{"a,b\n1,2\n", "", FormatCSV},
		{" [ {\"a\":1} ]", "", FormatJSON},
		{"{\"a\":1}\n{\"a\":2}\n", "", FormatNDJSON},
		{"{\n \"data\": []\n}", "/data", FormatJSON},
	} {
		rd, err := Open(strings.NewReader(tc.in), Options{FileName: "upload.dat", Records: tc.records})
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, rd.Info().Format, tc.in)
		require.NoError(t, rd.Close())
	}
}

func TestOpenFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "customers.txt")
	require.NoError(t, os.WriteFile(path, []byte("id;name\n1;Ann\n"), 0o600))
	rd, err := OpenFile(path, Options{})
	require.NoError(t, err)
	assert.Equal(t, []string{"id", "name"}, rd.Header())
	rows, err := readAll(t, rd)
	require.NoError(t, err)
	assert.Equal(t, []row{{Line: 2, Values: []string{"1", "Ann"}}}, rows)
	require.NoError(t, rd.Close())

	_, err = OpenFile(filepath.Join(dir, "missing.csv"), Options{})
	require.ErrorIs(t, err, os.ErrNotExist)
}
