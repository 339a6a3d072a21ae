package ingestjob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/dmfpipe/dmfpipe/ingest/reader"
	"github.com/dmfpipe/dmfpipe/mapping"
	"github.com/dmfpipe/dmfpipe/staging"
	"github.com/dmfpipe/dmfpipe/validate"
)

// Mapper turns records into entity rows: a mapping bound to the file's header
// (*mapping.Bound).
type Mapper interface {
	// Fields are the entity fields of a row, in order.
	Fields() []string
	// Column is the source column a field is read from, or "".
	Column(field string) string
	// SourceColumns are, for each field, the index in the header of the column it is
	// read from, -1 for none.
	SourceColumns() []int
	// Apply maps rec into dst (reused) and returns the row and its mapping errors.
	Apply(rec reader.Record, rowNo int64, dst []string) ([]string, []validate.Error)
}

// RowChecker applies the per-row rules (*validate.RowRules).
type RowChecker interface {
	Check(row []string, rowNo, line int64, dst []validate.Error) []validate.Error
}

// SetRules are the rules that need the whole file, run as SQL once every row is staged.
type SetRules struct {
	// Unique lists the field sets whose values must not repeat within the file.
	Unique [][]string
	// Lookups are fields whose values must be in a reference list.
	Lookups []validate.LookupSpec
}

// Options tune Stage.
type Options struct {
	// MaxErrorRate is on_errors.max_error_rate; nil means 1 (row errors never fail a job).
	MaxErrorRate *float64
	// FirstErrors is how many errors Result.Errors holds, in row order. Defaults to 20.
	FirstErrors int
	// Progress, when set, is told the number of records staged so far, about once a
	// second while the file streams (it runs on the staging loop: keep it quick).
	Progress func(staged int64)
	// File names the file in the error of a header that does not fit the mapping.
	File string
}

// progressEvery is how often Options.Progress hears from a running Stage.
const progressEvery = time.Second

// Result is what staging a file produced.
type Result struct {
	// Read is the number of records read (rows staged, good and bad).
	Read int64 `json:"read"`
	// Counts are the staged rows by status once the set rules ran.
	Counts staging.Counts `json:"counts"`
	// Duplicates and LookupMisses count the rows the set rules flagged.
	Duplicates   int64 `json:"duplicates"`
	LookupMisses int64 `json:"lookup_misses"`
	// Errors are the job's first errors in row order.
	Errors []validate.Error `json:"errors"`
}

// BindFunc binds the project's mapping to a file's header (mapping.Mapping.Bind). Stage
// binds once per goroutine that maps records.
type BindFunc func(header []string) (Mapper, error)

// Stage creates the staging area of job and streams every record of rd through the
// mapping and rules into it, then runs the set rules. A record the reader could only
// partly read (a *reader.RowError) is staged invalid with what was read and the
// reader's error.
//
// The returned error is an infrastructure failure (the file cannot be read on, the
// database failed: the staged rows are dropped), or an *staging.ErrorRateExceededError
// when the rows are staged but too many are invalid for the job to upload; Result is
// filled in either way as far as it got.
func Stage(ctx context.Context, store *staging.Store, job int64, rd reader.Reader, bind BindFunc, rules RowChecker, sets SetRules, opts Options) (Result, error) {
	var res Result
	header := rd.Header()
	m, err := bind(header)
	if err != nil {
		return res, fmt.Errorf("%s does not fit the mapping:\n%w", opts.File, err)
	}
	layout := staging.Layout{Fields: m.Fields(), Columns: header, Sheet: rd.Info().Sheet, FieldOf: fieldOf(m, len(header))}
	if err := store.Create(ctx, job, layout); err != nil {
		return res, err
	}
	// The unique rules' keys are prefiltered while the rows stream (see staging.UniqueFilter).
	var filters []*staging.UniqueFilter
	for _, fields := range sets.Unique {
		f, err := staging.NewUniqueFilter(layout, fields)
		if err != nil {
			return res, errors.Join(fmt.Errorf("unique rule: %w", err), store.Drop(context.WithoutCancel(ctx), job))
		}
		filters = append(filters, f)
	}
	w, err := store.NewWriter(ctx, job)
	if err != nil {
		return res, errors.Join(err, store.Drop(context.WithoutCancel(ctx), job))
	}
	st := stream{rules: rules, filters: filters, header: header, nfields: len(layout.Fields), progress: opts.Progress}
	res.Read, err = st.copyRows(ctx, w, rd, bind)
	if err == nil {
		res.Counts, err = w.Close(ctx)
	}
	if err != nil {
		w.Abort()
		return res, errors.Join(err, store.Drop(context.WithoutCancel(ctx), job))
	}
	// The counts follow the set rules' changes: counting the rows again would scan them.
	for _, f := range filters {
		u, err := store.CheckUnique(ctx, job, f)
		if err != nil {
			return res, err
		}
		res.Duplicates += u.Flagged
		res.Counts.Valid -= u.Invalidated
		res.Counts.Invalid += u.Invalidated
	}
	for _, l := range sets.Lookups {
		u, err := store.Lookup(ctx, job, l.Field, l.Reference, l.Values)
		if err != nil {
			return res, err
		}
		res.LookupMisses += u.Flagged
		res.Counts.Valid -= u.Invalidated
		res.Counts.Invalid += u.Invalidated
	}
	first := opts.FirstErrors
	if first <= 0 {
		first = 20
	}
	if res.Errors, err = store.FirstErrors(ctx, job, first); err != nil {
		return res, err
	}
	return res, staging.CheckErrorRate(res.Counts, opts.MaxErrorRate)
}

