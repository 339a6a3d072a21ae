package reader

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dmfpipe/dmfpipe/internal/excerpt"
)

// Format names a file format.
type Format string

// The formats Open understands.
const (
	FormatCSV    Format = "csv"
	FormatXLSX   Format = "xlsx"
	FormatJSON   Format = "json"
	FormatNDJSON Format = "ndjson"
)

// ParseFormat turns a user-given format name into a Format. The empty string
// is returned as is: it means "choose by file name, then by content".
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case "", FormatCSV, FormatXLSX, FormatJSON, FormatNDJSON:
		return f, nil
	case "jsonl":
		return FormatNDJSON, nil
	default:
		return "", fmt.Errorf("unknown format %q (want csv, xlsx, json or ndjson)", s)
	}
}

// Record is one row of a file with where it came from.
//
// Values is owned by the reader and is overwritten by the next call to Next:
// copy the slice if you keep it. The strings in it are immutable and may be
// kept. Every value is valid UTF-8 without NUL bytes, so it can be stored in
// a Postgres text column as is.
type Record struct {
	Values []string
	Loc    Location
}

// Location is where a record starts in its file.
type Location struct {
	// Line is the 1-based line where the record starts (CSV, JSON, NDJSON).
	Line int
	// Sheet and Row are the sheet name and 1-based row number (XLSX).
	Sheet string
	Row   int
}

// String formats the location for messages: "line 12" or "sheet \"S\" row 5".
func (l Location) String() string {
	if l.Sheet != "" || l.Row > 0 {
		return fmt.Sprintf("sheet %s row %d", excerpt.Quote(l.Sheet), l.Row)
	}
	return fmt.Sprintf("line %d", l.Line)
}

// Reader yields the records of one file.
type Reader interface {
	// Header returns the column names. It is known as soon as Open returns.
	Header() []string
	// Next returns the next record, or io.EOF after the last one.
	//
	// A problem confined to one row is returned as a *RowError together with
	// what could be read of that row (Values may be shorter or longer than
	// Header, and its invalid bytes are replaced by U+FFFD); the caller records
	// it and calls Next again. Any other error is final and is returned again
	// by every later call.
	Next() (Record, error)
	// Info describes what was detected or chosen when the file was opened.
	Info() Info
	// Close releases the reader's resources (temp files, the file opened by
	// OpenFile). It does not close the io.Reader given to Open.
	Close() error
}

// Info describes how a file is being read.
type Info struct {
	Format Format
	// Encoding is the text encoding (CSV, JSON, NDJSON): utf-8, utf-16le,
	// utf-16be, windows-1252, iso-8859-1 or iso-8859-15.
	Encoding string
	// EncodingSource says where Encoding came from: "given", "bom" or "detected".
	EncodingSource string
	// Delimiter is the CSV field delimiter; DelimiterDetected is true when it
	// was detected rather than given.
	Delimiter         byte
	DelimiterDetected bool
	// Sheet is the XLSX sheet read, Sheets all sheets of the workbook in
	// order, Date1904 whether the workbook uses the 1904 date system.
	Sheet    string
	Sheets   []string
	Date1904 bool
	// Records is the JSON pointer of the records array (JSON).
	Records string
}

