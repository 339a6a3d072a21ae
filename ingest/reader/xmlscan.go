package reader

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// xmlScanner is a minimal streaming XML tokenizer for the parts of a
// workbook read row by row (sheet data, shared strings). It yields start and
// end tags with their local names and raw attributes, and hands character
// data to the caller only when asked. It does not expand DTDs: a DOCTYPE is
// an error, which also rules out entity expansion attacks.
type xmlScanner struct {
	r      io.Reader
	buf    []byte
	pos    int
	end    int
	rerr   error
	maxBuf int
}

type tagKind uint8

const (
	tagStart tagKind = iota + 1
	tagEnd
	tagEOF
)

// xmlTag is valid until the next call to the scanner.
type xmlTag struct {
	kind  tagKind
	name  []byte // local name, without a namespace prefix
	attrs []byte // raw attributes of a start tag
	self  bool   // a self-closing start tag: no end tag follows
}

const (
	xmlBufSize = 64 << 10
	xmlMaxTag  = 16 << 20 // the longest tag, comment or CDATA section accepted
)

var errXMLEOF = errors.New("unexpected end of XML")

func newXMLScanner(r io.Reader) *xmlScanner {
	return &xmlScanner{r: r, buf: make([]byte, xmlBufSize), maxBuf: xmlMaxTag}
}

// more reads more input, keeping the unread bytes from pos. It reports
// false at the end of input or on a read error (kept in rerr).
func (s *xmlScanner) more() (bool, error) {
	if s.rerr != nil {
		return false, nil
	}
	if s.pos > 0 {
		s.end = copy(s.buf, s.buf[s.pos:s.end])
		s.pos = 0
	}
	if s.end == len(s.buf) {
		if len(s.buf) >= s.maxBuf {
			return false, fmt.Errorf("XML token longer than %d bytes", s.maxBuf)
		}
		s.buf = append(s.buf, make([]byte, len(s.buf))...)
	}
	for {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.rerr = err
		}
		if n > 0 || err != nil {
			return n > 0, nil
		}
	}
}

// eof turns the end of input in the middle of a token into an error.
func (s *xmlScanner) eof() error {
	if s.rerr != nil && s.rerr != io.EOF {
		return s.rerr
	}
	return errXMLEOF
}

// next returns the next start or end tag, or a tagEOF tag at the end of
// input. Character data before the tag is appended to text when text is not
// nil (raw: entities are left for the caller to decode).
func (s *xmlScanner) next(text *[]byte) (xmlTag, error) {
	for {
		i := bytes.IndexByte(s.buf[s.pos:s.end], '<')
		if i < 0 {
			if text != nil {
				*text = append(*text, s.buf[s.pos:s.end]...)
			}
			s.pos = s.end
			ok, err := s.more()
			if err != nil {
				return xmlTag{}, err
			}
			if !ok {
				if s.rerr != io.EOF {
					return xmlTag{}, s.rerr
				}
				return xmlTag{kind: tagEOF}, nil
			}
			continue
		}
		if text != nil {
			*text = append(*text, s.buf[s.pos:s.pos+i]...)
		}
		s.pos += i
		if s.end-s.pos < 2 {
			if err := s.need(2); err != nil {
				return xmlTag{}, err
			}
		}
		switch s.buf[s.pos+1] {
		case '?':
			if err := s.skipPast("?>", nil); err != nil {
				return xmlTag{}, err
			}
			continue
		case '!':
			if err := s.special(text); err != nil {
				return xmlTag{}, err
			}
			continue
		}
		gt, err := s.tagClose()
		if err != nil {
			return xmlTag{}, err
		}
		tag := s.buf[s.pos+1 : gt]
		s.pos = gt + 1
		if len(tag) > 0 && tag[0] == '/' {
			n := len(tag)
			for n > 1 && isXMLSpace(tag[n-1]) {
				n--
			}
			return xmlTag{kind: tagEnd, name: localName(tag[1:n])}, nil
		}
		t := xmlTag{kind: tagStart}
		if n := len(tag); n > 0 && tag[n-1] == '/' {
			t.self = true
			tag = tag[:n-1]
		}
		n := 0
		for n < len(tag) && !isXMLSpace(tag[n]) {
			n++
		}
		t.name, t.attrs = localName(tag[:n]), tag[n:]
		return t, nil
	}
}

