package reader

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// sampleSize is how much of a text file is looked at to detect its encoding
// and delimiter; it is also the size of the read buffers.
const sampleSize = 64 << 10

// The encodings of text files, by their canonical names.
const (
	encUTF8        = "utf-8"
	encUTF16       = "utf-16" // only as given: the BOM decides, little-endian without one
	encUTF16LE     = "utf-16le"
	encUTF16BE     = "utf-16be"
	encWindows1252 = "windows-1252"
	encISO88591    = "iso-8859-1"
	encISO885915   = "iso-8859-15"
)

var (
	bomUTF8    = []byte{0xEF, 0xBB, 0xBF}
	bomUTF16LE = []byte{0xFF, 0xFE}
	bomUTF16BE = []byte{0xFE, 0xFF}
)

// invalidByte is what the decoders below write for input that is not valid in
// the source encoding. It can never occur in UTF-8, so the parsers' UTF-8
// check reports the row as having invalid bytes for its encoding.
const invalidByte = 0xFF

func canonicalEncoding(s string) (string, error) {
	switch strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "_", "-")) {
	case "":
		return "", nil
	case "utf-8", "utf8":
		return encUTF8, nil
	case "utf-16", "utf16", "ucs-2":
		return encUTF16, nil
	case "utf-16le", "utf16le":
		return encUTF16LE, nil
	case "utf-16be", "utf16be":
		return encUTF16BE, nil
	case "windows-1252", "cp1252", "cp-1252":
		return encWindows1252, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1":
		return encISO88591, nil
	case "iso-8859-15", "iso8859-15", "latin9", "latin-9":
		return encISO885915, nil
	}
	return "", fmt.Errorf("unknown encoding %q (want utf-8, utf-16, utf-16le, utf-16be, windows-1252, iso-8859-1 or iso-8859-15)", s)
}

// textStream is a text file decoded to UTF-8.
type textStream struct {
	br *bufio.Reader
	textEncoding
}

// textEncoding is how a text file is decoded, and what the file looks like, for
// messages about bytes that do not decode.
type textEncoding struct {
	encoding string
	source   string // given, bom or detected
	// likely is what detection chooses for the first 64 KiB (windows-1252
	// when they are neither UTF-16 nor valid UTF-8), whatever the format's
	// fallback; empty after a BOM, which no setting overrides.
	likely string
	// binary names what the first bytes look like when not text (see
	// describeBinary), else "".
	binary string
}

// openText removes the byte-order mark and decodes r to UTF-8 according to
// the given encoding, the BOM, or detection (see Options.Encoding). fallback
// is the encoding of a BOM-less sample that is neither UTF-16 nor valid UTF-8.
func openText(r io.Reader, given, fallback string) (*textStream, error) {
	enc, err := canonicalEncoding(given)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(r, sampleSize)
	ts := &textStream{br: br}
	head, _ := br.Peek(3)
	if !bytes.HasPrefix(head, bomUTF8) && !bytes.HasPrefix(head, bomUTF16LE) && !bytes.HasPrefix(head, bomUTF16BE) {
		sample, err := br.Peek(sampleSize)
		ts.likely = detectEncoding(sample, err == nil, encWindows1252)
		if ts.likely != encUTF16LE && ts.likely != encUTF16BE && enc != encUTF16 && enc != encUTF16LE && enc != encUTF16BE {
			ts.binary = describeBinary(sample)
		}
	}
	switch {
	case bytes.HasPrefix(head, bomUTF8):
		ts.encoding, ts.source = encUTF8, "bom"
		_, _ = br.Discard(3)
	case bytes.HasPrefix(head, bomUTF16LE):
		ts.encoding, ts.source = encUTF16LE, "bom"
		_, _ = br.Discard(2)
	case bytes.HasPrefix(head, bomUTF16BE):
		ts.encoding, ts.source = encUTF16BE, "bom"
		_, _ = br.Discard(2)
	case enc == encUTF16:
		ts.encoding, ts.source = encUTF16LE, "given"
	case enc != "":
		ts.encoding, ts.source = enc, "given"
	case ts.likely == encWindows1252:
		ts.encoding, ts.source = fallback, "detected"
	default:
		ts.encoding, ts.source = ts.likely, "detected"
	}
	switch ts.encoding {
	case encUTF16LE, encUTF16BE:
		ts.br = bufio.NewReaderSize(&utf16Reader{r: br, be: ts.encoding == encUTF16BE}, sampleSize)
	case encWindows1252, encISO88591, encISO885915:
		ts.br = bufio.NewReaderSize(&charmapReader{r: br, table: charmapTables()[ts.encoding]}, sampleSize)
	}
	return ts, nil
}

