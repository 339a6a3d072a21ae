package ingestjob_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/ingest/reader"
	"github.com/dmfpipe/dmfpipe/ingestjob"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/mapping"
	"github.com/dmfpipe/dmfpipe/staging"
	"github.com/dmfpipe/dmfpipe/validate"
)

var (
	_ ingestjob.Mapper     = (*mapping.Bound)(nil)
	_ ingestjob.RowChecker = (*validate.RowRules)(nil)
)

var testConfig = testsvc.OfflineImportConfig("customers", `    format: { type: csv, delimiter: ";" }
    target: { entity: Customers V3, legal_entity: USMF, definition_group: G }
    mapping:
      CUSTOMERACCOUNT:   { from: "Account No", transforms: [trim, upper] }
      ORGANIZATIONNAME:  { from: Name, transforms: [trim] }
      CUSTOMERGROUPID:   { from: Group }
      SALESCURRENCYCODE: { const: EUR }
      ADDRESSCITY:       { from: City }
    references:
      - { name: groups, values: ["10", "20", "30"] }
    validate:
      - { field: CUSTOMERACCOUNT, required: true, unique: true }
      - { field: CUSTOMERGROUPID, lookup: groups }
`)

const testCSV = "Account No;Name;Group;City\n" +
	"C-1;Alpha;10;Gent\n" +
	"C-2;Be\x00ta;20;Brugge\n" +
	"c-1 ;Gamma;10;Leuven\n" +
	"C-4;Delta;99;Gent\n" +
	";Epsilon;10;Gent\n" +
	"C-6;Zeta;10\n" +
	"C-7;Eta;20;Paris\n"

type fixture struct {
	ctx     context.Context
	pool    *pgxpool.Pool
	file    string
	mapping *mapping.Mapping
	rules   *validate.RowRules
	rd      reader.Reader
	open    func() (reader.Reader, error) // returns rd
	sets    ingestjob.SetRules
}

func setup(t *testing.T, csv string) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "pipeline.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(testConfig), 0o600))
	cfg, err := config.Load(cfgFile)
	require.NoError(t, err)
	p := cfg.Projects[0]
	m, err := mapping.Compile(p, catalog.Default())
	require.NoError(t, err)
	rules, err := validate.CompileRowRules(p, m.Fields(), catalog.Default())
	require.NoError(t, err)

	file := filepath.Join(dir, "customers.csv")
	require.NoError(t, os.WriteFile(file, []byte(csv), 0o600))
	rd, err := reader.OpenFile(file, reader.Options{Delimiter: ";"})
	require.NoError(t, err)
	t.Cleanup(func() { rd.Close() })
	_, err = m.Bind(rd.Header())
	require.NoError(t, err)

	pool, _ := testsvc.MigratedDatabase(t)
	return &fixture{ctx: ctx, pool: pool, file: file, mapping: m, rules: rules, rd: rd,
		open: func() (reader.Reader, error) { return rd, nil },
		sets: ingestjob.SetRules{Unique: rules.UniqueFields(), Lookups: rules.Lookups()}}
}

func TestStageReadsMapsValidatesAndRunsSetRules(t *testing.T) {
	t.Parallel()
	f := setup(t, testCSV)
	store := staging.NewStore(f.pool)
	res, err := ingestjob.Stage(f.ctx, store, 42, f.rd, ingestjob.BindMapping(f.mapping), f.rules, f.sets, ingestjob.Options{})
	require.NoError(t, err)
	assert.Equal(t, int64(7), res.Read)
	assert.Equal(t, staging.Counts{Total: 7, Valid: 2, Invalid: 5}, res.Counts)
	assert.Equal(t, int64(1), res.Duplicates)
	assert.Equal(t, int64(1), res.LookupMisses)

	byRule := map[validate.Rule]validate.Error{}
	for _, e := range res.Errors {
		byRule[e.Rule] = e
	}
	assert.Equal(t, validate.Error{Row: 2, Line: 3, Column: "Name", Rule: "read.nul_byte", Msg: byRule["read.nul_byte"].Msg}, byRule["read.nul_byte"])
	assert.Equal(t, validate.Error{Row: 3, Line: 4, Field: "CUSTOMERACCOUNT", Rule: "unique", Msg: "duplicate of line 2 (CUSTOMERACCOUNT)"}, byRule["unique"])
	assert.Equal(t, validate.Error{Row: 4, Line: 5, Field: "CUSTOMERGROUPID", Rule: "lookup", Msg: "'99' is not in groups"}, byRule["lookup"])
	assert.Equal(t, validate.Error{Row: 5, Line: 6, Field: "CUSTOMERACCOUNT", Column: "Account No", Rule: "required", Msg: byRule["required"].Msg}, byRule["required"])
	assert.Equal(t, int64(7), byRule["read.ragged_row"].Line)

	rows, err := store.Rows(f.ctx, 42, "", 0, 10)
	require.NoError(t, err)
	require.Len(t, rows, 7)
	assert.Equal(t, []string{"C-2", "Be\uFFFDta", "20", "EUR", "Brugge"}, rows[1].Values)
	assert.Equal(t, []string{"c-1 ", "Gamma", "10", "Leuven"}, rows[2].Raw)
	assert.Equal(t, "C-1", rows[2].Values[0], "mapped: trimmed and upper-cased")
	assert.Equal(t, []string{"C-6", "Zeta", "10"}, rows[5].Raw)
	assert.Equal(t, staging.StatusValid, rows[6].Status)

	// Each source value is paired with the field mapped from it, whatever their order
	// (City is the 4th column and ADDRESSCITY the 5th field): a row the mapping left
	// unchanged stores no source values, one it changed only those.
	assert.Equal(t, []string{"C-1", "Alpha", "10", "Gent"}, rows[0].Raw)
	var raw0, raw2 *string
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT (SELECT raw FROM staging_rows WHERE job_id = 42 AND row_no = 1),
		(SELECT raw FROM staging_rows WHERE job_id = 42 AND row_no = 3)`).Scan(&raw0, &raw2))
	assert.Nil(t, raw0)
	require.NotNil(t, raw2)
	assert.Equal(t, "c-1 \x1f\x1f\x1f", *raw2)
}

func TestDryRunRecordsTheJobAndAppliesMaxErrorRate(t *testing.T) {
	t.Parallel()
	f := setup(t, testCSV)
	limit := 0.5
	job, res, err := ingestjob.DryRun(f.ctx, f.pool, "customers", "", f.file, f.open, ingestjob.BindMapping(f.mapping), f.rules, f.sets,
		ingestjob.Options{MaxErrorRate: &limit, FirstErrors: 3})
	var exceeded *staging.ErrorRateExceededError
	require.ErrorAs(t, err, &exceeded)
	assert.Equal(t, int64(5), exceeded.Invalid)
	assert.Len(t, res.Errors, 3)

	var status, stage, trigger string
	var read, invalid int64
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT status, stage, trigger, rows_read, rows_invalid FROM jobs WHERE id = $1`, job).
		Scan(&status, &stage, &trigger, &read, &invalid))
	assert.Equal(t, []any{"failed", "decide", "run", int64(7), int64(5)}, []any{status, stage, trigger, read, invalid})
	var dry int
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT count(*) FROM job_events WHERE job_id = $1 AND attrs->>'dry_run' = 'true'`, job).Scan(&dry))
	assert.Equal(t, 2, dry)
}

func TestDryRunWithoutErrorsSucceeds(t *testing.T) {
	t.Parallel()
	f := setup(t, "Account No;Name;Group;City\nC-1;Alpha;10;Gent\nC-2;Beta;20;Gent\n")
	job, res, err := ingestjob.DryRun(f.ctx, f.pool, "customers", "", f.file, f.open, ingestjob.BindMapping(f.mapping), f.rules, f.sets, ingestjob.Options{})
	require.NoError(t, err)
	assert.Equal(t, staging.Counts{Total: 2, Valid: 2}, res.Counts)
	assert.Empty(t, res.Errors)
	var status string
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT status FROM jobs WHERE id = $1`, job).Scan(&status))
	assert.Equal(t, "succeeded", status)
}

