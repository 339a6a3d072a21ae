package transform

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dmfpipe/dmfpipe/dmf/catalog"
)

// numberFormat converts localized numbers to F&O's invariant form on their digits,
// without floating point: "-1.234,5" with decimal "," and thousands "." is "-1234.5".
type numberFormat struct {
	decimal, thousands rune
	scale              int // digits after the point; -1 keeps them as written
}

func compileNumber(a *args, field *catalog.Field) (func(string) (string, error), error) {
	if err := a.mapping(false); err != nil {
		return nil, err
	}
	f := numberFormat{decimal: '.', scale: -1}
	dec, err := a.str("decimal", false, ".")
	if err != nil {
		return nil, err
	}
	th, err := a.str("thousands", false, "")
	if err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(dec) != 1 || isDigitOrSign(dec) {
		return nil, a.errf(a.get("decimal"), "decimal must be one character such as \".\" or \",\", not %q", dec)
	}
	f.decimal, _ = utf8.DecodeRuneInString(dec)
	if th != "" {
		if utf8.RuneCountInString(th) != 1 || isDigitOrSign(th) || th == dec {
			return nil, a.errf(a.get("thousands"), "thousands must be one character other than the decimal separator, not %q", th)
		}
		f.thousands, _ = utf8.DecodeRuneInString(th)
	}
	if a.get("scale") != nil {
		if f.scale, err = a.integer("scale", false, 0); err != nil {
			return nil, err
		}
		if f.scale < 0 || f.scale > 20 {
			return nil, a.errf(a.get("scale"), "scale must be between 0 and 20")
		}
	}
	if field != nil && field.Type == catalog.TypeInt && f.scale < 0 {
		f.scale = 0
	}
	return f.convert, nil
}

func isDigitOrSign(s string) bool { return strings.ContainsAny(s, "0123456789+-") }

func (f numberFormat) convert(v string) (string, error) {
	s := strings.TrimSpace(v)
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	case strings.HasSuffix(s, "-"): // SAP-style trailing minus
		neg, s = true, s[:len(s)-1]
	case strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")"):
		neg, s = true, s[1:len(s)-1]
	}
	intPart, frac := s, ""
	if i := strings.IndexRune(s, f.decimal); i >= 0 {
		intPart, frac = s[:i], s[i+utf8.RuneLen(f.decimal):]
	}
	var digitBuf, outBuf [64]byte // on the stack for all but very long numbers
	digits := digitBuf[:0]
	group := -1 // digits since the last thousands separator; -1 before the first
	for _, r := range intPart {
		switch {
		case r >= '0' && r <= '9':
			digits = append(digits, byte(r))
			if group >= 0 {
				group++
			}
		case f.thousands != 0 && (r == f.thousands || (f.thousands == ' ' && r == '\u00a0')):
			if len(digits) == 0 || (group >= 0 && group != 3) {
				return "", f.bad(v)
			}
			group = 0
		default:
			return "", f.bad(v)
		}
	}
	if (group >= 0 && group != 3) || (len(digits) == 0 && frac == "") {
		return "", f.bad(v)
	}
	for i := 0; i < len(frac); i++ {
		if frac[i] < '0' || frac[i] > '9' {
			return "", f.bad(v)
		}
	}
	if len(digits) == 0 {
		digits = append(digits, '0')
	}
	n := len(digits)
	digits = append(digits, frac...)
	fracLen := len(frac)
	if f.scale >= 0 {
		digits, fracLen = round(digits, fracLen, f.scale)
		n = len(digits) - fracLen
	}
	// strip leading zeros of the integer part
	lead := 0
	for lead < n-1 && digits[lead] == '0' {
		lead++
	}
	out := outBuf[:0]
	zero := true
	for _, d := range digits {
		if d != '0' {
			zero = false
			break
		}
	}
	if neg && !zero {
		out = append(out, '-')
	}
	out = append(out, digits[lead:n]...)
	if fracLen > 0 {
		out = append(out, '.')
		out = append(out, digits[n:]...)
	}
	if string(out) == v { // already invariant: keep the input string
		return v, nil
	}
	return string(out), nil
}

// round rounds the digit string (fracLen of them after the point) half away from zero
// to scale fraction digits, padding with zeros.
func round(digits []byte, fracLen, scale int) ([]byte, int) {
	if fracLen <= scale {
		for range scale - fracLen {
			digits = append(digits, '0')
		}
		return digits, scale
	}
	cut := len(digits) - fracLen + scale
	up := digits[cut] >= '5'
	digits = digits[:cut]
	for i := len(digits) - 1; up && i >= 0; i-- {
		if digits[i] == '9' {
			digits[i] = '0'
			continue
		}
		digits[i]++
		up = false
	}
	if up {
		digits = append([]byte{'1'}, digits...)
	}
	return digits, scale
}

func (f numberFormat) bad(v string) error {
	hint := fmt.Sprintf("decimal %q", f.decimal)
	if f.thousands != 0 {
		hint += fmt.Sprintf(", thousands %q", f.thousands)
	}
	return &ValueError{Name: "number", Msg: fmt.Sprintf("%q is not a number (%s)", v, hint)}
}
