package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
	"github.com/dmfpipe/dmfpipe/validate"
)

type stagingBundle struct {
	ctx   context.Context
	dbURL string
	store *staging.Store
	jobs  *jobhistory.Store
}

func setupStaging(t *testing.T) *stagingBundle {
	t.Helper()
	pool, dbURL := testsvc.MigratedDatabase(t)
	return &stagingBundle{ctx: context.Background(), dbURL: dbURL, store: staging.NewStore(pool), jobs: jobhistory.NewStore(pool)}
}

// cli runs `pipeline staging ARGS... --database-url` on the bundle's database.
func (b *stagingBundle) cli(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return runCLI(t, append(append([]string{"staging"}, args...), "--database-url", b.dbURL)...)
}

// stage records a job and stages rows for it through the staging API.
func (b *stagingBundle) stage(t *testing.T, l staging.Layout, rows []staging.Row) int64 {
	t.Helper()
	job, err := b.jobs.CreateJob(b.ctx, jobhistory.NewJob{Project: "customers", Trigger: "run"})
	require.NoError(t, err)
	require.NoError(t, b.store.Create(b.ctx, job, l))
	w, err := b.store.NewWriter(b.ctx, job)
	require.NoError(t, err)
	for i := range rows {
		require.NoError(t, w.Write(&rows[i]))
	}
	_, err = w.Close(b.ctx)
	require.NoError(t, err)
	return job
}

var customersLayout = staging.Layout{Fields: []string{"ACCOUNT", "NAME", "CITY"}, Columns: []string{"id", "name", "city"}}

func nameRequired() validate.Error {
	return validate.Error{Field: "NAME", Column: "name", Rule: "required", Msg: "is required"}
}

func cityPattern() validate.Error {
	return validate.Error{Field: "CITY", Column: "city", Rule: "pattern", Msg: "does not match\n[A-Z][a-z]+"}
}

// stageCustomers stages twelve rows with three groups of errors and rows in four
// statuses:
//
//	NAME required     rows 2, 4, 7, 8 (and 9, skipped by an operator: dealt with)
//	CITY pattern      rows 4, 5
//	- read.ragged_row row 6
//	valid             rows 1, 3, 11, 12; fixed: row 10
func (b *stagingBundle) stageCustomers(t *testing.T) int64 {
	t.Helper()
	rows := []staging.Row{
		{No: 1, Line: 2, Values: []string{"A1", "Contoso Ltd", "Gent"}, Raw: []string{" a1 ", "Contoso Ltd", "Gent"}},
		{No: 2, Line: 3, Values: []string{"A2", "", "Gent"}, Raw: []string{"A2", "", "Gent"},
			Errors: []validate.Error{nameRequired()}},
		{No: 3, Line: 4, Values: []string{"A3", "Fabrikam", "Brugge"}, Raw: []string{"A3", "Fabrikam", "Brugge"}},
		{No: 4, Line: 5, Values: []string{"A4", "", "BRUGGE-1"}, Raw: []string{"A4", "", "brugge-1"},
			Errors: []validate.Error{nameRequired(), cityPattern()}},
		{No: 5, Line: 7, Values: []string{"A5", "Northwind", "GENT"}, Raw: []string{"A5", "Northwind", "gent"},
			Errors: []validate.Error{cityPattern()}},
		{No: 6, Line: 8, Values: []string{"A6", "Litware", "Antwerpen"}, Raw: []string{"A6", "Litware", "Antwerpen", "extra"},
			Errors: []validate.Error{{Rule: "read.ragged_row", Msg: "4 fields, header has 3"}}},
	}
	for no := int64(7); no <= 12; no++ {
		r := staging.Row{No: no, Line: no + 2, Values: []string{fmt.Sprint("A", no), "", "Gent"}}
		r.Raw = r.Values
		if no <= 10 {
			r.Errors = []validate.Error{nameRequired()}
		} else {
			r.Values = []string{fmt.Sprint("A", no), fmt.Sprint("Name ", no), "Gent"}
			r.Raw = r.Values
		}
		rows = append(rows, r)
	}
	job := b.stage(t, customersLayout, rows)
	_, err := b.store.EditBatch(b.ctx, job, staging.Filter{Rows: []int64{10}}, []staging.FieldValue{{Field: "NAME", Value: "Name 10"}},
		staging.Recheck{}, 0, 1)
	require.NoError(t, err)
	batch, err := b.store.RejectBatch(b.ctx, job, staging.Filter{Rows: []int64{9}}, "a repeat", 0, 1)
	require.NoError(t, err)
	require.Len(t, batch.Changes, 1)
	return job
}

