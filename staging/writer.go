package staging

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dmfpipe/dmfpipe/validate"
)

// Row is one row to stage.
type Row struct {
	// No is the 1-based data row number within the job; rows are written in its order.
	No int64
	// Line is where the record starts in the source file (the sheet row for XLSX).
	Line int64
	// Values are the mapped values, one per field of the layout; missing ones are stored
	// empty.
	Values []string
	// Raw are the source values as read, one per column of the layout (a ragged row may
	// have more or fewer).
	Raw []string
	// Errors make the row invalid; their Row and Line are taken from the row.
	Errors []validate.Error
}

// RuleControlChar is the rule of the error a row gets when a mapped value holds U+001F,
// the separator of staged values.
const RuleControlChar validate.Rule = "staging.control_char"

// Writer streams a job's rows into its partition with a binary COPY while they are
// produced, and its errors with a second COPY on another connection. It is not safe for
// concurrent use. Close commits; Abort (or any failed Write) leaves no rows behind.
type Writer struct {
	store   *Store
	job     int64
	fields  []string
	nfields int
	ncols   int
	pairs   []int // Layout.pairs
	conns   []*pgxpool.Conn
	rows    *copyStream
	errs    *copyStream
	cancel  context.CancelFunc
	counts  Counts
	lastNo  int64
	err     error
	closed  bool
}

// NewWriter starts staging the rows of a job created with Create.
func (s *Store) NewWriter(ctx context.Context, job int64) (*Writer, error) {
	l, err := s.Layout(ctx, job)
	if err != nil {
		return nil, err
	}
	w := &Writer{store: s, job: job, fields: l.Fields, nfields: len(l.Fields), ncols: len(l.Columns), pairs: l.pairs()}
	for range 2 {
		c, err := s.acquire(ctx)
		if err != nil {
			w.release()
			return nil, fmt.Errorf("staging job %d: %w", job, err)
		}
		w.conns = append(w.conns, c)
	}
	cctx, cancel := context.WithCancel(ctx)
	w.cancel = cancel
	w.rows = startCopy(cctx, w.conns[0].Conn().PgConn(),
		"COPY "+rowsTable(job)+" (row_no, line, status, vals, raw) FROM STDIN (FORMAT binary)")
	w.errs = startCopy(cctx, w.conns[1].Conn().PgConn(),
		"COPY "+errorsTable(job)+" (row_no, field, rule, col, message) FROM STDIN (FORMAT binary)")
	return w, nil
}

func (w *Writer) release() {
	for _, c := range w.conns {
		c.Release()
	}
	w.conns = nil
}

// Write stages one row.
func (w *Writer) Write(r *Row) error {
	if w.err != nil {
		return w.err
	}
	if r.No <= w.lastNo {
		return w.fail(fmt.Errorf("staging job %d: row %d written after row %d", w.job, r.No, w.lastNo))
	}
	w.lastNo = r.No
	vals, errs := r.Values, r.Errors
	owned := false
	if len(vals) != w.nfields {
		vals, owned = fit(vals, w.nfields), true
	}
	for i, v := range vals {
		if strings.IndexByte(v, valSep) < 0 {
			continue
		}
		if !owned {
			vals, owned = slices.Clone(vals), true
		}
		vals[i] = strings.ReplaceAll(v, string(valSep), "\uFFFD")
		// The three-index slice makes append copy: the caller's array may hold other rows.
		errs = append(errs[:len(errs):len(errs)], validate.Error{Field: w.fields[i], Rule: RuleControlChar,
			Msg: "holds the control character U+001F, which cannot be staged; it was replaced by U+FFFD"})
	}
	status := StatusValid
	if len(errs) > 0 {
		status = StatusInvalid
		w.counts.Invalid++
	} else {
		w.counts.Valid++
	}
	w.counts.Total++

	b := w.rows.cur
	b = binary.BigEndian.AppendUint16(b, 5)
	b = appendInt8(b, r.No)
	b = appendInt8(b, r.Line)
	b = appendText(b, string(status))
	b = appendVals(b, vals)
	// A source value equal to the value mapped from its column is stored once; a ragged
	// row is kept whole so that no reader has to guess its width.
	var pairs []int
	if len(r.Raw) == w.ncols {
		pairs = w.pairs
	}
	b = appendRaw(b, r.Raw, vals, pairs)
	w.rows.cur = b
	if err := w.rows.flushIfFull(); err != nil {
		return w.fail(fmt.Errorf("staging rows of job %d: %w", w.job, err))
	}

	if len(errs) == 0 {
		return nil
	}
	e := w.errs.cur
	for i := range errs {
		err := &errs[i]
		e = binary.BigEndian.AppendUint16(e, 5)
		e = appendInt8(e, r.No)
		e = appendText(e, err.Field)
		e = appendText(e, string(err.Rule))
		e = appendText(e, err.Column)
		e = appendText(e, err.Msg)
	}
	w.errs.cur = e
	if err := w.errs.flushIfFull(); err != nil {
		return w.fail(fmt.Errorf("staging errors of job %d: %w", w.job, err))
	}
	return nil
}

func fit(vals []string, n int) []string {
	out := make([]string, n)
	copy(out, vals)
	return out
}

func (w *Writer) fail(err error) error {
	w.err = err
	w.Abort()
	return err
}

// Abort stops staging and rolls back what was copied. It is a no-op after Close.
func (w *Writer) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	w.rows.stop()
	w.errs.stop()
	w.cancel()
	w.release()
}

// Close commits the job's rows and returns the counts of what was written.
func (w *Writer) Close(ctx context.Context) (Counts, error) {
	if w.err != nil {
		return w.counts, w.err
	}
	if w.closed {
		return w.counts, errors.New("staging writer already closed")
	}
	w.closed = true
	rowsErr := w.rows.finish()
	errsErr := w.errs.finish()
	w.cancel()
	w.release()
	if err := errors.Join(rowsErr, errsErr); err != nil {
		return w.counts, fmt.Errorf("staging job %d: %w", w.job, err)
	}
	if err := w.store.markLoaded(ctx, w.job); err != nil {
		return w.counts, err
	}
	return w.counts, nil
}

// markLoaded indexes a job's rows by number, counts their errors by group (see
// groups.go) and records that they are all in.
//
// The row number index is built here rather than kept up during the COPY: a btree
// insert per row cost the server 0.5 s per million rows, a sorted build after costs
// 0.22 s, and with the server on the same 2 cores the COPY waited on the server
// (measured with BenchmarkDryRun: 1.38–1.44 s kept up, 1.32 s built after). There is no
// ANALYZE: it would cost a quarter of a second per million rows, the console's queries
// are planned on the indexes alone, and autovacuum analyzes the partition soon after.
func (s *Store) markLoaded(ctx context.Context, job int64) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "CREATE UNIQUE INDEX ON "+rowsTable(job)+" (row_no)"); err != nil {
			return fmt.Errorf("indexing the staged rows of job %d: %w", job, err)
		}
		if _, err := tx.Exec(ctx, "UPDATE staging_jobs SET loaded_at = now() WHERE job_id = $1", job); err != nil {
			return fmt.Errorf("marking job %d staged: %w", job, err)
		}
		return countGroups(ctx, tx, job)
	})
}
