package validate

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// patternCases are patterns with whether they take the single-scan path, and values to
// match them against.
var patternCases = []struct {
	pattern string
	seq     bool
	values  []string
}{
	{`^[^@]+@[^@]+$`, true, []string{"a@b", "c123@example.com", "@b", "a@", "a@b@c", "", "é@ü", "a\xff@b"}},
	{`[A-Z]{3}`, true, []string{"EUR", "EU", "EURO", "eur", "E1R"}},
	{`\d{4}-\d{2}-\d{2}`, true, []string{"2026-11-25", "2026-1-25", "20261125", "２０２６-11-25"}},
	{`[A-Z]{2}\d{2,4}`, true, []string{"BE12", "BE1234", "BE12345", "BE1", "B1234"}},
	{`(?i)[a-z]+-\d*`, true, []string{"Abc-", "abc-12", "K-1", "\u212a-1", "-1", "abc"}},
	{`(?i)k`, true, []string{"k", "K", "\u212a", "kk", ""}},
	{`\w+@\w+\.\w+`, true, []string{"a@b.c", "a@b", "a.b@c.d"}},
	{`c-\d+`, true, []string{"c-0000001", "c-", "C-1", "c-1a"}},
	{`(?s).{1,5}`, true, []string{"", "a", "a\nb", "abcdef", "日本語"}},
	{`.*`, true, []string{"", "anything", "two\nlines"}},
	{`a?b?c`, true, []string{"c", "ac", "bc", "abc", "ab", "cc"}},
	{`(?:x)(y)z?`, true, []string{"xy", "xyz", "x", "xyzz"}},
	{`^$`, true, []string{"", "a"}},
	// More than one way to split the value: package regexp.
	{`a*a`, false, []string{"a", "aaa", "", "b"}},
	{`[a-z]+[0-9]*[a-z]`, false, []string{"ab", "a1b", "a", "a1"}},
	{`[\w.]+@[\w.]+\.\w+`, false, []string{"a@b.c", "a@b", "a.b@c.d.e"}},
	{`(ab)+`, false, []string{"ab", "abab", "aba", ""}},
	{`yes|no`, false, []string{"yes", "no", "yesno"}},
	{`(?m)^a$`, false, []string{"a", "b"}},
	{`\bword\b`, false, []string{"word", "words"}},
}

func TestPatternsMatchAsRegexpDoes(t *testing.T) {
	for _, c := range patternCases {
		m, err := compilePattern(c.pattern)
		require.NoError(t, err, c.pattern)
		_, isSeq := m.(seqMatcher)
		assert.Equal(t, c.seq, isSeq, "pattern %s: single-scan path", c.pattern)
		re := regexp.MustCompile(`^(?:` + c.pattern + `)$`)
		for _, v := range c.values {
			assert.Equal(t, re.MatchString(v), m.MatchString(v), "pattern %s, value %q", c.pattern, v)
		}
	}
	_, err := compilePattern(`[a`)
	assert.ErrorContains(t, err, "missing closing ]")
}

// FuzzPattern checks that the single-scan matcher agrees with package regexp on every
// pattern it takes.
func FuzzPattern(f *testing.F) {
	for _, c := range patternCases {
		for _, v := range c.values {
			f.Add(c.pattern, v)
		}
	}
	f.Fuzz(func(t *testing.T, pattern, value string) {
		anchored := `^(?:` + pattern + `)$`
		re, err := regexp.Compile(anchored)
		if err != nil {
			return
		}
		m, ok := compileSeq(anchored)
		if !ok {
			return
		}
		if got, want := m.MatchString(value), re.MatchString(value); got != want {
			t.Fatalf("pattern %q, value %q: single scan says %t, regexp %t", pattern, value, got, want)
		}
	})
}

func BenchmarkPattern(b *testing.B) {
	const v = "c123456@example.com"
	re := regexp.MustCompile(`^(?:^[^@]+@[^@]+$)$`)
	m, err := compilePattern(`^[^@]+@[^@]+$`)
	require.NoError(b, err)
	b.Run("regexp", func(b *testing.B) {
		for b.Loop() {
			re.MatchString(v)
		}
	})
	b.Run("single-scan", func(b *testing.B) {
		for b.Loop() {
			m.MatchString(v)
		}
	})
}