func TestStagingErrorsSummary(t *testing.T) {
	t.Parallel()
	b := setupStaging(t)
	job := b.stageCustomers(t)
	id := strconv.FormatInt(job, 10)

	out, code := b.cli(t, "errors", id)
	require.Equal(t, exitOK, code, out)
	want := fmt.Sprintf(`job %d: 12 staged rows
  STATUS    ROWS
  valid     4
  invalid   6
  uploaded  0
  imported  0
  rejected  0
  fixed     1
  skipped   1

errors by field and rule: 3
  FIELD  RULE             ROWS  FIRST ROW
  NAME   required         4     2
  CITY   pattern          2     4
  -      read.ragged_row  1     6
to list a group's rows, add its --field and --rule (e.g. --field NAME --rule required)
`, job)
	assert.Equal(t, want, out)

	// -c finds the database in the config, as the other database commands do.
	cfg := filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`database:
  url: %q
environments:
  e: { url: "http://127.0.0.1:1", tenant: t, client_id: c, client_secret: s }
`, b.dbURL)), 0o600))
	out, code = runCLI(t, "staging", "errors", id, "-c", cfg)
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, want, out)

	// A job without errors.
	clean := b.stage(t, customersLayout, []staging.Row{{No: 1, Line: 2, Values: []string{"A1", "N", "Gent"}, Raw: []string{"A1", "N", "Gent"}}})
	out, code = b.cli(t, "errors", strconv.FormatInt(clean, 10))
	require.Equal(t, exitOK, code, out)
	assert.Regexp(t, `(?m)^  valid     1$`, out)
	assert.True(t, strings.HasSuffix(out, "\nerrors: none\n"), out)
}

func TestStagingErrorsGroupPaging(t *testing.T) {
	t.Parallel()
	b := setupStaging(t)
	job := b.stageCustomers(t)
	id := strconv.FormatInt(job, 10)
	hint := regexp.MustCompile(`(?m)^more errors: add --after (\d+) for the next page\n\z`)
	groupRows := func(out string) []string {
		t.Helper()
		_, page, ok := strings.Cut(out, "\nfield NAME, rule required: 4 rows\n  ROW  LINE  COLUMN  MESSAGE\n")
		require.True(t, ok, out)
		return strings.Split(strings.TrimSuffix(hint.ReplaceAllString(page, ""), "\n"), "\n")
	}

	out, code := b.cli(t, "errors", id, "--field", "NAME", "--rule", "required", "--limit", "2")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "errors by field and rule: 3\n", "the summary comes first")
	assert.NotContains(t, out, "to list a group's rows")
	assert.Equal(t, []string{"  2    3     name    is required", "  4    5     name    is required"}, groupRows(out))
	m := hint.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	assert.Equal(t, "4", m[1], "the next page starts after the last row printed")

	out, code = b.cli(t, "errors", id, "--field", "NAME", "--rule", "required", "--limit", "2", "--after", m[1])
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, []string{"  7    9     name    is required", "  8    10    name    is required"}, groupRows(out))
	assert.NotRegexp(t, hint, out, "the last page: row 9, set aside, is no longer in the group")

	// A page that ends exactly at the group's last row has no hint.
	out, code = b.cli(t, "errors", id, "--field", "NAME", "--rule", "required", "--limit", "3", "--after", "2")
	require.Equal(t, exitOK, code, out)
	assert.Len(t, groupRows(out), 3)
	assert.NotRegexp(t, hint, out)

	out, code = b.cli(t, "errors", id, "--field", "NAME", "--rule", "required", "--after", "8")
	require.Equal(t, exitOK, code, out)
	assert.True(t, strings.HasSuffix(out, "\nfield NAME, rule required: 4 rows\nno more errors after row 8\n"), out)

	// A group without a field; a message with a newline stays on its line.
	out, code = b.cli(t, "errors", id, "--field", "", "--rule", "read.ragged_row")
	require.Equal(t, exitOK, code, out)
	assert.True(t, strings.HasSuffix(out, "\nfield -, rule read.ragged_row: 1 row\n  ROW  LINE  COLUMN  MESSAGE\n  6    8     -       4 fields, header has 3\n"), out)
	out, code = b.cli(t, "errors", id, "--field", "CITY", "--rule", "pattern")
	require.Equal(t, exitOK, code, out)
	assert.Regexp(t, `(?m)^  5    7     city    does not match \[A-Z\]\[a-z\]\+$`, out)

	out, code = b.cli(t, "errors", id, "--field", "NAME", "--rule", "pattern")
	require.Equal(t, exitOK, code, out)
	assert.True(t, strings.HasSuffix(out, "\nfield NAME, rule pattern: no errors (the groups are listed above)\n"), out)
}

