package reader

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dmfpipe/dmfpipe/internal/excerpt"
)

// csvReader parses RFC 4180 CSV byte by byte over a UTF-8 stream (the
// encoding layer decodes anything else first). Each record costs one string
// allocation; Values are substrings of it.
type csvReader struct {
	file   string
	br     *bufio.Reader
	delim  byte
	nl     byte // record terminator: '\n' (with an optional '\r' before it), or '\r' for old Mac files
	maxRec int
	enc    textEncoding
	info   Info
	header []string
	width  int
	hint   *string // why the header may be wrong (headerHint), set at the first ragged row

	line    int    // physical lines consumed so far
	start   int    // line where the current record starts
	buf     []byte // the current record's unquoted fields, each followed by the delimiter
	ends    []int  // end offset of each field in buf
	lineBuf []byte // a line longer than br's buffer
	rowErr  *RowError
	values  []string

	pending    bool // the first record was read at Open (NoHeader) and not returned yet
	pendingRec Record
	pendingErr error
	err        error // final error, returned by every later Next
}

var errLineTooLong = errors.New("line too long")

func newCSV(r io.Reader, opts Options) (*csvReader, error) {
	delim, err := parseDelimiter(opts.Delimiter)
	if err != nil {
		return nil, err
	}
	ts, err := openText(r, opts.Encoding, encWindows1252)
	if err != nil {
		return nil, err
	}
	p := &csvReader{
		file:   opts.FileName,
		br:     ts.br,
		nl:     '\n',
		maxRec: opts.MaxRecordBytes,
		enc:    ts.textEncoding,
		info:   Info{Format: FormatCSV, Encoding: ts.encoding, EncodingSource: ts.source},
	}
	if p.maxRec <= 0 {
		p.maxRec = defaultMaxRecordBytes
	}
	sample, _ := p.br.Peek(sampleSize)
	if bytes.IndexByte(sample, '\n') < 0 && bytes.IndexByte(sample, '\r') >= 0 {
		p.nl = '\r'
	}
	skip := opts.SkipRows
	if opts.HeaderRow > 0 {
		skip = opts.HeaderRow - 1
	}
	for range skip {
		if _, err := p.readLine(); err == io.EOF {
			break
		} else if err != nil {
			return nil, p.lineErr(err)
		}
	}
	if delim == 0 {
		sample, err := p.br.Peek(sampleSize)
		delim = detectDelimiter(sample, p.nl, err != nil)
		p.info.DelimiterDetected = true
	}
	p.delim, p.info.Delimiter = delim, delim

	err = p.readRecord()
	for err == nil && opts.NoHeader && len(p.buf) == len(p.ends) && p.rowErr == nil {
		err = p.readRecord() // skip records without data, as Next does
	}
	if err == io.EOF {
		return p, nil
	}
	if err != nil {
		return nil, err
	}
	rec, err := p.emit()
	if opts.NoHeader {
		p.pending, p.pendingRec, p.pendingErr = true, rec, err
		p.width = len(p.ends)
		p.header = make([]string, p.width)
		for i := range p.header {
			p.header[i] = strconv.Itoa(i + 1)
		}
		return p, nil
	}
	if err != nil {
		hint := "" // problem() gives NUL and encoding errors theirs
		if p.rowErr.Code != CodeNUL && p.rowErr.Code != CodeInvalidEncoding {
			hint = p.enc.binaryHint()
		}
		return nil, headerErr(p.rowErr, hint)
	}
	p.header = append([]string(nil), rec.Values...)
	p.width = len(p.header)
	return p, nil
}

func parseDelimiter(s string) (byte, error) {
	switch s {
	case "":
		return 0, nil
	case "tab", `\t`:
		return '\t', nil
	}
	if len(s) != 1 || s[0] >= utf8.RuneSelf || s[0] == '"' || s[0] == '\r' || s[0] == '\n' || s[0] == 0 {
		return 0, fmt.Errorf("delimiter %s: want one ASCII character other than a quote or line break", excerpt.Quote(s))
	}
	return s[0], nil
}

