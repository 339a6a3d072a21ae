package datapackage

import (
	"slices"
	"unicode/utf16"
	"unicode/utf8"
)

// bomUTF16LE starts every UTF-16 LE file the writer produces.
var bomUTF16LE = []byte{0xFF, 0xFE}

// appendUTF16LE appends s, which must be UTF-8, to dst as UTF-16 LE. When doubleQuotes
// is set every '"' is written twice (RFC 4180 escaping inside a quoted field). It
// reports false, with dst unspecified, if s is not valid UTF-8.
//
// This is the hot loop of package building: ASCII is written straight into
// preallocated space, and only non-ASCII runes take the decoding path.
func appendUTF16LE(dst []byte, s string, doubleQuotes bool) ([]byte, bool) {
	// Each UTF-8 byte yields at most two UTF-16 bytes (a 4-byte rune becomes a
	// 4-byte surrogate pair); a doubled quote needs two more.
	need := 2 * len(s)
	if doubleQuotes {
		need *= 2
	}
	n := len(dst)
	dst = slices.Grow(dst, need)[:n+need]
	j := n
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			dst[j] = c
			dst[j+1] = 0
			j += 2
			if c == '"' && doubleQuotes {
				dst[j] = c
				dst[j+1] = 0
				j += 2
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return dst[:n], false
		}
		i += size
		if r < 0x10000 {
			dst[j] = byte(r)
			dst[j+1] = byte(r >> 8)
			j += 2
			continue
		}
		hi, lo := utf16.EncodeRune(r)
		dst[j] = byte(hi)
		dst[j+1] = byte(hi >> 8)
		dst[j+2] = byte(lo)
		dst[j+3] = byte(lo >> 8)
		j += 4
	}
	return dst[:j], true
}

// needsQuoting reports whether a CSV field must be enclosed in double quotes
// (RFC 4180: it holds the delimiter, a quote or a line break).
func needsQuoting(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', '"', '\r', '\n':
			return true
		}
	}
	return false
}

// appendCSVField appends one CSV field in UTF-16 LE, quoted when needed.
func appendCSVField(dst []byte, s string) ([]byte, bool) {
	if !needsQuoting(s) {
		return appendUTF16LE(dst, s, false)
	}
	dst = append(dst, '"', 0)
	dst, ok := appendUTF16LE(dst, s, true)
	if !ok {
		return dst, false
	}
	return append(dst, '"', 0), true
}