func TestStagingErrorsJSON(t *testing.T) {
	t.Parallel()
	b := setupStaging(t)
	job := b.stageCustomers(t)
	id := strconv.FormatInt(job, 10)

	out, code := b.cli(t, "errors", id, "--json")
	require.Equal(t, exitOK, code, out)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.Equal(t, map[string]any{
		"job": float64(job),
		"counts": map[string]any{"total": 12.0, "valid": 4.0, "invalid": 6.0, "uploaded": 0.0, "imported": 0.0,
			"rejected": 0.0, "fixed": 1.0, "skipped": 1.0},
		"summary": []any{
			map[string]any{"field": "NAME", "rule": "required", "rows": 4.0, "first_row": 2.0},
			map[string]any{"field": "CITY", "rule": "pattern", "rows": 2.0, "first_row": 4.0},
			map[string]any{"field": "", "rule": "read.ragged_row", "rows": 1.0, "first_row": 6.0},
		},
		"errors":     nil,
		"next_after": nil,
	}, got)

	out, code = b.cli(t, "errors", id, "--json", "--field", "CITY", "--rule", "pattern", "--limit", "1")
	require.Equal(t, exitOK, code, out)
	got = nil
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.Equal(t, []any{map[string]any{"row": 4.0, "line": 5.0, "column": "city", "field": "CITY", "rule": "pattern",
		"message": "does not match\n[A-Z][a-z]+"}}, got["errors"], "--json keeps messages as they are")
	assert.Equal(t, 4.0, got["next_after"])

	out, code = b.cli(t, "errors", id, "--json", "--field", "CITY", "--rule", "pattern", "--after", "4")
	require.Equal(t, exitOK, code, out)
	got = nil
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	require.Len(t, got["errors"], 1)
	assert.Equal(t, 5.0, got["errors"].([]any)[0].(map[string]any)["row"])
	assert.Nil(t, got["next_after"])

	out, code = b.cli(t, "errors", id, "--json", "--field", "CITY", "--rule", "unique")
	require.Equal(t, exitOK, code, out)
	got = nil
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.Equal(t, []any{}, got["errors"], "a group asked for is an array, empty when it has no errors")

	clean := b.stage(t, customersLayout, nil)
	out, code = b.cli(t, "errors", strconv.FormatInt(clean, 10), "--json")
	require.Equal(t, exitOK, code, out)
	got = nil
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.Equal(t, []any{}, got["summary"], "no errors is an empty summary, not null")
	assert.Equal(t, 0.0, got["counts"].(map[string]any)["total"])
}

// wantReport is the error report of stageCustomers, one line per error in row order.
var wantReport = [][]string{
	{"row", "line", "status", "column", "field", "rule", "message", "value", "source_value"},
	{"2", "3", "invalid", "name", "NAME", "required", "is required", "", ""},
	{"4", "5", "invalid", "city", "CITY", "pattern", "does not match\n[A-Z][a-z]+", "BRUGGE-1", "brugge-1"},
	{"4", "5", "invalid", "name", "NAME", "required", "is required", "", ""},
	{"5", "7", "invalid", "city", "CITY", "pattern", "does not match\n[A-Z][a-z]+", "GENT", "gent"},
	{"6", "8", "invalid", "", "", "read.ragged_row", "4 fields, header has 3", "", ""},
	{"7", "9", "invalid", "name", "NAME", "required", "is required", "", ""},
	{"8", "10", "invalid", "name", "NAME", "required", "is required", "", ""},
}