// need makes n bytes from pos available or fails.
func (s *xmlScanner) need(n int) error {
	for s.end-s.pos < n {
		ok, err := s.more()
		if err != nil {
			return err
		}
		if !ok {
			return s.eof()
		}
	}
	return nil
}

// tagClose returns the index of the '>' closing the tag at pos, outside
// quoted attribute values.
func (s *xmlScanner) tagClose() (int, error) {
	i := s.pos + 1
	for {
		seg := s.buf[i:s.end]
		if gt := bytes.IndexByte(seg, '>'); gt >= 0 {
			q := indexQuote(seg[:gt])
			if q < 0 {
				return i + gt, nil
			}
			// Skip the quoted value, which may hold a '>'.
			if end := bytes.IndexByte(seg[q+1:], seg[q]); end >= 0 {
				i += q + 1 + end + 1
				continue
			}
		}
		off := i - s.pos
		ok, err := s.more()
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, s.eof()
		}
		i = s.pos + off
	}
}

func indexQuote(b []byte) int {
	for i, c := range b {
		if c == '"' || c == '\'' {
			return i
		}
	}
	return -1
}

// special handles "<!": comments are skipped, CDATA sections are character
// data (appended to text escaped, so that callers decode all text alike), and
// DOCTYPE declarations are refused.
func (s *xmlScanner) special(text *[]byte) error {
	if err := s.need(9); err != nil && !errors.Is(err, errXMLEOF) {
		return err
	}
	rest := s.buf[s.pos:s.end]
	switch {
	case bytes.HasPrefix(rest, []byte("<!--")):
		return s.skipPast("-->", nil)
	case bytes.HasPrefix(rest, []byte("<![CDATA[")):
		s.pos += len("<![CDATA[")
		var cdata *[]byte
		var raw []byte
		if text != nil {
			cdata = &raw
		}
		if err := s.skipPast("]]>", cdata); err != nil {
			return err
		}
		if text != nil {
			raw = raw[:len(raw)-len("]]>")]
			for _, c := range raw {
				switch c {
				case '&':
					*text = append(*text, "&amp;"...)
				case '<':
					*text = append(*text, "&lt;"...)
				default:
					*text = append(*text, c)
				}
			}
		}
		return nil
	}
	return errors.New("XML DOCTYPE declarations are not supported")
}

// skipPast moves pos past the next occurrence of seq, appending the skipped
// bytes (seq included) to out when not nil.
func (s *xmlScanner) skipPast(seq string, out *[]byte) error {
	for {
		if i := bytes.Index(s.buf[s.pos:s.end], []byte(seq)); i >= 0 {
			if out != nil {
				*out = append(*out, s.buf[s.pos:s.pos+i+len(seq)]...)
			}
			s.pos += i + len(seq)
			return nil
		}
		// Keep the last len(seq)-1 bytes: seq may straddle the refill.
		if keep := s.end - s.pos - (len(seq) - 1); keep > 0 {
			if out != nil {
				*out = append(*out, s.buf[s.pos:s.pos+keep]...)
			}
			s.pos += keep
		}
		ok, err := s.more()
		if err != nil {
			return err
		}
		if !ok {
			return s.eof()
		}
	}
}

// skipElement skips the content of the element whose start tag was just read.
func (s *xmlScanner) skipElement() error {
	for depth := 1; depth > 0; {
		t, err := s.next(nil)
		if err != nil {
			return err
		}
		switch t.kind {
		case tagEOF:
			return errXMLEOF
		case tagStart:
			if !t.self {
				depth++
			}
		case tagEnd:
			depth--
		}
	}
	return nil
}

