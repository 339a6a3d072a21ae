package staging

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"

	"github.com/dmfpipe/dmfpipe/validate"
)

// Filter selects rows of a job, for a page of the console's grid or for what an operator
// acts on. Its parts all hold at once; the zero Filter selects every row. It is plain
// data (JSON for the console's URLs and the audit trail).
type Filter struct {
	// Rows selects these row numbers.
	Rows []int64 `json:"rows,omitempty"`
	// Statuses selects the rows in one of these statuses.
	Statuses []Status `json:"statuses,omitempty"`
	// Error selects the rows with an open error of a field and rule.
	Error *ErrorMatch `json:"error,omitempty"`
	// Where selects the rows whose mapped values equal these, field by field.
	Where []FieldValue `json:"where,omitempty"`
	// Search selects the rows with a mapped or source value that contains this text,
	// ignoring case.
	Search string `json:"search,omitempty"`
	// Attempt selects the rows a job attempt sent again (2 and up).
	Attempt int `json:"attempt,omitempty"`
}

// ErrorMatch names the open errors a Filter selects rows by.
type ErrorMatch struct {
	// Field is the errors' field; nil for any field, "" for errors that name none.
	Field *string `json:"field,omitempty"`
	// Rule is the errors' rule ("fo" for F&O's, see RuleFO); empty for any rule.
	Rule validate.Rule `json:"rule,omitempty"`
}

// FieldValue is a value of an entity field.
type FieldValue struct {
	Field string `json:"field"`
	Value string `json:"value"`
}

// MaxFilterRows caps the row numbers a Filter names.
const MaxFilterRows = 10_000

// maxSearch caps the length of Filter.Search.
const maxSearch = 200

// ErrBadFilter is returned (wrapped) for a filter or values that cannot apply to a job.
var ErrBadFilter = errors.New("bad selection")

func badFilter(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadFilter, fmt.Sprintf(format, args...))
}

// check reports what in f does not fit layout l.
func (f *Filter) check(l *Layout) error {
	if len(f.Rows) > MaxFilterRows {
		return badFilter("%d row numbers: at most %d at once (select by field, rule or value instead)", len(f.Rows), MaxFilterRows)
	}
	for _, n := range f.Rows {
		if n < 1 {
			return badFilter("row %d: row numbers start at 1", n)
		}
	}
	for _, st := range f.Statuses {
		if !slices.Contains(Statuses, st) {
			return badFilter("unknown status %q (valid: %s)", st, joinStatuses(Statuses))
		}
	}
	for _, w := range f.Where {
		if err := l.checkValue(w); err != nil {
			return err
		}
	}
	if len(f.Search) > maxSearch {
		return badFilter("the search text is %d bytes long: at most %d", len(f.Search), maxSearch)
	}
	if strings.IndexFunc(f.Search, unicode.IsControl) >= 0 {
		return badFilter("the search text holds a control character")
	}
	if f.Attempt < 0 {
		return badFilter("attempt %d: attempts are numbered from 1", f.Attempt)
	}
	return nil
}

// checkValue reports whether v names a field of l and holds a value that can be staged.
func (l *Layout) checkValue(v FieldValue) error {
	if !slices.Contains(l.Fields, v.Field) {
		hint := ""
		if s := validate.Suggest(v.Field, l.Fields); len(s) > 0 {
			hint = validate.DidYouMean(s)
		}
		return badFilter("%s is not a field of this job (fields: %s)%s", v.Field, strings.Join(l.Fields, ", "), hint)
	}
	if strings.ContainsRune(v.Value, valSep) || strings.ContainsRune(v.Value, 0) {
		return badFilter("the value of %s holds a control character (U+001F or NUL) that cannot be staged", v.Field)
	}
	return nil
}

func joinStatuses(ss []Status) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return strings.Join(out, ", ")
}

// conditions is a Filter as SQL conditions on the rows table (alias r) of a job, with
// their arguments numbered after the first ones.
type conditions struct {
	where []string
	args  []any
}

func (c *conditions) arg(v any) string {
	c.args = append(c.args, v)
	return "$" + strconv.Itoa(len(c.args))
}