func TestStagingErrorsCSV(t *testing.T) {
	t.Parallel()
	b := setupStaging(t)
	job := b.stageCustomers(t)
	id := strconv.FormatInt(job, 10)

	out, code := b.cli(t, "errors", id, "--format", "csv")
	require.Equal(t, exitOK, code, out)
	lines, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err, out)
	assert.Equal(t, wantReport, lines, "standard output holds the report and nothing else")

	dir := t.TempDir()
	path := filepath.Join(dir, "errors.csv")
	require.NoError(t, os.WriteFile(path, []byte("an older report"), 0o600))
	msg, code := b.cli(t, "errors", id, "--format", "csv", "--out", path)
	require.Equal(t, exitOK, code, msg)
	assert.Equal(t, fmt.Sprintf("job %d: error report written to %s\n", job, path), msg)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, out, string(data), "--out replaces the file with the same report")
	assertOnlyFiles(t, dir, "errors.csv")

	// A failed export leaves the old file as it was and no temporary file behind.
	msg, code = b.cli(t, "errors", "987654", "--format", "csv", "--out", path)
	assert.Equal(t, exitFailed, code, msg)
	assert.Equal(t, "pipeline: job 987654 has no staged rows (never staged, or purged after the staging retention)\n", msg)
	data, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, out, string(data))
	assertOnlyFiles(t, dir, "errors.csv")

	msg, code = b.cli(t, "errors", id, "--format", "csv", "--out", filepath.Join(dir, "missing", "errors.csv"))
	assert.Equal(t, exitFailed, code, msg)
	assert.Contains(t, msg, fmt.Sprintf("pipeline: writing the error report of job %d to %s", job, filepath.Join(dir, "missing", "errors.csv")))
	assertOnlyFiles(t, dir, "errors.csv")
}

func TestStagingErrorsXLSX(t *testing.T) {
	t.Parallel()
	b := setupStaging(t)
	job := b.stageCustomers(t)
	id := strconv.FormatInt(job, 10)
	dir := t.TempDir()
	path := filepath.Join(dir, "errors.xlsx")

	out, code := b.cli(t, "errors", id, "--format", "xlsx", "--out", path)
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, fmt.Sprintf("job %d: error report written to %s\n", job, path), out)
	assertOnlyFiles(t, dir, "errors.xlsx")

	f, err := excelize.OpenFile(path)
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, []string{"Errors"}, f.GetSheetList())
	rows, err := f.GetRows("Errors")
	require.NoError(t, err)
	for i := range rows { // GetRows leaves out a row's trailing empty cells
		rows[i] = append(rows[i], make([]string, len(wantReport[0])-len(rows[i]))...)
	}
	assert.Equal(t, wantReport, rows)
	typ, err := f.GetCellType("Errors", "A3")
	require.NoError(t, err)
	assert.NotEqual(t, excelize.CellTypeSharedString, typ, "row numbers are numbers in the workbook")
	assert.NotEqual(t, excelize.CellTypeInlineString, typ)

	// A workbook is never written to standard output.
	out, code = b.cli(t, "errors", id, "--format", "xlsx")
	assert.Equal(t, exitUsage, code, out)
	assert.Equal(t, "pipeline: --format xlsx writes a binary workbook: name the file with --out FILE\n", out)
}

