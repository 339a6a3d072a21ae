package docs_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/docs"
	"github.com/dmfpipe/dmfpipe/ingest/reader"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/mapping"
	"github.com/dmfpipe/dmfpipe/transform"
	"github.com/dmfpipe/dmfpipe/validate"
)

// TestMappingCoversTheCode fails when a mapping key, transform, rule key or row error
// rule exists in the code without its entry in mapping.md, or the other way round.
func TestMappingCoversTheCode(t *testing.T) {
	t.Parallel()
	doc := parseDoc(t, docs.Mapping)

	assert.ElementsMatch(t, yamlKeys(config.FieldMapping{}), doc.entries(t, "Mapping keys"), "mapping keys (config.FieldMapping)")
	assert.ElementsMatch(t, transform.Names(), doc.entries(t, "Transforms"), "transforms (transform.Names)")
	assert.ElementsMatch(t, yamlKeys(config.Rule{}), doc.entries(t, "Validation rules"), "validation rules (config.Rule)")

	unmapped := doc.body(t, "`map` and `unmapped`")
	for _, v := range []string{mapping.UnmappedKeep, mapping.UnmappedDefault, mapping.UnmappedError} {
		assert.Contains(t, unmapped, "`"+v+"`", "unmapped: %s", v)
	}
	lookup := doc.body(t, "`lookup`")
	for _, k := range append(yamlKeys(config.Reference{}), "references") {
		assert.Contains(t, lookup, "`"+k+"`", "references: %s", k)
	}
	errs := doc.body(t, "Errors")
	rules := ruleConstants(t)
	require.NotEmpty(t, rules)
	for _, r := range rules {
		assert.Contains(t, errs, "`"+r+"`", "row error rule %s (validate)", r)
	}
}

// TestMappingExamples compiles every YAML example of mapping.md as an import project and
// maps the rows of the table that follows it, if any: each mapped value, and each row
// error, must be as the table says. Every transform, rule key and mapping key must be
// used by an example.
func TestMappingExamples(t *testing.T) {
	t.Parallel()
	doc := parseDoc(t, docs.Mapping)
	require.NotEmpty(t, doc.examples)
	used := map[string]bool{}
	for _, ex := range doc.examples {
		t.Run(fmt.Sprintf("line%d", ex.line), func(t *testing.T) {
			t.Parallel()
			m, rules := compileExample(t, ex)
			if ex.table != nil {
				checkTable(t, ex, m, rules)
			}
		})
		for _, k := range exampleKeys(t, ex) {
			used[k] = true
		}
	}
	for _, name := range transform.Names() {
		assert.True(t, used["transform "+name], "no example uses the transform %s", name)
	}
	for _, k := range yamlKeys(config.FieldMapping{}) {
		assert.True(t, used["mapping "+k], "no example uses the mapping key %s", k)
	}
	for _, k := range yamlKeys(config.Rule{}) {
		assert.True(t, used["rule "+k], "no example uses the rule key %s", k)
	}
}

// prelude makes an example the rest of an import project of a whole config.
var prelude = testsvc.OfflineImportConfig("example", "")

const defaultTarget = "target: { entity: Customers V3, legal_entity: USMF, definition_group: DOCS }\n"

// loadExample loads an example as the project of a config; problems are located in
// mapping.md. Line N of the config file is line N+offset of mapping.md.
func loadExample(t *testing.T, ex example) (p *config.Project, offset int) {
	t.Helper()
	body := ex.yaml
	extra := 0
	if !regexp.MustCompile(`(?m)^target:`).MatchString(body) {
		body = defaultTarget + body
		extra = 1
	}
	file := filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(file, []byte(prelude+indent(body, "    ")), 0o600))
	offset = ex.line - strings.Count(prelude, "\n") - extra - 1
	cfg, err := config.Load(file)
	require.NoError(t, docProblems(err, offset))
	require.Len(t, cfg.Projects, 1)
	return cfg.Projects[0], offset
}

// compileExample compiles an example's mapping and rules, after mapping the fields the
// entity needs that the example leaves out (with constants that fit), so that an
// example shows only what it is about. The files of its references are created.
func compileExample(t *testing.T, ex example) (*mapping.Mapping, *validate.RowRules) {
	t.Helper()
	p, offset := loadExample(t, ex)
	cat := catalog.Default()
	ent, ok := cat.Lookup(p.Target.Entity)
	require.True(t, ok, "mapping.md:%d: entity %q", ex.line, p.Target.Entity)
	mapped := map[string]bool{}
	for _, fm := range p.Mapping {
		if cf, ok := ent.Field(fm.Field); ok {
			mapped[cf.StagingName] = true
		}
	}
	for _, name := range mapping.Required(ent) {
		if !mapped[name] {
			cf, _ := ent.Field(name)
			v := fitting(cf)
			p.Mapping = append(p.Mapping, &config.FieldMapping{Field: name, Const: &v})
		}
	}
	for _, r := range p.References {
		if r.File != "" {
			require.NoError(t, os.WriteFile(r.File, []byte("Net30\nNet60\n"), 0o600))
		}
	}
	m, err := mapping.Compile(p, cat)
	require.NoError(t, docProblems(err, offset))
	rules, err := validate.CompileRowRules(p, m.Fields(), cat)
	require.NoError(t, docProblems(err, offset))
	return m, rules
}

