package console

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
	"github.com/dmfpipe/dmfpipe/validate"
)

// benchRows is the size of the benchmark job: a million staged rows, 300k of them with
// an error, the others imported, as a large job stands when its operators open it.
const benchRows = 1_000_000

// stageBenchJob records a job and stages its rows: rows i%10 == 0, 3 and 6 have one
// error each (CITY pattern, NAME required, ACCOUNT max_length: 100k apiece).
func (b *testBundle) stageBenchJob(tb testing.TB) int64 {
	tb.Helper()
	ctx := context.Background()
	start := time.Now()
	job, err := jobhistory.NewStore(b.pool).CreateJob(ctx, jobhistory.NewJob{Project: testProject, Kind: "import", Trigger: "run"})
	if err != nil {
		tb.Fatal(err)
	}
	store := staging.NewStore(b.pool)
	l := staging.Layout{Fields: []string{"ACCOUNT", "NAME", "CITY"}, Columns: []string{"id", "name", "city"}}
	if err := store.Create(ctx, job, l); err != nil {
		tb.Fatal(err)
	}
	w, err := store.NewWriter(ctx, job)
	if err != nil {
		tb.Fatal(err)
	}
	errs := map[int64]validate.Error{
		0: {Field: "CITY", Column: "city", Rule: validate.RulePattern, Msg: `"gent" does not match [A-Z][a-z]+`},
		3: {Field: "NAME", Column: "name", Rule: validate.RuleRequired, Msg: "a value is required"},
		6: {Field: "ACCOUNT", Column: "id", Rule: validate.RuleMaxLength, Msg: "too long"},
	}
	for i := int64(1); i <= benchRows; i++ {
		r := staging.Row{No: i, Line: i + 1, Values: []string{fmt.Sprint("A", i), fmt.Sprint("Customer ", i), "Gent"}}
		r.Raw = []string{fmt.Sprint("a", i), r.Values[1], "gent"}
		if e, ok := errs[i%10]; ok {
			r.Errors = []validate.Error{e}
		}
		if err := w.Write(&r); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := w.Close(ctx); err != nil {
		tb.Fatal(err)
	}
	if _, err := store.SetStatus(ctx, job, 1, benchRows, staging.StatusImported, staging.StatusValid); err != nil {
		tb.Fatal(err)
	}
	// As autovacuum does soon after a load.
	if _, err := b.pool.Exec(ctx, fmt.Sprintf("VACUUM ANALYZE staging_rows_%d, staging_errors_%d", job, job)); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("staged %d rows with %d errors in %s", benchRows, 3*benchRows/10, time.Since(start).Round(time.Millisecond))
	return job
}

// BenchmarkConsoleReview measures the console's pages of a 1M-row job with 300k errors,
// through its handlers and a signed-in browser's HTTP requests: the review page (error
// groups with their explanations, counts, the first page of waiting rows), a group's
// page deep in the job, the grid of every row deep in the job, a search, one row in
// full, and the same review through the JSON API. Each must answer in under 200 ms.
func BenchmarkConsoleReview(b *testing.B) {
	bb := setup(b, testOpts{})
	job := bb.stageBenchJob(b)
	cl := bb.login(b, "vera")
	for _, bc := range []struct{ name, path string }{
		{"ReviewPage/error-groups", "/jobs/%d/errors"},
		{"ReviewPage/group-at-row-900k", "/jobs/%d/errors?field=CITY&rule=pattern&after=900000"},
		{"ReviewPage/group-before-row-900k", "/jobs/%d/errors?field=CITY&rule=pattern&before=900000"},
		{"ReviewPage/all-rows-at-row-900k", "/jobs/%d/errors?status=all&after=900000"},
		{"ReviewPage/search-in-group", "/jobs/%d/errors?field=NAME&rule=required&q=customer+99"},
		{"RowPage/row-900003", "/jobs/%d/rows/900003"},
		{"API/errors-group-at-row-900k", "/api/v1/jobs/%d/errors?field=CITY&rule=pattern&after=900000"},
	} {
		path := fmt.Sprintf(bc.path, job)
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				resp := bb.get(b, cl, path)
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d %s", path, resp.StatusCode, resp.body)
				}
			}
		})
	}
}