func TestStagingRows(t *testing.T) {
	t.Parallel()
	b := setupStaging(t)
	job := b.stageCustomers(t)
	id := strconv.FormatInt(job, 10)

	out, code := b.cli(t, "rows", id, "--limit", "6")
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, `row 1 (line 2): valid
  ACCOUNT=A1 NAME="Contoso Ltd" CITY=Gent
  source: id=" a1 "
row 2 (line 3): invalid
  ACCOUNT=A2 NAME="" CITY=Gent
  error: NAME required (column name): is required
row 3 (line 4): valid
  ACCOUNT=A3 NAME=Fabrikam CITY=Brugge
row 4 (line 5): invalid
  ACCOUNT=A4 NAME="" CITY=BRUGGE-1
  source: city=brugge-1
  error: CITY pattern (column city): does not match [A-Z][a-z]+
  error: NAME required (column name): is required
row 5 (line 7): invalid
  ACCOUNT=A5 NAME=Northwind CITY=GENT
  source: city=gent
  error: CITY pattern (column city): does not match [A-Z][a-z]+
row 6 (line 8): invalid
  ACCOUNT=A6 NAME=Litware CITY=Antwerpen
  source: #4=extra
  error: read.ragged_row: 4 fields, header has 3
more rows: add --after 6 for the next page
`, out)

	out, code = b.cli(t, "rows", id, "--after", "6", "--limit", "6")
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, []string{"7 (line 9): invalid", "8 (line 10): invalid", "9 (line 11): skipped", "10 (line 12): fixed",
		"11 (line 13): valid", "12 (line 14): valid"}, rowHeads(out))
	assert.NotContains(t, out, "more rows", "the page ends exactly at the last row")
	assert.Contains(t, out, "row 10 (line 12): fixed\n  ACCOUNT=A10 NAME=\"Name 10\" CITY=Gent\n", "an edited row has no errors left")

	// The default page holds them all.
	out, code = b.cli(t, "rows", id)
	require.Equal(t, exitOK, code, out)
	assert.Len(t, rowHeads(out), 12)
	assert.NotContains(t, out, "more rows")

	// --status, paged.
	out, code = b.cli(t, "rows", id, "--status", "invalid", "--limit", "4")
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, []string{"2 (line 3): invalid", "4 (line 5): invalid", "5 (line 7): invalid", "6 (line 8): invalid"}, rowHeads(out))
	assert.True(t, strings.HasSuffix(out, "\nmore rows: add --after 6 for the next page\n"), out)
	out, code = b.cli(t, "rows", id, "--status", "invalid", "--limit", "4", "--after", "6")
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, []string{"7 (line 9): invalid", "8 (line 10): invalid"}, rowHeads(out))
	assert.NotContains(t, out, "more rows")

	out, code = b.cli(t, "rows", id, "--status", "skipped")
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, "row 9 (line 11): skipped\n  ACCOUNT=A9 NAME=\"\" CITY=Gent\n  reason: a repeat\n", out)
	out, code = b.cli(t, "rows", id, "--status", "rejected")
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, "no rejected rows\n", out)
	out, code = b.cli(t, "rows", id, "--after", "12")
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, "no rows after row 12\n", out)
}

// rowHeads returns the "N (line L): status" heads of staging rows' output.
func rowHeads(out string) []string {
	var heads []string
	for _, m := range regexp.MustCompile(`(?m)^row (.*)$`).FindAllStringSubmatch(out, -1) {
		heads = append(heads, m[1])
	}
	return heads
}

func TestStagingRowsJSON(t *testing.T) {
	t.Parallel()
	b := setupStaging(t)
	job := b.stageCustomers(t)
	id := strconv.FormatInt(job, 10)

	out, code := b.cli(t, "rows", id, "--json", "--limit", "2")
	require.Equal(t, exitOK, code, out)
	var got []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.Equal(t, []map[string]any{
		{"row": 1.0, "line": 2.0, "sheet": "", "status": "valid",
			"values": map[string]any{"ACCOUNT": "A1", "NAME": "Contoso Ltd", "CITY": "Gent"},
			"source": map[string]any{"id": " a1 "}, "errors": []any{}},
		{"row": 2.0, "line": 3.0, "sheet": "", "status": "invalid",
			"values": map[string]any{"ACCOUNT": "A2", "NAME": "", "CITY": "Gent"},
			"source": map[string]any{},
			"errors": []any{map[string]any{"row": 2.0, "line": 3.0, "column": "name", "field": "NAME", "rule": "required", "message": "is required"}}},
	}, got)

	out, code = b.cli(t, "rows", id, "--json", "--status", "invalid", "--after", "5", "--limit", "1")
	require.Equal(t, exitOK, code, out)
	got = nil
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	require.Len(t, got, 1)
	assert.Equal(t, 6.0, got[0]["row"])
	assert.Equal(t, map[string]any{"#4": "extra"}, got[0]["source"])

	out, code = b.cli(t, "rows", id, "--json", "--after", "12")
	require.Equal(t, exitOK, code, out)
	assert.JSONEq(t, `[]`, out, "past the last page is an empty array, not null")
}

