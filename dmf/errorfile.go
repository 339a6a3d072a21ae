package dmf

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// MaxErrorFileRecordBytes caps one record of an error file (after decoding to UTF-8).
// A longer record, usually a quote that is never closed, is a malformed file: the
// reader stops instead of holding the rest of the file in memory.
const MaxErrorFileRecordBytes = 16 << 20

// ErrorFileReader reads a downloaded error file (§2.7) one record at a time: the
// staging error file (the source rows that failed source-to-staging, with the
// columns of the data file) or the target error keys file (the entity keys of the
// rows that failed staging-to-target, one column per key field). F&O writes both as
// CSV-Unicode: UTF-16 LE with a byte-order mark, comma-separated, RFC 4180 quoting,
// CRLF, a header row. The byte-order mark decides the encoding (UTF-16 LE or BE,
// UTF-8); a file without one is read as UTF-8.
//
// Errors say where the file is malformed (*ErrorFileError) and are final: Next
// returns the same error on every later call.
type ErrorFileReader struct {
	cr       *csv.Reader
	limit    *recordLimit
	header   []string
	encoding string
	last     int // line on which the last record read (or the header) starts
	err      error
}

// ErrorFileRecord is one record of an error file.
type ErrorFileRecord struct {
	// Line is the 1-based line on which the record starts; the header is line 1.
	Line int
	// Values holds one value per header column. The slice is overwritten by the next
	// call to Next: copy it to keep it (the strings may be kept).
	Values []string
}

// ErrorFileError is a malformed error file.
type ErrorFileError struct {
	// Line is the 1-based line of the problem, 0 when it is not known.
	Line int
	// Column is the 1-based byte position in the decoded line, 0 for the whole line.
	Column int
	Msg    string
	// Err is the underlying error, if any (e.g. a *csv.ParseError or a read error).
	Err error
}

func (e *ErrorFileError) Error() string {
	var b strings.Builder
	b.WriteString("error file")
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ", column %d", e.Column)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

func (e *ErrorFileError) Unwrap() error { return e.Err }

// NewErrorFileReader detects the encoding of r and reads the header row. An empty
// file (nothing but a byte-order mark) has no header and no records.
func NewErrorFileReader(r io.Reader) (*ErrorFileReader, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(3)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, &ErrorFileError{Msg: "reading the byte-order mark", Err: err}
	}
	var text io.Reader = br
	enc := "utf-8"
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		enc = "utf-16le"
		text = transform.NewReader(br, unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder())
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		enc = "utf-16be"
		text = transform.NewReader(br, unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder())
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		_, _ = br.Discard(3)
	}
	limit := &recordLimit{r: text}
	cr := csv.NewReader(limit)
	cr.ReuseRecord = true
	fr := &ErrorFileReader{cr: cr, limit: limit, encoding: enc}
	header, err := fr.read()
	if errors.Is(err, io.EOF) {
		fr.err = io.EOF
		return fr, nil
	}
	if err != nil {
		return nil, err
	}
	fr.header = make([]string, len(header))
	for i, h := range header {
		fr.header[i] = strings.TrimSpace(h)
	}
	cr.FieldsPerRecord = len(header)
	return fr, nil
}

// Header returns the column names, trimmed of spaces; nil for an empty file.
func (r *ErrorFileReader) Header() []string { return r.header }

// Encoding is the encoding the byte-order mark named: utf-16le, utf-16be or utf-8.
func (r *ErrorFileReader) Encoding() string { return r.encoding }

// Columns returns the position of each named column in Header, matching names
// case-insensitively (F&O's field names are case-insensitive), e.g. the key fields
// of an entity in a target error keys file. A name the header lacks is an error.
func (r *ErrorFileReader) Columns(names ...string) ([]int, error) {
	out := make([]int, len(names))
	for i, n := range names {
		out[i] = -1
		for j, h := range r.header {
			if strings.EqualFold(h, strings.TrimSpace(n)) {
				out[i] = j
				break
			}
		}
		if out[i] < 0 {
			return nil, &ErrorFileError{Line: 1, Msg: fmt.Sprintf("no column %s in the header %q", n, r.header)}
		}
	}
	return out, nil
}

// Next returns the next record, or io.EOF after the last one.
func (r *ErrorFileReader) Next() (ErrorFileRecord, error) {
	if r.err != nil {
		return ErrorFileRecord{}, r.err
	}
	rec, err := r.read()
	if err != nil {
		r.err = err
		return ErrorFileRecord{}, err
	}
	return ErrorFileRecord{Line: r.last, Values: rec}, nil
}

// read reads one CSV record and checks that it is text.
func (r *ErrorFileReader) read() ([]string, error) {
	r.limit.mark = r.cr.InputOffset()
	rec, err := r.cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	var pe *csv.ParseError
	switch {
	case errors.Is(err, errRecordTooLong):
		return nil, &ErrorFileError{Msg: fmt.Sprintf("the record after the one on line %d is longer than %d bytes (a quote that is never closed?)",
			r.last, MaxErrorFileRecordBytes), Err: err}
	case errors.As(err, &pe) && errors.Is(err, csv.ErrFieldCount):
		return nil, &ErrorFileError{Line: pe.StartLine, Msg: fmt.Sprintf("the record has %d fields, the header %d", len(rec), r.cr.FieldsPerRecord), Err: err}
	case errors.As(err, &pe):
		return nil, &ErrorFileError{Line: pe.Line, Column: pe.Column, Msg: pe.Err.Error(), Err: err}
	case err != nil:
		return nil, &ErrorFileError{Msg: "reading the file", Err: err}
	}
	for i, v := range rec {
		if strings.IndexByte(v, 0) >= 0 {
			line, col := r.cr.FieldPos(i)
			return nil, &ErrorFileError{Line: line, Column: col, Msg: "a NUL byte: the file is UTF-16 without a byte-order mark, not CSV-Unicode"}
		}
		if !utf8.ValidString(v) {
			line, col := r.cr.FieldPos(i)
			return nil, &ErrorFileError{Line: line, Column: col, Msg: "invalid UTF-8 in a file without a UTF-16 byte-order mark"}
		}
	}
	r.last, _ = r.cr.FieldPos(0)
	return rec, nil
}

var errRecordTooLong = errors.New("record too long")

// recordLimit fails a read once the record being read (from mark, the input offset
// where it started) exceeds MaxErrorFileRecordBytes, which bounds what the CSV
// reader buffers.
type recordLimit struct {
	r    io.Reader
	n    int64 // bytes delivered
	mark int64
}

func (l *recordLimit) Read(p []byte) (int, error) {
	if l.n-l.mark > MaxErrorFileRecordBytes {
		return 0, errRecordTooLong
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}