// fakeReader yields n records "r<i>-a", "r<i>-b" on lines 2.., reusing its Values slice
// as real readers do, then fails with err (io.EOF for a clean end).
type fakeReader struct {
	n, i int
	vals []string
	err  error
}

func (f *fakeReader) Header() []string  { return []string{"a", "b"} }
func (f *fakeReader) Info() reader.Info { return reader.Info{Format: reader.FormatCSV} }
func (f *fakeReader) Close() error      { return nil }
func (f *fakeReader) Next() (reader.Record, error) {
	if f.i == f.n {
		return reader.Record{}, f.err
	}
	f.i++
	f.vals = append(f.vals[:0], fmt.Sprintf("r%d-a", f.i), fmt.Sprintf("r%d-b", f.i))
	return reader.Record{Values: f.vals, Loc: reader.Location{Line: f.i + 1}}, nil
}

// identity maps columns a and b to fields A and B unchanged.
type identity struct{}

func (identity) Fields() []string           { return []string{"A", "B"} }
func (identity) Column(field string) string { return strings.ToLower(field) }
func (identity) SourceColumns() []int       { return []int{0, 1} }
func (identity) Apply(rec reader.Record, _ int64, dst []string) ([]string, []validate.Error) {
	return append(dst[:0], rec.Values...), nil
}

func bindIdentity([]string) (ingestjob.Mapper, error) { return identity{}, nil }

type noRules struct{}

func (noRules) Check(_ []string, _, _ int64, dst []validate.Error) []validate.Error { return dst }

func TestStageStreamsManyBatchesInOrder(t *testing.T) {
	t.Parallel()
	f := setup(t, testCSV)
	store := staging.NewStore(f.pool)
	const n = 3*512 + 7
	res, err := ingestjob.Stage(f.ctx, store, 1, &fakeReader{n: n, err: io.EOF}, bindIdentity, noRules{}, ingestjob.SetRules{}, ingestjob.Options{})
	require.NoError(t, err)
	assert.Equal(t, staging.Counts{Total: n, Valid: n}, res.Counts)
	for _, no := range []int64{1, 512, 513, 1024, n} {
		r, err := store.Row(f.ctx, 1, no)
		require.NoError(t, err)
		want := []string{fmt.Sprintf("r%d-a", no), fmt.Sprintf("r%d-b", no)}
		assert.Equal(t, want, r.Values, "row %d", no)
		assert.Equal(t, want, r.Raw, "row %d", no)
		assert.Equal(t, no+1, r.Line)
	}
}

func TestStageDropsTheRowsWhenTheFileFails(t *testing.T) {
	t.Parallel()
	f := setup(t, testCSV)
	store := staging.NewStore(f.pool)
	broken := errors.New("connection reset")
	_, err := ingestjob.Stage(f.ctx, store, 2, &fakeReader{n: 1000, err: broken}, bindIdentity, noRules{}, ingestjob.SetRules{}, ingestjob.Options{})
	require.ErrorIs(t, err, broken)
	_, err = store.Counts(f.ctx, 2)
	require.ErrorIs(t, err, staging.ErrNoJob)
}