func TestStagingRow(t *testing.T) {
	t.Parallel()
	b := setupStaging(t)
	l := staging.Layout{Fields: []string{"ACCOUNT", "NAME", "CITY"}, Columns: []string{"id", "name", "city"}, Sheet: "Customers"}
	job := b.stage(t, l, []staging.Row{
		{No: 1, Line: 2, Values: []string{"A1", "Contoso", "Gent"}, Raw: []string{"A1", "Contoso", "Gent"}},
		{No: 2, Line: 3, Values: []string{"A2", "", "GENT"}, Raw: []string{" a2\t", "", "gent", "extra"},
			Errors: []validate.Error{{Rule: "read.ragged_row", Msg: "4 fields, header has 3"}, nameRequired()}},
		{No: 3, Line: 4, Values: []string{"A3", "x"}, Raw: []string{"A3"},
			Errors: []validate.Error{{Rule: "read.ragged_row", Msg: "1 field, header has 3"}}},
	})
	id := strconv.FormatInt(job, 10)

	out, code := b.cli(t, "row", id, "2")
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, fmt.Sprintf(`job:     %d
row:     2
line:    3
sheet:   Customers
status:  invalid

fields: 3
  FIELD    VALUE
  ACCOUNT  A2
  NAME     ""
  CITY     GENT

source columns: 4
  COLUMN  VALUE
  id      " a2\t"
  name    ""
  city    gent
  #4      extra

errors: 2
  FIELD  RULE             COLUMN  MESSAGE
  -      read.ragged_row  -       4 fields, header has 3
  NAME   required         name    is required
`, job), out, "errors in field order")

	// A row shorter than the header; a valid row.
	out, code = b.cli(t, "row", id, "3")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "\n  CITY     \"\"\n", "a missing value is stored empty")
	assert.Contains(t, out, "\nsource columns: 3\n  COLUMN  VALUE\n  id      A3\n  name    (not in the row)\n  city    (not in the row)\n")
	out, code = b.cli(t, "row", id, "1")
	require.Equal(t, exitOK, code, out)
	assert.True(t, strings.HasSuffix(out, "\n  city    Gent\n\nerrors: 0\n"), out)

	out, code = b.cli(t, "row", id, "2", "--json")
	require.Equal(t, exitOK, code, out)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.Equal(t, map[string]any{
		"job": float64(job), "row": 2.0, "line": 3.0, "sheet": "Customers", "status": "invalid",
		"values": map[string]any{"ACCOUNT": "A2", "NAME": "", "CITY": "GENT"},
		"source": map[string]any{"id": " a2\t", "name": "", "city": "gent", "#4": "extra"},
		"errors": []any{
			map[string]any{"row": 2.0, "line": 3.0, "sheet": "Customers", "rule": "read.ragged_row", "message": "4 fields, header has 3"},
			map[string]any{"row": 2.0, "line": 3.0, "sheet": "Customers", "column": "name", "field": "NAME", "rule": "required", "message": "is required"},
		},
	}, got)

	out, code = b.cli(t, "row", id, "1", "--json")
	require.Equal(t, exitOK, code, out)
	got = nil
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.Equal(t, map[string]any{"id": "A1", "name": "Contoso", "city": "Gent"}, got["source"], "row gives every source value")
	assert.Equal(t, []any{}, got["errors"])
}

func TestStagingMissing(t *testing.T) {
	t.Parallel()
	b := setupStaging(t)
	job := b.stageCustomers(t)
	id := strconv.FormatInt(job, 10)

	out, code := b.cli(t, "row", id, "13")
	assert.Equal(t, exitFailed, code, out)
	assert.Equal(t, fmt.Sprintf("pipeline: job %d has no staged row 13\n", job), out)

	// A job never staged, and one purged.
	purged := b.stage(t, customersLayout, []staging.Row{{No: 1, Line: 2, Values: []string{"A1", "", ""}}})
	require.NoError(t, b.store.Drop(b.ctx, purged))
	for _, j := range []int64{987654, purged} {
		noStaging := fmt.Sprintf("pipeline: job %d has no staged rows (never staged, or purged after the staging retention)\n", j)
		jid := strconv.FormatInt(j, 10)
		for _, args := range [][]string{
			{"errors", jid},
			{"errors", jid, "--json"},
			{"errors", jid, "--field", "NAME", "--rule", "required"},
			{"errors", jid, "--format", "csv"},
			{"rows", jid},
			{"rows", jid, "--json"},
			{"row", jid, "1"},
		} {
			out, code := b.cli(t, args...)
			assert.Equal(t, exitFailed, code, "%v: %s", args, out)
			assert.Equal(t, noStaging, out, "%v", args)
		}
	}
}

