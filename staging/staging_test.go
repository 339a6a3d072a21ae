package staging_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/staging"
	"github.com/dmfpipe/dmfpipe/validate"
)

type testBundle struct {
	ctx   context.Context
	pool  *pgxpool.Pool
	store *staging.Store
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	pool, _ := testsvc.MigratedDatabase(t)
	return &testBundle{ctx: context.Background(), pool: pool, store: staging.NewStore(pool)}
}

var layout = staging.Layout{Fields: []string{"ACCOUNT", "NAME", "CITY"}, Columns: []string{"id", "name", "city"}}

// writer creates a job's staging table and opens its writer.
func (b *testBundle) writer(t *testing.T, job int64, l staging.Layout) *staging.Writer {
	t.Helper()
	require.NoError(t, b.store.Create(b.ctx, job, l))
	w, err := b.store.NewWriter(b.ctx, job)
	require.NoError(t, err)
	return w
}

// stage writes rows to a new job and returns its counts.
func (b *testBundle) stage(t *testing.T, job int64, l staging.Layout, rows []staging.Row) staging.Counts {
	t.Helper()
	w := b.writer(t, job, l)
	for i := range rows {
		require.NoError(t, w.Write(&rows[i]))
	}
	c, err := w.Close(b.ctx)
	require.NoError(t, err)
	return c
}

func row(no int64, vals ...string) staging.Row {
	return staging.Row{No: no, Line: no + 1, Values: vals, Raw: vals}
}

func TestWriterCleansAndStoresRaw(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rows := []staging.Row{
		row(1, "A1", "plain", "Gent"),
		{No: 2, Line: 3, Values: []string{"A2", "nul\x00here", "bad\xffutf8"}, Raw: []string{" a2 \"q\" \\ \t\n\x01é", "nul\x00here", "bad\xffutf8"}},
		{No: 3, Line: 5, Values: []string{"A3", "", ""}, Raw: []string{"a3", "x", "y", "extra"},
			Errors: []validate.Error{{Field: "NAME", Column: "name", Rule: "required", Msg: "is required"}}},
		{No: 4, Line: 6, Values: []string{"A4"}, Raw: []string{"A4", "short"},
			Errors: []validate.Error{{Rule: "ragged_row", Msg: "2 fields, header has 3"}, {Field: "CITY", Rule: "required", Msg: "is required"}}},
	}
	c := b.stage(t, 1, layout, rows)
	assert.Equal(t, staging.Counts{Total: 4, Valid: 2, Invalid: 2}, c)

	got, err := b.store.Rows(b.ctx, 1, "", 0, 10)
	require.NoError(t, err)
	require.Len(t, got, 4)
	assert.Equal(t, []string{"A1", "plain", "Gent"}, got[0].Raw)
	assert.Equal(t, []string{"A2", "nul\uFFFDhere", "bad\uFFFDutf8"}, got[1].Values)
	assert.Equal(t, []string{" a2 \"q\" \\ \t\n\x01é", "nul\uFFFDhere", "bad\uFFFDutf8"}, got[1].Raw)
	assert.Equal(t, []string{"a3", "x", "y", "extra"}, got[2].Raw)
	assert.Equal(t, staging.StatusInvalid, got[2].Status)
	assert.Equal(t, []validate.Error{{Row: 3, Line: 5, Field: "NAME", Column: "name", Rule: "required", Msg: "is required"}}, got[2].Errors)
	assert.Equal(t, []string{"A4", "", ""}, got[3].Values, "missing values are stored empty")
	assert.Equal(t, []string{"A4", "short"}, got[3].Raw)
	assert.Len(t, got[3].Errors, 2)

	counts, err := b.store.Counts(b.ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, c, counts)
}

func TestWriterRejectsRowsOutOfOrderAndAbortLeavesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := b.writer(t, 7, layout)
	r := row(2, "a", "b", "c")
	require.NoError(t, w.Write(&r))
	r = row(1, "a", "b", "c")
	require.Error(t, w.Write(&r))
	_, err := w.Close(b.ctx)
	require.Error(t, err)
	c, err := b.store.Counts(b.ctx, 7)
	require.NoError(t, err)
	assert.Zero(t, c.Total)
}

