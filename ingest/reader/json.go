package reader

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dmfpipe/dmfpipe/internal/excerpt"
)

// maxJSONDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxJSONDepth = 256

// jsonReader is a hand-written JSON tokenizer that flattens each record
// straight into its columns: no map, no interface values, no float64.
type jsonReader struct {
	file   string
	ndjson bool
	enc    textEncoding
	info   Info

	r    io.Reader
	buf  []byte
	pos  int
	end  int
	rerr error
	line int

	header   []string
	cols     map[string]int
	fixed    bool // header given: fields outside it are ignored
	sampling bool // building the header from the first records
	sample   int

	path   []byte // dotted path of the current value
	vbuf   []byte // the current record's values, each followed by a comma
	cells  []jsonCell
	rowErr *RowError
	start  int // line where the current record starts

	oneLine bool // inside an NDJSON record: a line break ends it
	first   bool // no array element read yet (JSON)
	queue   []queuedRecord
	values  []string
	done    bool
	err     error // final error, returned after the queue drains
}

type jsonCell struct{ col, start, end int }

type queuedRecord struct {
	s     string
	cells []jsonCell
	line  int
	err   error
}

// jsonSyntaxError is a malformed document; it is final in a JSON array and a
// RowError for the line in NDJSON.
type jsonSyntaxError struct {
	line int
	msg  string
}

func (e *jsonSyntaxError) Error() string {
	return fmt.Sprintf("line %d: invalid JSON: %s", e.line, e.msg)
}

func newJSON(r io.Reader, format Format, opts Options) (*jsonReader, error) {
	ts, err := openText(r, opts.Encoding, encUTF8)
	if err != nil {
		return nil, err
	}
	p := &jsonReader{
		file:   opts.FileName,
		ndjson: format == FormatNDJSON,
		enc:    ts.textEncoding,
		info:   Info{Format: format, Encoding: ts.encoding, EncodingSource: ts.source},
		r:      ts.br,
		buf:    make([]byte, sampleSize),
		line:   1,
		cols:   map[string]int{},
		first:  true,
		sample: opts.HeaderSample,
	}
	if p.sample <= 0 {
		p.sample = defaultHeaderSample
	}
	if !p.ndjson {
		p.info.Records = opts.Records
		if err := p.seek(opts.Records); err != nil {
			return nil, err
		}
	}
	if len(opts.Columns) > 0 {
		p.fixed = true
		p.header = append([]string(nil), opts.Columns...)
		for i, c := range p.header {
			if _, dup := p.cols[c]; !dup {
				p.cols[c] = i
			}
		}
		return p, nil
	}
	p.sampling = true
	for len(p.queue) < p.sample {
		line, err := p.record()
		if err == io.EOF {
			break
		}
		q := queuedRecord{line: line, err: err}
		var rowErr *RowError
		if err != nil && !errors.As(err, &rowErr) {
			p.err = err
			break
		}
		q.s = string(p.vbuf)
		q.cells = append([]jsonCell(nil), p.cells...)
		p.queue = append(p.queue, q)
	}
	p.sampling = false
	return p, nil
}

func (p *jsonReader) Header() []string { return p.header }
func (p *jsonReader) Info() Info       { return p.info }
func (p *jsonReader) Close() error     { return nil }

func (p *jsonReader) Next() (Record, error) {
	if len(p.queue) > 0 {
		q := p.queue[0]
		p.queue = p.queue[1:]
		return p.materialize(q.s, q.cells, q.line), q.err
	}
	if p.err != nil {
		return Record{}, p.err
	}
	line, err := p.record()
	var rowErr *RowError
	if err != nil && !errors.As(err, &rowErr) {
		p.err = err
		return Record{}, err
	}
	return p.materialize(string(p.vbuf), p.cells, line), err
}

func (p *jsonReader) materialize(s string, cells []jsonCell, line int) Record {
	if cap(p.values) < len(p.header) {
		p.values = make([]string, len(p.header))
	}
	p.values = p.values[:len(p.header)]
	clear(p.values)
	for _, c := range cells {
		p.values[c.col] = s[c.start:c.end]
	}
	return Record{Values: p.values, Loc: Location{Line: line}}
}

