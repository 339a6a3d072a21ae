package mapping_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/ingest/reader"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/mapping"
	"github.com/dmfpipe/dmfpipe/validate"
)

var update = flag.Bool("update", false, "rewrite the expected rows.txt and errors.txt of testdata/mapping/*.txtar")

// prelude makes a project section a whole config file; config.yaml lines are reported
// relative to the section.
var prelude = testsvc.OfflineImportConfig("golden", "")

// TestGolden runs each testdata/mapping/*.txtar: its config.yaml (the rest of one import
// project, indented as a list item's keys) maps input.csv or input.json; rows.txt holds
// the fields and then each row, '|'-joined; errors.txt the config problems, or the bind
// error, or each row error.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/mapping/*.txtar")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			ar := parseTxtar(data)
			rows, errs := runGolden(t, ar)
			if *update {
				ar.set("rows.txt", rows)
				ar.set("errors.txt", errs)
				require.NoError(t, os.WriteFile(file, ar.format(), 0o644))
				return
			}
			assert.Equal(t, ar.get("rows.txt"), rows, "rows.txt")
			assert.Equal(t, ar.get("errors.txt"), errs, "errors.txt")
		})
	}
}

func runGolden(t *testing.T, ar *txtar) (rows, errs string) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yaml")
	project := ar.get("config.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(prelude+indent(project)), 0o600))
	preludeLines := strings.Count(prelude, "\n")
	relocate := func(ps config.Problems) string {
		var b strings.Builder
		for _, p := range ps {
			fmt.Fprintf(&b, "config.yaml:%d: %s\n", p.Line-preludeLines, p.Msg)
		}
		return b.String()
	}
	// Like `pipeline check`: config problems and mapping problems together.
	cfg, err := config.Load(cfgFile)
	var ps config.Problems
	if err != nil {
		require.ErrorAs(t, err, &ps)
	}
	p := cfg.Projects[0]
	cat := catalog.Default()
	m, err := mapping.Compile(p, cat)
	var mps config.Problems
	if err != nil {
		require.ErrorAs(t, err, &mps)
	}
	if ps = append(ps, mps...); len(ps) > 0 {
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
		return "", relocate(ps)
	}
	rules, err := validate.CompileRowRules(p, m.Fields(), cat)
	if errors.As(err, &ps) {
		return "", relocate(ps)
	}
	require.NoError(t, err)

	name := "input.csv"
	if ar.get("input.json") != "" {
		name = "input.json"
	}
	input := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(input, []byte(ar.get(name)), 0o600))
	rd, err := reader.OpenFile(input, reader.Options{Delimiter: p.Format.Delimiter, Records: p.Format.Records})
	require.NoError(t, err)
	defer rd.Close()
	b, err := m.Bind(rd.Header())
	if err != nil {
		return "", regexp.MustCompile(regexp.QuoteMeta(cfgFile)+`:(\d+)`).ReplaceAllStringFunc(err.Error(), func(s string) string {
			line, _ := strconv.Atoi(s[len(cfgFile)+1:])
			return fmt.Sprintf("config.yaml:%d", line-preludeLines)
		}) + "\n"
	}
	var rb, eb strings.Builder
	rb.WriteString(strings.Join(b.Fields(), "|") + "\n")
	var row []string
	var rowErrs []validate.Error
	for n := int64(1); ; n++ {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		row, rowErrs = b.Apply(rec, n, row)
		rowErrs = rules.Check(row, n, mapping.Line(rec.Loc), rowErrs)
		rb.WriteString(strings.Join(row, "|") + "\n")
		for _, e := range rowErrs {
			if e.Column == "" {
				e.Column = b.Column(e.Field)
			}
			eb.WriteString(e.Error() + "\n")
		}
	}
	return rb.String(), eb.String()
}

func indent(s string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "" {
			lines[i] = "    " + l
		}
	}
	return strings.Join(lines, "")
}

// txtar is the txtar archive format (golang.org/x/tools/txtar): a comment, then files
// each introduced by a "-- name --" line.
type txtar struct {
	comment string
	names   []string
	files   map[string]string
}

func parseTxtar(data []byte) *txtar {
	ar := &txtar{files: map[string]string{}}
	cur := ""
	var b strings.Builder
	flush := func() {
		if cur == "" {
			ar.comment = b.String()
		} else {
			ar.files[cur] = b.String()
		}
		b.Reset()
	}
	for _, line := range strings.SplitAfter(string(data), "\n") {
		trimmed := strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(trimmed, "-- ") && strings.HasSuffix(trimmed, " --") && len(trimmed) > 6 {
			flush()
			cur = strings.TrimSpace(trimmed[3 : len(trimmed)-3])
			ar.names = append(ar.names, cur)
			continue
		}
		b.WriteString(line)
	}
	flush()
	return ar
}

func (ar *txtar) get(name string) string { return ar.files[name] }

func (ar *txtar) set(name, content string) {
	if _, ok := ar.files[name]; !ok {
		ar.names = append(ar.names, name)
	}
	ar.files[name] = content
}

func (ar *txtar) format() []byte {
	var b bytes.Buffer
	b.WriteString(ar.comment)
	for _, n := range ar.names {
		fmt.Fprintf(&b, "-- %s --\n", n)
		b.WriteString(ar.files[n])
	}
	return b.Bytes()
}
