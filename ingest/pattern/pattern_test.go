package pattern_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/ingest/pattern"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, rel string
		want         bool
		caps         map[string]string
	}{
		// path.Match terms.
		{"*.csv", "a.csv", true, nil},
		{"*.csv", ".csv", true, nil},
		{"*.csv", "sub/a.csv", false, nil},
		{"*.csv", "a.CSV", false, nil},
		{"", "anything", true, nil},
		{"*", "a", true, nil},
		{"*/*.csv", "sub/a.csv", true, nil},
		{"*/*.csv", "a.csv", false, nil},
		{"*/*.csv", "a/b/c.csv", false, nil},
		{"orders_202?.csv", "orders_2025.csv", true, nil},
		{"orders_202?.csv", "orders_20255.csv", false, nil},
		{"a*b*c", "abxbc", true, nil},
		{"a*b*c", "abxbcd", false, nil},
		{"exact.csv", "exact.csv", true, nil},
		{"exact.csv", "exact.csvx", false, nil},
		// Classes.
		{"orders_202[45].csv", "orders_2025.csv", true, nil},
		{"orders_202[45].csv", "orders_2026.csv", false, nil},
		{"[a-c]*", "b.csv", true, nil},
		{"[a-c]*", "d.csv", false, nil},
		{"[^a-c]*", "d.csv", true, nil},
		{"[^a-c]*", "a.csv", false, nil},
		{"[!a]", "!", true, nil}, // ! is a character, not a negation, as in path.Match
		{"[[]", "[", true, nil},
		{`[\]]`, "]", true, nil},
		{`[\-a]`, "-", true, nil},
		{"[*?]", "*", true, nil},
		{"[*?]", "x", false, nil},
		{"[{]x", "{x", true, nil},
		{"[ä-ö]", "ö", true, nil},
		{"[ä-ö]", "o", false, nil},
		// Escapes.
		{`a\*.csv`, "a*.csv", true, nil},
		{`a\*.csv`, "ab.csv", false, nil},
		{`\?`, "?", true, nil},
		{`\?`, "x", false, nil},
		{`\[x]`, "[x]", true, nil},
		{`\\`, `\`, true, nil},
		{`\{company}.csv`, "{company}.csv", true, nil},
		{`\{company}.csv`, "USMF.csv", false, nil},
		{`\**`, "*abc", true, nil},
		{`\**`, "abc", false, nil},
		{"a}b", "a}b", true, nil},
		// Non-ASCII: ? is one character, not one byte.
		{"M?rz *", "März Bestellung #1.csv", true, nil},
		{"M??rz *", "März Bestellung #1.csv", false, nil},
		{"日本語 *.csv", "日本語 ファイル.csv", true, nil},
		{"Ünïcödé folder/*", "Ünïcödé folder/é;ñ.csv", true, nil},
		{"?", "\xff", true, nil}, // a name that is not UTF-8: one byte is one character
		{"*.csv", "M\xfcller.csv", true, nil},
		// Captures.
		{"customers_{company}_*.csv", "customers_USMF_20261125.csv", true, map[string]string{"company": "USMF"}},
		{"customers_{company}_*.csv", "customers_US_MF_2026.csv", true, map[string]string{"company": "US"}},
		{"customers_{company}_*.csv", "customers__2026.csv", false, nil},
		{"customers_{company}_*.csv", "customers_USMF.csv", false, nil},
		{"customers_{company}.csv", "customers_.csv", false, nil},
		{"{company}.csv", "USMF.csv", true, map[string]string{"company": "USMF"}},
		{"{company}.csv", "a.b.csv", true, map[string]string{"company": "a.b"}},
		{"{company}?", "USMF", true, map[string]string{"company": "USM"}},
		{"{company}[0-9]*.csv", "USMF2026.csv", true, map[string]string{"company": "USMF"}},
		{"{company}/orders_{date}.csv", "DEMF/orders_2026-11-25.csv", true, map[string]string{"company": "DEMF", "date": "2026-11-25"}},
		{"{company}/orders_{date}.csv", "DEMF/sub/orders_2026-11-25.csv", false, nil},
		{"in_{region}/{company}_{n}.csv", "in_eu/FRRT_7.csv", true, map[string]string{"region": "eu", "company": "FRRT", "n": "7"}},
		{"Bestellungen_{firma}.csv", "Bestellungen_Müller & Söhne.csv", true, map[string]string{"firma": "Müller & Söhne"}},
		{"{company}.csv", "日本.csv", true, map[string]string{"company": "日本"}},
		// Not file names.
		{"*", "", false, nil},
		{"*", ".", false, nil},
		{"*", "..", false, nil},
		{"*/*", "a/", false, nil},
		{"*/*", "/a", false, nil},
	} {
		p, err := pattern.Parse(tc.pattern)
		require.NoError(t, err, tc.pattern)
		caps, ok := p.Match(tc.rel)
		assert.Equal(t, tc.want, ok, "%q ~ %q", tc.pattern, tc.rel)
		assert.Equal(t, tc.caps, caps, "captures of %q ~ %q", tc.pattern, tc.rel)
		if ok {
			assert.True(t, strings.HasPrefix(tc.rel, p.LiteralPrefix()), "%q starts with the literal prefix %q", tc.rel, p.LiteralPrefix())
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern string
		column  int
		msg     string
	}{
		{"**/*.csv", 2, "** is not supported"},
		{"a/**", 4, "** is not supported"},
		{"a***", 3, "** is not supported"},
		{"/abs/*.csv", 1, "must not start with /"},
		{"/", 1, "must not start with /"},
		{"dir/", 4, "must not end with /"},
		{"a//b", 3, "empty folder level"},
		{"../a", 1, `".." is not allowed`},
		{"./a", 1, `"." is not allowed`},
		{"a/./b", 3, `"." is not allowed`},
		{`a/\.`, 3, `"." is not allowed`},
		{"[", 1, "unterminated class"},
		{"[a-", 1, "unterminated class"},
		{"x[ab", 2, "unterminated class"},
		{`[a\`, 1, "unterminated class"},
		{"[]", 2, "empty class"},
		{"[^]", 3, "empty class"},
		{"[-a]", 2, "a - in a class must be escaped"},
		{"[a-]", 4, `a - before ] must be escaped`},
		{"[a-b-c]", 5, "a - in a class must be escaped"},
		{"[z-a]", 2, "range z-a is backwards"},
		{"[ö-ä]", 2, "range ö-ä is backwards"},
		{"[a/b]", 3, "a class cannot contain /"},
		{`[\/]`, 3, "a class cannot contain /"},
		{`a\`, 2, `\ at the end escapes nothing`},
		{`a\/b`, 3, "a / cannot be escaped"},
		{"{}", 1, "empty capture {}"},
		{"x_{}.csv", 3, "empty capture {}"},
		{"{company", 1, "unterminated capture"},
		{"{company/x}", 1, "unterminated capture"},
		{"{Company}", 1, `capture name "Company"`},
		{"{1st}", 1, `capture name "1st"`},
		{"{a-b}", 1, `capture name "a-b"`},
		{"{sociedad_ñ}", 1, `capture name "sociedad_ñ"`},
		{"file{1}.csv", 5, `capture name "1"`},
		{"{" + strings.Repeat("a", 65) + "}", 1, "longer than 64"},
		{"{company}_{company}", 11, "capture {company} appears twice"},
		{"{company}/{company}.csv", 11, "capture {company} appears twice"},
		{"{company}*.csv", 10, "* right after {company} is ambiguous"},
		{"*{company}.csv", 2, "a capture right after * is ambiguous"},
		{"x*{company}", 3, "a capture right after * is ambiguous"},
		{"{a}{b}", 4, "two captures in a row"},
		{"a\x00b", 2, "NUL"},
		{"ä\xffb", 2, "not UTF-8"},
		{"[\xff]", 2, "not UTF-8"},
		{"ä\uFFFD.csv", 2, "U+FFFD"},
		{strings.Repeat("a", pattern.MaxLen+1), 0, "longer than 1024 bytes"},
	} {
		_, err := pattern.Parse(tc.pattern)
		var se *pattern.SyntaxError
		if !assert.True(t, errors.As(err, &se), "%q: want a *SyntaxError, got %v", tc.pattern, err) {
			continue
		}
		assert.Equal(t, tc.pattern, se.Pattern)
		assert.Equal(t, tc.column, se.Column, "column of %q (%v)", tc.pattern, err)
		assert.Contains(t, se.Msg, tc.msg, tc.pattern)
		assert.Contains(t, err.Error(), tc.msg)
	}
}

func TestSyntaxErrorText(t *testing.T) {
	t.Parallel()
	_, err := pattern.Parse("orders_[2024.csv")
	assert.EqualError(t, err, `pattern "orders_[2024.csv", column 8: unterminated class: [ has no closing ]`)
	_, err = pattern.Parse(strings.Repeat("x", 2000))
	assert.ErrorContains(t, err, `: longer than 1024 bytes`)
	assert.NotContains(t, err.Error(), "column")
}

func TestPatternAccessors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, prefix string
		depth           int
		names           []string
	}{
		{"", "", 1, nil},
		{"*", "", 1, nil},
		{"orders_*.csv", "orders_", 1, nil},
		{"exact.csv", "exact.csv", 1, nil},
		{"sub/*", "sub/", 2, nil},
		{"in/2024/orders_[0-9]*.csv", "in/2024/orders_", 3, nil},
		{"a/b", "a/b", 2, nil},
		{`a\*b*`, "a*b", 1, nil},
		{`Straße\?/x?`, "Straße?/x", 2, nil},
		{"customers_{company}_*.csv", "customers_", 1, []string{"company"}},
		{"{region}/x_{company}_{date}.csv", "", 2, []string{"region", "company", "date"}},
	} {
		p, err := pattern.Parse(tc.pattern)
		require.NoError(t, err, tc.pattern)
		assert.Equal(t, tc.prefix, p.LiteralPrefix(), "prefix of %q", tc.pattern)
		assert.Equal(t, tc.depth, p.Depth(), "depth of %q", tc.pattern)
		assert.Equal(t, tc.names, p.Names(), "names of %q", tc.pattern)
		want := tc.pattern
		if want == "" {
			want = "*"
		}
		assert.Equal(t, want, p.String())
	}
	p := pattern.MustParse("{a}_{b}")
	p.Names()[0] = "changed"
	assert.Equal(t, []string{"a", "b"}, p.Names(), "Names returns a copy")
	assert.Panics(t, func() { pattern.MustParse("[") })
}

func TestMatchElement(t *testing.T) {
	t.Parallel()
	p := pattern.MustParse("20[0-9][0-9]/{company}/orders.csv")
	for _, tc := range []struct {
		level int
		name  string
		want  bool
	}{
		{0, "2024", true},
		{0, "2024x", false},
		{0, "19xx", false},
		{1, "USMF", true},
		{1, "", false},
		{1, "..", false},
		{2, "orders.csv", true},
		{2, "orders.CSV", false},
		{-1, "2024", false},
		{3, "orders.csv", false},
	} {
		assert.Equal(t, tc.want, p.MatchElement(tc.level, tc.name), "level %d %q", tc.level, tc.name)
	}
}

func TestMatchTail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, file string
		want          bool
		caps          map[string]string
	}{
		{"customers_{company}_*.csv", "/some/dir/customers_USMF_20261125.csv", true, map[string]string{"company": "USMF"}},
		{"customers_{company}_*.csv", "customers_USMF_20261125.csv", true, map[string]string{"company": "USMF"}},
		{"customers_{company}_*.csv", "./customers_USMF_1.csv", true, map[string]string{"company": "USMF"}},
		{"customers_{company}_*.csv", "/some/dir//customers_USMF_1.csv", true, map[string]string{"company": "USMF"}},
		{"customers_{company}_*.csv", "/some/dir/orders_USMF_1.csv", false, nil},
		{"customers_{company}_*.csv", "/some/dir/", false, nil},
		{"customers_*.csv", "/x/customers_1.csv", true, nil},
		{"{company}/*.csv", "/data/in/DEMF/a.csv", true, map[string]string{"company": "DEMF"}},
		{"{company}/*.csv", "a.csv", false, nil},
		{"{company}/*.csv", "/a.csv", false, nil}, // the root has no name
		{"in/*.csv", "/srv/in/a.csv", true, nil},
		{"in/*.csv", "/srv/out/a.csv", false, nil},
		{"*", "", false, nil},
		{"*", "/", false, nil},
		{"*", "..", false, nil},
		{"*/*", "../a", false, nil},
	} {
		p := pattern.MustParse(tc.pattern)
		caps, ok := p.MatchTail(tc.file)
		assert.Equal(t, tc.want, ok, "%q tail of %q", tc.pattern, tc.file)
		assert.Equal(t, tc.caps, caps, "%q tail of %q", tc.pattern, tc.file)
	}
}