func TestRowsKeysetPagination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := b.writer(t, 3, layout)
	const n = 100_000
	for i := int64(1); i <= n; i++ {
		r := row(i, fmt.Sprint("A", i), "name", "city")
		if i%10 == 0 {
			r.Errors = []validate.Error{{Field: "NAME", Rule: "pattern", Msg: "does not match"}}
		}
		require.NoError(t, w.Write(&r))
	}
	c, err := w.Close(b.ctx)
	require.NoError(t, err)
	assert.Equal(t, staging.Counts{Total: n, Valid: n - n/10, Invalid: n / 10}, c)

	var seen int
	var after int64
	for {
		page, err := b.store.Rows(b.ctx, 3, staging.StatusInvalid, after, 700)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			seen++
			require.Equal(t, int64(seen*10), r.No)
			require.Len(t, r.Errors, 1)
		}
		after = page[len(page)-1].No
	}
	assert.Equal(t, n/10, seen)

	page, err := b.store.Rows(b.ctx, 3, staging.StatusValid, 99_990, 5)
	require.NoError(t, err)
	require.Len(t, page, 5)
	assert.Equal(t, int64(99_991), page[0].No)
	assert.Equal(t, int64(99_995), page[4].No)

	// The invalid rows are found through the partial index, not by scanning the job.
	var plan []byte
	require.NoError(t, b.pool.QueryRow(b.ctx,
		"EXPLAIN (FORMAT JSON) SELECT row_no FROM staging_rows_3 WHERE row_no > 500 AND status = 'invalid' ORDER BY row_no LIMIT 100").Scan(&plan))
	assert.Contains(t, string(plan), "staging_rows_3_status_row_no_idx")

	groups, err := b.store.ErrorSummary(b.ctx, 3)
	require.NoError(t, err)
	assert.Equal(t, []staging.ErrorGroup{{Field: "NAME", Rule: "pattern", Rows: n / 10, FirstRow: 10}}, groups)
	errs, err := b.store.Errors(b.ctx, 3, "NAME", "pattern", 50, 2)
	require.NoError(t, err)
	assert.Equal(t, []validate.Error{
		{Row: 60, Line: 61, Field: "NAME", Rule: "pattern", Msg: "does not match"},
		{Row: 70, Line: 71, Field: "NAME", Rule: "pattern", Msg: "does not match"},
	}, errs)
}

func TestUniqueFlagsDuplicatesWithFirstLine(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rows := []staging.Row{
		row(1, "A1", "x", "DE"), row(2, "A2", "x", "DE"), row(3, "A1", "y", "DE"),
		row(4, "A1", "z", "FR"), row(5, "", "", ""), row(6, "", "", ""), row(7, "A1", "w", "DE"),
	}
	rows[6].Errors = []validate.Error{{Field: "NAME", Rule: "max_length", Msg: "too long"}}
	b.stage(t, 5, layout, rows)

	res, err := b.store.Unique(b.ctx, 5, []string{"ACCOUNT", "CITY"})
	require.NoError(t, err)
	assert.Equal(t, staging.SetResult{Flagged: 2, Invalidated: 1}, res)
	got, err := b.store.Rows(b.ctx, 5, staging.StatusInvalid, 0, 10)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, int64(3), got[0].No)
	assert.Equal(t, []validate.Error{{Row: 3, Line: 4, Field: "ACCOUNT", Rule: "unique", Msg: "duplicate of line 2 (ACCOUNT, CITY)"}}, got[0].Errors)
	assert.Equal(t, int64(7), got[1].No)
	assert.Contains(t, got[1].Errors, validate.Error{Row: 7, Line: 8, Field: "ACCOUNT", Rule: "unique", Msg: "duplicate of line 2 (ACCOUNT, CITY)"})

	_, err = b.store.Unique(b.ctx, 5, []string{"NOPE"})
	require.Error(t, err)
}

func TestLookupFlagsUnknownValues(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.stage(t, 6, layout, []staging.Row{row(1, "A1", "x", "Gent"), row(2, "A2", "x", "Paris"), row(3, "A3", "x", ""), row(4, "A4", "x", "gent")})
	res, err := b.store.Lookup(b.ctx, 6, "CITY", "cities", []string{"Gent", "Brugge", "Gent"})
	require.NoError(t, err)
	assert.Equal(t, staging.SetResult{Flagged: 2, Invalidated: 2}, res)
	errs, err := b.store.Errors(b.ctx, 6, "CITY", "lookup", 0, 10)
	require.NoError(t, err)
	assert.Equal(t, []validate.Error{
		{Row: 2, Line: 3, Field: "CITY", Rule: "lookup", Msg: "'Paris' is not in cities"},
		{Row: 4, Line: 5, Field: "CITY", Rule: "lookup", Msg: "'gent' is not in cities"},
	}, errs)
	c, err := b.store.Counts(b.ctx, 6)
	require.NoError(t, err)
	assert.Equal(t, staging.Counts{Total: 4, Valid: 2, Invalid: 2}, c)
}

