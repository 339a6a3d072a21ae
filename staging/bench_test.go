package staging_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/staging"
	"github.com/dmfpipe/dmfpipe/validate"
)

// reviewRows and reviewErrors are the size of the console's benchmark job: a million
// staged rows, 300k of them with an error, the others imported, as a large job stands
// when its operators open it.
const (
	reviewRows = 1_000_000
	benchJob   = 100
)

// stageReviewJob stages the benchmark job: rows i%10 == 0, 3 and 6 have one error each
// (CITY pattern, NAME required, ACCOUNT max_length: 100k apiece), the others are imported.
func stageReviewJob(b *testing.B) *staging.Store {
	b.Helper()
	ctx := context.Background()
	pool, _ := testsvc.MigratedDatabase(b)
	store := staging.NewStore(pool)
	start := time.Now()
	if err := store.Create(ctx, benchJob, layout); err != nil {
		b.Fatal(err)
	}
	w, err := store.NewWriter(ctx, benchJob)
	if err != nil {
		b.Fatal(err)
	}
	errs := map[int64]validate.Error{
		0: {Field: "CITY", Column: "city", Rule: validate.RulePattern, Msg: `"gent" does not match [A-Z][a-z]+`},
		3: {Field: "NAME", Column: "name", Rule: validate.RuleRequired, Msg: "a value is required"},
		6: {Field: "ACCOUNT", Column: "id", Rule: validate.RuleMaxLength, Msg: "too long"},
	}
	for i := int64(1); i <= reviewRows; i++ {
		r := staging.Row{No: i, Line: i + 1, Values: []string{fmt.Sprint("A", i), fmt.Sprint("Customer ", i), "Gent"}}
		r.Raw = r.Values
		if e, ok := errs[i%10]; ok {
			r.Errors = []validate.Error{e}
		}
		if err := w.Write(&r); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := w.Close(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := store.SetStatus(ctx, benchJob, 1, reviewRows, staging.StatusImported, staging.StatusValid); err != nil {
		b.Fatal(err)
	}
	// As autovacuum does soon after a load.
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE staging_rows_100, staging_errors_100"); err != nil {
		b.Fatal(err)
	}
	b.Logf("staged %d rows with %d errors in %s", reviewRows, 3*reviewRows/10, time.Since(start).Round(time.Millisecond))
	return store
}

// BenchmarkReviewQueries measures what the console asks of a 1M-row job with 300k
// errors: the error groups, a page of one group's errors deep in the job, pages of the
// grid (the queue, a search), the counts by status, and one batch of a bulk edit.
func BenchmarkReviewQueries(b *testing.B) {
	store := stageReviewJob(b)
	ctx := context.Background()
	city := "CITY"
	group := staging.Filter{Error: &staging.ErrorMatch{Field: &city, Rule: validate.RulePattern}}
	run := func(name string, fn func() (int, error)) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				n, err := fn()
				if err != nil {
					b.Fatal(err)
				}
				if n == 0 {
					b.Fatal("nothing found")
				}
			}
		})
	}
	run("ErrorGroups", func() (int, error) {
		g, err := store.ErrorSummary(ctx, benchJob)
		return len(g), err
	})
	run("ErrorPage/group-at-row-900k", func() (int, error) {
		e, err := store.ErrorPage(ctx, benchJob, group, 900_000, 50)
		return len(e), err
	})
	run("ErrorPage/group-and-search-at-row-900k", func() (int, error) {
		f := group
		f.Search = "customer 9"
		e, err := store.ErrorPage(ctx, benchJob, f, 900_000, 50)
		return len(e), err
	})
	run("RowPage/open-rows-at-row-900k", func() (int, error) {
		r, err := store.RowPage(ctx, benchJob, staging.Filter{Statuses: staging.OpenStatuses}, 900_000, 50)
		return len(r), err
	})
	run("RowPageBefore/group-at-row-900k", func() (int, error) {
		r, err := store.RowPageBefore(ctx, benchJob, group, 900_000, 50)
		return len(r), err
	})
	run("RowPageBefore/open-rows-at-row-900k", func() (int, error) {
		r, err := store.RowPageBefore(ctx, benchJob, staging.Filter{Statuses: staging.OpenStatuses}, 900_000, 50)
		return len(r), err
	})
	run("RowPage/all-rows-at-row-900k", func() (int, error) {
		r, err := store.RowPage(ctx, benchJob, staging.Filter{}, 900_000, 50)
		return len(r), err
	})
	run("RowPage/field-value-at-row-900k", func() (int, error) {
		r, err := store.RowPage(ctx, benchJob, staging.Filter{Where: []staging.FieldValue{{Field: "CITY", Value: "Gent"}},
			Statuses: staging.OpenStatuses}, 900_000, 50)
		return len(r), err
	})
	run("RowPage/search-open-rows", func() (int, error) {
		r, err := store.RowPage(ctx, benchJob, staging.Filter{Search: "customer 99999", Statuses: staging.OpenStatuses}, 0, 50)
		return len(r), err
	})
	run("Counts", func() (int, error) {
		c, err := store.Counts(ctx, benchJob)
		return int(c.Total), err
	})
	// A batch of a bulk edit whose rows stay in the group (the recheck finds the same
	// error again), so that every iteration edits 5000 rows.
	still := staging.Recheck{Row: func(_ []string, no, line int64) []validate.Error {
		return []validate.Error{{Row: no, Line: line, Field: "CITY", Rule: validate.RulePattern, Msg: "still wrong"}}
	}}
	run("EditBatch/5000-rows", func() (int, error) {
		batch, err := store.EditBatch(ctx, benchJob, group, []staging.FieldValue{{Field: "CITY", Value: "gent"}}, still, 0, 5000)
		return len(batch.Changes), err
	})
}