// detectEncoding guesses the encoding of a file without a BOM from its first
// bytes; truncated says the sample ends before the file does.
func detectEncoding(sample []byte, truncated bool, fallback string) string {
	if enc := detectUTF16(sample); enc != "" {
		return enc
	}
	if truncated {
		// Do not hold a multi-byte sequence cut by the sample's end against the file.
		for i := len(sample) - 1; i >= 0 && i >= len(sample)-utf8.UTFMax; i-- {
			if utf8.RuneStart(sample[i]) {
				if !utf8.FullRune(sample[i:]) {
					sample = sample[:i]
				}
				break
			}
		}
	}
	if utf8.Valid(sample) {
		return encUTF8
	}
	return fallback
}

// detectUTF16 recognises BOM-less UTF-16 of mostly Latin text: NUL bytes in
// at least a quarter of the odd (little-endian) or even (big-endian)
// positions and none in the others, and, when the sample holds a line feed
// byte, one of them as the low byte of a UTF-16 line feed. The last rule
// keeps a short text file with a NUL byte in it from passing for UTF-16.
func detectUTF16(sample []byte) string {
	switch enc := utf16ByNUL(sample); {
	case enc == "" || bytes.IndexByte(sample, '\n') < 0:
		return enc
	case enc == encUTF16LE && hasEvenIndex(sample, "\n\x00"):
		return enc
	case enc == encUTF16BE && hasEvenIndex(sample, "\x00\n"):
		return enc
	}
	return ""
}

// hasEvenIndex reports whether seq occurs in b at an even index.
func hasEvenIndex(b []byte, seq string) bool {
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte(seq))
		if i < 0 {
			return false
		}
		if (off+i)%2 == 0 {
			return true
		}
		off += i + 1
	}
}

func utf16ByNUL(sample []byte) string {
	var even, odd int
	for i, b := range sample {
		if b == 0 {
			if i%2 == 0 {
				even++
			} else {
				odd++
			}
		}
	}
	pairs := len(sample) / 2
	switch {
	case pairs == 0:
		return ""
	case odd*4 >= pairs && even == 0:
		return encUTF16LE
	case even*4 >= pairs && odd == 0:
		return encUTF16BE
	}
	return ""
}

// charmapTables maps each single-byte encoding to the UTF-8 form of its 256
// bytes; byte values the encoding does not define become invalidByte.
var charmapTables = sync.OnceValue(func() map[string]*[256][]byte {
	build := func(cm *charmap.Charmap) *[256][]byte {
		var t [256][]byte
		for i := range t {
			r := cm.DecodeByte(byte(i))
			if r == utf8.RuneError {
				t[i] = []byte{invalidByte}
			} else {
				t[i] = utf8.AppendRune(nil, r)
			}
		}
		return &t
	}
	return map[string]*[256][]byte{
		encWindows1252: build(charmap.Windows1252),
		encISO88591:    build(charmap.ISO8859_1),
		encISO885915:   build(charmap.ISO8859_15),
	}
})

// charmapReader decodes a single-byte encoding to UTF-8.
type charmapReader struct {
	r       io.Reader
	table   *[256][]byte
	in      [16 << 10]byte
	out     []byte
	pending []byte
	err     error
}

func (c *charmapReader) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		m, err := c.r.Read(c.in[:])
		c.err = err
		c.out = c.out[:0]
		for _, b := range c.in[:m] {
			if b < utf8.RuneSelf {
				c.out = append(c.out, b)
			} else {
				c.out = append(c.out, c.table[b]...)
			}
		}
		c.pending = c.out
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// utf16Reader decodes UTF-16 to UTF-8. Unpaired surrogates and an odd final
// byte become invalidByte.
type utf16Reader struct {
	r       io.Reader
	be      bool
	in      [16 << 10]byte
	carry   int // undecoded bytes kept at the start of in
	out     []byte
	pending []byte
	err     error
}

func (d *utf16Reader) unit(b []byte) uint16 {
	if d.be {
		return uint16(b[0])<<8 | uint16(b[1])
	}
	return uint16(b[1])<<8 | uint16(b[0])
}

