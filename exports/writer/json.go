package writer

import (
	"io"

	"github.com/dmfpipe/dmfpipe/internal/jsonstr"
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
		j.keys[i] = append(jsonstr.Append(nil, c), ':')
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
		j.buf = jsonstr.Append(j.buf, v)
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
