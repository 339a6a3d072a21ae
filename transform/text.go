package transform

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/dmfpipe/dmfpipe/dmf/catalog"
)

// title upper-cases the first letter of each word and lower-cases the rest.
func title(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	start := true
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'' {
			if start {
				b.WriteRune(unicode.ToUpper(r))
			} else {
				b.WriteRune(unicode.ToLower(r))
			}
			start = false
			continue
		}
		b.WriteRune(r)
		start = true
	}
	return b.String()
}

func compileReplace(a *args, _ *catalog.Field) (func(string) (string, error), error) {
	if err := a.mapping(true); err != nil {
		return nil, err
	}
	old, err := a.str("old", true, "")
	if err != nil {
		return nil, err
	}
	if old == "" {
		return nil, a.errf(a.get("old"), "old must not be empty")
	}
	repl, err := a.str("new", false, "")
	if err != nil {
		return nil, err
	}
	return func(v string) (string, error) { return strings.ReplaceAll(v, old, repl), nil }, nil
}

func compileRegexReplace(a *args, _ *catalog.Field) (func(string) (string, error), error) {
	if err := a.mapping(true); err != nil {
		return nil, err
	}
	pattern, err := a.str("pattern", true, "")
	if err != nil {
		return nil, err
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, a.errf(a.get("pattern"), "invalid pattern: %v", err)
	}
	repl, err := a.str("replace", false, "")
	if err != nil {
		return nil, err
	}
	return func(v string) (string, error) { return re.ReplaceAllString(v, repl), nil }, nil
}

// runeSlice returns the runes [start, start+length) of s (length < 0: to the end).
func runeSlice(s string, start, length int) string {
	i := 0
	from, to := len(s), len(s)
	for off := range s {
		if i == start {
			from = off
		}
		if length >= 0 && i == start+length {
			to = off
			break
		}
		i++
	}
	if from > to {
		return ""
	}
	return s[from:to]
}

func compileSubstring(a *args, _ *catalog.Field) (func(string) (string, error), error) {
	if err := a.mapping(true); err != nil {
		return nil, err
	}
	start, err := a.integer("start", false, 0)
	if err != nil {
		return nil, err
	}
	length, err := a.integer("length", false, -1)
	if err != nil {
		return nil, err
	}
	if start < 0 {
		return nil, a.errf(a.get("start"), "start counts characters from 0 and must not be negative")
	}
	if a.get("length") != nil && length < 0 {
		return nil, a.errf(a.get("length"), "length must not be negative")
	}
	return func(v string) (string, error) { return runeSlice(v, start, length), nil }, nil
}

func compilePad(left bool) func(*args, *catalog.Field) (func(string) (string, error), error) {
	return func(a *args, _ *catalog.Field) (func(string) (string, error), error) {
		if err := a.mapping(true); err != nil {
			return nil, err
		}
		width, err := a.integer("width", true, 0)
		if err != nil {
			return nil, err
		}
		if width < 1 || width > 1000 {
			return nil, a.errf(a.get("width"), "width must be between 1 and 1000")
		}
		char, err := a.str("char", false, " ")
		if err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(char) != 1 {
			return nil, a.errf(a.get("char"), "char must be one character, not %q", char)
		}
		return func(v string) (string, error) {
			n := utf8.RuneCountInString(v)
			if n >= width {
				return v, nil
			}
			pad := strings.Repeat(char, width-n)
			if left {
				return pad + v, nil
			}
			return v + pad, nil
		}, nil
	}
}

func compileTruncate(a *args, _ *catalog.Field) (func(string) (string, error), error) {
	var length int
	var err error
	if a.present() && a.node.Kind == yaml.ScalarNode {
		length, err = strconv.Atoi(a.node.Value)
		if err != nil {
			return nil, a.errf(a.node, "expected a length, e.g. {truncate: 20}")
		}
	} else {
		if err = a.mapping(true); err != nil {
			return nil, err
		}
		length, err = a.integer("length", true, 0)
	}
	if err != nil {
		return nil, err
	}
	if length < 1 {
		return nil, a.errf(a.node, "length must be positive")
	}
	return func(v string) (string, error) {
		if len(v) <= length { // bytes >= runes: nothing to cut
			return v, nil
		}
		return runeSlice(v, 0, length), nil
	}, nil
}

func compileSplit(a *args, _ *catalog.Field) (func(string) (string, error), error) {
	if err := a.mapping(true); err != nil {
		return nil, err
	}
	sep, err := a.str("separator", true, "")
	if err != nil {
		return nil, err
	}
	if sep == "" {
		return nil, a.errf(a.get("separator"), "separator must not be empty")
	}
	index, err := a.integer("index", false, 0)
	if err != nil {
		return nil, err
	}
	return func(v string) (string, error) {
		parts := strings.Split(v, sep)
		i := index
		if i < 0 {
			i += len(parts)
		}
		if i < 0 || i >= len(parts) {
			return "", nil
		}
		return parts[i], nil
	}, nil
}

// compileConcat joins the value with other columns (or, for names the header lacks,
// literal text), skipping empty parts.
func compileConcat(a *args, _ *catalog.Field) (func(idx []int) Func, []string, error) {
	if err := a.mapping(true); err != nil {
		return nil, nil, err
	}
	n := a.get("with")
	if n == nil {
		return nil, nil, a.errf(a.node, "with is required: the columns (or texts) to append")
	}
	with, err := a.strings(n, "with")
	if err != nil {
		return nil, nil, err
	}
	sep, err := a.str("separator", false, "")
	if err != nil {
		return nil, nil, err
	}
	bind := func(idx []int) Func {
		return func(v string, rec []string) (string, error) {
			var b strings.Builder
			add := func(s string) {
				if s == "" {
					return
				}
				if b.Len() > 0 {
					b.WriteString(sep)
				}
				b.WriteString(s)
			}
			add(v)
			for i, j := range idx {
				if j < 0 {
					add(with[i])
				} else if j < len(rec) {
					add(rec[j])
				}
			}
			return b.String(), nil
		}
	}
	return bind, with, nil
}

// compileCoalesce fills an empty value from the first non-empty of the given columns.
func compileCoalesce(a *args, _ *catalog.Field) (func(idx []int) Func, []string, error) {
	if !a.present() {
		return nil, nil, a.errf(nil, "needs a list of columns, e.g. {coalesce: [Phone, Mobile]}")
	}
	cols, err := a.strings(a.node, "coalesce")
	if err != nil {
		return nil, nil, err
	}
	bind := func(idx []int) Func {
		return func(v string, rec []string) (string, error) {
			if v != "" {
				return v, nil
			}
			for _, j := range idx {
				if j < len(rec) && rec[j] != "" {
					return rec[j], nil
				}
			}
			return "", nil
		}
	}
	return bind, cols, nil
}