func TestPurgeDropsPartitions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var oldJob, newJob, running int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `INSERT INTO jobs (project, kind, trigger, status, finished_at)
		VALUES ('p', 'import', 'run', 'succeeded', now() - interval '40 days') RETURNING id`).Scan(&oldJob))
	require.NoError(t, b.pool.QueryRow(b.ctx, `INSERT INTO jobs (project, kind, trigger, status, finished_at)
		VALUES ('p', 'import', 'run', 'failed', now() - interval '1 day') RETURNING id`).Scan(&newJob))
	require.NoError(t, b.pool.QueryRow(b.ctx, `INSERT INTO jobs (project, kind, trigger, status)
		VALUES ('p', 'import', 'run', 'running') RETURNING id`).Scan(&running))
	for _, j := range []int64{oldJob, newJob, running} {
		b.stage(t, j, layout, []staging.Row{row(1, "a", "b", "c")})
	}
	_, err := b.pool.Exec(b.ctx, "UPDATE staging_jobs SET created_at = now() - interval '50 days'")
	require.NoError(t, err)

	purged, err := b.store.Purge(b.ctx, time.Now().Add(-staging.DefaultRetention))
	require.NoError(t, err)
	assert.Equal(t, []int64{oldJob}, purged)
	var exists bool
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT to_regclass($1) IS NOT NULL", fmt.Sprintf("staging_rows_%d", oldJob)).Scan(&exists))
	assert.False(t, exists, "partition dropped")
	_, err = b.store.Counts(b.ctx, oldJob)
	require.ErrorIs(t, err, staging.ErrNoJob)
	c, err := b.store.Counts(b.ctx, newJob)
	require.NoError(t, err)
	assert.Equal(t, int64(1), c.Total)
}

func TestErrorReports(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rows := []staging.Row{row(1, "A1", "x", "c"), row(2, "A2", "", "c"), row(3, "A3", "toolong", "c")}
	rows[1].Errors = []validate.Error{{Field: "NAME", Column: "name", Rule: "required", Msg: "is required"}}
	rows[2].Raw = []string{"A3", " toolong ", "c"}
	rows[2].Errors = []validate.Error{{Field: "NAME", Column: "name", Rule: "max_length", Msg: "longer than 4"}}
	b.stage(t, 8, layout, rows)
	want := [][]string{
		{"row", "line", "status", "column", "field", "rule", "message", "value", "source_value"},
		{"2", "3", "invalid", "name", "NAME", "required", "is required", "", ""},
		{"3", "4", "invalid", "name", "NAME", "max_length", "longer than 4", "toolong", " toolong "},
	}

	var buf bytes.Buffer
	require.NoError(t, b.store.WriteErrorReportCSV(b.ctx, 8, &buf))
	got, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	assert.Equal(t, want, got)

	buf.Reset()
	require.NoError(t, b.store.WriteErrorReportXLSX(b.ctx, 8, &buf))
	f, err := excelize.OpenReader(&buf)
	require.NoError(t, err)
	defer f.Close()
	sheetRows, err := f.GetRows("Errors")
	require.NoError(t, err)
	// excelize drops trailing empty cells.
	want[1] = want[1][:7]
	assert.Equal(t, want, sheetRows)
}

func TestCheckErrorRate(t *testing.T) {
	t.Parallel()
	c := staging.Counts{Total: 100, Valid: 90, Invalid: 10}
	assert.InDelta(t, 0.1, c.ErrorRate(), 1e-9)
	require.NoError(t, staging.CheckErrorRate(c, nil))
	limit := 0.1
	require.NoError(t, staging.CheckErrorRate(c, &limit))
	limit = 0.05
	err := staging.CheckErrorRate(c, &limit)
	var exceeded *staging.ErrorRateExceededError
	require.ErrorAs(t, err, &exceeded)
	assert.Equal(t, int64(10), exceeded.Invalid)
	assert.Equal(t, "10 of 100 rows invalid (10.00%), above on_errors.max_error_rate 5.00%", err.Error())
	assert.Zero(t, staging.Counts{}.ErrorRate())
}

