package staging_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/staging"
	"github.com/dmfpipe/dmfpipe/validate"
)

// nameRequired is a recheck that wants a NAME, and ACCOUNT unique.
var nameRequired = staging.Recheck{
	Row: func(v []string, no, line int64) []validate.Error {
		if v[1] == "" {
			return []validate.Error{{Row: no, Line: line, Field: "NAME", Rule: validate.RuleRequired, Msg: "a value is required"}}
		}
		return nil
	},
	Unique: [][]string{{"ACCOUNT"}},
}

func required(field string) validate.Error {
	return validate.Error{Field: field, Column: "name", Rule: validate.RuleRequired, Msg: "a value is required"}
}

func summary(t *testing.T, b *testBundle, job int64) map[string]int64 {
	t.Helper()
	groups, err := b.store.ErrorSummary(b.ctx, job)
	require.NoError(t, err)
	out := map[string]int64{}
	for _, g := range groups {
		out[g.Field+"/"+string(g.Rule)] = g.Rows
	}
	return out
}

func field(s string) *string { return &s }

func TestEditReValidatesAndKeepsTheSource(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rows := []staging.Row{row(1, "A1", "n", "c"), row(2, "A2", "", "c"), row(3, "A3", "", "c")}
	rows[1].Errors = []validate.Error{required("NAME")}
	rows[2].Errors = []validate.Error{required("NAME")}
	rows[1].Raw = []string{"a2", "", "c"}
	b.stage(t, 30, layout, rows)
	assert.Equal(t, map[string]int64{"NAME/required": 2}, summary(t, b, 30))

	// Still no name: invalid, with the recheck's error instead of the old one.
	set := []staging.FieldValue{{Field: "CITY", Value: "Brugge"}}
	batch, err := b.store.EditBatch(b.ctx, 30, staging.Filter{Rows: []int64{2}}, set, nameRequired, 0, 10)
	require.NoError(t, err)
	assert.Equal(t, []staging.RowChange{{Row: 2, Before: map[string]string{"CITY": "c"}, From: staging.StatusInvalid, To: staging.StatusInvalid}}, batch.Changes)
	assert.False(t, batch.More)
	r, err := b.store.Row(b.ctx, 30, 2)
	require.NoError(t, err)
	assert.Equal(t, staging.StatusInvalid, r.Status)
	assert.Equal(t, []string{"A2", "", "Brugge"}, r.Values)
	assert.Equal(t, []string{"a2", "", "c"}, r.Raw, "source values stay as read")
	assert.Equal(t, []validate.Error{{Row: 2, Line: 3, Field: "NAME", Column: "name", Rule: "required", Msg: "a value is required"}}, r.Errors)
	assert.Equal(t, []validate.Error{{Row: 2, Line: 3, Field: "NAME", Column: "name", Rule: "required", Msg: "a value is required"}}, r.Resolved)

	// Fixed: its errors leave the groups, and stay on the row, resolved.
	_, err = b.store.EditBatch(b.ctx, 30, staging.Filter{Rows: []int64{2}}, []staging.FieldValue{{Field: "NAME", Value: "Name 2"}}, nameRequired, 0, 10)
	require.NoError(t, err)
	r, err = b.store.Row(b.ctx, 30, 2)
	require.NoError(t, err)
	assert.Equal(t, staging.StatusFixed, r.Status)
	assert.Empty(t, r.Errors)
	assert.Len(t, r.Resolved, 2)
	assert.Equal(t, []string{"a2", "", "c"}, r.Raw)
	assert.Equal(t, map[string]int64{"NAME/required": 1}, summary(t, b, 30))

	// A valid row is not open: nothing changes.
	batch, err = b.store.EditBatch(b.ctx, 30, staging.Filter{Rows: []int64{1}}, set, nameRequired, 0, 10)
	require.NoError(t, err)
	assert.Empty(t, batch.Changes)

	for _, bad := range []struct {
		set  []staging.FieldValue
		want string
	}{
		{[]staging.FieldValue{{Field: "NAMEE", Value: "x"}}, "NAMEE is not a field of this job"},
		{[]staging.FieldValue{{Field: "NAME", Value: "a\x1fb"}}, "control character"},
		{[]staging.FieldValue{{Field: "NAME", Value: "a"}, {Field: "NAME", Value: "b"}}, "NAME is set twice"},
		{nil, "at least one field"},
	} {
		_, err := b.store.EditBatch(b.ctx, 30, staging.Filter{}, bad.set, nameRequired, 0, 10)
		require.ErrorIs(t, err, staging.ErrBadFilter)
		assert.ErrorContains(t, err, bad.want)
	}
	_, err = b.store.EditBatch(b.ctx, 99, staging.Filter{}, set, nameRequired, 0, 10)
	require.ErrorIs(t, err, staging.ErrNoJob)
}