func localName(name []byte) []byte {
	if i := bytes.LastIndexByte(name, ':'); i >= 0 {
		return name[i+1:]
	}
	return name
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// attrIter walks the attributes of a start tag.
type attrIter struct{ b []byte }

// next returns the next attribute's local name and raw value; ok is false at
// the end or at malformed input.
func (it *attrIter) next() (name, value []byte, ok bool) {
	b, i := it.b, 0
	for i < len(b) && isXMLSpace(b[i]) {
		i++
	}
	start := i
	for i < len(b) && b[i] != '=' && !isXMLSpace(b[i]) {
		i++
	}
	name = b[start:i]
	for i < len(b) && isXMLSpace(b[i]) {
		i++
	}
	if i == len(b) || b[i] != '=' {
		return nil, nil, false
	}
	i++
	for i < len(b) && isXMLSpace(b[i]) {
		i++
	}
	if i == len(b) || (b[i] != '"' && b[i] != '\'') {
		return nil, nil, false
	}
	end := bytes.IndexByte(b[i+1:], b[i])
	if end < 0 {
		return nil, nil, false
	}
	value = b[i+1 : i+1+end]
	it.b = b[i+2+end:]
	return localName(name), value, true
}

// attr returns the raw value of the attribute name (local name, any prefix).
func attr(attrs []byte, name string) ([]byte, bool) {
	it := attrIter{attrs}
	for {
		k, v, ok := it.next()
		if !ok {
			return nil, false
		}
		if string(k) == name {
			return v, true
		}
	}
}

// appendText appends XML character data with entities and character
// references decoded. Unknown entities are kept as written.
func appendText(dst, src []byte) []byte {
	for {
		i := bytes.IndexByte(src, '&')
		if i < 0 {
			return append(dst, src...)
		}
		dst = append(dst, src[:i]...)
		src = src[i:]
		semi := bytes.IndexByte(src, ';')
		if semi < 0 || semi > 12 {
			dst = append(dst, '&')
			src = src[1:]
			continue
		}
		ent := src[1:semi]
		switch string(ent) {
		case "lt":
			dst = append(dst, '<')
		case "gt":
			dst = append(dst, '>')
		case "amp":
			dst = append(dst, '&')
		case "quot":
			dst = append(dst, '"')
		case "apos":
			dst = append(dst, '\'')
		default:
			r, ok := charRef(ent)
			if !ok {
				dst = append(dst, src[:semi+1]...)
				src = src[semi+1:]
				continue
			}
			dst = utf8.AppendRune(dst, r)
		}
		src = src[semi+1:]
	}
}

// charRef decodes the body of &#NNN; or &#xHH;.
func charRef(ent []byte) (rune, bool) {
	if len(ent) < 2 || ent[0] != '#' {
		return 0, false
	}
	base, digits := 10, ent[1:]
	if digits[0] == 'x' || digits[0] == 'X' {
		base, digits = 16, digits[1:]
	}
	if len(digits) == 0 {
		return 0, false
	}
	var r rune
	for _, c := range digits {
		var d rune
		switch {
		case c >= '0' && c <= '9':
			d = rune(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = rune(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = rune(c-'A') + 10
		default:
			return 0, false
		}
		r = r*rune(base) + d
		if r > utf8.MaxRune {
			return 0, false
		}
	}
	return r, true
}

// decodeXString decodes the _xHHHH_ escapes OOXML uses in strings for
// characters XML cannot carry (e.g. _x000D_ for a carriage return) in place.
func decodeXString(b []byte) []byte {
	if !bytes.Contains(b, []byte("_x")) {
		return b
	}
	out := b[:0]
	for i := 0; i < len(b); {
		if r, ok := xEscape(b[i:]); ok {
			i += 7
			if utf16.IsSurrogate(r) {
				r2, ok2 := xEscape(b[i:])
				if pair := utf16.DecodeRune(r, r2); ok2 && pair != utf8.RuneError {
					r = pair
					i += 7
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r) // never longer than the 7-byte escape
			continue
		}
		out = append(out, b[i])
		i++
	}
	return out
}

func xEscape(b []byte) (rune, bool) {
	if len(b) < 7 || b[0] != '_' || b[1] != 'x' || b[6] != '_' {
		return 0, false
	}
	var r rune
	for _, c := range b[2:6] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
