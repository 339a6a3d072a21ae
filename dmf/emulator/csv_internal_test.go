package emulator

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readCSV(t *testing.T, text string) ([][]string, error) {
	t.Helper()
	cr := newCSVReader(strings.NewReader(text))
	var out [][]string
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, append([]string(nil), rec...))
	}
}

func TestCSVReader(t *testing.T) {
	t.Parallel()
	got, err := readCSV(t, "a,b,c\r\n1,\"x, \"\"y\"\"\r\nz\",\r\n,,\r\nlast,\"\",end")
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"a", "b", "c"}, {"1", "x, \"y\"\r\nz", ""}, {"", "", ""}, {"last", "", "end"}}, got)

	for text, want := range map[string]string{
		"a,b\nc,d\r\n":     "ends with LF",
		"a,\"b\r\n":        "not terminated",
		"a,\"b\"c\r\n":     "after a closing quote",
		"a,b\rc\r\n":       "CR without LF",
		"h\r\n\"q\"\n":     "ends with LF",
		"h\r\nx,\"y\"\r\r": "CR without LF",
	} {
		_, err := readCSV(t, text)
		var se *csvSyntaxError
		require.ErrorAs(t, err, &se, text)
		assert.Contains(t, se.Msg, want, text)
	}
}

func TestCSVLineNumbers(t *testing.T) {
	t.Parallel()
	cr := newCSVReader(strings.NewReader("h\r\n\"multi\r\nline\"\r\nbad\n"))
	_, _ = cr.Read()
	_, _ = cr.Read()
	_, err := cr.Read()
	var se *csvSyntaxError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 4, se.Line, "the quoted line break counts")
}

func TestCSVUnicodeRoundTrip(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	rows := [][]string{{"1", "Zoë, \"Ünïcode\"", " padded "}, {"2", "日本語\r\nline", ""}}
	require.NoError(t, writeCSVUnicode(&buf, []string{"A", "B", "C"}, func(write func([]string) error) error {
		for _, r := range rows {
			if err := write(r); err != nil {
				return err
			}
		}
		return nil
	}))
	require.True(t, bytes.HasPrefix(buf.Bytes(), []byte{0xFF, 0xFE}))
	text, ok := decodeCSVUnicode(bytes.NewReader(buf.Bytes()), false)
	require.True(t, ok)
	data, err := io.ReadAll(text)
	require.NoError(t, err)
	got, err := readCSV(t, string(data))
	require.NoError(t, err)
	assert.Equal(t, append([][]string{{"A", "B", "C"}}, rows...), got)

	_, ok = decodeCSVUnicode(strings.NewReader("A,B\r\n"), false)
	assert.False(t, ok, "UTF-8 is not Unicode for CSV-Unicode")
	text, ok = decodeCSVUnicode(strings.NewReader("\uFEFFA,B\r\n"), true)
	require.True(t, ok)
	data, _ = io.ReadAll(text)
	assert.Equal(t, "A,B\r\n", string(data), "the UTF-8 BOM is dropped")
}

func TestPackedRows(t *testing.T) {
	t.Parallel()
	vals := []string{"C001", "", strings.Repeat("x", 300), "", "é"}
	got := make([]string, len(vals))
	unpackRow(packRow(vals), got)
	assert.Equal(t, vals, got)
	unpackRow(packRow(make([]string, 5)), got)
	assert.Equal(t, make([]string, 5), got)
}

func TestSpelledStatus(t *testing.T) {
	t.Parallel()
	plain := New(Config{})
	ris := New(Config{Quirks: Quirks{RISStatusSpelling: true}})
	for doc, risSpelling := range map[string]string{
		"Preprocessing": "PreProcessing", "PostProcessingFailed": "PostProcessingError", "Processed": "Processed",
	} {
		assert.Equal(t, doc, plain.spelledStatus(doc))
		assert.Equal(t, risSpelling, ris.spelledStatus(doc))
	}
}
