package emulator

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// msgNotUnicode is F&O's answer to a CSV-Unicode data file that is not UTF-16.
const msgNotUnicode = "Selected file is not Unicode. The CSV-Unicode source format needs a UTF-16 file with a byte order mark"

// decodeCSVUnicode returns the UTF-8 text of a CSV-Unicode data file: UTF-16 LE or BE,
// recognised by its byte order mark. UTF-8 (with or without BOM) is accepted only when
// lenient; otherwise ok is false.
func decodeCSVUnicode(r io.Reader, lenient bool) (text io.Reader, ok bool) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(3)
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		return transform.NewReader(br, unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()), true
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return transform.NewReader(br, unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder()), true
	case !lenient:
		return nil, false
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		_, _ = br.Discard(3)
	}
	return br, true
}

// csvSyntaxError is a malformed data file; parsing cannot continue past it.
type csvSyntaxError struct {
	Line int
	Msg  string
}

func (e *csvSyntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// csvReader reads RFC 4180 records with CRLF record terminators, as CSV-Unicode has.
// A bare LF terminator is an error: F&O rejects LF-only files (dmf-api.md §4.6).
type csvReader struct {
	r      *bufio.Reader
	line   int // line on which the current record started
	next   int // line of the next record
	fields []string
	buf    []byte
}

func newCSVReader(r io.Reader) *csvReader {
	return &csvReader{r: bufio.NewReaderSize(r, 64<<10), next: 1}
}

// Read returns the next record; the slice is reused by the next call. It returns io.EOF
// after the last record.
func (c *csvReader) Read() ([]string, error) {
	c.line = c.next
	c.fields = c.fields[:0]
	for {
		c.buf = c.buf[:0]
		b, err := c.r.ReadByte()
		if err == io.EOF {
			if len(c.fields) == 0 {
				return nil, io.EOF
			}
			c.fields = append(c.fields, "")
			return c.fields, nil
		}
		if err != nil {
			return nil, err
		}
		var end bool
		if b == '"' {
			end, err = c.quoted()
		} else {
			end, err = c.unquoted(b)
		}
		if err != nil {
			return nil, err
		}
		c.fields = append(c.fields, string(c.buf))
		if end {
			return c.fields, nil
		}
	}
}

// unquoted reads a field that started with b. It reports whether the record ended.
func (c *csvReader) unquoted(b byte) (bool, error) {
	for {
		switch b {
		case ',':
			return false, nil
		case '\r', '\n':
			return true, c.endOfLine(b)
		}
		c.buf = append(c.buf, b)
		var err error
		b, err = c.r.ReadByte()
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// quoted reads a field after its opening quote. It reports whether the record ended.
func (c *csvReader) quoted() (bool, error) {
	for {
		b, err := c.r.ReadByte()
		if err == io.EOF {
			return false, &csvSyntaxError{Line: c.line, Msg: "a quoted field is not terminated"}
		}
		if err != nil {
			return false, err
		}
		if b == '\n' {
			c.next++
		}
		if b != '"' {
			c.buf = append(c.buf, b)
			continue
		}
		b, err = c.r.ReadByte()
		switch {
		case err == io.EOF:
			return true, nil
		case err != nil:
			return false, err
		case b == '"':
			c.buf = append(c.buf, '"')
		case b == ',':
			return false, nil
		case b == '\r' || b == '\n':
			return true, c.endOfLine(b)
		default:
			return false, &csvSyntaxError{Line: c.line, Msg: fmt.Sprintf("unexpected %q after a closing quote", b)}
		}
	}
}

func (c *csvReader) endOfLine(b byte) error {
	if b == '\n' {
		return &csvSyntaxError{Line: c.line, Msg: "the record ends with LF; CSV-Unicode records end with CRLF"}
	}
	n, err := c.r.ReadByte()
	if err == io.EOF {
		c.next++
		return nil
	}
	if err != nil {
		return err
	}
	if n != '\n' {
		return &csvSyntaxError{Line: c.line, Msg: "the record ends with CR without LF"}
	}
	c.next++
	return nil
}

// csvWriter writes RFC 4180 records with CRLF terminators.
type csvWriter struct {
	w *bufio.Writer
}

func newCSVWriter(w io.Writer) *csvWriter { return &csvWriter{w: bufio.NewWriterSize(w, 64<<10)} }

func (c *csvWriter) Write(fields []string) error {
	for i, f := range fields {
		if i > 0 {
			_ = c.w.WriteByte(',')
		}
		if strings.ContainsAny(f, ",\"\r\n") || strings.TrimSpace(f) != f {
			_ = c.w.WriteByte('"')
			_, _ = c.w.WriteString(strings.ReplaceAll(f, `"`, `""`))
			_ = c.w.WriteByte('"')
		} else {
			_, _ = c.w.WriteString(f)
		}
	}
	_, err := c.w.WriteString("\r\n")
	return err
}

func (c *csvWriter) Flush() error { return c.w.Flush() }

// writeCSVUnicode writes records as a CSV-Unicode file: UTF-16 LE with BOM, CRLF.
func writeCSVUnicode(w io.Writer, header []string, rows func(yield func([]string) error) error) error {
	tw := transform.NewWriter(w, unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder())
	cw := newCSVWriter(tw)
	if err := cw.Write(header); err != nil {
		return err
	}
	if err := rows(cw.Write); err != nil {
		return err
	}
	if err := cw.Flush(); err != nil {
		return err
	}
	return tw.Close()
}