func (c *conditions) sql() string {
	if len(c.where) == 0 {
		return "true"
	}
	return strings.Join(c.where, " AND ")
}

// errorCondition is the SQL of an error match on the errors table (alias e).
func (c *conditions) errorCondition(m *ErrorMatch) string {
	cond := "NOT e.resolved"
	if m.Field != nil {
		cond += " AND e.field = " + c.arg(*m.Field)
	}
	if m.Rule != "" {
		cond += " AND e.rule = " + c.arg(string(m.Rule))
	}
	return cond
}

// statusCondition is the SQL of a set of statuses: the queue index's own predicate
// when they are the open ones.
func (c *conditions) statusCondition(sts []Status) string {
	switch {
	case sameSet(sts, OpenStatuses):
		return "r." + openCondition
	case len(sts) == 1:
		// A plain equality, so that the (status, row_no) index yields row order.
		return "r.status = " + c.arg(string(sts[0]))
	}
	return "r.status = ANY(" + c.arg(sts) + ")"
}

func sameSet(a, b []Status) bool {
	if len(a) != len(b) {
		return false
	}
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	return true
}

// likePattern is a LIKE pattern that matches s anywhere.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// filterConditions turns f into SQL conditions for the job's rows, leaving out the
// parts named in driven (see selectRows).
func filterConditions(job int64, l *Layout, f *Filter, c *conditions, driven driver) {
	if len(f.Rows) > 0 && driven != byRows {
		c.where = append(c.where, "r.row_no = ANY("+c.arg(f.Rows)+")")
	}
	if len(f.Statuses) > 0 {
		c.where = append(c.where, c.statusCondition(f.Statuses))
	}
	if f.Error != nil && driven != byError {
		c.where = append(c.where, "EXISTS (SELECT 1 FROM "+errorsTable(job)+" e WHERE e.row_no = r.row_no AND "+c.errorCondition(f.Error)+")")
	}
	for _, w := range f.Where {
		pos := slices.Index(l.Fields, w.Field) + 1
		c.where = append(c.where, valExpr("r.", pos)+" = "+c.arg(w.Value))
	}
	if f.Search != "" {
		p := c.arg(likePattern(f.Search))
		c.where = append(c.where, "(r.vals ILIKE "+p+" OR coalesce(r.raw, '') ILIKE "+p+")")
	}
	if f.Attempt > 0 {
		c.where = append(c.where, "coalesce(r.attempt, 1) = "+c.arg(f.Attempt))
	}
}

// driver is where selectRows reads a page's candidate row numbers from.
type driver int

const (
	noDriver driver = iota // the rows themselves, in row order
	byRows                 // the row numbers the filter names
	byError                // an error group's range of the partial error index
)

// The candidate row numbers an indexed driver reads at a time: twice the page to start
// with, doubling while the rest of the filter leaves the page short (a search within an
// error group), up to maxDriverBatch.
const maxDriverBatch = 16_000

// selectRows returns up to limit stored rows of a job that match f with a row number
// above after, in row order, and whether more may follow (false: none is left); with
// lock, they are locked for update until the transaction ends.
//
// A page must cost in proportion to its size, never to the job's (OFFSET 900000 takes
// 604 ms, a keyset page 0.15 ms, measured). Where the candidates come from another
// table or list — the row numbers named, an error group's range of the partial error
// index — they are read from it in row order a batch at a time and the rest of the
// filter is applied to them, so that the plan never depends on the job's statistics;
// otherwise the rows are read in row order, through the queue index of open rows or the
// (status, row_no) index when the filter names statuses, and filtered until the page is
// full. A search or a field value that few rows hold still reads every candidate: 0.2 s
// over the 300k open rows of a 1M-row job (measured, BenchmarkReviewQueries).
func (s *Store) selectRows(ctx context.Context, db DBTX, job int64, l *Layout, f *Filter, after int64, limit int, lock bool) ([]storedRow, bool, error) {
	return s.selectPage(ctx, db, job, l, f, page{key: after}, limit, lock)
}