// An edit over a selection works in batches, and the selection is evaluated for each:
// rows it changed no longer match a filter on the old value.
func TestBulkEditInBatches(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var rows []staging.Row
	for i := int64(1); i <= 250; i++ {
		r := row(i, fmt.Sprint("A", i), fmt.Sprint("N", i), "Retail ")
		if i%2 == 0 {
			r.Values[2], r.Raw = "Gent", []string{fmt.Sprint("A", i), fmt.Sprint("N", i), "Gent"}
		}
		r.Errors = []validate.Error{{Field: "CITY", Column: "city", Rule: validate.RuleOneOf, Msg: "not one of"}}
		rows = append(rows, r)
	}
	b.stage(t, 31, layout, rows)
	where := staging.Filter{Where: []staging.FieldValue{{Field: "CITY", Value: "Retail "}}}
	n, err := b.store.Count(b.ctx, 31, where, 0)
	require.NoError(t, err)
	assert.EqualValues(t, 125, n)
	n, err = b.store.Count(b.ctx, 31, where, 10)
	require.NoError(t, err)
	assert.EqualValues(t, 10, n, "counting stops at upTo")

	set := []staging.FieldValue{{Field: "CITY", Value: "Retail"}}
	var changed, batches int
	after := int64(0)
	for {
		batch, err := b.store.EditBatch(b.ctx, 31, where, set, nameRequired, after, 50)
		require.NoError(t, err)
		batches++
		changed += len(batch.Changes)
		for _, c := range batch.Changes {
			require.Equal(t, map[string]string{"CITY": "Retail "}, c.Before)
			require.Equal(t, staging.StatusFixed, c.To)
		}
		if !batch.More {
			break
		}
		after = batch.Last
	}
	assert.Equal(t, 125, changed)
	assert.Equal(t, 3, batches)
	assert.Equal(t, map[string]int64{"CITY/one_of": 125}, summary(t, b, 31))
	c, err := b.store.Counts(b.ctx, 31)
	require.NoError(t, err)
	assert.Equal(t, staging.Counts{Total: 250, Invalid: 125, Fixed: 125}, c)
	n, err = b.store.Count(b.ctx, 31, where, 0)
	require.NoError(t, err)
	assert.Zero(t, n)
	// The source value stays as read; the row shows it beside the new value.
	r, err := b.store.Row(b.ctx, 31, 1)
	require.NoError(t, err)
	assert.Equal(t, "Retail ", r.Raw[2])
	cells, other := layout.Cells(&r)
	assert.Equal(t, staging.Cell{Field: "CITY", Value: "Retail", Column: "city", Source: "Retail "}, cells[2])
	assert.Empty(t, other)
}

func TestUniqueIsCheckedAgainOnEdit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rows := []staging.Row{row(1, "A1", "n", "c"), row(2, "A1", "n", "c"), row(3, "A3", "", "c"), row(4, "A4", "", "c"), row(5, "A5", "", "c")}
	rows[1].Errors = []validate.Error{{Field: "ACCOUNT", Rule: validate.RuleUnique, Msg: "duplicate of line 2 (ACCOUNT)"}}
	for i := 2; i < 5; i++ {
		rows[i].Errors = []validate.Error{required("NAME")}
	}
	b.stage(t, 32, layout, rows)

	// Another field edited: still a duplicate.
	_, err := b.store.EditBatch(b.ctx, 32, staging.Filter{Rows: []int64{2}}, []staging.FieldValue{{Field: "NAME", Value: "x"}}, nameRequired, 0, 10)
	require.NoError(t, err)
	r, err := b.store.Row(b.ctx, 32, 2)
	require.NoError(t, err)
	assert.Equal(t, staging.StatusInvalid, r.Status)
	assert.Equal(t, []validate.Error{{Row: 2, Line: 3, Field: "ACCOUNT", Column: "id", Rule: "unique", Msg: "duplicate of line 2 (ACCOUNT)"}}, r.Errors)

	// Two rows edited to one key in one batch: each repeats the other.
	_, err = b.store.EditBatch(b.ctx, 32, staging.Filter{Rows: []int64{3, 4}},
		[]staging.FieldValue{{Field: "ACCOUNT", Value: "B"}, {Field: "NAME", Value: "y"}}, nameRequired, 0, 10)
	require.NoError(t, err)
	got, err := b.store.RowPage(b.ctx, 32, staging.Filter{Rows: []int64{3, 4}}, 0, 10)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, "duplicate of line 5 (ACCOUNT)", got[0].Errors[0].Msg)
	assert.Equal(t, "duplicate of line 4 (ACCOUNT)", got[1].Errors[0].Msg)

	// A row set aside does not count: row 4 aside, row 3 is no duplicate any more.
	_, err = b.store.RejectBatch(b.ctx, 32, staging.Filter{Rows: []int64{4}}, "a repeat", 0, 10)
	require.NoError(t, err)
	_, err = b.store.EditBatch(b.ctx, 32, staging.Filter{Rows: []int64{3}}, []staging.FieldValue{{Field: "NAME", Value: "z"}}, nameRequired, 0, 10)
	require.NoError(t, err)
	r, err = b.store.Row(b.ctx, 32, 3)
	require.NoError(t, err)
	assert.Equal(t, staging.StatusFixed, r.Status, "%v", r.Errors)
	assert.Equal(t, map[string]int64{"ACCOUNT/unique": 1, "NAME/required": 1}, summary(t, b, 32))
}

