package excerpt

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxChars is the number of characters of a value that String and Quote keep (Quote
// counts its escapes), and the length of a list beyond which List stops adding items.
const MaxChars = 200

// String returns s, or its first MaxChars characters followed by "… (N more
// characters)". Invalid UTF-8 and NUL bytes become U+FFFD.
func String(s string) string {
	var b strings.Builder
	writeString(&b, s)
	return b.String()
}

// Quote returns s quoted as strconv.Quote does, or the quoted form of its first
// characters (MaxChars of them, escapes counted) followed by "… (N more characters)".
func Quote(s string) string {
	var b strings.Builder
	writeQuoted(&b, s)
	return b.String()
}

// List joins items with ", ", each cut as String cuts it, until the list is MaxChars
// long; then it says how many were left out: "a, b and 12 more columns". noun is the
// singular name of an item; an "s" is added for more than one. Always at least one item
// is shown.
func List(items []string, noun string) string {
	return list(items, noun, writeString)
}

// QuotedList is List with each item quoted as Quote quotes it: "a", "b" and 3 more sheets.
func QuotedList(items []string, noun string) string {
	return list(items, noun, writeQuoted)
}

// Error returns err with its message cut as String cuts it; errors.Is and errors.As see
// err through it. Use it for errors of other packages (encoding/xml, an HTTP client)
// whose messages may quote their input.
func Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if short := String(msg); short != msg {
		return &cutError{msg: short, err: err}
	}
	return err
}

type cutError struct {
	msg string
	err error
}

func (e *cutError) Error() string { return e.msg }
func (e *cutError) Unwrap() error { return e.err }

func list(items []string, noun string, write func(*strings.Builder, string)) string {
	var b strings.Builder
	for i, it := range items {
		if i > 0 {
			if b.Len() >= MaxChars {
				b.WriteString(" and ")
				b.WriteString(count(len(items)-i, "more "+noun))
				break
			}
			b.WriteString(", ")
		}
		write(&b, it)
	}
	return b.String()
}

// writeString writes s up to MaxChars characters and the note on what is left out.
func writeString(b *strings.Builder, s string) {
	n := 0
	for i, r := range s {
		if n == MaxChars {
			b.WriteString("…")
			writeRest(b, s[i:])
			return
		}
		if r == 0 {
			r = utf8.RuneError
		}
		b.WriteRune(r) // an invalid byte comes as utf8.RuneError
		n++
	}
}

// writeQuoted writes s quoted, cut after MaxChars characters of output.
func writeQuoted(b *strings.Builder, s string) {
	var esc []byte
	b.WriteByte('"')
	n := 0
	for i := 0; i < len(s); {
		_, size := utf8.DecodeRuneInString(s[i:])
		// Quoting one rune (or one invalid byte) on its own gives strconv.Quote's escape.
		esc = strconv.AppendQuote(esc[:0], s[i:i+size])
		esc = esc[1 : len(esc)-1]
		w := utf8.RuneCount(esc)
		if n+w > MaxChars {
			b.WriteString(`"…`)
			writeRest(b, s[i:])
			return
		}
		n += w
		b.Write(esc)
		i += size
	}
	b.WriteByte('"')
}

func writeRest(b *strings.Builder, rest string) {
	b.WriteString(" (")
	b.WriteString(count(utf8.RuneCountInString(rest), "more character"))
	b.WriteString(")")
}

// count says "1 column" or "199,990 columns".
func count(n int, noun string) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte(' ')
	b.WriteString(noun)
	if n != 1 {
		b.WriteByte('s')
	}
	return b.String()
}
