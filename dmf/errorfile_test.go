package dmf_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/unicode"

	"github.com/dmfpipe/dmfpipe/dmf"
)

// encode writes text in enc: utf16le and utf16be with a byte-order mark, utf8bom, utf8.
func encode(t *testing.T, text, enc string) []byte {
	t.Helper()
	switch enc {
	case "utf8":
		return []byte(text)
	case "utf8bom":
		return append([]byte{0xEF, 0xBB, 0xBF}, text...)
	}
	order := unicode.LittleEndian
	if enc == "utf16be" {
		order = unicode.BigEndian
	}
	b, err := unicode.UTF16(order, unicode.UseBOM).NewEncoder().Bytes([]byte(text))
	require.NoError(t, err)
	return b
}

// readAllRecords reads every record, copying the reused slices.
func readAllRecords(t *testing.T, r *dmf.ErrorFileReader) ([]dmf.ErrorFileRecord, error) {
	t.Helper()
	var out []dmf.ErrorFileRecord
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		rec.Values = append([]string(nil), rec.Values...)
		out = append(out, rec)
	}
}

func TestErrorFileReaderEncodings(t *testing.T) {
	t.Parallel()
	text := "CUSTOMERACCOUNT,ORGANIZATIONNAME\r\n" +
		"C001,\"Contoso, \"\"Ltd\"\"\"\r\n" +
		"C002,\"two\r\nlines\"\r\n" +
		"Ç003,Ünïcode\r\n"
	want := []dmf.ErrorFileRecord{
		{Line: 2, Values: []string{"C001", `Contoso, "Ltd"`}},
		{Line: 3, Values: []string{"C002", "two\nlines"}},
		{Line: 5, Values: []string{"Ç003", "Ünïcode"}},
	}
	for _, enc := range []string{"utf16le", "utf16be", "utf8bom", "utf8"} {
		t.Run(enc, func(t *testing.T) {
			t.Parallel()
			r, err := dmf.NewErrorFileReader(bytes.NewReader(encode(t, text, enc)))
			require.NoError(t, err)
			assert.Equal(t, map[string]string{"utf16le": "utf-16le", "utf16be": "utf-16be", "utf8bom": "utf-8", "utf8": "utf-8"}[enc], r.Encoding())
			assert.Equal(t, []string{"CUSTOMERACCOUNT", "ORGANIZATIONNAME"}, r.Header())
			got, err := readAllRecords(t, r)
			require.NoError(t, err)
			assert.Equal(t, want, got)
			_, err = r.Next()
			assert.ErrorIs(t, err, io.EOF, "EOF stays")
		})
	}
}

func TestErrorFileReaderColumns(t *testing.T) {
	t.Parallel()
	r, err := dmf.NewErrorFileReader(bytes.NewReader(encode(t, " JournalBatchNumber ,LINENUMBER\r\n000001,1\r\n", "utf16le")))
	require.NoError(t, err)
	cols, err := r.Columns("LINENUMBER", "JOURNALBATCHNUMBER")
	require.NoError(t, err)
	assert.Equal(t, []int{1, 0}, cols, "case-insensitive, header trimmed")
	_, err = r.Columns("VOUCHER")
	var fe *dmf.ErrorFileError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, 1, fe.Line)
	assert.Contains(t, err.Error(), "no column VOUCHER")
}

func TestErrorFileReaderEmpty(t *testing.T) {
	t.Parallel()
	for name, data := range map[string][]byte{"nothing": nil, "only a BOM": {0xFF, 0xFE}} {
		r, err := dmf.NewErrorFileReader(bytes.NewReader(data))
		require.NoError(t, err, name)
		assert.Nil(t, r.Header(), name)
		_, err = r.Next()
		assert.ErrorIs(t, err, io.EOF, name)
	}
}

func TestErrorFileReaderMalformed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, text, enc string
		records         int // read before the error
		line, column    int
		msg             string
	}{
		{"ragged", "A,B\r\n1,2\r\n3\r\n", "utf16le", 1, 3, 0, "the record has 1 fields, the header 2"},
		{"bare quote", "A,B\r\n1,x\"y\r\n", "utf16le", 0, 2, 4, "bare \""},
		{"text after a closing quote", "A,B\r\n\"1\"x,2\r\n", "utf16le", 0, 2, 3, `extraneous or missing " in quoted-field`},
		{"UTF-16 without BOM", "A,B\r\n1,2\r\n", "utf16-nobom", 0, 1, 1, "NUL byte"},
		{"invalid UTF-8", "A,B\r\n1,\xff\r\n", "utf8", 0, 2, 3, "invalid UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			data := []byte(c.text)
			if c.enc == "utf16le" {
				data = encode(t, c.text, c.enc)
			} else if c.enc == "utf16-nobom" {
				data = encode(t, c.text, "utf16le")[2:]
			}
			r, err := dmf.NewErrorFileReader(bytes.NewReader(data))
			if err == nil {
				var got []dmf.ErrorFileRecord
				got, err = readAllRecords(t, r)
				assert.Len(t, got, c.records)
				_, again := r.Next()
				assert.Equal(t, err, again, "errors are final")
			}
			var fe *dmf.ErrorFileError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, c.line, fe.Line, err.Error())
			assert.Equal(t, c.column, fe.Column, err.Error())
			assert.Contains(t, err.Error(), c.msg)
			assert.Contains(t, err.Error(), fmt.Sprintf("error file line %d", c.line))
		})
	}
	var pe *csv.ParseError
	_, err := readAllRecords(t, must(dmf.NewErrorFileReader(strings.NewReader("A,B\r\n1,x\"y\r\n"))))
	assert.ErrorAs(t, err, &pe, "the CSV error is wrapped")
}

func must(r *dmf.ErrorFileReader, err error) *dmf.ErrorFileReader {
	if err != nil {
		panic(err)
	}
	return r
}

// endless is an unclosed quoted field that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func TestErrorFileReaderBoundsARecord(t *testing.T) {
	t.Parallel()
	r, err := dmf.NewErrorFileReader(io.MultiReader(strings.NewReader("A,B\r\n1,2\r\n3,\"never closed"), endless{}))
	require.NoError(t, err)
	got, err := readAllRecords(t, r)
	assert.Len(t, got, 1)
	var fe *dmf.ErrorFileError
	require.ErrorAs(t, err, &fe, "the reader stops instead of buffering the stream")
	assert.Contains(t, err.Error(), "the record after the one on line 2 is longer than")
}

func ExampleErrorFileReader() {
	// A target error keys file as F&O writes it: CSV-Unicode, one column per key field.
	file, _ := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes(
		[]byte("CUSTOMERACCOUNT\r\nC000017\r\nC000342\r\n"))
	r, err := dmf.NewErrorFileReader(bytes.NewReader(file))
	if err != nil {
		fmt.Println(err)
		return
	}
	cols, err := r.Columns("CustomerAccount")
	if err != nil {
		fmt.Println(err)
		return
	}
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("line %d: %s\n", rec.Line, rec.Values[cols[0]])
	}
	// Output:
	// line 2: C000017
	// line 3: C000342
}