func TestRejectSetsRowsAsideWithAReason(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rows := []staging.Row{row(1, "A1", "n", "c"), row(2, "A2", "", "c"), row(3, "A3", "", "c"), row(4, "A4", "", "x")}
	for i := 1; i < 4; i++ {
		rows[i].Errors = []validate.Error{required("NAME")}
	}
	rows[3].Errors = append(rows[3].Errors, validate.Error{Field: "CITY", Rule: validate.RulePattern, Msg: "x"})
	b.stage(t, 33, layout, rows)

	_, err := b.store.RejectBatch(b.ctx, 33, staging.Filter{}, "  ", 0, 10)
	require.ErrorIs(t, err, staging.ErrBadFilter)
	batch, err := b.store.RejectBatch(b.ctx, 33, staging.Filter{Error: &staging.ErrorMatch{Field: field("CITY")}}, " customer left ", 0, 10)
	require.NoError(t, err)
	assert.Equal(t, []staging.RowChange{{Row: 4, From: staging.StatusInvalid, To: staging.StatusSkipped}}, batch.Changes)
	r, err := b.store.Row(b.ctx, 33, 4)
	require.NoError(t, err)
	assert.Equal(t, staging.StatusSkipped, r.Status)
	assert.Equal(t, "customer left", r.Reason)
	assert.Empty(t, r.Errors)
	assert.Len(t, r.Resolved, 2)
	assert.Equal(t, map[string]int64{"NAME/required": 2}, summary(t, b, 33))

	// A skipped row is no longer open.
	batch, err = b.store.RejectBatch(b.ctx, 33, staging.Filter{Rows: []int64{4}}, "again", 0, 10)
	require.NoError(t, err)
	assert.Empty(t, batch.Changes)
	c, err := b.store.Counts(b.ctx, 33)
	require.NoError(t, err)
	assert.Equal(t, staging.Counts{Total: 4, Valid: 1, Invalid: 2, Skipped: 1}, c)

	// The open rows alone, as the console's review page counts them.
	_, err = b.store.SetStatus(b.ctx, 33, 1, 1, staging.StatusRejected, staging.StatusValid)
	require.NoError(t, err)
	c, err = b.store.OpenCounts(b.ctx, 33, 0)
	require.NoError(t, err)
	assert.Equal(t, staging.Counts{Total: 3, Invalid: 2, Rejected: 1}, c)
	c, err = b.store.OpenCounts(b.ctx, 33, 1)
	require.NoError(t, err)
	assert.Equal(t, staging.Counts{Total: 3, Invalid: 2, Rejected: 1}, c, "2 invalid rows: more than 1")
	c, err = b.store.OpenCounts(b.ctx, 33, 2)
	require.NoError(t, err)
	assert.Equal(t, staging.Counts{Total: 3, Invalid: 2, Rejected: 1}, c, "at most 2: exact")
	_, err = b.store.OpenCounts(b.ctx, 999, 0)
	require.ErrorIs(t, err, staging.ErrNoJob)
}

func TestStartAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var rows []staging.Row
	for i := int64(1); i <= 6; i++ {
		rows = append(rows, row(i, fmt.Sprint("A", i), "n", "c"))
	}
	b.stage(t, 34, layout, rows)
	// Rows 1-2 imported, 3 rejected by F&O, 4-5 not imported, 6 rejected then fixed.
	_, err := b.store.SetStatus(b.ctx, 34, 1, 6, staging.StatusUploaded, staging.StatusValid)
	require.NoError(t, err)
	_, err = b.store.RejectWithErrors(b.ctx, 34, staging.RuleFO, []staging.RowError{{Row: 3, Message: "no"}, {Row: 6, Message: "no"}})
	require.NoError(t, err)
	_, err = b.store.MarkNotImported(b.ctx, 34, 4, 5, []staging.Status{staging.StatusUploaded}, "not imported: chunk 2 failed")
	require.NoError(t, err)
	_, err = b.store.SetStatus(b.ctx, 34, 1, 2, staging.StatusImported, staging.StatusUploaded)
	require.NoError(t, err)
	_, err = b.store.EditBatch(b.ctx, 34, staging.Filter{Rows: []int64{6}}, []staging.FieldValue{{Field: "NAME", Value: "m"}}, staging.Recheck{}, 0, 10)
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"/fo": 1, "/not_imported": 2}, summary(t, b, 34))
	ni, err := b.store.NotImported(b.ctx, 34)
	require.NoError(t, err)
	assert.EqualValues(t, 2, ni)

	n, err := b.store.StartAttempt(b.ctx, 34, 2, staging.ResendFixed)
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	r, err := b.store.Row(b.ctx, 34, 6)
	require.NoError(t, err)
	assert.Equal(t, staging.StatusValid, r.Status)
	assert.Equal(t, 2, r.Attempt)

	// F&O rejects row 6 again: its new error comes onto the row, the old one stays resolved.
	_, err = b.store.SetStatus(b.ctx, 34, 6, 6, staging.StatusUploaded, staging.StatusValid)
	require.NoError(t, err)
	_, err = b.store.RejectWithErrors(b.ctx, 34, staging.RuleFO, []staging.RowError{{Row: 6, Field: "name", Message: "still no"}})
	require.NoError(t, err)
	r, err = b.store.Row(b.ctx, 34, 6)
	require.NoError(t, err)
	assert.Equal(t, staging.StatusRejected, r.Status)
	assert.Equal(t, []validate.Error{{Row: 6, Line: 7, Field: "NAME", Rule: "fo", Msg: "still no"}}, r.Errors)
	assert.Equal(t, []validate.Error{{Row: 6, Line: 7, Rule: "fo", Msg: "no"}}, r.Resolved)

	n, err = b.store.StartAttempt(b.ctx, 34, 3, staging.ResendNotImported)
	require.NoError(t, err)
	assert.EqualValues(t, 2, n)
	ranges, err := b.store.CutChunks(b.ctx, 34, 10, staging.StatusValid)
	require.NoError(t, err)
	assert.Equal(t, []staging.RowRange{{First: 4, Last: 5, Count: 2}}, ranges)
	assert.Equal(t, map[string]int64{"/fo": 1, "NAME/fo": 1}, summary(t, b, 34))
	got, err := b.store.RowPage(b.ctx, 34, staging.Filter{Attempt: 3}, 0, 10)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, int64(4), got[0].No)
}