func TestStagingPagesOfMaxPage(t *testing.T) {
	t.Parallel()
	b := setupStaging(t)
	n := int64(staging.MaxPage + 1)
	rows := make([]staging.Row, n)
	for i := range rows {
		no := int64(i + 1)
		rows[i] = staging.Row{No: no, Line: no + 1, Values: []string{fmt.Sprint("A", no), "", "Gent"}, Errors: []validate.Error{nameRequired()}}
	}
	id := strconv.FormatInt(b.stage(t, customersLayout, rows), 10)
	limit := strconv.Itoa(staging.MaxPage)

	// The store caps a page at MaxPage, so a page of that size looks once more for the hint.
	out, code := b.cli(t, "rows", id, "--limit", limit)
	require.Equal(t, exitOK, code, out)
	assert.Len(t, rowHeads(out), staging.MaxPage)
	assert.True(t, strings.HasSuffix(out, fmt.Sprintf("\nmore rows: add --after %d for the next page\n", staging.MaxPage)), out[len(out)-200:])
	out, code = b.cli(t, "rows", id, "--limit", limit, "--after", "1")
	require.Equal(t, exitOK, code, out)
	assert.Len(t, rowHeads(out), staging.MaxPage)
	assert.NotContains(t, out, "more rows")

	out, code = b.cli(t, "errors", id, "--field", "NAME", "--rule", "required", "--limit", limit, "--json")
	require.Equal(t, exitOK, code, out)
	var got struct {
		Errors    []validate.Error `json:"errors"`
		NextAfter *int64           `json:"next_after"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Len(t, got.Errors, staging.MaxPage)
	require.NotNil(t, got.NextAfter)
	assert.Equal(t, int64(staging.MaxPage), *got.NextAfter)
}

func TestStagingUsageErrors(t *testing.T) {
	t.Parallel()
	// Usage is checked before the database is opened: none is needed.
	cli := func(args ...string) (string, int) {
		return runCLI(t, append(append([]string{"staging"}, args...), "--database-url", "postgres://127.0.0.1:1/none")...)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"errors"}, "errors takes one JOB, got 0 arguments"},
		{[]string{"errors", "1", "2"}, "errors takes one JOB, got 2 arguments"},
		{[]string{"errors", "abc"}, `JOB must be a job id (a positive number), got "abc"`},
		{[]string{"errors", "0"}, `JOB must be a job id (a positive number), got "0"`},
		{[]string{"errors", "1", "--field", "NAME"}, "--field and --rule go together"},
		{[]string{"errors", "1", "--rule", "required"}, "--field and --rule go together"},
		{[]string{"errors", "1", "--format", "pdf"}, `unknown --format "pdf" (valid: table, csv, xlsx)`},
		{[]string{"errors", "1", "--format", "xlsx"}, "--format xlsx writes a binary workbook: name the file with --out FILE"},
		{[]string{"errors", "1", "--format", "csv", "--json"}, "--format csv writes every error of the job: it takes no --json"},
		{[]string{"errors", "1", "--format", "csv", "--field", "NAME", "--rule", "required"}, "--format csv writes every error of the job"},
		{[]string{"errors", "1", "--format", "xlsx", "--out", "x.xlsx", "--limit", "5"}, "--format xlsx writes every error of the job"},
		{[]string{"errors", "1", "--out", "x.csv"}, "--out is for the report of --format csv or xlsx"},
		{[]string{"errors", "1", "--after", "5"}, "--after and --limit page the errors of one group: add --field and --rule"},
		{[]string{"errors", "1", "--field", "NAME", "--rule", "required", "--limit", "0"}, "--limit must be from 1 to 1000, got 0"},
		{[]string{"errors", "1", "--field", "NAME", "--rule", "required", "--limit", "1001"}, "--limit must be from 1 to 1000, got 1001"},
		{[]string{"errors", "1", "--field", "NAME", "--rule", "required", "--after", "-1"}, "--after must be a row number, got -1"},
		{[]string{"errors", "1", "--limit", "many"}, `invalid argument "many" for "--limit"`},
		{[]string{"rows"}, "rows takes one JOB, got 0 arguments"},
		{[]string{"rows", "x"}, `JOB must be a job id (a positive number), got "x"`},
		{[]string{"rows", "1", "--status", "done"}, `unknown --status "done" (valid: valid, invalid, uploaded, imported, rejected, fixed, skipped)`},
		{[]string{"rows", "1", "--limit", "0"}, "--limit must be from 1 to 1000, got 0"},
		{[]string{"rows", "1", "--after", "-2"}, "--after must be a row number, got -2"},
		{[]string{"row", "1"}, "row takes a JOB and a ROW, got 1 arguments"},
		{[]string{"row", "1", "first"}, `ROW must be a row number (a positive number), got "first"`},
		{[]string{"row", "1", "0"}, `ROW must be a row number (a positive number), got "0"`},
		{[]string{"row", "-1", "2"}, "unknown shorthand flag"},
	} {
		out, code := cli(tc.args...)
		assert.Equal(t, exitUsage, code, "%v: %s", tc.args, out)
		assert.Contains(t, out, tc.want, "%v", tc.args)
	}
	out, code := cli("rows", "1", "--status", "done")
	assert.Equal(t, exitUsage, code)
	assert.Equal(t, "pipeline: unknown --status \"done\" (valid: valid, invalid, uploaded, imported, rejected, fixed, skipped)\n", out)
}

func TestStagingHelp(t *testing.T) {
	t.Parallel()
	out, code := runCLI(t, "staging", "--help")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "pipeline staging [command]")
	for _, sub := range []string{"errors", "rows", "row"} {
		assert.Regexp(t, `(?m)^  `+sub+`\s+\S`, out, "staging lists %s", sub)
		out, code := runCLI(t, "staging", sub, "--help")
		require.Equal(t, exitOK, code, out)
		out = strings.Join(strings.Fields(out), " ")
		assert.Contains(t, out, "To fix rows: pipeline staging edit JOB", sub)
		assert.Contains(t, out, "--database-url", sub)
	}
}

// assertOnlyFiles checks that dir holds exactly the files names: no temporary file left.
func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	assert.Equal(t, names, got)
}

func TestStagingEditRejectResubmitUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"edit", "1", "--set", "NAME=x"}, "name the rows with one of --row N..."},
		{[]string{"edit", "1", "--row", "2", "--field", "NAME", "--set", "NAME=x"}, "name the rows with one of --row N..."},
		{[]string{"edit", "1", "--rule", "fo", "--where", "NAME=x", "--set", "NAME=x"}, "name the rows with one of --row N..."},
		{[]string{"edit", "1", "--row", "2"}, "--set FIELD=VALUE is required"},
		{[]string{"edit", "1", "--row", "0", "--set", "NAME=x"}, "--row must be a row number (a positive number), got 0"},
		{[]string{"edit", "1", "--row", "2", "--set", "NAME"}, `--set takes FIELD=VALUE, got "NAME"`},
		{[]string{"edit", "1", "--where", "=x", "--set", "NAME=x"}, `--where takes FIELD=VALUE, got "=x"`},
		{[]string{"edit", "x", "--row", "2", "--set", "NAME=x"}, `JOB must be a job id (a positive number), got "x"`},
		{[]string{"reject", "1", "--row", "2"}, "--reason TEXT is required"},
		{[]string{"reject", "1", "--row", "2", "--reason", "  "}, "--reason TEXT is required"},
		{[]string{"reject", "1", "--reason", "gone"}, "name the rows with one of --row N..."},
		{[]string{"resubmit"}, "resubmit takes one JOB, got 0 arguments"},
	} {
		out, code := runCLI(t, append([]string{"staging"}, tc.args...)...)
		assert.Equal(t, exitUsage, code, "%v: %s", tc.args, out)
		assert.Contains(t, out, tc.want, "%v", tc.args)
	}
	for _, sub := range []string{"edit", "reject", "resubmit"} {
		out, code := runCLI(t, "staging", sub, "--help")
		require.Equal(t, exitOK, code, out)
		assert.Contains(t, strings.Join(strings.Fields(out), " "), "audit trail", sub)
	}
	for _, sub := range []string{"retry", "cancel"} {
		out, code := runCLI(t, "jobs", sub, "--help")
		require.Equal(t, exitOK, code, out)
		assert.Contains(t, strings.Join(strings.Fields(out), " "), "audit trail", sub)
		out, code = runCLI(t, "jobs", sub, "abc")
		assert.Equal(t, exitUsage, code, out)
	}
}