// detectDelimiter picks among , ; tab and | the one whose count outside
// quotes is the same on most of the first records, then the most frequent;
// comma when none occurs in the first record. truncated says the sample ends
// inside the file, so its last record may be cut.
func detectDelimiter(sample []byte, nl byte, truncated bool) byte {
	candidates := [...]byte{',', ';', '\t', '|'}
	const maxRecords = 20
	var counts [maxRecords][len(candidates)]int
	n := 0
	inQuote, blank := false, true
	for i, b := range sample {
		switch {
		case b == '"':
			inQuote = !inQuote
			blank = false
		case inQuote:
		case b == nl:
			if !blank {
				n++
			}
			blank = true
		case b == '\r':
		default:
			blank = false
			for c, d := range candidates {
				if b == d {
					counts[n][c]++
				}
			}
		}
		if n == maxRecords {
			break
		}
		if i == len(sample)-1 && !blank && !truncated {
			n++ // the last record has no terminator but is complete
		}
	}
	best, bestSame, bestCount := byte(','), 0, 0
	for c, d := range candidates {
		first := counts[0][c]
		if first == 0 {
			continue
		}
		same := 0
		for r := range n {
			if counts[r][c] == first {
				same++
			}
		}
		if same > bestSame || (same == bestSame && first > bestCount) {
			best, bestSame, bestCount = d, same, first
		}
	}
	return best
}

func (p *csvReader) Header() []string { return p.header }
func (p *csvReader) Info() Info       { return p.info }
func (p *csvReader) Close() error     { return nil }

func (p *csvReader) Next() (Record, error) {
	if p.err != nil {
		return Record{}, p.err
	}
	if p.pending {
		p.pending = false
		return p.pendingRec, p.pendingErr
	}
	for {
		if err := p.readRecord(); err != nil {
			p.err = err
			return Record{}, err
		}
		if len(p.buf) == len(p.ends) && p.rowErr == nil {
			continue // every field is empty: no data
		}
		rec, err := p.emit()
		if err == nil && len(rec.Values) != p.width {
			err = p.newRowError(0, CodeRagged, fmt.Sprintf("%s, the header has %d%s", plural(len(rec.Values), "field"), p.width, p.raggedHint(rec.Values)))
		}
		return rec, err
	}
}

// raggedHint says why a row may not fit the header: a file that is not
// text, the header's own hint, or a carriage return alone inside the row of a
// file whose lines end in LF.
func (p *csvReader) raggedHint(values []string) string {
	if p.hint == nil {
		h := p.enc.binaryHint()
		if h == "" {
			h = delimiterHint(p.header, p.delim)
			if h == "" {
				h = TitleHint(p.header, p.start)
			}
			if h != "" {
				h = "; " + h
			}
		}
		p.hint = &h
	}
	if *p.hint != "" {
		return *p.hint
	}
	if p.nl == '\n' {
		for _, v := range values {
			if strings.IndexByte(v, '\r') >= 0 {
				return "; a field holds a lone carriage return (CR), which does not end a line here: mixed line endings?"
			}
		}
	}
	return ""
}

