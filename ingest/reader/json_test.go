package reader

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		opts   Options
		header []string
		rows   []row
	}{
		{
			name:   "array at the root",
			in:     `[{"id":1,"name":"Ann"},{"id":2,"name":"Bob"}]`,
			header: []string{"id", "name"},
			rows:   []row{{Line: 1, Values: []string{"1", "Ann"}}, {Line: 1, Values: []string{"2", "Bob"}}},
		},
		{
			name: "array at a pointer, siblings skipped, lines counted",
			in: `{
  "meta": {"count": 2, "tags": ["x", {"deep": [1, 2]}]},
  "data": {
    "next": null,
    "items": [
      {"id": 1},
      {
        "id": 2
      }
    ]
  },
  "after": true
}`,
			opts:   Options{Records: "/data/items"},
			header: []string{"id"},
			rows:   []row{{Line: 6, Values: []string{"1"}}, {Line: 7, Values: []string{"2"}}},
		},
		{
			name:   "pointer with escapes and an array index",
			in:     `{"a/b": [{"x~y": [{"v": "first"}]}, {"x~y": [{"v": "second"}]}]}`,
			opts:   Options{Records: "/a~1b/1/x~0y"},
			header: []string{"v"},
			rows:   []row{{Line: 1, Values: []string{"second"}}},
		},
		{
			name: "nested paths, arrays indexed, header in first-seen order",
			in: `[
{"id": "C1", "address": {"city": "Gent", "geo": {"lat": 51.05}}, "tags": ["a", "b"]},
{"id": "C2", "tags": ["c"], "address": {"zip": "9000", "city": "Brugge"}, "lines": [{"sku": "X"}, {"sku": "Y"}]}
]`,
			header: []string{"id", "address.city", "address.geo.lat", "tags.0", "tags.1", "address.zip", "lines.0.sku", "lines.1.sku"},
			rows: []row{
				{Line: 2, Values: []string{"C1", "Gent", "51.05", "a", "b", "", "", ""}},
				{Line: 3, Values: []string{"C2", "Brugge", "", "c", "", "9000", "X", "Y"}},
			},
		},
		{
			name:   "numbers kept as written, literals, null, escapes",
			in:     `[{"big": 12345678901234567890123, "dec": 1.10, "exp": -1E+400, "zero": -0.0, "t": true, "f": false, "n": null, "s": "tab\tquote\" \u00e9 \ud83d\ude00 \/"}]`,
			header: []string{"big", "dec", "exp", "zero", "t", "f", "n", "s"},
			rows:   []row{{Line: 1, Values: []string{"12345678901234567890123", "1.10", "-1E+400", "-0.0", "true", "false", "", "tab\tquote\" é 😀 /"}}},
		},
		{
			name:   "a record that is not an object",
			in:     "[{\"a\":1},\n[1,2],\n\"x\",\n{\"a\":3}]",
			header: []string{"a"},
			rows: []row{
				{Line: 1, Values: []string{"1"}},
				{Line: 2, Values: []string{""}, Code: CodeNotObject},
				{Line: 3, Values: []string{""}, Code: CodeNotObject},
				{Line: 4, Values: []string{"3"}},
			},
		},
		{
			name:   "a field outside the sampled header",
			in:     `[{"a":1},{"a":2,"b":3}]`,
			opts:   Options{HeaderSample: 1},
			header: []string{"a"},
			rows:   []row{{Line: 1, Values: []string{"1"}}, {Line: 1, Values: []string{"2"}, Code: CodeUnknownField}},
		},
		{
			name:   "columns given: others ignored",
			in:     `[{"a":1,"x":{"y":2},"c":3}]`,
			opts:   Options{Columns: []string{"x.y", "a", "missing"}},
			header: []string{"x.y", "a", "missing"},
			rows:   []row{{Line: 1, Values: []string{"2", "1", ""}}},
		},
		{
			name:   "lone surrogate and NUL escapes",
			in:     `[{"a":"x\ud800y","b":"p\u0000q"}]`,
			header: []string{"a", "b"},
			rows:   []row{{Line: 1, Values: []string{"x\uFFFDy", "p\uFFFDq"}, Code: CodeInvalidEncoding}},
		},
		{
			name:   "duplicate keys: the last wins",
			in:     `[{"a":1,"a":2}]`,
			header: []string{"a"},
			rows:   []row{{Line: 1, Values: []string{"2"}}},
		},
		{
			name:   "empty array",
			in:     ` [ ] `,
			header: nil,
		},
		{
			name:   "utf-16 with BOM",
			in:     string(utf16Bytes(`[{"naam":"Jürgen"}]`, false, true)),
			header: []string{"naam"},
			rows:   []row{{Line: 1, Values: []string{"Jürgen"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.opts.Format = FormatJSON
			rd, err := Open(strings.NewReader(tc.in), tc.opts)
			require.NoError(t, err)
			defer rd.Close()
			assert.Equal(t, tc.header, rd.Header())
			rows, err := readAll(t, rd)
			require.NoError(t, err)
			assert.Equal(t, tc.rows, rows)
		})
	}
}

func TestNDJSON(t *testing.T) {
	t.Parallel()
	in := `{"id":1,"a":{"b":"x"}}

{"id":2,"a":{"b":"y"}}
{"id":3,"a":{"b":
{"id":4,"a":{"b":"z"}}
{"id":5,"a":"bad string
  {"id":6}
42
{"id":7,"a":{"b":"w"}}`
	rd, err := Open(strings.NewReader(in), Options{FileName: "events.ndjson"})
	require.NoError(t, err)
	assert.Equal(t, FormatNDJSON, rd.Info().Format)
	assert.Equal(t, []string{"id", "a.b"}, rd.Header())
	rows, err := readAll(t, rd)
	require.NoError(t, err)
	assert.Equal(t, []row{
		{Line: 1, Values: []string{"1", "x"}},
		{Line: 3, Values: []string{"2", "y"}},
		{Line: 4, Values: []string{"", ""}, Code: CodeSyntax},
		{Line: 5, Values: []string{"4", "z"}},
		{Line: 6, Values: []string{"", ""}, Code: CodeSyntax},
		{Line: 7, Values: []string{"6", ""}},
		{Line: 8, Values: []string{"", ""}, Code: CodeNotObject},
		{Line: 9, Values: []string{"7", "w"}},
	}, rows)
}

func TestJSONErrors(t *testing.T) {
	t.Parallel()
	open := func(in string, opts Options) (Reader, error) {
		opts.Format, opts.FileName = FormatJSON, "in.json"
		return Open(strings.NewReader(in), opts)
	}
	_, err := open(`{"data":{}}`, Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "set records")
	_, err = open(`{"data":{"items":3}}`, Options{Records: "/data/items"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "want an array, found a number")
	_, err = open(`{"data":{}}`, Options{Records: "/data/items"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `nothing at "items" under "/data"`)
	_, err = open(`[]`, Options{Records: "data"})
	require.Error(t, err)

	// A syntax error in an array is final and located.
	rd, err := open("[{\"a\":1},\n{\"a\":2},\n{\"a\" 3}]", Options{})
	require.NoError(t, err)
	rows, err := readAll(t, rd)
	require.Error(t, err)
	assert.Len(t, rows, 2)
	assert.Contains(t, err.Error(), "in.json: line 3: invalid JSON")
	_, err2 := rd.Next()
	assert.Equal(t, err, err2)

	for _, bad := range []string{`[{"a":01}]`, `[{"a":1.}]`, `[{"a":1e}]`, `[{"a":tru}]`, `[{"a":"\x"}]`, `[{"a":1},]`, `[{"a":1}`, "[{\"a\":\"\n\"}]", `[{"a":"\u12"}]`} {
		rd, err := open(bad, Options{})
		require.NoError(t, err, bad)
		_, err = readAll(t, rd)
		require.Error(t, err, bad)
	}

	deep := strings.Repeat("[", 10000)
	rd, err = open(`[{"a":`+deep+`]`, Options{})
	require.NoError(t, err)
	_, err = readAll(t, rd)
	require.ErrorContains(t, err, "nesting too deep")
}
