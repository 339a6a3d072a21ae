package emulator

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"github.com/dmfpipe/dmfpipe/dmf/catalog"
)

// rowStore holds the target rows of every entity per legal entity: F&O's tables.
type rowStore struct {
	mu     sync.Mutex
	tables map[string]*table
}

func newRowStore() *rowStore { return &rowStore{tables: map[string]*table{}} }

// table is one entity's rows in one legal entity. Rows are packed into one string each
// (field index, length, bytes for every non-empty field) so a million rows stay small.
type table struct {
	mu    sync.RWMutex
	ent   *catalog.Entity
	index map[string]int32 // upper-case key -> position in rows
	rows  []string
	seq   map[int]int64 // number sequences of AutoGenerate fields, by field index
}

func tableKey(ent *catalog.Entity, le string) string {
	if !ent.CompanySpecific {
		le = ""
	}
	return ent.AOTName + "\x00" + strings.ToUpper(le)
}

// table returns the table of ent in legal entity le, creating it.
func (s *rowStore) table(ent *catalog.Entity, le string) *table {
	k := tableKey(ent, le)
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[k]
	if !ok {
		t = &table{ent: ent, index: map[string]int32{}, seq: map[int]int64{}}
		s.tables[k] = t
	}
	return t
}

// lookup returns an existing table.
func (s *rowStore) lookup(ent *catalog.Entity, le string) (*table, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[tableKey(ent, le)]
	return t, ok
}

// rowKey is the upper-case entity key of a row: SQL Server's case-insensitive collation
// makes "c001" and "C001" the same record.
func rowKey(ent *catalog.Entity, vals []string) string {
	var b strings.Builder
	for i, k := range ent.KeyFields {
		if i > 0 {
			b.WriteByte(0x1f)
		}
		b.WriteString(strings.ToUpper(vals[ent.FieldIndex(k)]))
	}
	return b.String()
}

func packRow(vals []string) string {
	n := 0
	for _, v := range vals {
		if v != "" {
			n += 2*binary.MaxVarintLen32 + len(v)
		}
	}
	buf := make([]byte, 0, n)
	for i, v := range vals {
		if v == "" {
			continue
		}
		buf = binary.AppendUvarint(buf, uint64(i))
		buf = binary.AppendUvarint(buf, uint64(len(v)))
		buf = append(buf, v...)
	}
	return string(buf)
}

// unpackRow fills dst (one slot per entity field) from a packed row.
func unpackRow(p string, dst []string) {
	clear(dst)
	for len(p) > 0 {
		i, n := uvarint(p)
		p = p[n:]
		l, m := uvarint(p)
		p = p[m:]
		dst[i] = p[:l]
		p = p[l:]
	}
}

// uvarint decodes a varint written by binary.AppendUvarint from the start of s.
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x80 {
			return x | uint64(b)<<shift, i + 1
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return x, len(s)
}

// upsert inserts vals under key, or updates the existing row's mapped fields. It reports
// whether the row existed.
func (t *table) upsert(key string, vals []string, mapped []bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i, ok := t.index[key]; ok {
		old := make([]string, len(vals))
		unpackRow(t.rows[i], old)
		for f, m := range mapped {
			if m {
				old[f] = vals[f]
			}
		}
		t.rows[i] = packRow(old)
		return true
	}
	t.index[key] = int32(len(t.rows))
	t.rows = append(t.rows, packRow(vals))
	return false
}

func (t *table) has(key string) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	_, ok := t.index[key]
	return ok
}

// nextNumber draws the next value of an AutoGenerate field's number sequence.
func (t *table) nextNumber(field int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq[field]++
	return fmt.Sprintf("%06d", t.seq[field])
}

// each calls fn with every row (in insertion order) until fn returns false. fn must not
// keep vals. Rows are read in chunks under the lock, so imports can run meanwhile.
func (t *table) each(fn func(vals []string) bool) {
	const chunk = 4096
	vals := make([]string, len(t.ent.Fields))
	buf := make([]string, 0, chunk)
	for start := 0; ; start += chunk {
		t.mu.RLock()
		end := min(start+chunk, len(t.rows))
		if start < end {
			buf = append(buf[:0], t.rows[start:end]...)
		} else {
			buf = buf[:0]
		}
		t.mu.RUnlock()
		if len(buf) == 0 {
			return
		}
		for _, p := range buf {
			unpackRow(p, vals)
			if !fn(vals) {
				return
			}
		}
	}
}

func (t *table) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.rows)
}

// rowMap turns a row into upper-case staging name -> value, leaving empty fields out.
func rowMap(ent *catalog.Entity, vals []string) map[string]string {
	m := make(map[string]string, len(vals))
	for i, v := range vals {
		if v != "" {
			m[ent.Fields[i].StagingName] = v
		}
	}
	return m
}

// Rows returns the target rows of an entity (any catalog name) in a legal entity, in
// insertion order, keyed by upper-case staging field names; empty fields are left out.
func (e *Emulator) Rows(entity, legalEntity string) []map[string]string {
	ent, ok := e.cat.Lookup(entity)
	if !ok {
		return nil
	}
	t, ok := e.rows.lookup(ent, legalEntity)
	if !ok {
		return nil
	}
	out := make([]map[string]string, 0, t.len())
	t.each(func(vals []string) bool {
		out = append(out, rowMap(ent, vals))
		return true
	})
	return out
}

// Seed upserts rows into an entity (any catalog name) in a legal entity without
// validation, e.g. the source of an export. Keys are staging or OData field names. It
// panics on an unknown entity or field: seeding is test setup.
func (e *Emulator) Seed(entity, legalEntity string, rows []map[string]string) {
	if err := e.seed(entity, legalEntity, rows); err != nil {
		panic("emulator: " + err.Error())
	}
}

func (e *Emulator) seed(entity, legalEntity string, rows []map[string]string) error {
	ent, ok := e.cat.Lookup(entity)
	if !ok {
		return fmt.Errorf("seed: unknown entity %q", entity)
	}
	t := e.rows.table(ent, legalEntity)
	for _, r := range rows {
		vals := make([]string, len(ent.Fields))
		mapped := make([]bool, len(ent.Fields))
		for name, v := range r {
			i := ent.FieldIndex(name)
			if i < 0 {
				return fmt.Errorf("seed: entity %q has no field %q", ent.DMFName, name)
			}
			vals[i], mapped[i] = v, true
		}
		t.upsert(rowKey(ent, vals), vals, mapped)
	}
	return nil
}