// fitting is a valid value of a field.
func fitting(f *catalog.Field) string {
	switch f.Type {
	case catalog.TypeInt, catalog.TypeDecimal:
		return "1"
	case catalog.TypeDate:
		return "2024-01-01"
	case catalog.TypeDateTime:
		return "2024-01-01T00:00:00Z"
	case catalog.TypeEnum:
		return f.EnumValues[0]
	}
	return "X"
}

// checkTable maps each row of an example's table and compares the result with the
// table's → columns: a value, or "error `rule`" for a row error on that field. A row
// may have no error the table does not name.
func checkTable(t *testing.T, ex example, m *mapping.Mapping, rules *validate.RowRules) {
	t.Helper()
	tb := ex.table
	var header []string
	type want struct {
		col   int
		field string
	}
	var wants []want
	ent := m.Entity
	for i, h := range tb.header {
		name, isField := strings.CutPrefix(h, "→ ")
		if !isField {
			header = append(header, cellValue(h))
			continue
		}
		f, ok := ent.Field(name)
		require.True(t, ok, "mapping.md:%d: %s is not a field of %s", tb.line, name, ent.DMFName)
		wants = append(wants, want{i, f.StagingName})
	}
	bound, err := m.Bind(header)
	require.NoError(t, err, "mapping.md:%d", tb.line)
	fields := m.Fields()
	for r, cells := range tb.rows {
		line := tb.line + 2 + r
		require.Len(t, cells, len(tb.header), "mapping.md:%d: cells", line)
		var values []string
		for i, c := range cells {
			if !strings.HasPrefix(tb.header[i], "→ ") {
				values = append(values, cellValue(c))
			}
		}
		rowNo := int64(r + 1)
		row, errs := bound.Apply(reader.Record{Values: values, Loc: reader.Location{Line: line}}, rowNo, nil)
		errs = rules.Check(row, rowNo, int64(line), errs)
		expected := map[string]string{} // field → rule
		for _, w := range wants {
			cell := cells[w.col]
			if rule, isErr := strings.CutPrefix(cell, "error "); isErr {
				rule = strings.Trim(rule, "`")
				expected[w.field] = rule
				assert.True(t, slices.ContainsFunc(errs, func(e validate.Error) bool { return e.Field == w.field && string(e.Rule) == rule }),
					"mapping.md:%d: %s: want an error %s, got %v", line, w.field, rule, errs)
				continue
			}
			idx := slices.Index(fields, w.field)
			require.GreaterOrEqual(t, idx, 0, "mapping.md:%d: %s is not mapped", line, w.field)
			assert.Equal(t, cellValue(cell), row[idx], "mapping.md:%d: %s", line, w.field)
		}
		for _, e := range errs {
			assert.Equal(t, expected[e.Field], string(e.Rule), "mapping.md:%d: unexpected error %v", line, e.Error())
		}
	}
}

// cellValue is a table cell's value: the text of a `code` cell, unquoted when it is a
// Go-quoted string ("" for an empty value).
func cellValue(c string) string {
	c = strings.TrimSpace(c)
	if len(c) >= 2 && c[0] == '`' && c[len(c)-1] == '`' {
		c = c[1 : len(c)-1]
	}
	if len(c) >= 2 && c[0] == '"' && c[len(c)-1] == '"' {
		if s, err := strconv.Unquote(c); err == nil {
			return s
		}
	}
	return c
}

// exampleKeys lists what an example uses: "transform NAME", "mapping KEY", "rule KEY".
func exampleKeys(t *testing.T, ex example) []string {
	p, _ := loadExample(t, ex)
	var keys []string
	for _, fm := range p.Mapping {
		keys = append(keys, setKeys("mapping", reflect.ValueOf(*fm))...)
		for _, tr := range fm.Transforms {
			keys = append(keys, "transform "+tr.Name)
		}
	}
	for _, r := range p.Validate {
		keys = append(keys, setKeys("rule", reflect.ValueOf(*r))...)
	}
	return keys
}

// setKeys lists the YAML keys of a struct whose fields are set, as "prefix key".
func setKeys(prefix string, v reflect.Value) []string {
	var keys []string
	for i := range v.NumField() {
		tag := yamlTag(v.Type().Field(i))
		if tag != "" && !v.Field(i).IsZero() {
			keys = append(keys, prefix+" "+tag)
		}
	}
	return keys
}

