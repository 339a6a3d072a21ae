package mapping

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/vm"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/ingest/reader"
	"github.com/dmfpipe/dmfpipe/internal/excerpt"
	"github.com/dmfpipe/dmfpipe/transform"
	"github.com/dmfpipe/dmfpipe/validate"
)

// ColumnError is a column the mapping names that a file's header lacks.
type ColumnError struct {
	Column string
	Field  string
	// Transform names the transform that reads Column, empty for from and expr.
	Transform string
	// Pos is where the column is named in the config.
	Pos    config.Position
	Header []string
}

func (e *ColumnError) Error() string {
	by := ""
	if e.Transform != "" {
		by = " (" + e.Transform + ")"
	}
	header := "the file has no header: it is empty"
	if len(e.Header) > 0 {
		header = "header: " + excerpt.List(e.Header, "column")
	}
	return fmt.Sprintf("%s: field %s%s: column %s is not in the file (%s)", e.Pos, e.Field, by, excerpt.Quote(e.Column), header)
}

// maxShownColumnErrors bounds the columns a BindError's message lists; all are in Columns.
const maxShownColumnErrors = 10

// BindError is every column a mapping names that a file's header lacks: errors.As finds
// each *ColumnError through it.
type BindError struct {
	Columns []*ColumnError
	// Hint says why the header may be wrong when none of the mapped columns is in it
	// (see reader.HeaderHint), e.g. "the header has one column containing ';':
	// delimiter: ';'?"; else it is empty.
	Hint string
}

