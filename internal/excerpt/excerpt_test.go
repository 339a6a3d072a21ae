package excerpt

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestString(t *testing.T) {
	t.Parallel()
	at := strings.Repeat("a", MaxChars)
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"Account No", "Account No"},
		{at, at},
		{at + "b", at + "… (1 more character)"},
		{at + strings.Repeat("é", 912_344), at + "… (912,344 more characters)"},
		{strings.Repeat("é", MaxChars+2), strings.Repeat("é", MaxChars) + "… (2 more characters)"},
		{"caf\xe9\x00", "caf\uFFFD\uFFFD"},
	} {
		got := String(tc.in)
		assert.Equal(t, tc.want, got)
		assert.True(t, utf8.ValidString(got))
	}
}

func TestQuote(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "Name", `a "b" \c`, "tab\there", "caf\xe9", "\x00", "😀", strings.Repeat("x", MaxChars)} {
		assert.Equal(t, strconv.Quote(s), Quote(s), "short text quotes as strconv.Quote")
	}
	long := strings.Repeat("x", 1<<20)
	assert.Equal(t, `"`+strings.Repeat("x", MaxChars)+`"… (1,048,376 more characters)`, Quote(long))

	// Escapes count: 50 NUL bytes are 200 characters of output.
	assert.Equal(t, `"`+strings.Repeat(`\x00`, 50)+`"… (1 more character)`, Quote(strings.Repeat("\x00", 51)))
	// An escape is never split.
	got := Quote("x" + strings.Repeat("\n", 150))
	assert.Equal(t, `"x`+strings.Repeat(`\n`, 99)+`"… (51 more characters)`, got)
	unq, err := strconv.Unquote(got[:strings.LastIndex(got, `"`)+1])
	require.NoError(t, err, "the cut part is a valid Go string")
	assert.Equal(t, "x"+strings.Repeat("\n", 99), unq)
}

func TestList(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "", List(nil, "column"))
	assert.Equal(t, "sku, Name", List([]string{"sku", "Name"}, "column"))
	assert.Equal(t, `"Data", "Notes"`, QuotedList([]string{"Data", "Notes"}, "sheet"))

	wide := make([]string, 200_000)
	for i := range wide {
		wide[i] = fmt.Sprintf("column_%d", i+1)
	}
	got := List(wide, "column")
	assert.True(t, strings.HasPrefix(got, "column_1, column_2, "), got)
	assert.Regexp(t, `, column_\d+ and 199,9\d\d more columns$`, got)
	assert.Less(t, len(got), 2*MaxChars)

	one := List([]string{strings.Repeat("h", 1e6), "b"}, "column")
	assert.Equal(t, strings.Repeat("h", MaxChars)+"… (999,800 more characters) and 1 more column", one,
		"the first item is always shown, cut")
	assert.Equal(t, `"`+strings.Repeat("a", MaxChars)+`" and 1 more sheet`, QuotedList([]string{strings.Repeat("a", MaxChars), "b"}, "sheet"))
}

func TestError(t *testing.T) {
	t.Parallel()
	assert.NoError(t, Error(nil))
	short := errors.New("short")
	assert.Same(t, short, Error(short))

	base := &fs.PathError{Op: "open", Path: strings.Repeat("p", 5000), Err: fs.ErrNotExist}
	err := Error(base)
	assert.Less(t, len(err.Error()), MaxChars+40)
	assert.Contains(t, err.Error(), "more characters)")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	assert.Same(t, base, pe)
}

func ExampleList() {
	header := []string{"Account No", "Name", "City"}
	for i := range 1000 {
		header = append(header, fmt.Sprintf("Extra %d", i))
	}
	fmt.Println(List(header, "column"))
	fmt.Println(Quote(strings.Repeat("ab", 150)))
	// Output:
	// Account No, Name, City, Extra 0, Extra 1, Extra 2, Extra 3, Extra 4, Extra 5, Extra 6, Extra 7, Extra 8, Extra 9, Extra 10, Extra 11, Extra 12, Extra 13, Extra 14, Extra 15, Extra 16, Extra 17, Extra 18 and 981 more columns
	// "abababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababab"… (100 more characters)
}