// page is where a page of selectRows starts: after the row numbered key, or, backward,
// the last rows before it.
type page struct {
	key      int64
	backward bool
}

// selectPage is selectRows from p: backward, it returns the last rows that match before
// p.key, still in row order, and more tells whether rows before them may match.
func (s *Store) selectPage(ctx context.Context, db DBTX, job int64, l *Layout, f *Filter, p page, limit int, lock bool) ([]storedRow, bool, error) {
	after := p.key
	cmp, order := ">", ""
	if p.backward {
		cmp, order = "<", " DESC"
	}
	driven := noDriver
	switch {
	case len(f.Rows) > 0:
		driven = byRows
	case f.Error != nil:
		driven = byError
	}
	// The driver's own condition is not repeated on its candidates: the planner would
	// check it by a merge join over the whole error group (47 ms a batch, measured).
	var c conditions
	filterConditions(job, l, f, &c, driven)
	forUpdate := ""
	if lock {
		forUpdate = " FOR UPDATE OF r"
	}
	collect := func(q string, args ...any) ([]storedRow, error) {
		rows, err := db.Query(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("reading staged rows of job %d: %w", job, err)
		}
		out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storedRow, error) { return scanStored(r) })
		if err != nil {
			return nil, fmt.Errorf("reading staged rows of job %d: %w", job, err)
		}
		return out, nil
	}
	var dc conditions
	driver := ""
	switch driven {
	case byRows:
		driver = "SELECT n FROM unnest(" + dc.arg(f.Rows) + "::bigint[]) AS n WHERE n " + cmp + " $AFTER GROUP BY n ORDER BY n" + order + " LIMIT $BATCH"
	case byError:
		driver = "SELECT DISTINCT e.row_no FROM " + errorsTable(job) + " e WHERE " + dc.errorCondition(f.Error) +
			" AND e.row_no " + cmp + " $AFTER ORDER BY e.row_no" + order + " LIMIT $BATCH"
	}
	if driver == "" {
		args := append(c.args, after, limit)
		q := "SELECT " + rowColumns + " FROM " + rowsTable(job) + " r WHERE " + c.sql() +
			" AND r.row_no " + cmp + " $" + strconv.Itoa(len(args)-1) + " ORDER BY r.row_no" + order + " LIMIT $" + strconv.Itoa(len(args)) + forUpdate
		out, err := collect(q, args...)
		return inRowOrder(out, p.backward), len(out) == limit, err
	}
	n := len(dc.args)
	driver = strings.NewReplacer("$AFTER", "$"+strconv.Itoa(n+1), "$BATCH", "$"+strconv.Itoa(n+2)).Replace(driver)
	var out []storedRow
	batch := min(2*limit, maxDriverBatch)
	for len(out) < limit {
		rows, err := db.Query(ctx, driver, append(dc.args, after, batch)...)
		if err != nil {
			return nil, false, fmt.Errorf("reading staged rows of job %d: %w", job, err)
		}
		cands, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return nil, false, fmt.Errorf("reading staged rows of job %d: %w", job, err)
		}
		if len(cands) == 0 {
			return inRowOrder(out, p.backward), false, nil
		}
		args := append(slices.Clone(c.args), cands, limit-len(out))
		q := "SELECT " + rowColumns + " FROM " + rowsTable(job) + " r WHERE r.row_no = ANY($" + strconv.Itoa(len(args)-1) +
			") AND " + c.sql() + " ORDER BY r.row_no" + order + " LIMIT $" + strconv.Itoa(len(args)) + forUpdate
		got, err := collect(q, args...)
		if err != nil {
			return nil, false, err
		}
		out = append(out, got...)
		switch {
		case len(out) == limit:
			return inRowOrder(out, p.backward), true, nil
		case len(cands) < batch:
			return inRowOrder(out, p.backward), false, nil
		}
		after = cands[len(cands)-1]
		batch = min(2*batch, maxDriverBatch)
	}
	return inRowOrder(out, p.backward), true, nil
}

// inRowOrder puts rows read backward (highest number first) back in row order.
func inRowOrder(rows []storedRow, backward bool) []storedRow {
	if backward {
		slices.Reverse(rows)
	}
	return rows
}

