package pattern

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxLen bounds the length of a pattern in bytes; file patterns are a few dozen.
const MaxLen = 1024

// maxNameLen bounds a capture name.
const maxNameLen = 64

// Pattern is a compiled file-name pattern (see the package documentation for its syntax).
// It is immutable and safe for concurrent use.
type Pattern struct {
	text   string
	elems  []element
	names  []string
	prefix string
}

// element is one folder level of a pattern.
type element struct {
	// re matches the element whole; nil when the element is a literal.
	re *regexp.Regexp
	// lit is the element with its escapes removed, when it is a literal.
	lit string
	// prefix is the literal start of a non-literal element, escapes removed.
	prefix string
	// names are the element's captures, in order: re's groups 1, 2, ...
	names []string
}

// SyntaxError is a pattern that cannot be compiled.
type SyntaxError struct {
	// Pattern is the pattern as given.
	Pattern string
	// Column is the 1-based position of the problem in characters (not bytes); 0 when
	// the problem is the pattern as a whole.
	Column int
	// Msg says what is wrong.
	Msg string

	// beyondGlob marks a refusal of something path.Match accepts (such as "**" or a
	// leading "/"); the fuzz test holds every other refusal to path.Match's.
	beyondGlob bool
}

func (e *SyntaxError) Error() string {
	if e.Column == 0 {
		return fmt.Sprintf("pattern %q: %s", e.Pattern, e.Msg)
	}
	return fmt.Sprintf("pattern %q, column %d: %s", e.Pattern, e.Column, e.Msg)
}

// Parse compiles a pattern. The empty pattern is "*". A pattern that cannot be compiled
// is a *SyntaxError.
func Parse(s string) (*Pattern, error) {
	if s == "" {
		s = "*"
	}
	p := &parser{src: s, col: 1, seen: map[string]bool{}}
	if len(s) > MaxLen {
		return nil, p.errAt(0, true, "longer than %d bytes", MaxLen)
	}
	return p.parse()
}