// record parses the next record into vbuf and cells and returns the line it
// starts on. Errors: io.EOF at the end, a *RowError for a bad record that
// was skipped or kept in part, anything else is final.
func (p *jsonReader) record() (int, error) {
	p.vbuf, p.cells, p.rowErr, p.path = p.vbuf[:0], p.cells[:0], nil, p.path[:0]
	if p.done {
		return 0, io.EOF
	}
	c, ok := p.skipSpace()
	if !p.ndjson {
		switch {
		case !ok:
			return 0, p.final(p.syntax("unexpected end of input in the records array"))
		case c == ']':
			p.done = true
			return 0, io.EOF
		case !p.first:
			if c != ',' {
				return 0, p.final(p.syntax(fmt.Sprintf("unexpected %s after a record, want , or ]", quoteByte(c))))
			}
			p.pos++
			if c, ok = p.skipSpace(); !ok {
				return 0, p.final(p.syntax("unexpected end of input in the records array"))
			}
		}
		p.first = false
	} else if !ok {
		if p.rerr != nil && p.rerr != io.EOF {
			return 0, p.final(p.rerr)
		}
		p.done = true
		return 0, io.EOF
	}
	p.start = p.line
	p.oneLine = p.ndjson
	defer func() { p.oneLine = false }()
	if c != '{' {
		if err := p.value(nil, 0); err != nil {
			return p.start, p.recordErr(err)
		}
		return p.start, p.newRowError(CodeNotObject, "record is not a JSON object")
	}
	if err := p.value(&p.vbuf, 0); err != nil {
		return p.start, p.recordErr(err)
	}
	if !utf8.Valid(p.vbuf) || bytes.IndexByte(p.vbuf, 0) >= 0 {
		p.sanitize()
	}
	if p.rowErr != nil {
		return p.start, p.rowErr
	}
	return p.start, nil
}

// recordErr turns a failure inside a record into the error Next returns.
func (p *jsonReader) recordErr(err error) error {
	var se *jsonSyntaxError
	if !errors.As(err, &se) || !p.ndjson || (p.rerr != nil && p.rerr != io.EOF) {
		return p.final(err)
	}
	// Resynchronise on the next line: NDJSON records are line-delimited.
	for {
		if p.pos == p.end && !p.fill() {
			break
		}
		i := bytes.IndexByte(p.buf[p.pos:p.end], '\n')
		if i >= 0 {
			p.pos += i + 1
			p.line++
			break
		}
		p.pos = p.end
	}
	p.cells = p.cells[:0]
	return &RowError{File: p.file, Line: se.line, Code: CodeSyntax, Msg: "invalid JSON: " + se.msg}
}

// final ends reading with err, or with the read error that caused it.
func (p *jsonReader) final(err error) error {
	p.done = true
	if p.rerr != nil && p.rerr != io.EOF {
		err = fmt.Errorf("line %d: %w", p.line, p.rerr)
	}
	return fileErr(p.file, err)
}

func (p *jsonReader) newRowError(code Code, msg string) *RowError {
	return &RowError{File: p.file, Line: p.start, Code: code, Msg: msg}
}

func (p *jsonReader) setRowErr(col int, code Code, msg string) {
	if p.rowErr == nil {
		p.rowErr = p.newRowError(code, msg)
		p.rowErr.Column = col
	}
}

func (p *jsonReader) sanitize() {
	for i := range p.cells {
		c := &p.cells[i]
		raw := p.vbuf[c.start:c.end]
		v, code := sanitizeText(raw)
		if code == "" {
			continue
		}
		if p.rowErr == nil {
			p.setRowErr(c.col+1, code, fmt.Sprintf("field %s: %s", excerpt.Quote(p.header[c.col]), p.enc.problem(code, raw)))
		}
		// Appending keeps the other cells' offsets valid.
		c.start = len(p.vbuf)
		p.vbuf = append(p.vbuf, v...)
		c.end = len(p.vbuf)
	}
}

func (p *jsonReader) syntax(msg string) *jsonSyntaxError {
	return &jsonSyntaxError{line: p.line, msg: msg}
}