// RowPage returns up to limit rows of a job that match f with a row number above after,
// in row order, with their open errors. Pass the last row's number as after for the next
// page: a page costs the same at row 900,000 as at row 1.
func (s *Store) RowPage(ctx context.Context, job int64, f Filter, after int64, limit int) ([]StagedRow, error) {
	l, err := s.Layout(ctx, job)
	if err != nil {
		return nil, err
	}
	if err := f.check(&l); err != nil {
		return nil, err
	}
	stored, _, err := s.selectRows(ctx, s.db, job, &l, &f, after, pageSize(limit), false)
	if err != nil {
		return nil, err
	}
	return s.withErrors(ctx, job, &l, stored, false)
}

// RowPageBefore returns the page of rows that comes before the row numbered before: the
// last (up to limit) rows of a job that match f with a lower row number, in row order,
// with their open errors. It is the console's "previous page", as keyset as RowPage:
// the same indexes read backward (an error group's page before row 900k of a 1M-row job
// in 0.9 ms, the queue's in 1.3 ms, BenchmarkReviewQueries).
func (s *Store) RowPageBefore(ctx context.Context, job int64, f Filter, before int64, limit int) ([]StagedRow, error) {
	l, err := s.Layout(ctx, job)
	if err != nil {
		return nil, err
	}
	if err := f.check(&l); err != nil {
		return nil, err
	}
	if before <= 1 {
		return []StagedRow{}, nil
	}
	stored, _, err := s.selectPage(ctx, s.db, job, &l, &f, page{key: before, backward: true}, pageSize(limit), false)
	if err != nil {
		return nil, err
	}
	return s.withErrors(ctx, job, &l, stored, false)
}

// ErrorLine is one open error of a row with the values it concerns.
type ErrorLine struct {
	validate.Error
	Status Status `json:"status"`
	// Value is the field's mapped value, Source the source column's value as read (empty
	// when the error names no field or column).
	Value  string `json:"value"`
	Source string `json:"source"`
}

// ErrorPage returns the open errors of the rows of a job that match f (only those of
// f.Error when it is set) with a row number above after, in row order, from at most
// limit rows. Pass the last error's row as after for the next page.
func (s *Store) ErrorPage(ctx context.Context, job int64, f Filter, after int64, limit int) ([]ErrorLine, error) {
	rows, err := s.RowPage(ctx, job, f, after, limit)
	if err != nil {
		return nil, err
	}
	l, err := s.Layout(ctx, job)
	if err != nil {
		return nil, err
	}
	var out []ErrorLine
	for i := range rows {
		r := &rows[i]
		for _, e := range r.Errors {
			if m := f.Error; m != nil && ((m.Field != nil && *m.Field != e.Field) || (m.Rule != "" && m.Rule != e.Rule)) {
				continue
			}
			line := ErrorLine{Error: e, Status: r.Status}
			if i := slices.Index(l.Fields, e.Field); i >= 0 && i < len(r.Values) {
				line.Value = r.Values[i]
			}
			if i := slices.Index(l.Columns, e.Column); i >= 0 && i < len(r.Raw) {
				line.Source = r.Raw[i]
			}
			out = append(out, line)
		}
	}
	return out, nil
}

// Count returns how many rows of a job match f, counting at most upTo of them (0: all):
// enough to tell a small action from a large one without counting a million rows.
func (s *Store) Count(ctx context.Context, job int64, f Filter, upTo int64) (int64, error) {
	l, err := s.Layout(ctx, job)
	if err != nil {
		return 0, err
	}
	if err := f.check(&l); err != nil {
		return 0, err
	}
	var c conditions
	filterConditions(job, &l, &f, &c, noDriver)
	q := "SELECT r.row_no FROM " + rowsTable(job) + " r WHERE " + c.sql()
	if upTo > 0 {
		q += " LIMIT " + c.arg(upTo)
	}
	var n int64
	if err := s.db.QueryRow(ctx, "SELECT count(*) FROM ("+q+") m", c.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting staged rows of job %d: %w", job, err)
	}
	return n, nil
}
