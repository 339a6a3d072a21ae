package staging

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// decodeStored decodes what appendRawText stored (nil for NULL) for a row with source
// values raw and mapped values vals (nil: a ragged row), paired by fieldOf.
func decodeStored(t *testing.T, raw, vals []string, fieldOf []int) ([]string, string, bool) {
	t.Helper()
	l := &Layout{Fields: make([]string, len(vals)), Columns: make([]string, len(raw)), FieldOf: fieldOf}
	pairs := l.pairs()
	if vals == nil {
		pairs = nil
	}
	b, stored := appendRawText(nil, raw, vals, pairs)
	var p *string
	if stored {
		s := string(b)
		p = &s
	}
	got, err := decodeRaw(p, vals, l)
	require.NoError(t, err)
	return got, string(b), stored
}

func TestRawForms(t *testing.T) {
	for _, c := range []struct {
		name      string
		raw, same []string
		fieldOf   []int
		stored    string
		null      bool
	}{
		{name: "all mapped as read", raw: []string{"a", "", "c"}, same: []string{"a", "", "c"}, null: true},
		{name: "compact", raw: []string{"c-1", "Name", "eur"}, same: []string{"C-1", "Name", "EUR"}, stored: "c-1\x1f\x1feur"},
		{name: "empty source value", raw: []string{"", "x"}, same: []string{"dflt", "x"}, stored: "\x1e\x1f"},
		{name: "ragged", raw: []string{"a", "", "c"}, stored: "a\x1f\x1e\x1fc"},
		{name: "separator in a value", raw: []string{"a\x1fb", "x"}, same: []string{"a\ufffdb", "x"}, stored: `["a\u001fb",null]`},
		{name: "empty marker in a value", raw: []string{"\x1e", "x"}, same: []string{"", "y"}, stored: `["\u001e","x"]`},
		{name: "starts like JSON", raw: []string{"[1]", "x"}, same: []string{"1", "x"}, stored: `["[1]",null]`},
		{name: "no values", raw: []string{}, stored: `[]`},
		{name: "columns paired with fields", raw: []string{"eur", "c-1", "x"}, same: []string{"C-1", "eur", "EUR"},
			fieldOf: []int{1, -1, 2}, stored: "\x1fc-1\x1fx"},
		{name: "paired and unchanged", raw: []string{"b", "a"}, same: []string{"a", "b", "const"}, fieldOf: []int{1, 0}, null: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, stored, ok := decodeStored(t, c.raw, c.same, c.fieldOf)
			assert.Equal(t, !c.null, ok)
			assert.Equal(t, c.stored, stored)
			assert.Equal(t, c.raw, got)
		})
	}
}

// Every mix of the characters that matter round-trips.
func TestRawRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	parts := []string{"", "a", "[", "\x1e", "\x1f", "é", "\"", "null"}
	value := func() string {
		var s string
		for range r.IntN(3) {
			s += parts[r.IntN(len(parts))]
		}
		return s
	}
	for range 20000 {
		raw := make([]string, r.IntN(4))
		for i := range raw {
			raw[i] = value()
		}
		var same []string
		if r.IntN(4) > 0 {
			same = make([]string, len(raw))
			for i := range same {
				if r.IntN(2) == 0 {
					same[i] = raw[i]
				} else {
					same[i] = value()
				}
			}
		}
		var fieldOf []int
		if r.IntN(2) == 0 && len(same) > 0 {
			// Pair the columns with the fields in another order (or with none).
			fieldOf = make([]int, len(raw))
			for i := range fieldOf {
				fieldOf[i] = r.IntN(len(same)+1) - 1
			}
		}
		got, stored, _ := decodeStored(t, raw, same, fieldOf)
		require.Equal(t, raw, got, "raw %q same %q field of %v stored %q", raw, same, fieldOf, stored)
	}
}