// Options say how to read a file; each field names the formats it applies
// to and is ignored by the others. The zero value reads a CSV with a header
// row and a detected encoding and delimiter, the first sheet of a workbook
// with its header in row 1, or a JSON array at the document root.
type Options struct {
	// Format is the file format. Empty means by FileName's extension (.csv,
	// .tsv, .txt, .xlsx, .xlsm, .json, .ndjson, .jsonl), then by content.
	Format Format
	// FileName names the file in errors and chooses the format when Format
	// is empty. OpenFile sets it to the file's base name when empty.
	FileName string

	// Delimiter is the CSV field delimiter: one ASCII character, or "tab".
	// Empty means detected among , ; tab and | from the first lines.
	Delimiter string
	// Encoding is the text encoding of CSV and JSON files: utf-8, utf-16
	// (byte order from the BOM, little-endian without one), utf-16le,
	// utf-16be, windows-1252, iso-8859-1 or iso-8859-15. A byte-order mark
	// always wins over the given encoding. Empty means detected: from a BOM;
	// without one, UTF-16 when the first 64 KiB look like it (NUL bytes in
	// every other position), else utf-8 when the first 64 KiB are valid
	// UTF-8, else windows-1252.
	Encoding string
	// NoHeader says the file has no header row (CSV, XLSX). The columns are
	// then named "1", "2", ... after the first record's width.
	NoHeader bool
	// SkipRows is the number of physical lines (CSV) or rows (XLSX) before
	// the header, or before the first record with NoHeader: title rows.
	SkipRows int
	// MaxRecordBytes caps one CSV record; a record beyond it (usually an
	// unclosed quote) is a final error. Defaults to 16 MiB.
	MaxRecordBytes int

	// Sheet is the XLSX sheet: a name, or a 1-based index. A sheet named like
	// a number wins over the index. Defaults to the first sheet.
	Sheet string
	// HeaderRow is the 1-based physical line (CSV) or row (XLSX) holding
	// the header (with NoHeader, the first row read); what is above it is
	// skipped, and it wins over SkipRows. Blank lines from there on are
	// skipped as everywhere in a CSV; an empty XLSX header row is an error.
	// Defaults to SkipRows+1.
	HeaderRow int
	// MaxXLSXBytes caps the decompressed size of the sheet and shared
	// strings read from a workbook (a zip bomb guard). Defaults to 2 GiB.
	MaxXLSXBytes int64
	// TempDir is where an XLSX read from a stream is spooled. Defaults to
	// os.TempDir().
	TempDir string

	// Records is the JSON pointer (RFC 6901) to the array of records in a
	// JSON document, e.g. /data/items. Defaults to the document root.
	Records string
	// Columns, when set, is the JSON header: fields not listed are ignored.
	// Without it the header is the union of the leaf paths of the first
	// HeaderSample records in first-seen order, and a later record with a
	// field outside that header gets a RowError.
	Columns []string
	// HeaderSample is the number of JSON records read ahead to build the
	// header. Defaults to 1000.
	HeaderSample int
}

const (
	defaultMaxRecordBytes = 16 << 20
	defaultMaxXLSXBytes   = 2 << 30
	defaultHeaderSample   = 1000
)

// Code classifies a RowError.
type Code string

// Row error codes.
const (
	CodeRagged          Code = "ragged_row"       // field count differs from the header
	CodeInvalidEncoding Code = "invalid_encoding" // bytes not valid in the file's encoding
	CodeNUL             Code = "nul_byte"         // a NUL byte, which Postgres text cannot hold
	CodeUnclosedQuote   Code = "unclosed_quote"   // a quoted CSV field runs to the end of the file
	CodeBadQuote        Code = "bad_quote"        // text after the closing quote of a CSV field
	CodeBadCell         Code = "bad_cell"         // an XLSX cell that cannot be read (bad shared string index)
	CodeSyntax          Code = "syntax"           // an NDJSON line that is not valid JSON
	CodeNotObject       Code = "not_object"       // a JSON record that is not an object
	CodeUnknownField    Code = "unknown_field"    // a JSON field outside the header
)

// RowError is a problem confined to one row. Line is set for text formats,
// Sheet and Row for XLSX; Column is the 1-based column, or 0 for the whole row.
type RowError struct {
	File   string
	Line   int
	Sheet  string
	Row    int
	Column int
	Code   Code
	Msg    string
}