func TestCheckUniqueLooksOnlyAtPrefilteredKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	filters := func() []*staging.UniqueFilter {
		var fs []*staging.UniqueFilter
		for _, fields := range [][]string{{"ACCOUNT", "CITY"}, {"NAME"}} {
			f, err := staging.NewUniqueFilter(layout, fields)
			require.NoError(t, err)
			fs = append(fs, f)
		}
		return fs
	}
	var rows []staging.Row
	for i := int64(1); i <= 5000; i++ {
		r := row(i, fmt.Sprint("A", i), fmt.Sprint("N", i), "DE")
		switch i {
		case 4000:
			r.Values[0] = "A17" // repeats row 17's account and city
		case 4500:
			r.Values[0], r.Values[2] = "A17", "FR" // same account, other city: not a duplicate
		case 4999:
			r.Values[1] = "N3"
		}
		rows = append(rows, r)
	}
	fs := filters()
	// Keys are hashed on several goroutines; rows may reach the filter in any order.
	hashes := make([][]uint64, len(fs))
	var wg sync.WaitGroup
	for k, f := range fs {
		hashes[k] = make([]uint64, len(rows))
		wg.Go(func() {
			for i, r := range rows {
				hashes[k][i] = f.Hash(r.Values)
			}
		})
	}
	wg.Wait()
	for i := len(rows) - 1; i >= 0; i-- {
		for k, f := range fs {
			f.Insert(rows[i].No, hashes[k][i])
		}
	}
	b.stage(t, 9, layout, rows)
	for i, want := range []staging.SetResult{{Flagged: 1, Invalidated: 1}, {Flagged: 1, Invalidated: 1}} {
		res, err := b.store.CheckUnique(b.ctx, 9, fs[i])
		require.NoError(t, err)
		assert.Equal(t, want, res)
	}
	got, err := b.store.Rows(b.ctx, 9, staging.StatusInvalid, 0, 10)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, "duplicate of line 18 (ACCOUNT, CITY)", got[0].Errors[0].Msg)
	assert.Equal(t, int64(4000), got[0].No)
	assert.Equal(t, "duplicate of line 4 (NAME)", got[1].Errors[0].Msg)

	// Without repeated keys there is nothing to check; the SQL never runs (it would fail
	// here: job 10 has no staging).
	fs = filters()
	for _, r := range rows[:100] {
		fs[0].Add(r.No, r.Values)
	}
	res, err := b.store.CheckUnique(b.ctx, 10, fs[0])
	require.NoError(t, err)
	assert.Equal(t, staging.SetResult{}, res)

	_, err = staging.NewUniqueFilter(layout, []string{"NOPE"})
	require.Error(t, err)
}

func TestWriterFlagsTheValueSeparator(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := row(1, "A1", "bad\x1fname", "Gent")
	c := b.stage(t, 12, layout, []staging.Row{r})
	assert.Equal(t, staging.Counts{Total: 1, Invalid: 1}, c)
	got, err := b.store.Row(b.ctx, 12, 1)
	require.NoError(t, err)
	assert.Equal(t, []string{"A1", "bad\uFFFDname", "Gent"}, got.Values)
	assert.Equal(t, []string{"A1", "bad\x1fname", "Gent"}, got.Raw, "the source value is kept as read")
	require.Len(t, got.Errors, 1)
	assert.Equal(t, staging.RuleControlChar, got.Errors[0].Rule)
	assert.Equal(t, "NAME", got.Errors[0].Field)

	// The stored forms are plain SQL: a value by position, the source values as JSON
	// (null where equal to the mapped value).
	var name, rawName string
	var rawCity *string
	require.NoError(t, b.pool.QueryRow(b.ctx,
		`SELECT split_part(vals, E'\x1f', 2), raw::jsonb->>1, raw::jsonb->>2 FROM staging_rows WHERE job_id = 12`).Scan(&name, &rawName, &rawCity))
	assert.Equal(t, "bad\uFFFDname", name)
	assert.Equal(t, "bad\x1fname", rawName)
	assert.Nil(t, rawCity)
}

func TestCreatingAJobDoesNotWaitForAnotherJobsCopy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := b.writer(t, 20, layout)
	for i := int64(1); i <= 20_000; i++ {
		r := row(i, "a", "b", "c")
		require.NoError(t, w.Write(&r))
	}
	// Job 20's COPY is still open: a new job's partitions attach all the same.
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	require.NoError(t, b.store.Create(ctx, 21, layout))
	_, err := w.Close(b.ctx)
	require.NoError(t, err)
	require.NoError(t, b.store.Drop(ctx, 21))
	c, err := b.store.Counts(b.ctx, 20)
	require.NoError(t, err)
	assert.Equal(t, int64(20_000), c.Valid)
}
