package writer

import (
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// encoder encodes UTF-8 text into a CSV file's encoding, a rune at a time, so that a
// rune the encoding lacks is reported with its value's row and column.
type encoder struct {
	name string
	// cm is the code page of a single-byte encoding; nil for UTF-8 and UTF-16.
	cm     *charmap.Charmap
	single bool
	utf16  bool
	be     bool
	bom    []byte
}

var encoders = map[string]encoder{
	UTF8:        {name: UTF8, bom: []byte{0xEF, 0xBB, 0xBF}},
	UTF16:       {name: UTF16, utf16: true, bom: []byte{0xFF, 0xFE}},
	UTF16LE:     {name: UTF16LE, utf16: true, bom: []byte{0xFF, 0xFE}},
	UTF16BE:     {name: UTF16BE, utf16: true, be: true, bom: []byte{0xFE, 0xFF}},
	Windows1252: {name: Windows1252, cm: charmap.Windows1252, single: true},
	ISO88591:    {name: ISO88591, cm: charmap.ISO8859_1, single: true},
	ISO885915:   {name: ISO885915, cm: charmap.ISO8859_15, single: true},
}

// appendRune appends r encoded; false when the encoding has no r.
func (e *encoder) appendRune(dst []byte, r rune) ([]byte, bool) {
	switch {
	case e.cm != nil:
		b, ok := e.cm.EncodeRune(r)
		return append(dst, b), ok
	case e.utf16 && r >= 0x10000:
		hi, lo := utf16.EncodeRune(r)
		return e.appendUnit(e.appendUnit(dst, uint16(hi)), uint16(lo)), true
	case e.utf16:
		return e.appendUnit(dst, uint16(r)), true
	}
	return utf8.AppendRune(dst, r), true
}

func (e *encoder) appendUnit(dst []byte, u uint16) []byte {
	if e.be {
		return append(dst, byte(u>>8), byte(u))
	}
	return append(dst, byte(u), byte(u>>8))
}

// appendString appends s encoded, doubling '"' when quoted; on a rune the encoding
// lacks it returns that rune and false.
func (e *encoder) appendString(dst []byte, s string, doubleQuotes bool) ([]byte, rune, bool) {
	if e.cm == nil && !e.utf16 && !doubleQuotes {
		return append(dst, s...), 0, true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf && e.cm == nil && !e.utf16 {
			dst = append(dst, c)
			if c == '"' && doubleQuotes {
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		var ok bool
		if dst, ok = e.appendRune(dst, r); !ok {
			return dst, r, false
		}
		if r == '"' && doubleQuotes {
			dst, _ = e.appendRune(dst, r)
		}
	}
	return dst, 0, true
}

// csvFlush is how much encoded text the CSV writer gathers before writing it out.
const csvFlush = 64 << 10

type csvWriter struct {
	table
	w        io.Writer
	enc      encoder
	delim    rune
	header   bool
	bom      bool
	eol      []byte
	sep      []byte // the delimiter, encoded
	quote    []byte
	buf      []byte
	started  bool
	closed   bool
	writeErr error
}

func newCSV(w io.Writer, o Options) *csvWriter {
	enc := encoders[UTF8]
	if o.Encoding != "" {
		enc = encoders[o.Encoding]
	}
	c := &csvWriter{w: w, enc: enc, delim: o.Delimiter, header: !o.NoHeader, bom: o.BOM, buf: make([]byte, 0, csvFlush+4096)}
	if c.delim == 0 {
		c.delim = ','
	}
	c.sep, _ = c.enc.appendRune(nil, c.delim)
	c.quote, _ = c.enc.appendRune(nil, '"')
	eol := "\r\n"
	if o.LF {
		eol = "\n"
	}
	c.eol, _, _ = c.enc.appendString(nil, eol, false)
	return c
}

func (c *csvWriter) start() {
	if !c.started && c.bom {
		c.buf = append(c.buf, c.enc.bom...)
	}
	c.started = true
}

func (c *csvWriter) Begin(name string, columns []string) error {
	if err := c.begin(name, columns, true); err != nil {
		return err
	}
	c.start()
	if c.header {
		return c.record(columns, 0)
	}
	return nil
}

func (c *csvWriter) Row(values []string) error {
	if err := c.row(values); err != nil {
		return err
	}
	return c.record(values, c.rows)
}

// needsQuotes reports whether a field must be quoted: it holds the delimiter, a quote or
// a line break, or starts or ends with a space (which readers may trim).
func (c *csvWriter) needsQuotes(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return true
	}
	for _, r := range s {
		switch r {
		case c.delim, '"', '\r', '\n':
			return true
		}
	}
	return false
}

func (c *csvWriter) record(values []string, row int64) error {
	if c.writeErr != nil {
		return c.writeErr
	}
	for i, v := range values {
		if i > 0 {
			c.buf = append(c.buf, c.sep...)
		}
		q := c.needsQuotes(v)
		if q {
			c.buf = append(c.buf, c.quote...)
		}
		var (
			r  rune
			ok bool
		)
		if c.buf, r, ok = c.enc.appendString(c.buf, v, q); !ok {
			return &ValueError{Table: c.name, Row: row, Column: c.columns[i],
				Msg: fmt.Sprintf("%q (U+%04X) cannot be written in %s: export as utf-8 or utf-16", r, r, c.enc.name)}
		}
		if q {
			c.buf = append(c.buf, c.quote...)
		}
	}
	c.buf = append(c.buf, c.eol...)
	if len(c.buf) >= csvFlush {
		return c.flush()
	}
	return nil
}

func (c *csvWriter) flush() error {
	if c.writeErr != nil {
		return c.writeErr
	}
	if _, err := c.w.Write(c.buf); err != nil {
		c.writeErr = err
		return err
	}
	c.buf = c.buf[:0]
	return nil
}

func (c *csvWriter) Close() error {
	if c.closed {
		return c.writeErr
	}
	c.closed = true
	c.start()
	return c.flush()
}
