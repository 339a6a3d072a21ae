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
	br       *bufio.Reader
	encoding string
	source   string // given, bom or detected
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
	default:
		sample, err := br.Peek(sampleSize)
		ts.encoding, ts.source = detectEncoding(sample, err == nil, fallback), "detected"
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
// positions and none in the others.
func detectUTF16(sample []byte) string {
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
