package jsonstr

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAppendReadsBackAsTheString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnew\nline\rcr", "\x00\x01\x1f", "é ü 漢字 🙂", "line\u2028para\u2029"} {
		b := Append([]byte("x"), s)
		var got string
		require.NoError(t, json.Unmarshal(b[1:], &got), "%s", b)
		assert.Equal(t, s, got)
	}
	assert.Equal(t, `"a\ufffdb"`, string(Append(nil, "a\xffb")), "invalid UTF-8 as U+FFFD")
	assert.Equal(t, `"\u2028"`, string(Append(nil, "\u2028")), "JavaScript's line terminators escaped")
}

func FuzzAppend(f *testing.F) {
	f.Add("a\"b\\c\n\x00é")
	f.Fuzz(func(t *testing.T, s string) {
		b := Append(nil, s)
		if !json.Valid(b) {
			t.Fatalf("invalid JSON for %q: %s", s, b)
		}
	})
}