func TestRowAndErrorPagesFilter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var rows []staging.Row
	for i := int64(1); i <= 5000; i++ {
		r := row(i, fmt.Sprint("A", i), fmt.Sprint("Name ", i), "Gent")
		switch {
		case i%100 == 0:
			r.Values[2], r.Raw = "BRUGGE", []string{r.Values[0], r.Values[1], "brugge"}
			r.Errors = []validate.Error{{Field: "CITY", Column: "city", Rule: validate.RulePattern, Msg: "does not match"}}
		case i%7 == 0:
			r.Values[1], r.Raw = "", []string{r.Values[0], "", "Gent"}
			r.Errors = []validate.Error{required("NAME")}
		}
		rows = append(rows, r)
	}
	b.stage(t, 35, layout, rows)

	pattern := staging.Filter{Error: &staging.ErrorMatch{Field: field("CITY"), Rule: validate.RulePattern}}
	page, err := b.store.RowPage(b.ctx, 35, pattern, 1000, 3)
	require.NoError(t, err)
	require.Len(t, page, 3)
	assert.Equal(t, []int64{1100, 1200, 1300}, []int64{page[0].No, page[1].No, page[2].No})
	lines, err := b.store.ErrorPage(b.ctx, 35, pattern, 4800, 10)
	require.NoError(t, err)
	require.Len(t, lines, 2)
	assert.Equal(t, staging.ErrorLine{Error: validate.Error{Row: 4900, Line: 4901, Field: "CITY", Column: "city", Rule: "pattern", Msg: "does not match"},
		Status: staging.StatusInvalid, Value: "BRUGGE", Source: "brugge"}, lines[0])

	// A search finds mapped and source values, case-insensitively.
	page, err = b.store.RowPage(b.ctx, 35, staging.Filter{Search: "bRuGgE", Statuses: staging.OpenStatuses}, 0, 100)
	require.NoError(t, err)
	assert.Len(t, page, 50)
	page, err = b.store.RowPage(b.ctx, 35, staging.Filter{Search: "name 4999"}, 0, 100)
	require.NoError(t, err)
	require.Len(t, page, 1)
	page, err = b.store.RowPage(b.ctx, 35, staging.Filter{Search: "%"}, 0, 100)
	require.NoError(t, err)
	assert.Empty(t, page, "a search is text, not a pattern")

	// Filters combine; the driving index is read in batches until the page is full.
	page, err = b.store.RowPage(b.ctx, 35, staging.Filter{Statuses: staging.OpenStatuses, Where: []staging.FieldValue{{Field: "ACCOUNT", Value: "A4900"}}}, 0, 10)
	require.NoError(t, err)
	require.Len(t, page, 1)
	page, err = b.store.RowPage(b.ctx, 35, staging.Filter{Error: &staging.ErrorMatch{}, Search: "A4"}, 0, 1000)
	require.NoError(t, err)
	for _, r := range page {
		require.NotEmpty(t, r.Errors)
	}
	assert.NotEmpty(t, page)
	page, err = b.store.RowPage(b.ctx, 35, staging.Filter{Rows: []int64{4900, 7, 7, 1}, Statuses: []staging.Status{staging.StatusInvalid}}, 0, 10)
	require.NoError(t, err)
	assert.Equal(t, []int64{7, 4900}, []int64{page[0].No, page[1].No})

	// The previous page is keyset too, backward through the same drivers, in row order.
	nos := func(rows []staging.StagedRow) []int64 {
		out := make([]int64, len(rows))
		for i, r := range rows {
			out[i] = r.No
		}
		return out
	}
	for _, tc := range []struct {
		f      staging.Filter
		before int64
		limit  int
		want   []int64
	}{
		{pattern, 1100, 3, []int64{800, 900, 1000}},
		{staging.Filter{}, 4, 3, []int64{1, 2, 3}},
		{staging.Filter{}, 2, 3, []int64{1}},
		{staging.Filter{}, 1, 3, []int64{}},
		{staging.Filter{Statuses: []staging.Status{staging.StatusInvalid}}, 200, 4, []int64{175, 182, 189, 196}},
		{staging.Filter{Rows: []int64{4900, 7, 700, 1}}, 4900, 10, []int64{1, 7, 700}},
		{staging.Filter{Error: &staging.ErrorMatch{}, Search: "A49"}, 4950, 5, []int64{4921, 4928, 4935, 4942, 4949}},
	} {
		page, err := b.store.RowPageBefore(b.ctx, 35, tc.f, tc.before, tc.limit)
		require.NoError(t, err)
		assert.Equal(t, tc.want, nos(page), "%+v before %d", tc.f, tc.before)
	}

	for _, bad := range []staging.Filter{
		{Where: []staging.FieldValue{{Field: "TOWN", Value: "x"}}},
		{Statuses: []staging.Status{"lost"}},
		{Search: "a\nb"},
		{Rows: []int64{0}},
	} {
		_, err := b.store.RowPage(b.ctx, 35, bad, 0, 10)
		require.ErrorIs(t, err, staging.ErrBadFilter, "%+v", bad)
	}
}

// Concurrent actions on one error group leave its count exact.
func TestErrorGroupCountsUnderConcurrentActions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var rows []staging.Row
	for i := int64(1); i <= 400; i++ {
		r := row(i, fmt.Sprint("A", i), "", "c")
		r.Errors = []validate.Error{required("NAME")}
		rows = append(rows, r)
	}
	b.stage(t, 36, layout, rows)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for k := range 8 {
		wg.Go(func() {
			var nos []int64
			for i := int64(k*50 + 1); i <= int64(k*50+40); i++ {
				nos = append(nos, i)
			}
			var err error
			if k%2 == 0 {
				_, err = b.store.EditBatch(b.ctx, 36, staging.Filter{Rows: nos}, []staging.FieldValue{{Field: "NAME", Value: "n"}}, nameRequired, 0, 100)
			} else {
				_, err = b.store.RejectBatch(b.ctx, 36, staging.Filter{Rows: nos}, "gone", 0, 100)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, map[string]int64{"NAME/required": 80}, summary(t, b, 36))
	c, err := b.store.Counts(b.ctx, 36)
	require.NoError(t, err)
	assert.Equal(t, staging.Counts{Total: 400, Invalid: 80, Fixed: 160, Skipped: 160}, c)
}