// yamlKeys lists the YAML keys of a config struct.
func yamlKeys(v any) []string {
	typ := reflect.TypeOf(v)
	var keys []string
	for i := range typ.NumField() {
		if tag := yamlTag(typ.Field(i)); tag != "" {
			keys = append(keys, tag)
		}
	}
	return keys
}

func yamlTag(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if tag == "-" {
		return ""
	}
	return tag
}

// ruleConstants lists the values of package validate's constants of type Rule, the row
// error rules it makes.
func ruleConstants(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../validate/*.go")
	require.NoError(t, err)
	var rules []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Rule" {
					continue
				}
				for _, v := range vs.Values {
					if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, err := strconv.Unquote(lit.Value)
						require.NoError(t, err)
						rules = append(rules, s)
					}
				}
			}
		}
	}
	return rules
}

// docProblems relocates config problems of a file whose line offset+N is line N of
// mapping.md.
func docProblems(err error, offset int) error {
	ps, ok := err.(config.Problems)
	if !ok {
		return err
	}
	var b strings.Builder
	for _, p := range ps {
		line := p.Line + offset
		if p.Line == 0 {
			line = 0
		}
		fmt.Fprintf(&b, "mapping.md:%d: %s\n", line, p.Msg)
	}
	return fmt.Errorf("%s", b.String())
}

func indent(s, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if strings.TrimSpace(line) != "" {
			b.WriteString(prefix)
		}
		b.WriteString(line)
	}
	return b.String()
}

// doc is mapping.md cut into what the tests read.
type doc struct {
	lines    []string
	headings []heading
	examples []example
}

type heading struct {
	level int
	title string
	line  int // 1-based
}

// example is a ```yaml block: line is the line of its first YAML line.
type example struct {
	line  int
	yaml  string
	table *table
}

// table is a Markdown table right after an example.
type table struct {
	line   int // the header's line
	header []string
	rows   [][]string
}

func parseDoc(t *testing.T, text string) *doc {
	t.Helper()
	d := &doc{lines: strings.Split(text, "\n")}
	for i := 0; i < len(d.lines); i++ {
		l := d.lines[i]
		switch {
		case strings.HasPrefix(l, "```yaml"):
			ex := example{line: i + 2}
			j := i + 1
			for ; j < len(d.lines) && !strings.HasPrefix(d.lines[j], "```"); j++ {
				ex.yaml += d.lines[j] + "\n"
			}
			require.Less(t, j, len(d.lines), "mapping.md:%d: unclosed code block", i+1)
			k := j + 1
			for k < len(d.lines) && strings.TrimSpace(d.lines[k]) == "" {
				k++
			}
			if k < len(d.lines) && strings.HasPrefix(d.lines[k], "|") {
				ex.table = parseTable(d.lines, k)
			}
			d.examples = append(d.examples, ex)
			i = j
		case strings.HasPrefix(l, "```"):
			for i++; i < len(d.lines) && !strings.HasPrefix(d.lines[i], "```"); i++ {
			}
		case strings.HasPrefix(l, "#"):
			level := len(l) - len(strings.TrimLeft(l, "#"))
			d.headings = append(d.headings, heading{level: level, title: strings.TrimSpace(l[level:]), line: i + 1})
		}
	}
	return d
}

func parseTable(lines []string, start int) *table {
	cells := func(l string) []string {
		l = strings.TrimSpace(l)
		l = strings.TrimSuffix(strings.TrimPrefix(l, "|"), "|")
		parts := strings.Split(l, "|")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts
	}
	tb := &table{line: start + 1, header: cells(lines[start])}
	for i := start + 2; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
		tb.rows = append(tb.rows, cells(lines[i]))
	}
	return tb
}

// section finds a level-2 or -3 heading by title and returns its index.
func (d *doc) section(t *testing.T, title string) int {
	t.Helper()
	for i, h := range d.headings {
		if h.title == title {
			return i
		}
	}
	require.Failf(t, "missing section", "mapping.md has no section %q", title)
	return -1
}

// body is the text under a heading, up to the next heading of its level or above.
func (d *doc) body(t *testing.T, title string) string {
	t.Helper()
	i := d.section(t, title)
	end := len(d.lines)
	for _, h := range d.headings[i+1:] {
		if h.level <= d.headings[i].level {
			end = h.line - 1
			break
		}
	}
	return strings.Join(d.lines[d.headings[i].line:end], "\n")
}

// entries lists the `names` in the titles of the headings under a section's heading.
func (d *doc) entries(t *testing.T, title string) []string {
	t.Helper()
	i := d.section(t, title)
	var names []string
	for _, h := range d.headings[i+1:] {
		if h.level <= d.headings[i].level {
			break
		}
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(h.title, -1) {
			names = append(names, m[1])
		}
	}
	return names
}
