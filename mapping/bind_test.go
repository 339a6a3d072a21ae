package mapping_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/mapping"
)

// maxBindErrorBytes bounds a bind error's message whatever the header: ten lines of a
// position, a field, a column and the start of the header.
const maxBindErrorBytes = 8 << 10

func TestBindErrors(t *testing.T) {
	t.Parallel()
	// benchProject's ten columns, and two more read by a transform.
	m := compileProject(t, strings.Replace(benchProject, "{ from: Name, transforms: [trim] }",
		"{ from: Name, transforms: [trim, { coalesce: [Alias] }] }", 1))
	wide := make([]string, 200_000)
	for i := range wide {
		wide[i] = fmt.Sprintf("column_%d", i+1)
	}
	semicolons := "Account No;Name;Group;Currency;Type;City;Country;Credit limit;Terms;Language" + strings.Repeat(";x", 5<<20)

	for _, tc := range []struct {
		name   string
		header []string
		want   []string // in the message
		hint   string
	}{
		{
			name:   "200,000 columns, none mapped",
			header: wide,
			want: []string{
				`field CUSTOMERACCOUNT: column "Account No" is not in the file (header: column_1, column_2, `,
				" and 199,9", " more columns)\n",
				"\nand 1 more column not in the file",
			},
		},
		{
			name:   "one 10 MB column split with the wrong delimiter",
			header: []string{semicolons},
			want: []string{`(header: Account No;Name;Group;`, "… (10,485,",
				"\nhint: the header has one column containing ';': delimiter: ';'?"},
			hint: "the header has one column containing ';': delimiter: ';'?",
		},
		{
			name:   "a title row",
			header: []string{"Customer export 2024-03-01", "", ""},
			want:   []string{`hint: the header is one column, "Customer export 2024-03-01": a title row above the header? header_row: N?`},
			hint:   `the header is one column, "Customer export 2024-03-01": a title row above the header? header_row: N?`,
		},
		{
			name:   "an empty file",
			header: nil,
			want:   []string{`column "Account No" is not in the file (the file has no header: it is empty)`},
		},
		{
			name:   "some columns found: no hint",
			header: []string{"Account No"},
			want:   []string{`column "Name" is not in the file (header: Account No)`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Bind(tc.header)
			require.Error(t, err)
			msg := err.Error()
			assert.Less(t, len(msg), maxBindErrorBytes, msg)
			for _, w := range tc.want {
				assert.Contains(t, msg, w)
			}
			var be *mapping.BindError
			require.ErrorAs(t, err, &be)
			assert.Equal(t, tc.hint, be.Hint)
			var ce *mapping.ColumnError
			require.ErrorAs(t, err, &ce, "each column stays matchable")
			assert.NotEmpty(t, ce.Column)
			assert.NotZero(t, ce.Pos.Line)
			n := 0
			for _, e := range be.Unwrap() {
				if errors.As(e, &ce) {
					n++
				}
			}
			assert.Equal(t, len(be.Columns), n)
			if tc.hint == "" {
				assert.NotContains(t, msg, "hint:")
			}
		})
	}
}