func (e *RowError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(excerpt.String(e.File))
		b.WriteString(": ")
	}
	if e.Sheet != "" || e.Row > 0 {
		fmt.Fprintf(&b, "sheet %s row %d", excerpt.Quote(e.Sheet), e.Row)
		if e.Column > 0 {
			fmt.Fprintf(&b, " column %s", ColumnName(e.Column))
		}
	} else {
		fmt.Fprintf(&b, "line %d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, " column %d", e.Column)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// ColumnName returns the spreadsheet letters of a 1-based column (1 → A, 27 → AA).
func ColumnName(col int) string {
	var buf [8]byte
	i := len(buf)
	for col > 0 && i > 0 {
		col--
		i--
		buf[i] = byte('A' + col%26)
		col /= 26
	}
	return string(buf[i:])
}

// ErrRecordTooLarge is returned (wrapped, with the location) when a CSV record
// exceeds Options.MaxRecordBytes.
var ErrRecordTooLarge = errors.New("record too large")

// ErrXLSXTooLarge is returned (wrapped) when a workbook's sheet and shared
// strings decompress beyond Options.MaxXLSXBytes or compress suspiciously well.
var ErrXLSXTooLarge = errors.New("workbook too large")

// Open reads records from r. The caller keeps ownership of r and closes it
// after the Reader. The format is opts.Format, else chosen by the extension of
// opts.FileName, else sniffed from the content (a zip is XLSX; '[' starts
// JSON; '{' starts NDJSON when the first object ends on its line, else JSON;
// anything else is CSV). An XLSX stream is spooled to a temp file first
// unless r is an *os.File.
func Open(r io.Reader, opts Options) (Reader, error) {
	format, err := ParseFormat(string(opts.Format))
	if err != nil {
		return nil, err
	}
	if format == "" {
		format = FormatFromName(opts.FileName)
	}
	src := r
	if format == "" {
		br := bufio.NewReaderSize(r, sampleSize)
		format = sniffFormat(br)
		r = br
	}
	var rd Reader
	switch format {
	case FormatCSV:
		rd, err = newCSV(r, opts)
	case FormatXLSX:
		if f, ok := src.(*os.File); ok {
			// ReadAt does not depend on what sniffing consumed.
			rd, err = openXLSXFile(f, opts)
		} else {
			rd, err = openXLSXStream(r, opts)
		}
	case FormatJSON, FormatNDJSON:
		rd, err = newJSON(r, format, opts)
	}
	if err != nil {
		return nil, fileErr(opts.FileName, err)
	}
	return rd, nil
}

// OpenFile opens the file at path and reads its records; Close closes it.
func OpenFile(path string, opts Options) (Reader, error) {
	if opts.FileName == "" {
		opts.FileName = filepath.Base(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	rd, err := Open(f, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fileReader{Reader: rd, f: f}, nil
}

type fileReader struct {
	Reader
	f *os.File
}

func (r *fileReader) Close() error {
	return errors.Join(r.Reader.Close(), r.f.Close())
}

// FormatFromName returns the format implied by a file name's extension, or "".
func FormatFromName(name string) Format {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv", ".tsv", ".txt", ".tab":
		return FormatCSV
	case ".xlsx", ".xlsm":
		return FormatXLSX
	case ".json":
		return FormatJSON
	case ".ndjson", ".jsonl":
		return FormatNDJSON
	}
	return ""
}

func sniffFormat(br *bufio.Reader) Format {
	sample, _ := br.Peek(sampleSize)
	if bytes.HasPrefix(sample, []byte("PK\x03\x04")) {
		return FormatXLSX
	}
	sample = bytes.TrimPrefix(sample, bomUTF8)
	trimmed := bytes.TrimLeft(sample, " \t\r\n")
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		return FormatJSON
	case len(trimmed) > 0 && trimmed[0] == '{':
		line, _, _ := bytes.Cut(trimmed, []byte("\n"))
		if bytes.HasSuffix(bytes.TrimRight(line, " \t\r"), []byte("}")) {
			return FormatNDJSON
		}
		return FormatJSON
	}
	return FormatCSV
}

var replacementChar = []byte(string(utf8.RuneError))

// sanitizeText returns b with NUL bytes and invalid UTF-8 replaced by
// U+FFFD and the problem found (a NUL wins), or b itself and "" when clean.
func sanitizeText(b []byte) ([]byte, Code) {
	var code Code
	if bytes.IndexByte(b, 0) >= 0 {
		code = CodeNUL
		b = bytes.ReplaceAll(b, []byte{0}, replacementChar)
	}
	if !utf8.Valid(b) {
		if code == "" {
			code = CodeInvalidEncoding
		}
		b = bytes.ToValidUTF8(b, replacementChar)
	}
	return b, code
}

// fileErr names file in err, unless err names it already.
func fileErr(file string, err error) error {
	if file == "" {
		return err
	}
	var fe *fileError
	if errors.As(err, &fe) && fe.file == file {
		return err
	}
	var re *RowError
	if errors.As(err, &re) && re.File == file {
		return err
	}
	return &fileError{file: file, err: err}
}

// headerError is a problem in the header row, which leaves the file unread.
type headerError struct {
	row  *RowError
	hint string // appended to the message
}

func headerErr(row *RowError, hint string) error { return &headerError{row: row, hint: hint} }

func (e *headerError) Error() string {
	r := *e.row
	r.File = ""
	msg := "reading header: " + r.Error() + e.hint
	if e.row.File == "" {
		return msg
	}
	return excerpt.String(e.row.File) + ": " + msg
}

func (e *headerError) Unwrap() error { return e.row }

// fileError is an error about a file, which it names first.
type fileError struct {
	file string
	err  error
}

func (e *fileError) Error() string { return excerpt.String(e.file) + ": " + e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }

// headerDelimiters are the candidates of delimiter detection, as a config spells them.
var headerDelimiters = [...]struct {
	c      byte
	config string
}{{',', "','"}, {';', "';'"}, {'\t', `"\t"`}, {'|', "'|'"}}

// HeaderHint returns a hint on why a file's header lacks the columns
// expected, or "" when it has none: DelimiterHint, else TitleHint without a
// row.
func HeaderHint(header []string) string {
	if h := DelimiterHint(header); h != "" {
		return h
	}
	return TitleHint(header, 0)
}

// DelimiterHint returns, for a header of one column (the others empty)
// holding one of the delimiters , ; tab or |, the hint that the file was
// likely split with another delimiter: "the header has one column containing
// ';': delimiter: ';'?". It returns "" for any other header.
func DelimiterHint(header []string) string { return delimiterHint(header, 0) }

// TitleHint returns, for a header of one column (the others empty), the hint
// that it may be a title above the real header, on row (or line) row when
// not 0: "the header is one column, "Customers 2024": a title row above the
// header? header_row: 3?". It returns "" for any other header.
func TitleHint(header []string, row int) string {
	only := soleColumn(header)
	if only < 0 {
		return ""
	}
	n := "N"
	if row > 0 {
		n = strconv.Itoa(row)
	}
	return fmt.Sprintf("the header is one column, %s: a title row above the header? header_row: %s?", excerpt.Quote(header[only]), n)
}

// soleColumn returns the index of the only non-empty column of header, or -1.
func soleColumn(header []string) int {
	only := -1
	for i, h := range header {
		if h == "" {
			continue
		}
		if only >= 0 {
			return -1
		}
		only = i
	}
	return only
}

// delimiterHint is DelimiterHint for a header split with delim, which it does not suggest.
func delimiterHint(header []string, delim byte) string {
	only := soleColumn(header)
	if only < 0 {
		return ""
	}
	best, bestCount := -1, 0
	for i, d := range headerDelimiters {
		if d.c == delim {
			continue
		}
		if n := strings.Count(header[only], string(d.c)); n > bestCount {
			best, bestCount = i, n
		}
	}
	if best < 0 {
		return ""
	}
	d := headerDelimiters[best]
	what := d.config
	if d.c == '\t' {
		what = "tabs"
	}
	return fmt.Sprintf("the header has one column containing %s: delimiter: %s?", what, d.config)
}

// plural says "1 field" or "3 fields".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