func quoteByte(c byte) string {
	if c == '\n' {
		return "end of line"
	}
	if c < utf8.RuneSelf {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// fill reads more input into an empty buffer; it reports false at the end.
func (p *jsonReader) fill() bool {
	for p.rerr == nil {
		n, err := p.r.Read(p.buf)
		p.pos, p.end, p.rerr = 0, n, err
		if n > 0 {
			return true
		}
	}
	return false
}

// ensure makes at least n unread bytes available in buf if the input has them.
func (p *jsonReader) ensure(n int) bool {
	if p.end-p.pos >= n {
		return true
	}
	p.end = copy(p.buf, p.buf[p.pos:p.end])
	p.pos = 0
	for p.end < n && p.rerr == nil {
		m, err := p.r.Read(p.buf[p.end:])
		p.end += m
		p.rerr = err
	}
	return p.end >= n
}

// skipSpace skips whitespace and returns the next byte without consuming it.
// Inside an NDJSON record a line break is not whitespace but returned.
func (p *jsonReader) skipSpace() (byte, bool) {
	for {
		for p.pos < p.end {
			switch c := p.buf[p.pos]; c {
			case ' ', '\t', '\r':
				p.pos++
			case '\n':
				if p.oneLine {
					return c, true
				}
				p.pos++
				p.line++
			default:
				return c, true
			}
		}
		if !p.fill() {
			return 0, false
		}
	}
}

// next consumes and returns one byte.
func (p *jsonReader) next() (byte, bool) {
	if p.pos == p.end && !p.fill() {
		return 0, false
	}
	c := p.buf[p.pos]
	p.pos++
	return c, true
}

// peek returns the next byte without consuming it.
func (p *jsonReader) peek() (byte, bool) {
	if p.pos == p.end && !p.fill() {
		return 0, false
	}
	return p.buf[p.pos], true
}

// expect consumes whitespace and then the byte want.
func (p *jsonReader) expect(want byte, context string) error {
	c, ok := p.skipSpace()
	if !ok {
		return p.syntax("unexpected end of input " + context)
	}
	if c != want {
		return p.syntax(fmt.Sprintf("unexpected %s %s, want %s", quoteByte(c), context, quoteByte(want)))
	}
	p.pos++
	return nil
}

// value parses one JSON value. With dst non-nil its leaves are flattened
// into dst and cells under the current path; with dst nil it is skipped.
func (p *jsonReader) value(dst *[]byte, depth int) error {
	if depth > maxJSONDepth {
		return p.syntax("nesting too deep")
	}
	c, ok := p.skipSpace()
	if !ok {
		return p.syntax("unexpected end of input, want a value")
	}
	switch {
	case c == '{':
		p.pos++
		if c, ok = p.skipSpace(); ok && c == '}' {
			p.pos++
			return nil
		}
		for {
			if c, ok = p.skipSpace(); !ok || c != '"' {
				return p.unexpected(c, ok, "in an object, want a key")
			}
			base := len(p.path)
			if dst != nil && base > 0 {
				p.path = append(p.path, '.')
			}
			var key *[]byte
			if dst != nil {
				key = &p.path
			}
			if err := p.str(key); err != nil {
				return err
			}
			if err := p.expect(':', "after an object key"); err != nil {
				return err
			}
			if err := p.value(dst, depth+1); err != nil {
				return err
			}
			p.path = p.path[:base]
			if c, ok = p.skipSpace(); !ok || (c != ',' && c != '}') {
				return p.unexpected(c, ok, "in an object, want , or }")
			}
			p.pos++
			if c == '}' {
				return nil
			}
		}
	case c == '[':
		p.pos++
		if c, ok = p.skipSpace(); ok && c == ']' {
			p.pos++
			return nil
		}
		for i := 0; ; i++ {
			base := len(p.path)
			if dst != nil {
				if base > 0 {
					p.path = append(p.path, '.')
				}
				p.path = strconv.AppendInt(p.path, int64(i), 10)
			}
			if err := p.value(dst, depth+1); err != nil {
				return err
			}
			p.path = p.path[:base]
			if c, ok = p.skipSpace(); !ok || (c != ',' && c != ']') {
				return p.unexpected(c, ok, "in an array, want , or ]")
			}
			p.pos++
			if c == ']' {
				return nil
			}
		}
	case c == '"':
		start := len(p.vbufOf(dst))
		if err := p.str(dst); err != nil {
			return err
		}
		p.leaf(dst, start)
		return nil
	case c == '-' || (c >= '0' && c <= '9'):
		start := len(p.vbufOf(dst))
		if err := p.number(dst); err != nil {
			return err
		}
		p.leaf(dst, start)
		return nil
	case c == 't' || c == 'f' || c == 'n':
		lit := "null"
		switch c {
		case 't':
			lit = "true"
		case 'f':
			lit = "false"
		}
		for i := range len(lit) {
			if b, ok := p.next(); !ok || b != lit[i] {
				return p.syntax("invalid literal, want " + lit)
			}
		}
		start := len(p.vbufOf(dst))
		if dst != nil && c != 'n' {
			*dst = append(*dst, lit...)
		}
		p.leaf(dst, start)
		return nil
	}
	return p.syntax(fmt.Sprintf("unexpected %s, want a value", quoteByte(c)))
}

func (p *jsonReader) vbufOf(dst *[]byte) []byte {
	if dst == nil {
		return nil
	}
	return *dst
}

func (p *jsonReader) unexpected(c byte, ok bool, context string) error {
	if !ok {
		return p.syntax("unexpected end of input " + context)
	}
	return p.syntax(fmt.Sprintf("unexpected %s %s", quoteByte(c), context))
}

// leaf records the value just appended to dst from start under the current path.
func (p *jsonReader) leaf(dst *[]byte, start int) {
	if dst == nil {
		return
	}
	end := len(*dst)
	// A separator keeps the UTF-8 check of the whole record from accepting
	// a sequence split over two values.
	*dst = append(*dst, ',')
	col, ok := p.cols[string(p.path)]
	if !ok {
		switch {
		case p.sampling:
			col = len(p.header)
			name, _ := sanitizeText(p.path) // a bad key's values are still checked
			p.header = append(p.header, string(name))
			p.cols[string(p.path)] = col
		case p.fixed:
			return
		default:
			if p.rowErr == nil {
				p.setRowErr(0, CodeUnknownField, fmt.Sprintf("field %s is not in the header (built from the first %d records)", excerpt.Quote(string(p.path)), p.sample))
			}
			return
		}
	}
	p.cells = append(p.cells, jsonCell{col: col, start: start, end: end})
}

// str parses a string, appending its unescaped text to dst when not nil.
func (p *jsonReader) str(dst *[]byte) error {
	p.pos++ // the opening quote
	for {
		i := p.pos
		for i < p.end {
			if c := p.buf[i]; c == '"' || c == '\\' || c < 0x20 {
				break
			}
			i++
		}
		if dst != nil {
			*dst = append(*dst, p.buf[p.pos:i]...)
		}
		p.pos = i
		if i == p.end {
			if !p.fill() {
				return p.syntax("unexpected end of input in a string")
			}
			continue
		}
		switch c := p.buf[i]; {
		case c == '"':
			p.pos++
			return nil
		case c < 0x20:
			return p.syntax("control character in a string")
		}
		p.pos++ // the backslash
		e, ok := p.next()
		if !ok {
			return p.syntax("unexpected end of input in a string escape")
		}
		var out byte
		switch e {
		case '"', '\\', '/':
			out = e
		case 'b':
			out = '\b'
		case 'f':
			out = '\f'
		case 'n':
			out = '\n'
		case 'r':
			out = '\r'
		case 't':
			out = '\t'
		case 'u':
			r, err := p.hex4()
			if err != nil {
				return err
			}
			if utf16.IsSurrogate(r) {
				r = p.lowSurrogate(r)
			}
			if dst != nil {
				*dst = utf8.AppendRune(*dst, r)
			}
			continue
		default:
			return p.syntax(fmt.Sprintf("invalid escape \\%c in a string", e))
		}
		if dst != nil {
			*dst = append(*dst, out)
		}
	}
}

// lowSurrogate completes the high surrogate r with a following \uDC00-\uDFFF
// escape. An unpaired surrogate is not a character: it becomes U+FFFD and
// the record gets a RowError.
func (p *jsonReader) lowSurrogate(r rune) rune {
	if r < 0xDC00 && p.ensure(6) && p.buf[p.pos] == '\\' && p.buf[p.pos+1] == 'u' {
		save := p.pos
		p.pos += 2
		if r2, err := p.hex4(); err == nil {
			if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
				return pair
			}
		}
		p.pos = save
	}
	p.setRowErr(0, CodeInvalidEncoding, "unpaired UTF-16 surrogate escape in a string")
	return utf8.RuneError
}

func (p *jsonReader) hex4() (rune, error) {
	var r rune
	for range 4 {
		c, ok := p.next()
		if !ok {
			return 0, p.syntax("unexpected end of input in a \\u escape")
		}
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, p.syntax("invalid \\u escape in a string")
		}
	}
	return r, nil
}