// Error lists the first columns, one a line, then how many more there are and the hint.
func (e *BindError) Error() string {
	var b strings.Builder
	for i, c := range e.Columns {
		if i == maxShownColumnErrors {
			more := "columns"
			if len(e.Columns)-i == 1 {
				more = "column"
			}
			fmt.Fprintf(&b, "\nand %d more %s not in the file", len(e.Columns)-i, more)
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(c.Error())
	}
	if e.Hint != "" {
		b.WriteString("\nhint: ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Unwrap returns the *ColumnError values.
func (e *BindError) Unwrap() []error {
	errs := make([]error, len(e.Columns))
	for i, c := range e.Columns {
		errs[i] = c
	}
	return errs
}

// Bound is a mapping bound to one file's header. Apply reuses internal state: use a
// Bound from one goroutine at a time (Bind once per goroutine).
type Bound struct {
	m      *Mapping
	header []string
	fields []boundField

	// expression state, reused for every row
	hasExpr bool
	src     map[string]string
	srcCols []srcCol
	row     map[string]string
	env     map[string]any
	machine vm.VM
	rec     []string
}

type boundField struct {
	*field
	col    int // source column index, or -1
	column string
	funcs  []transform.Func
}

type srcCol struct {
	key string
	idx int
}

// Bind resolves the mapping's source columns against header: by name (case-insensitive,
// trimmed; JSON paths are names), or "#N" for the 1-based N-th column. Every column the
// header lacks is reported in a *BindError, as a *ColumnError each.
func (m *Mapping) Bind(header []string) (*Bound, error) {
	index := make(map[string]int, len(header))
	for i, h := range header {
		k := strings.ToLower(strings.TrimSpace(h))
		if _, dup := index[k]; !dup {
			index[k] = i
		}
	}
	resolve := func(name string) (int, bool) {
		if n, ok := strings.CutPrefix(name, "#"); ok {
			if i, err := strconv.Atoi(n); err == nil {
				return i - 1, i >= 1 && i <= len(header)
			}
		}
		i, ok := index[strings.ToLower(strings.TrimSpace(name))]
		return i, ok
	}
	b := &Bound{m: m, header: header, fields: make([]boundField, len(m.fields))}
	var errs []*ColumnError
	found := false // a column of the mapping is in the header
	bindResolve := func(name string) (int, bool) {
		i, ok := resolve(name)
		found = found || ok
		return i, ok
	}
	missing := func(f *field, col string) {
		errs = append(errs, &ColumnError{Column: col, Field: f.name, Pos: f.pos, Header: header})
	}
	seenSrc := map[string]bool{}
	for i, f := range m.fields {
		bf := boundField{field: f, col: -1}
		if f.from != "" {
			j, ok := bindResolve(f.from)
			if !ok {
				missing(f, f.from)
			}
			bf.col = j
			if ok {
				bf.column = header[j]
			}
		}
		for _, s := range f.steps {
			fn, err := s.Bind(bindResolve)
			var mc *transform.MissingColumnError
			if errors.As(err, &mc) {
				errs = append(errs, &ColumnError{Column: mc.Column, Field: f.name, Pos: s.Pos, Transform: s.Name, Header: header})
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.name, err)
			}
			bf.funcs = append(bf.funcs, fn)
		}
		if f.program != nil {
			b.hasExpr = true
			for _, c := range f.exprCols {
				j, ok := bindResolve(c)
				if !ok {
					missing(f, c)
					continue
				}
				if bf.column == "" {
					bf.column = header[j]
				}
				if !seenSrc[c] {
					seenSrc[c] = true
					b.srcCols = append(b.srcCols, srcCol{key: c, idx: j})
				}
			}
		}
		b.fields[i] = bf
	}
	if len(errs) > 0 {
		be := &BindError{Columns: errs}
		if !found {
			be.Hint = reader.HeaderHint(header)
		}
		return nil, be
	}
	if b.hasExpr {
		b.src = make(map[string]string, len(b.srcCols))
		b.row = make(map[string]string, len(m.fields))
		col := func(name string) string {
			if j, ok := resolve(name); ok && j < len(b.rec) {
				return b.rec[j]
			}
			return ""
		}
		b.env = map[string]any{envSrc: b.src, envRow: b.row, envCol: col}
	}
	return b, nil
}

// Fields lists the entity fields of a row, in order.
func (b *Bound) Fields() []string { return b.m.Fields() }

// Header is the header the mapping was bound to.
func (b *Bound) Header() []string { return b.header }

// Column names the source column a field is mapped from ("" for const fields): the
// column validation errors on the field are located at.
func (b *Bound) Column(field string) string {
	for _, f := range b.fields {
		if f.name == field {
			return f.column
		}
	}
	return ""
}

// SourceColumns returns, for each field of Fields, the index in the header of the
// column it is read from, -1 for a field read from none (const, expr).
func (b *Bound) SourceColumns() []int {
	out := make([]int, len(b.fields))
	for i, f := range b.fields {
		out[i] = f.col
	}
	return out
}

// Apply maps rec into dst (reused; grown when short) and returns the row, one value per
// field of Fields, with the mapping errors of the record. rowNo is the 1-based data row.
func (b *Bound) Apply(rec reader.Record, rowNo int64, dst []string) ([]string, []validate.Error) {
	row := dst[:0]
	if cap(row) < len(b.fields) {
		row = make([]string, 0, len(b.fields))
	}
	var errs []validate.Error
	vals := rec.Values
	if b.hasExpr {
		b.rec = vals
		clear(b.row) // fields below the current one are not "so far"
		for _, c := range b.srcCols {
			v := ""
			if c.idx < len(vals) {
				v = vals[c.idx]
			}
			b.src[c.key] = v
		}
	}
	for i := range b.fields {
		f := &b.fields[i]
		var v string
		switch {
		case f.hasConst:
			v = f.constVal
		case f.col >= 0:
			if f.col < len(vals) {
				v = vals[f.col]
			}
		case f.program != nil:
			out, err := b.machine.Run(f.program, b.env)
			if err == nil {
				v, err = exprString(out)
			}
			if err != nil {
				errs = append(errs, b.rowError(rec, rowNo, f, "map.expr", exprMessage(err)))
			}
		}
		for j, fn := range f.funcs {
			out, err := fn(v, vals)
			if err != nil {
				errs = append(errs, b.rowError(rec, rowNo, f, validate.Rule("map."+f.steps[j].Name), err.Error()))
				break
			}
			v = out
		}
		if f.table != nil && v != "" {
			if t, ok := f.lookup(v); ok {
				v = t
			} else {
				switch f.unmapped {
				case UnmappedDefault:
					v = f.def
				case UnmappedError:
					errs = append(errs, b.rowError(rec, rowNo, f, "map.unmapped", fmt.Sprintf("%q is not in the map (%s)", v, strings.Join(f.keys, ", "))))
				}
			}
		}
		if v == "" && f.hasDef {
			v = f.def
		}
		row = append(row, v)
		if b.hasExpr {
			b.row[f.name] = v
		}
	}
	return row, errs
}

// lookup finds v in the map: exactly, else case-insensitively.
func (f *field) lookup(v string) (string, bool) {
	if t, ok := f.table[v]; ok {
		return t, true
	}
	for _, k := range f.keys {
		if strings.EqualFold(k, v) {
			return f.table[k], true
		}
	}
	return "", false
}

func (b *Bound) rowError(rec reader.Record, rowNo int64, f *boundField, rule validate.Rule, msg string) validate.Error {
	return validate.Error{Row: rowNo, Line: Line(rec.Loc), Sheet: rec.Loc.Sheet, Column: f.column, Field: f.name, Rule: rule, Msg: msg}
}

// Line is a record's source line for errors: the line for text formats, the sheet row for XLSX.
func Line(loc reader.Location) int64 {
	if loc.Row > 0 {
		return int64(loc.Row)
	}
	return int64(loc.Line)
}