// readLine returns the next physical line with its terminator (the last line
// may have none), or io.EOF.
func (p *csvReader) readLine() ([]byte, error) {
	line, err := p.br.ReadSlice(p.nl)
	if err == bufio.ErrBufferFull {
		p.lineBuf = append(p.lineBuf[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(p.lineBuf) > p.maxRec {
				return nil, errLineTooLong
			}
			line, err = p.br.ReadSlice(p.nl)
			p.lineBuf = append(p.lineBuf, line...)
		}
		line = p.lineBuf
	}
	if len(line) == 0 {
		if err == nil {
			err = io.EOF
		}
		return nil, err
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	p.line++
	return line, nil
}

// lenNL is the length of the line terminator at the end of line.
func (p *csvReader) lenNL(line []byte) int {
	n := len(line)
	if n == 0 || line[n-1] != p.nl {
		return 0
	}
	if p.nl == '\n' && n > 1 && line[n-2] == '\r' {
		return 2
	}
	return 1
}

func (p *csvReader) lineErr(err error) error {
	if err == errLineTooLong {
		err = fmt.Errorf("line %d: %w: over %d bytes", p.line+1, ErrRecordTooLarge, p.maxRec)
	}
	return fileErr(p.file, err)
}

// readRecord parses the next non-blank record into buf and ends. It returns
// io.EOF at the end and a final error when reading fails or the record is too
// large; row problems are left in rowErr.
func (p *csvReader) readRecord() error {
	p.buf, p.ends, p.rowErr = p.buf[:0], p.ends[:0], nil
	var line []byte
	for {
		l, err := p.readLine()
		if err != nil {
			if err == io.EOF {
				return err
			}
			return p.lineErr(err)
		}
		if len(l) > p.lenNL(l) {
			line = l
			break
		}
	}
	p.start = p.line
fields:
	for {
		if len(line) == 0 || line[0] != '"' {
			var more bool
			if line, more = p.finishField(line); !more {
				return nil
			}
			continue
		}
		col := len(p.ends) + 1
		line = line[1:]
		for {
			if i := bytes.IndexByte(line, '"'); i >= 0 {
				p.buf = append(p.buf, line[:i]...)
				line = line[i+1:]
				switch {
				case len(line) > 0 && line[0] == '"':
					p.buf = append(p.buf, '"')
					line = line[1:]
					continue
				case len(line) > 0 && line[0] == p.delim:
					p.endField()
					line = line[1:]
					continue fields
				case p.lenNL(line) == len(line):
					p.endField()
					return nil
				}
				// Text after the closing quote: keep it as written up to the
				// next delimiter and flag the row.
				p.setRowErr(col, CodeBadQuote, "text after the closing quote of a quoted field")
				var more bool
				if line, more = p.finishField(line); !more {
					return nil
				}
				continue fields
			}
			p.buf = append(p.buf, line...)
			if len(p.buf) > p.maxRec {
				return fileErr(p.file, fmt.Errorf("line %d: %w: over %d bytes (an unclosed quote?)", p.start, ErrRecordTooLarge, p.maxRec))
			}
			var err error
			if line, err = p.readLine(); err == io.EOF {
				p.endField()
				p.setRowErr(col, CodeUnclosedQuote, "quoted field not closed before the end of the file")
				return nil
			} else if err != nil {
				return p.lineErr(err)
			}
		}
	}
}

// finishField appends line up to the next delimiter (or the line's end) to
// the current field and ends the field. It returns the rest of the line after
// the delimiter and whether another field follows.
func (p *csvReader) finishField(line []byte) ([]byte, bool) {
	i := bytes.IndexByte(line, p.delim)
	if i < 0 {
		p.buf = append(p.buf, line[:len(line)-p.lenNL(line)]...)
		p.endField()
		return nil, false
	}
	p.buf = append(p.buf, line[:i]...)
	p.endField()
	return line[i+1:], true
}

// endField ends the current field. A delimiter is kept after each field in
// buf, so that checking the whole record for valid UTF-8 at once cannot
// accept a sequence split over two fields.
func (p *csvReader) endField() {
	p.ends = append(p.ends, len(p.buf))
	p.buf = append(p.buf, p.delim)
}

// rowErrRank orders row problems: the most important one is reported.
var rowErrRank = map[Code]int{CodeUnclosedQuote: 4, CodeNUL: 3, CodeInvalidEncoding: 2, CodeBadQuote: 1}

func (p *csvReader) setRowErr(col int, code Code, msg string) {
	if p.outranks(code) {
		p.rowErr = p.newRowError(col, code, msg)
	}
}

// outranks reports whether a problem of code would replace the row's error.
func (p *csvReader) outranks(code Code) bool {
	return p.rowErr == nil || rowErrRank[code] > rowErrRank[p.rowErr.Code]
}

func (p *csvReader) newRowError(col int, code Code, msg string) *RowError {
	return &RowError{File: p.file, Line: p.start, Column: col, Code: code, Msg: msg}
}

// emit turns buf and ends into a Record, replacing invalid bytes and NULs.
func (p *csvReader) emit() (Record, error) {
	if !utf8.Valid(p.buf) || bytes.IndexByte(p.buf, 0) >= 0 {
		p.sanitize()
	}
	s := string(p.buf)
	p.values = p.values[:0]
	start := 0
	for _, e := range p.ends {
		p.values = append(p.values, s[start:e])
		start = e + 1
	}
	rec := Record{Values: p.values, Loc: Location{Line: p.start}}
	if p.rowErr != nil {
		return rec, p.rowErr
	}
	return rec, nil
}

// sanitize flags the first field with invalid bytes or a NUL and replaces
// them with U+FFFD in every field.
func (p *csvReader) sanitize() {
	var out []byte
	ends := make([]int, 0, len(p.ends))
	start := 0
	for i, e := range p.ends {
		raw := p.buf[start:e]
		field, code := sanitizeText(raw)
		start = e + 1
		if code != "" && p.outranks(code) {
			p.setRowErr(i+1, code, p.enc.problem(code, raw))
		}
		out = append(out, field...)
		ends = append(ends, len(out))
		out = append(out, p.delim)
	}
	p.buf, p.ends = out, ends
}