// number parses a number per RFC 8259, appending its text to dst when not nil.
func (p *jsonReader) number(dst *[]byte) error {
	take := func(c byte) {
		p.pos++
		if dst != nil {
			*dst = append(*dst, c)
		}
	}
	digits := func() int {
		n := 0
		for {
			c, ok := p.peek()
			if !ok || c < '0' || c > '9' {
				return n
			}
			take(c)
			n++
		}
	}
	if c, _ := p.peek(); c == '-' {
		take(c)
	}
	c, ok := p.peek()
	switch {
	case ok && c == '0':
		take(c)
	case ok && c >= '1' && c <= '9':
		digits()
	default:
		return p.syntax("invalid number")
	}
	if c, ok := p.peek(); ok && c == '.' {
		take(c)
		if digits() == 0 {
			return p.syntax("invalid number: no digits after the decimal point")
		}
	}
	if c, ok := p.peek(); ok && (c == 'e' || c == 'E') {
		take(c)
		if c, ok := p.peek(); ok && (c == '+' || c == '-') {
			take(c)
		}
		if digits() == 0 {
			return p.syntax("invalid number: no digits in the exponent")
		}
	}
	return nil
}

// seek moves to just inside the array at the JSON pointer ptr.
func (p *jsonReader) seek(ptr string) error {
	if ptr != "" && !strings.HasPrefix(ptr, "/") {
		return fmt.Errorf("records %s: a JSON pointer starts with /", excerpt.Quote(ptr))
	}
	var tokens []string
	if ptr != "" {
		for _, t := range strings.Split(ptr[1:], "/") {
			tokens = append(tokens, strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~"))
		}
	}
	for i, tok := range tokens {
		at := "/" + strings.Join(tokens[:i], "/")
		found, err := p.descend(tok)
		if err != nil {
			return fmt.Errorf("records %s: %w", excerpt.Quote(ptr), err)
		}
		if !found {
			return fmt.Errorf("records %s: nothing at %s under %s", excerpt.Quote(ptr), excerpt.Quote(tok), excerpt.Quote(at))
		}
	}
	c, ok := p.skipSpace()
	if !ok {
		return fmt.Errorf("records %s: %w", excerpt.Quote(ptr), p.syntax("unexpected end of input, want an array"))
	}
	if c != '[' {
		hint := p.enc.binaryHint()
		if ptr == "" && c == '{' {
			hint = "; set records to the JSON pointer of the array (e.g. /data/items) or use ndjson"
		}
		return fmt.Errorf("records %s: want an array, found %s%s", excerpt.Quote(ptr), describeJSON(c), hint)
	}
	p.pos++
	return nil
}

// descend enters the member tok of the object or array that comes next.
func (p *jsonReader) descend(tok string) (bool, error) {
	c, ok := p.skipSpace()
	if !ok {
		return false, p.syntax("unexpected end of input")
	}
	switch c {
	case '{':
		p.pos++
		if c, ok = p.skipSpace(); ok && c == '}' {
			return false, nil
		}
		var key []byte
		for {
			if c, ok = p.skipSpace(); !ok || c != '"' {
				return false, p.unexpected(c, ok, "in an object, want a key")
			}
			key = key[:0]
			if err := p.str(&key); err != nil {
				return false, err
			}
			if err := p.expect(':', "after an object key"); err != nil {
				return false, err
			}
			if string(key) == tok {
				return true, nil
			}
			if err := p.value(nil, 0); err != nil {
				return false, err
			}
			if c, ok = p.skipSpace(); !ok || (c != ',' && c != '}') {
				return false, p.unexpected(c, ok, "in an object, want , or }")
			}
			p.pos++
			if c == '}' {
				return false, nil
			}
		}
	case '[':
		idx, err := strconv.Atoi(tok)
		if err != nil || idx < 0 {
			return false, fmt.Errorf("%s is not an array index", excerpt.Quote(tok))
		}
		p.pos++
		if c, ok = p.skipSpace(); ok && c == ']' {
			return false, nil
		}
		for i := 0; ; i++ {
			if i == idx {
				return true, nil
			}
			if err := p.value(nil, 0); err != nil {
				return false, err
			}
			if c, ok = p.skipSpace(); !ok || (c != ',' && c != ']') {
				return false, p.unexpected(c, ok, "in an array, want , or ]")
			}
			p.pos++
			if c == ']' {
				return false, nil
			}
		}
	}
	return false, fmt.Errorf("want an object or array, found %s", describeJSON(c))
}

func describeJSON(c byte) string {
	switch {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	}
	return quoteByte(c)
}
