package writer

import (
	"io"
	"unicode/utf8"
)

// jsonWriter writes a table as a JSON array of objects, or as NDJSON (an object a line),
// keys in column order and every value a string (DMF values are text). Invalid UTF-8 is
// written as U+FFFD, as encoding/json does.
type jsonWriter struct {
	table
	w        io.Writer
	lines    bool
	keys     [][]byte // `"column":`, escaped once
	buf      []byte
	closed   bool
	writeErr error
}

func newJSON(w io.Writer, lines bool) *jsonWriter {
	return &jsonWriter{w: w, lines: lines, buf: make([]byte, 0, csvFlush+4096)}
}

func (j *jsonWriter) Begin(name string, columns []string) error {
	if err := j.begin(name, columns, true); err != nil {
		return err
	}
	j.keys = make([][]byte, len(columns))
	for i, c := range columns {
		j.keys[i] = append(appendJSONString(nil, c), ':')
	}
	if !j.lines {
		j.buf = append(j.buf, '[')
	}
	return nil
}

func (j *jsonWriter) Row(values []string) error {
	if err := j.row(values); err != nil {
		return err
	}
	if j.writeErr != nil {
		return j.writeErr
	}
	if !j.lines {
		if j.rows > 1 {
			j.buf = append(j.buf, ',')
		}
		j.buf = append(j.buf, '\n')
	}
	j.buf = append(j.buf, '{')
	for i, v := range values {
		if i > 0 {
			j.buf = append(j.buf, ',')
		}
		j.buf = append(j.buf, j.keys[i]...)
		j.buf = appendJSONString(j.buf, v)
	}
	j.buf = append(j.buf, '}')
	if j.lines {
		j.buf = append(j.buf, '\n')
	}
	if len(j.buf) >= csvFlush {
		return j.flush()
	}
	return nil
}

func (j *jsonWriter) flush() error {
	if j.writeErr != nil {
		return j.writeErr
	}
	if _, err := j.w.Write(j.buf); err != nil {
		j.writeErr = err
		return err
	}
	j.buf = j.buf[:0]
	return nil
}

func (j *jsonWriter) Close() error {
	if j.closed {
		return j.writeErr
	}
	j.closed = true
	if !j.lines {
		if !j.begun {
			j.buf = append(j.buf, '[')
		}
		if j.rows > 0 {
			j.buf = append(j.buf, '\n')
		}
		j.buf = append(j.buf, ']', '\n')
	}
	return j.flush()
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string: quotes, backslashes and control
// characters escaped, U+2028 and U+2029 too (JavaScript line terminators), invalid UTF-8
// as U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
