// Package writer writes the rows of exported entities as files: CSV (any delimiter, UTF-8,
// UTF-16 or a single-byte code page, with or without a byte order mark and a header),
// XLSX (one sheet per entity, through excelize's StreamWriter) and JSON or NDJSON (one
// object per row, keys in column order). Rows are encoded as they arrive; memory does not
// grow with the row count (an XLSX sheet is spooled to a temporary file by excelize, and
// the workbook is compressed straight into the output).
//
// Output is deterministic: the same rows give the same bytes, so that a file written again
// after a crash is identical to the one a clean run writes, and can be recognised as such.
//
// A value a format cannot hold fails the file with a *ValueError naming the table, the
// row and the column: a character the code page lacks, a cell longer than Excel's 32,767
// characters, a sheet past Excel's 1,048,576 rows or 16,384 columns. Nothing is dropped or
// truncated silently.
package writer

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// The formats.
const (
	CSV    = "csv"
	XLSX   = "xlsx"
	JSON   = "json"
	NDJSON = "ndjson"
)

// Formats lists the formats New writes.
var Formats = []string{CSV, XLSX, JSON, NDJSON}

// The encodings of CSV files.
const (
	UTF8        = "utf-8"
	UTF16       = "utf-16" // little-endian, as F&O's CSV-Unicode
	UTF16LE     = "utf-16le"
	UTF16BE     = "utf-16be"
	Windows1252 = "windows-1252"
	ISO88591    = "iso-8859-1"
	ISO885915   = "iso-8859-15"
)

// Encodings lists the encodings of CSV files.
var Encodings = []string{UTF8, UTF16, UTF16LE, UTF16BE, Windows1252, ISO88591, ISO885915}

// Options say how a file is written. The zero value writes UTF-8 CSV with a header,
// comma-separated, CRLF line ends and no byte order mark.
type Options struct {
	// Format is CSV, XLSX, JSON or NDJSON. Defaults to CSV.
	Format string
	// Delimiter separates CSV fields. Defaults to ','.
	Delimiter rune
	// Encoding is the CSV file's encoding (Encodings). Defaults to UTF8.
	Encoding string
	// BOM starts a UTF-8 or UTF-16 CSV file with a byte order mark.
	BOM bool
	// NoHeader leaves out the CSV header row (XLSX sheets always have one).
	NoHeader bool
	// LF ends CSV lines with "\n" instead of "\r\n".
	LF bool
}

// Validate reports options New cannot write.
func (o Options) Validate() error {
	switch o.Format {
	case "", CSV, XLSX, JSON, NDJSON:
	default:
		return fmt.Errorf("format %q: want one of %s", o.Format, strings.Join(Formats, ", "))
	}
	switch o.Delimiter {
	case '"', '\r', '\n':
		return fmt.Errorf("delimiter %q cannot separate CSV fields", o.Delimiter)
	}
	enc := o.Encoding
	if enc == "" {
		enc = UTF8
	}
	if _, ok := encoders[enc]; !ok {
		return fmt.Errorf("encoding %q: want one of %s", o.Encoding, strings.Join(Encodings, ", "))
	}
	if o.BOM && enc != UTF8 && !strings.HasPrefix(enc, "utf-16") {
		return fmt.Errorf("a byte order mark needs utf-8 or utf-16, not %s", enc)
	}
	if enc := encoders[enc]; enc.single && (o.Delimiter > 0xFF) {
		return fmt.Errorf("delimiter %q is not in %s", o.Delimiter, o.Encoding)
	}
	return nil
}

// Writer writes tables (an entity's rows each) to one file: CSV, JSON and NDJSON files
// hold one table, XLSX files one sheet per table. It is not safe for concurrent use.
type Writer interface {
	// Begin starts a table called name (the sheet name of XLSX) with its columns.
	Begin(name string, columns []string) error
	// Row writes a row: one value per column.
	Row(values []string) error
	// Close finishes the file; it does not close the io.Writer.
	Close() error
}

// New returns a writer of o.Format onto w.
func New(w io.Writer, o Options) (Writer, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	switch o.Format {
	case XLSX:
		return newXLSX(w), nil
	case JSON, NDJSON:
		return newJSON(w, o.Format == NDJSON), nil
	}
	return newCSV(w, o), nil
}

// ValueError is a value the file's format cannot hold, or a table past the format's
// limits.
type ValueError struct {
	// Table is the table's name (the entity).
	Table string
	// Row is the data row, from 1; 0 for the header or the table as a whole.
	Row int64
	// Column is the column, when one applies.
	Column string
	Msg    string
}

func (e *ValueError) Error() string {
	var b strings.Builder
	b.WriteString(e.Table)
	if e.Row > 0 {
		fmt.Fprintf(&b, ", row %d", e.Row)
	}
	if e.Column != "" {
		fmt.Fprintf(&b, ", column %s", e.Column)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// ErrOneTable is returned by Begin for a second table in a CSV, JSON or NDJSON file.
var ErrOneTable = errors.New("a CSV, JSON or NDJSON file holds one table")

// table is what every writer keeps of the table being written.
type table struct {
	name    string
	columns []string
	rows    int64
	begun   bool
}

func (t *table) begin(name string, columns []string, one bool) error {
	if t.begun && one {
		return fmt.Errorf("table %s after %s: %w", name, t.name, ErrOneTable)
	}
	if len(columns) == 0 {
		return &ValueError{Table: name, Msg: "no columns"}
	}
	t.name, t.columns, t.rows, t.begun = name, columns, 0, true
	return nil
}

func (t *table) row(values []string) error {
	if !t.begun {
		return errors.New("writer: Row before Begin")
	}
	if len(values) != len(t.columns) {
		return &ValueError{Table: t.name, Row: t.rows + 1, Msg: fmt.Sprintf("%d values for %d columns", len(values), len(t.columns))}
	}
	t.rows++
	return nil
}