// fieldOf pairs each of ncols source columns with the first field read from it (-1 for
// none): the staging stores a source value only where it differs from its field's.
func fieldOf(m Mapper, ncols int) []int {
	out := make([]int, ncols)
	for i := range out {
		out[i] = -1
	}
	for f, c := range m.SourceColumns() {
		if c >= 0 && c < ncols && out[c] < 0 {
			out[c] = f
		}
	}
	return out
}

// batchSize is the number of records handed between goroutines at a time.
const batchSize = 512

// batch is a run of records: read by the reading goroutine (with copies of their values:
// the reader reuses its Values slice, the strings themselves are immutable), then mapped
// and checked by a mapping goroutine, then written in order.
type batch struct {
	first  int64 // row number of recs[0]
	recs   []reader.Record
	read   []error // the reader's row error of each record, or nil
	values []string
	err    error // a final read error after recs

	rows   []string   // nfields mapped values per record
	hashes [][]uint64 // per unique filter, the key hash of each record
	errs   []validate.Error
	errAt  []int // errs[errAt[i]:errAt[i+1]] are record i's
	done   chan struct{}
}

// pipeline runs the goroutines that read and map ahead of the writer. Reading, mapping
// and validation cost more CPU than encoding and COPY: on their own goroutines they use
// the cores the database leaves.
type pipeline struct {
	order  chan *batch // batches in row order, for the writer
	work   chan *batch // the same batches, for the mapping goroutines
	free   chan *batch
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// stream is what maps and checks each record.
type stream struct {
	rules    RowChecker
	filters  []*staging.UniqueFilter
	header   []string
	nfields  int
	progress func(staged int64)
}

func (st *stream) startPipeline(ctx context.Context, rd reader.Reader, mappers []Mapper) *pipeline {
	ctx, cancel := context.WithCancel(ctx)
	p := &pipeline{
		order:  make(chan *batch, 2*len(mappers)),
		work:   make(chan *batch, 2*len(mappers)),
		free:   make(chan *batch, 4*len(mappers)),
		cancel: cancel,
	}
	p.wg.Add(1 + len(mappers))
	go func() {
		defer p.wg.Done()
		p.read(ctx, rd)
	}()
	for _, m := range mappers {
		go func() {
			defer p.wg.Done()
			for b := range p.work {
				st.mapBatch(b, m)
				close(b.done)
			}
		}()
	}
	return p
}

// read fills batches until the file ends, fails or ctx is canceled. A batch goes to the
// mapping goroutines before the writer, so that every batch the writer sees is mapped.
func (p *pipeline) read(ctx context.Context, rd reader.Reader) {
	defer close(p.order)
	defer close(p.work)
	next := int64(1)
	for {
		var b *batch
		select {
		case b = <-p.free:
			b.recs, b.read, b.values = b.recs[:0], b.read[:0], b.values[:0]
		default:
			b = &batch{}
		}
		b.first, b.done = next, make(chan struct{})
		eof := false
		for len(b.recs) < batchSize {
			rec, err := rd.Next()
			if err == io.EOF {
				eof = true
				break
			}
			if !b.add(rec, err) {
				eof = true
				break
			}
		}
		next += int64(len(b.recs))
		for _, ch := range []chan *batch{p.work, p.order} {
			select {
			case ch <- b:
			case <-ctx.Done():
				return
			}
		}
		if eof {
			return
		}
	}
}

// add appends a record the reader returned with err (nil, or a *reader.RowError for a
// record it could only partly read) and reports true; another error ends the batch's
// reading (b.err) and reports false.
func (b *batch) add(rec reader.Record, err error) bool {
	var rowErr *reader.RowError
	if err != nil && !errors.As(err, &rowErr) {
		b.err = err
		return false
	}
	// Earlier records keep their slices of an outgrown array, which is never written
	// again until the batch is recycled.
	at := len(b.values)
	b.values = append(b.values, rec.Values...)
	rec.Values = b.values[at:len(b.values):len(b.values)]
	b.recs = append(b.recs, rec)
	b.read = append(b.read, err)
	return true
}

func (st *stream) mapBatch(b *batch, m Mapper) {
	b.rows, b.errs, b.errAt = b.rows[:0], b.errs[:0], append(b.errAt[:0], 0)
	if b.hashes == nil {
		b.hashes = make([][]uint64, len(st.filters))
	}
	for k := range b.hashes {
		b.hashes[k] = b.hashes[k][:0]
	}
	var vals []string
	for i, rec := range b.recs {
		no := b.first + int64(i)
		var rowErr *reader.RowError
		if errors.As(b.read[i], &rowErr) {
			b.errs = append(b.errs, ReadError(rowErr, st.header, no))
		}
		line := lineOf(rec.Loc)
		var mapErrs []validate.Error
		vals, mapErrs = m.Apply(rec, no, vals)
		b.errs = append(b.errs, mapErrs...)
		first := len(b.errs)
		b.errs = st.rules.Check(vals, no, line, b.errs)
		for j := first; j < len(b.errs); j++ {
			if b.errs[j].Column == "" {
				b.errs[j].Column = m.Column(b.errs[j].Field)
			}
		}
		if len(vals) != st.nfields {
			vals = append(vals[:min(len(vals), st.nfields)], make([]string, max(0, st.nfields-len(vals)))...)
		}
		for k, f := range st.filters {
			b.hashes[k] = append(b.hashes[k], f.Hash(vals))
		}
		b.rows = append(b.rows, vals...)
		b.errAt = append(b.errAt, len(b.errs))
	}
}

// stop cancels the pipeline and waits until no goroutine uses the reader any more.
func (p *pipeline) stop() {
	p.cancel()
	for b := range p.order {
		<-b.done
	}
	p.wg.Wait()
}

// copyRows writes the mapped records to w in row order and returns how many there were.
func (st *stream) copyRows(ctx context.Context, w *staging.Writer, rd reader.Reader, bind BindFunc) (int64, error) {
	mappers := make([]Mapper, min(runtime.GOMAXPROCS(0), maxMappers))
	for i := range mappers {
		m, err := bind(st.header)
		if err != nil {
			return 0, err
		}
		mappers[i] = m
	}
	p := st.startPipeline(ctx, rd, mappers)
	defer p.stop()
	var (
		row      staging.Row
		n        int64
		reported = time.Now()
	)
	for b := range p.order {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		<-b.done
		// Hashing is done by the mapping goroutines; the filter's updates, one random
		// memory access each, run here in a loop the CPU can overlap.
		for k, f := range st.filters {
			for i, h := range b.hashes[k] {
				f.Insert(b.first+int64(i), h)
			}
		}
		for i, rec := range b.recs {
			n++
			row = staging.Row{No: n, Line: lineOf(rec.Loc), Values: b.rows[i*st.nfields : (i+1)*st.nfields],
				Raw: rec.Values, Errors: b.errs[b.errAt[i]:b.errAt[i+1]]}
			if err := w.Write(&row); err != nil {
				return n, err
			}
		}
		if b.err != nil {
			return n, fmt.Errorf("reading record %d: %w", n+1, b.err)
		}
		if st.progress != nil && time.Since(reported) >= progressEvery {
			st.progress(n)
			reported = time.Now()
		}
		select {
		case p.free <- b:
		default:
		}
	}
	return n, ctx.Err()
}

// maxMappers caps the goroutines that map and check records.
const maxMappers = 4

// lineOf is a record's source line: the line for text formats, the sheet row for XLSX.
func lineOf(loc reader.Location) int64 {
	if loc.Row > 0 {
		return int64(loc.Row)
	}
	return int64(loc.Line)
}

// ReadError turns a reader's row problem into a located row error of rule "read.<code>".
func ReadError(e *reader.RowError, header []string, rowNo int64) validate.Error {
	ve := validate.Error{Row: rowNo, Line: int64(e.Line), Sheet: e.Sheet, Rule: validate.Rule("read." + string(e.Code)), Msg: e.Msg}
	if e.Row > 0 {
		ve.Line = int64(e.Row)
	}
	if e.Column > 0 && e.Column <= len(header) {
		ve.Column = header[e.Column-1]
	}
	return ve
}

// BindMapping is the BindFunc of a compiled mapping.
func BindMapping(m *mapping.Mapping) BindFunc {
	return func(header []string) (Mapper, error) {
		b, err := m.Bind(header)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
}