func (d *utf16Reader) Read(p []byte) (int, error) {
	for len(d.pending) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		m, err := d.r.Read(d.in[d.carry:])
		d.err = err
		data := d.in[:d.carry+m]
		d.out = d.out[:0]
		i := 0
	decode:
		for i+1 < len(data) {
			u := d.unit(data[i:])
			switch {
			case u < utf8.RuneSelf:
				d.out = append(d.out, byte(u))
				i += 2
			case utf16.IsSurrogate(rune(u)) && u < 0xDC00:
				if i+3 >= len(data) {
					if err == nil {
						break decode // the low half comes with the next read
					}
					d.out = append(d.out, invalidByte)
					i += 2
					continue
				}
				if r := utf16.DecodeRune(rune(u), rune(d.unit(data[i+2:]))); r != utf8.RuneError {
					d.out = utf8.AppendRune(d.out, r)
					i += 4
				} else {
					d.out = append(d.out, invalidByte)
					i += 2
				}
			case utf16.IsSurrogate(rune(u)):
				d.out = append(d.out, invalidByte)
				i += 2
			default:
				d.out = utf8.AppendRune(d.out, rune(u))
				i += 2
			}
		}
		d.carry = copy(d.in[:], data[i:])
		if d.err != nil && d.carry > 0 {
			d.out = append(d.out, invalidByte)
			d.carry = 0
		}
		d.pending = d.out
	}
	n := copy(p, d.pending)
	d.pending = d.pending[n:]
	return n, nil
}

// problem describes raw, a field holding a NUL byte (code CodeNUL) or bytes
// not valid in the encoding (CodeInvalidEncoding, raw undecoded for UTF-8,
// else holding invalidByte), and says what likely causes it: another
// encoding, or a file that is not text.
func (e textEncoding) problem(code Code, raw []byte) string {
	var b strings.Builder
	if code == CodeNUL {
		b.WriteString("NUL byte")
	} else {
		b.WriteString("not valid ")
		b.WriteString(displayEncoding(e.encoding))
		if e.encoding == encUTF8 {
			if c, ok := firstInvalidUTF8(raw); ok {
				fmt.Fprintf(&b, " (byte 0x%02X)", c)
			}
		}
	}
	switch {
	case e.binary != "":
		b.WriteString(e.binaryHint())
	case e.likely != "" && e.likely != e.encoding && (code != CodeNUL || e.likely == encUTF16LE || e.likely == encUTF16BE):
		fmt.Fprintf(&b, "; the file looks like %s: encoding: %s?", e.likely, e.likely)
	case code != CodeNUL && e.source == "detected" && e.encoding == encUTF8:
		fmt.Fprintf(&b, "; the first 64 KiB of the file are UTF-8, this is not: encoding: %s?", encWindows1252)
	}
	return b.String()
}

// binaryHint is a hint for an error in the first line of a file that is not text.
func (e textEncoding) binaryHint() string {
	if e.binary == "" {
		return ""
	}
	return "; the file looks like " + e.binary + ", not text"
}

// binaryMagic are the first bytes of files that are mistaken for text files.
var binaryMagic = []struct{ magic, what string }{
	{"PK\x03\x04", "a zip archive (an XLSX workbook? format: xlsx)"},
	{oleMagic, "a legacy .xls workbook or an encrypted XLSX (an OLE compound file)"},
	{"%PDF-", "a PDF document"},
	{"\x1f\x8b", "a gzip archive"},
}

// describeBinary says what sample, the first bytes of a file without a BOM
// that is not UTF-16, looks like when it is not text: a known file type, or
// "binary data" when at least 16 and over 5% of its bytes are control
// characters other than tab, line feed, form feed and carriage return, NUL
// bytes padding the end left out. It returns "" for text.
func describeBinary(sample []byte) string {
	for _, m := range binaryMagic {
		if bytes.HasPrefix(sample, []byte(m.magic)) {
			return m.what
		}
	}
	sample = bytes.TrimRight(sample, "\x00")
	ctl := 0
	for _, c := range sample {
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\f' && c != '\r') || c == 0x7F {
			ctl++
		}
	}
	if ctl >= 16 && ctl*20 > len(sample) {
		return "binary data"
	}
	return ""
}

// displayEncoding writes an encoding's name as prose does: UTF-8, ISO-8859-1, windows-1252.
func displayEncoding(enc string) string {
	if strings.HasPrefix(enc, "utf") || strings.HasPrefix(enc, "iso") {
		return strings.ToUpper(enc)
	}
	return enc
}

func firstInvalidUTF8(b []byte) (byte, bool) {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return b[i], true
		}
		i += n
	}
	return 0, false
}