// MustParse is Parse for patterns known to be valid; it panics on a syntax error.
func MustParse(s string) *Pattern {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the pattern as written ("*" for the empty pattern).
func (p *Pattern) String() string { return p.text }

// Depth is the number of path elements: 1 for a pattern on the listed folder's own
// files, 2 for "*/orders.csv", and so on.
func (p *Pattern) Depth() int { return len(p.elems) }

// Names returns the capture names in the order they appear.
func (p *Pattern) Names() []string { return slices.Clone(p.names) }

// LiteralPrefix is the text every matching relative path starts with: the pattern up to
// its first wildcard or capture, escapes removed ("in/orders_" for "in/orders_*.csv"),
// for backends that can narrow a listing by prefix.
func (p *Pattern) LiteralPrefix() string { return p.prefix }

// MatchElement reports whether name, one path element (a base name), matches the
// pattern's element at level (0 for the first). Backends with real folders use it to
// read only the folders that can hold matching files.
func (p *Pattern) MatchElement(level int, name string) bool {
	if level < 0 || level >= len(p.elems) || !isName(name) {
		return false
	}
	e := &p.elems[level]
	if e.re == nil {
		return name == e.lit
	}
	return e.re.MatchString(name)
}

// Match reports whether rel, a path relative to the listed folder with forward slashes,
// matches the pattern, and returns the captures by name (nil when the pattern has none).
func (p *Pattern) Match(rel string) (map[string]string, bool) {
	if strings.Count(rel, "/") != len(p.elems)-1 {
		return nil, false
	}
	var caps map[string]string
	for i := range p.elems {
		e := &p.elems[i]
		name, rest, _ := strings.Cut(rel, "/")
		rel = rest
		switch {
		case !isName(name):
			return nil, false
		case e.re == nil:
			if name != e.lit {
				return nil, false
			}
		case len(e.names) == 0:
			if !e.re.MatchString(name) {
				return nil, false
			}
		default:
			m := e.re.FindStringSubmatch(name)
			if m == nil {
				return nil, false
			}
			if caps == nil {
				caps = make(map[string]string, len(p.names))
			}
			for j, n := range e.names {
				caps[n] = m[j+1]
			}
		}
	}
	return caps, true
}

// MatchTail is Match on the last Depth() elements of file, a path with forward slashes
// (filepath.ToSlash an OS path first) that need not be relative to the listed folder:
// "/some/dir/customers_USMF_20261125.csv" matches "customers_{company}_*.csv". The path
// is cleaned first (path.Clean); a path with fewer elements than the pattern does not
// match.
func (p *Pattern) MatchTail(file string) (map[string]string, bool) {
	parts := strings.Split(path.Clean(file), "/")
	if len(parts) < len(p.elems) {
		return nil, false
	}
	return p.Match(strings.Join(parts[len(parts)-len(p.elems):], "/"))
}

// isName reports whether s can be a file or folder name.
func isName(s string) bool { return s != "" && s != "." && s != ".." }

// token is the kind of the last term read in an element, for the adjacency rules.
type token int

const (
	tokNone token = iota
	tokLiteral
	tokStar
	tokOther // ? or a class
	tokCapture
)

// parser compiles one pattern, element by element.
type parser struct {
	src  string
	pos  int // byte offset of the next character
	col  int // column of the next character
	seen map[string]bool
	pat  *Pattern

	// The element being read.
	re        strings.Builder // its regular expression
	lit       strings.Builder // its literal text so far; stops at the first wildcard
	literal   bool            // no wildcard or capture yet
	start     int             // its first column
	prev      token
	elemNames []string
}

func (p *parser) errAt(col int, beyondGlob bool, format string, args ...any) *SyntaxError {
	return &SyntaxError{Pattern: p.src, Column: col, Msg: fmt.Sprintf(format, args...), beyondGlob: beyondGlob}
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

// peek returns the next byte, or 0 at the end (NUL is refused by next).
func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.src[p.pos]
}

// next reads one character, refusing bytes that are not UTF-8 and NUL.
func (p *parser) next() (rune, error) {
	r, n := utf8.DecodeRuneInString(p.src[p.pos:])
	col := p.col
	if r == utf8.RuneError && n == 1 {
		return 0, p.errAt(col, true, "byte %#02x is not UTF-8", p.src[p.pos])
	}
	if r == 0 {
		return 0, p.errAt(col, true, "NUL character")
	}
	p.pos += n
	p.col++
	return r, nil
}

func (p *parser) parse() (*Pattern, error) {
	p.pat = &Pattern{text: p.src}
	p.startElement()
	for !p.eof() {
		col := p.col
		r, err := p.next()
		if err != nil {
			return nil, err
		}
		if r == '/' {
			if err := p.endElement(col); err != nil {
				return nil, err
			}
			p.startElement()
			continue
		}
		if err := p.term(r, col); err != nil {
			return nil, err
		}
	}
	if err := p.endElement(p.col - 1); err != nil {
		return nil, err
	}
	p.pat.prefix = literalPrefix(p.pat.elems)
	return p.pat, nil
}

// literalPrefix joins the literal elements and the literal start of the first other.
func literalPrefix(elems []element) string {
	var b strings.Builder
	for i, e := range elems {
		if e.re != nil {
			b.WriteString(e.prefix)
			break
		}
		b.WriteString(e.lit)
		if i < len(elems)-1 {
			b.WriteByte('/')
		}
	}
	return b.String()
}

func (p *parser) startElement() {
	p.re.Reset()
	p.lit.Reset()
	p.literal = true
	p.start = p.col
	p.prev = tokNone
	p.elemNames = nil
}

// endElement closes the element being read at the "/" (or last character) in column col.
func (p *parser) endElement(col int) error {
	if p.prev == tokNone {
		switch {
		case len(p.pat.elems) == 0:
			return p.errAt(1, true, "must not start with /: the pattern is relative to source.path")
		case p.eof():
			return p.errAt(col, true, "must not end with /: the last element names files")
		default:
			return p.errAt(col, true, "empty folder level (two / in a row)")
		}
	}
	if p.literal {
		lit := p.lit.String()
		if lit == "." || lit == ".." {
			return p.errAt(p.start, true, "%q is not allowed as a folder level", lit)
		}
		p.pat.elems = append(p.pat.elems, element{lit: lit})
		return nil
	}
	// The translation is total over what the parser accepts: a failure is a bug.
	re := regexp.MustCompile(`\A(?:` + p.re.String() + `)\z`)
	p.pat.elems = append(p.pat.elems, element{re: re, prefix: p.lit.String(), names: p.elemNames})
	return nil
}

// term reads the term that starts with r, at column col.
func (p *parser) term(r rune, col int) error {
	switch r {
	case '*':
		switch p.prev {
		case tokStar:
			return p.errAt(col, true, "** is not supported: use one * per folder level")
		case tokCapture:
			name := p.elemNames[len(p.elemNames)-1]
			return p.errAt(col, true, "* right after {%s} is ambiguous: put a literal between them, e.g. {%s}_*", name, name)
		}
		p.wildcard(tokStar, `[^/]*`)
	case '?':
		p.wildcard(tokOther, `[^/]`)
	case '[':
		class, err := p.class(col)
		if err != nil {
			return err
		}
		p.wildcard(tokOther, class)
	case '{':
		return p.capture(col)
	case '\\':
		if p.eof() {
			return p.errAt(col, false, `\ at the end escapes nothing (write \\ for a backslash)`)
		}
		ecol := p.col
		e, err := p.next()
		if err != nil {
			return err
		}
		if e == '/' {
			return p.errAt(ecol, false, "a / cannot be escaped: it separates folder levels")
		}
		return p.literalChar(e, ecol)
	default:
		return p.literalChar(r, col)
	}
	return nil
}

func (p *parser) wildcard(t token, re string) {
	p.literal = false
	p.prev = t
	p.re.WriteString(re)
}

func (p *parser) literalChar(r rune, col int) error {
	if r == utf8.RuneError {
		// Regular expressions read a byte that is not UTF-8 as U+FFFD, so a literal
		// U+FFFD would also match such bytes, which path.Match never does.
		return p.errAt(col, true, "the replacement character U+FFFD cannot be matched exactly; use ? instead")
	}
	p.re.WriteString(regexp.QuoteMeta(string(r)))
	if p.literal {
		p.lit.WriteRune(r)
	}
	p.prev = tokLiteral
	return nil
}

// class reads a character class whose "[" is at column open and returns it as a
// regular expression. The rules are path.Match's, plus backwards ranges refused.
func (p *parser) class(open int) (string, error) {
	var b strings.Builder
	b.WriteByte('[')
	if p.peek() == '^' {
		p.pos++
		p.col++
		b.WriteByte('^')
	}
	for n := 0; ; n++ {
		if p.eof() {
			return "", p.errAt(open, false, "unterminated class: [ has no closing ]")
		}
		if p.peek() == ']' && n > 0 {
			p.pos++
			p.col++
			break
		}
		loCol := p.col
		lo, err := p.classChar(open, n == 0)
		if err != nil {
			return "", err
		}
		hi := lo
		if p.peek() == '-' {
			p.pos++
			p.col++
			if hi, err = p.classChar(open, false); err != nil {
				return "", err
			}
			if hi < lo {
				return "", p.errAt(loCol, true, "range %c-%c is backwards: write %c-%c", lo, hi, hi, lo)
			}
		}
		fmt.Fprintf(&b, `\x{%x}-\x{%x}`, lo, hi)
	}
	b.WriteByte(']')
	return b.String(), nil
}

// classChar reads one character of a class: a range's end or a single character.
func (p *parser) classChar(open int, first bool) (rune, error) {
	if p.eof() {
		return 0, p.errAt(open, false, "unterminated class: [ has no closing ]")
	}
	col := p.col
	switch p.peek() {
	case ']':
		if first {
			return 0, p.errAt(col, false, `empty class: write \] for a ] in a class`)
		}
		return 0, p.errAt(col, false, `a - before ] must be escaped (\-)`)
	case '-':
		return 0, p.errAt(col, false, `a - in a class must be escaped (\-) or stand between two characters`)
	case '\\':
		p.pos++
		p.col++
		if p.eof() {
			return 0, p.errAt(open, false, "unterminated class: [ has no closing ]")
		}
		col = p.col
	}
	r, err := p.next()
	if err != nil {
		return 0, err
	}
	if r == '/' {
		return 0, p.errAt(col, false, "a class cannot contain /: it separates folder levels")
	}
	return r, nil
}

// capture reads a capture whose "{" is at column open.
func (p *parser) capture(open int) error {
	switch p.prev {
	case tokStar:
		return p.errAt(open, true, "a capture right after * is ambiguous: put a literal between them, e.g. *_{name}")
	case tokCapture:
		return p.errAt(open, true, "two captures in a row are ambiguous: put a literal between them, e.g. {a}_{b}")
	}
	var name strings.Builder
	for {
		if p.eof() || p.peek() == '/' {
			return p.errAt(open, true, `unterminated capture: { has no closing } (write \{ for a literal {)`)
		}
		r, err := p.next()
		if err != nil {
			return err
		}
		if r == '}' {
			break
		}
		name.WriteRune(r)
	}
	n := name.String()
	switch {
	case n == "":
		return p.errAt(open, true, `empty capture {}: name it, e.g. {company} (write \{} for a literal {})`)
	case len(n) > maxNameLen:
		return p.errAt(open, true, "capture name longer than %d characters", maxNameLen)
	case !validName(n):
		return p.errAt(open, true, `capture name %q: use a lower-case letter, then lower-case letters, digits or _ (write \{ for a literal {)`, n)
	case p.seen[n]:
		return p.errAt(open, true, "capture {%s} appears twice", n)
	}
	p.seen[n] = true
	p.pat.names = append(p.pat.names, n)
	p.elemNames = append(p.elemNames, n)
	p.wildcard(tokCapture, `([^/]+?)`)
	return nil
}

// validName reports whether s is [a-z][a-z0-9_]*.
func validName(s string) bool {
	for i, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z':
		case i > 0 && (c >= '0' && c <= '9' || c == '_'):
		default:
			return false
		}
	}
	return s != ""
}
