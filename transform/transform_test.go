package transform

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
)

// parse reads one transform written as in a mapping's transforms list.
func parse(t *testing.T, src string) *config.Transform {
	t.Helper()
	var n yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(src), &n))
	n = *n.Content[0]
	tr := &config.Transform{Pos: config.Position{File: "p.yaml", Line: n.Line}}
	if n.Kind == yaml.ScalarNode {
		tr.Name = n.Value
	} else {
		tr.Name, tr.Args = n.Content[0].Value, *n.Content[1]
	}
	return tr
}

var enumField = &catalog.Field{StagingName: "PARTYTYPE", Type: catalog.TypeEnum, EnumValues: []string{"Organization", "Person"}}

func TestTransforms(t *testing.T) {
	t.Parallel()
	header := map[string]int{"First": 0, "Last": 1, "Phone": 2, "Mobile": 3}
	rec := []string{"Ada", "Lovelace", "", "+44 1"}
	tests := []struct {
		src   string
		field *catalog.Field
		in    string
		want  string
	}{
		{"trim", nil, "  a b  ", "a b"},
		{"upper", nil, "straße", "STRAßE"},
		{"lower", nil, "ÄB", "äb"},
		{"title", nil, "o'neil mcDONALD-smith", "O'neil Mcdonald-Smith"},
		{"{replace: {old: '-', new: ''}}", nil, "C-10-01", "C1001"},
		{`{regex_replace: {pattern: '^(\w+)\s+(\w+)$', replace: '$2, $1'}}`, nil, "Ada Lovelace", "Lovelace, Ada"},
		{"{substring: {start: 2, length: 3}}", nil, "ÅÄÖabc", "Öab"},
		{"{substring: {start: 4}}", nil, "ab", ""},
		{"{pad_left: {width: 6, char: '0'}}", nil, "42", "000042"},
		{"{pad_right: {width: 4}}", nil, "ab", "ab  "},
		{"{pad_left: {width: 2, char: '0'}}", nil, "12345", "12345"},
		{"{truncate: 3}", nil, "Ørsted", "Ørs"},
		{"{truncate: {length: 10}}", nil, "short", "short"},
		{"{split: {separator: ' ', index: -1}}", nil, "Mary Ann Smith", "Smith"},
		{"{split: {separator: ';', index: 5}}", nil, "a;b", ""},
		{"{concat: {with: [Last, '(retired)'], separator: ' '}}", nil, "Ada", "Ada Lovelace (retired)"},
		{"{coalesce: [Phone, Mobile]}", nil, "", "+44 1"},
		{"{coalesce: [Phone, Mobile]}", nil, "own", "own"},
		{"{date: {layouts: ['dd.MM.yyyy', 'M/d/yyyy']}}", nil, "3/7/2026", "2026-03-07"},
		{"{date: {layouts: ['dd.MM.yyyy', 'M/d/yyyy']}}", nil, "31.12.2025", "2025-12-31"},
		{"{date: {layouts: ['d MMM yyyy']}}", nil, "5 Jan 2026", "2026-01-05"},
		{"{date: {layouts: ['2006-01-02']}}", nil, "2026-02-03", "2026-02-03"},
		{"{datetime: {layouts: ['dd.MM.yyyy HH:mm'], timezone: Europe/Amsterdam}}", nil, "01.07.2026 14:30", "2026-07-01T12:30:00Z"},
		{"{datetime: {layouts: ['M/d/yyyy h:mm tt'], timezone: America/New_York}}", nil, "1/15/2026 9:05 PM", "2026-01-16T02:05:00Z"},
		{"datetime", nil, "2026-01-15T09:05:00+01:00", "2026-01-15T08:05:00Z"},
		{"{number: {decimal: ',', thousands: '.'}}", nil, "12.500,00", "12500.00"},
		{"{number: {decimal: ',', thousands: '.', scale: 2}}", nil, "-1.234.567,895", "-1234567.90"},
		{"{number: {scale: 0}}", nil, "99.5", "100"},
		{"{number: {scale: 3}}", nil, "(7.1)", "-7.100"},
		{"{number: {thousands: ' '}}", nil, "1\u00a0000.5", "1000.5"},
		{"number", nil, "-0.00", "0.00"},
		{"number", nil, "007", "7"},
		{"number", nil, "15-", "-15"},
		{"number", &catalog.Field{Type: catalog.TypeInt}, "3.5", "4"},
		{"boolean", nil, "Ja", "Yes"},
		{"boolean", nil, "non", "No"},
		{"boolean", nil, "x", "Yes"},
		{"boolean", nil, "", "No"},
		{"boolean", nil, "0", "No"},
		{"{enum: {map: {O: Organization, p: person}}}", enumField, "P", "Person"},
		{"enum", enumField, "ORGANIZATION", "Organization"},
		{"{enum: {map: {a: X}}}", nil, "A", "X"},
		{"upper", nil, "", ""},
		{"{pad_left: {width: 3, char: '0'}}", nil, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.src+"/"+tc.in, func(t *testing.T) {
			t.Parallel()
			step, err := Compile(parse(t, tc.src), tc.field)
			require.NoError(t, err)
			fn, err := step.Bind(func(name string) (int, bool) { i, ok := header[name]; return i, ok })
			require.NoError(t, err)
			got, err := fn(tc.in, rec)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestTransformValueErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ src, in, name string }{
		{"{date: {layouts: ['dd.MM.yyyy']}}", "2026-01-01", "date"},
		{"{date: {layouts: ['dd.MM.yyyy']}}", "32.01.2026", "date"},
		{"datetime", "yesterday", "datetime"},
		{"{number: {decimal: ','}}", "1.5", "number"},
		{"{number: {decimal: ',', thousands: '.'}}", "1.50,0", "number"},
		{"number", "12abc", "number"},
		{"number", "-", "number"},
		{"number", "1e5", "number"},
		{"boolean", "maybe", "boolean"},
		{"enum", "Robot", "enum"},
	}
	for _, tc := range tests {
		t.Run(tc.src+"/"+tc.in, func(t *testing.T) {
			t.Parallel()
			step, err := Compile(parse(t, tc.src), enumField)
			require.NoError(t, err)
			fn, err := step.Bind(func(string) (int, bool) { return 0, false })
			require.NoError(t, err)
			_, err = fn(tc.in, nil)
			var ve *ValueError
			require.True(t, errors.As(err, &ve), "got %v", err)
			assert.Equal(t, tc.name, ve.Name)
		})
	}
}

func TestCompileErrorsAreLocated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		line int
		msg  string
	}{
		{"trimm", 1, `unknown transform "trimm"`},
		{"{pad_left: {width: x}}", 1, "pad_left: width must be an integer"},
		{"{pad_left:\n    {width: 3,\n     chars: '0'}}", 3, `pad_left: unknown argument "chars"`},
		{"{regex_replace: {pattern: '(', replace: x}}", 1, "regex_replace: invalid pattern"},
		{"{date: {layouts: ['dd.MM.yyyyy']}}", 1, `"yyyyy" is not a specifier`},
		{"{datetime: {timezone: Mars/Olympus}}", 1, `unknown time zone "Mars/Olympus"`},
		{"{number: {decimal: ',', thousands: ','}}", 1, "thousands must be one character other than the decimal separator"},
		{"{enum: {map: {o: Robot}}}", 1, `"Robot" is not a value of PARTYTYPE`},
		{"{truncate: abc}", 1, "expected a length"},
		{"upper: {x: 1}", 1, "upper: takes no arguments"},
		{"coalesce", 1, "needs a list of columns"},
		{"{concat: {separator: ' '}}", 1, "with is required"},
		{"{split: {separator: ''}}", 1, "separator must not be empty"},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			t.Parallel()
			_, err := Compile(parse(t, tc.src), enumField)
			var te *Error
			require.True(t, errors.As(err, &te), "got %v", err)
			assert.Equal(t, "p.yaml", te.Pos.File)
			assert.Equal(t, tc.line, te.Pos.Line)
			assert.Contains(t, te.Msg, tc.msg)
		})
	}
}

func TestBindMissingCoalesceColumn(t *testing.T) {
	t.Parallel()
	step, err := Compile(parse(t, "{coalesce: [Fax]}"), nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"Fax"}, step.Columns())
	_, err = step.Bind(func(string) (int, bool) { return 0, false })
	assert.ErrorContains(t, err, `column "Fax" is not in the file`)
}

func TestGoLayout(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"dd.MM.yyyy":           "02.01.2006",
		"M/d/yyyy h:mm:ss tt":  "1/2/2006 3:04:05 PM",
		"yyyy-MM-ddTHH:mm:ssK": "2006-01-02T15:04:05Z07:00",
		"yyyyMMdd":             "20060102",
		"dd 'de' MMMM yyyy":    "02 de January 2006",
	} {
		got, err := GoLayout(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
}
