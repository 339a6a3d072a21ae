package pattern

import (
	"errors"
	"path"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzMatch holds the matcher to path.Match, element by element, on patterns without
// captures: the same patterns are valid (but for the refusals the package documents),
// and the same names match (but for "", "." and "..", which are no file names).
func FuzzMatch(f *testing.F) {
	for _, seed := range [][2]string{
		{"*.csv", "a.csv"},
		{"*/*.csv", "sub/a.csv"},
		{"orders_202[45].csv", "orders_2025.csv"},
		{"[^a-c]?x", "dzx"},
		{`a\*\?\[b`, "a*?[b"},
		{"M?rz *", "März Bestellung #1.csv"},
		{"[ä-ö]*", "ö\xff"},
		{"**", "x"},
		{"[z-a]", "q"},
		{"[]a]", "]"},
		{"[a-", "a"},
		{`\{x}`, "{x}"},
		{"a/./b", "a/./b"},
		{"*", ".."},
		{"", ""},
		{"{company}_*", "USMF_1"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pat, name string) {
		p, err := Parse(pat)
		globText := pat
		if globText == "" {
			globText = "*"
		}
		globElems := strings.Split(globText, "/")
		globErr := false
		for _, e := range globElems {
			if _, err := path.Match(e, ""); err != nil {
				globErr = true
			}
		}
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q): %v is not a *SyntaxError", pat, err)
			}
			if se.Column < 0 || se.Column > utf8.RuneCountInString(pat) {
				t.Fatalf("Parse(%q): column %d outside the pattern", pat, se.Column)
			}
			if !globErr && !se.beyondGlob {
				t.Fatalf("Parse(%q): %v, but path.Match accepts it", pat, err)
			}
			return
		}
		if globErr {
			t.Fatalf("Parse(%q) accepts what path.Match refuses", pat)
		}
		if p.Depth() != len(globElems) {
			t.Fatalf("Parse(%q): depth %d, want %d", pat, p.Depth(), len(globElems))
		}
		caps, ok := p.Match(name)
		if len(p.Names()) > 0 {
			if ok && len(caps) != len(p.Names()) {
				t.Fatalf("%q ~ %q: captures %v for names %v", pat, name, caps, p.Names())
			}
			return
		}
		parts := strings.Split(name, "/")
		want := len(parts) == len(globElems)
		for i := 0; want && i < len(parts); i++ {
			m, _ := path.Match(globElems[i], parts[i])
			want = m && isName(parts[i])
			if got := p.MatchElement(i, parts[i]); got != want {
				t.Fatalf("MatchElement(%d, %q) of %q = %v, path.Match says %v", i, parts[i], pat, got, want)
			}
		}
		if ok != want {
			t.Fatalf("%q ~ %q: %v, path.Match says %v", pat, name, ok, want)
		}
		if caps != nil {
			t.Fatalf("%q ~ %q: captures %v without names", pat, name, caps)
		}
		if ok && !strings.HasPrefix(name, p.LiteralPrefix()) {
			t.Fatalf("%q matches %q but its literal prefix is %q", pat, name, p.LiteralPrefix())
		}
		if full := "/root/x/" + name; path.Clean(full) == full && len(parts) == p.Depth() {
			if _, tail := p.MatchTail(full); tail != ok {
				t.Fatalf("MatchTail of %q: %v, Match: %v", full, tail, ok)
			}
		}
	})
}
