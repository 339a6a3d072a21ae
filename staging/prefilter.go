package staging

import (
	"context"
	"hash/maphash"
)

// The unique prefilter: while rows stream in, a UniqueFilter remembers every key in a
// Bloom filter of fixed size and notes the rows whose key it may have seen before. The
// SQL check then looks only at those rows' keys instead of aggregating every row of the
// job (a hash aggregate over a million keys costs more than the whole COPY). The filter
// is 16 MiB whatever the file size, blocked (a key's 5 probes fall in one 64-byte block:
// one cache miss per row, not five) and yields about one false candidate per five
// million distinct keys. A false candidate costs a scan of the job's rows in SQL (about
// 0.3 s per million rows), never a wrong result: the SQL compares the values.
const (
	bloomBits      = 1 << 27
	bloomBlockBits = 512
	bloomBlocks    = bloomBits / bloomBlockBits
	bloomProbes    = 5 // 18 bits choose a block, 5×9 bits the bits in it: one 64-bit hash
	// Beyond this many candidates (8 MiB of row numbers) the full SQL check runs instead.
	maxCandidates = 1 << 20
)

// UniqueFilter prefilters the keys of one unique rule while a job's rows are produced;
// Store.CheckUnique then runs the rule. Hash is safe for concurrent use (mapping
// goroutines hash their rows' keys); Insert and Add are not, and take rows in any order.
type UniqueFilter struct {
	fields []string
	idx    []int // 0-based positions in a row
	seed   maphash.Seed
	bits   []uint64

	candidates []int64
	overflow   bool // too many candidates: check every row
}

// NewUniqueFilter returns the filter of a unique rule on fields of layout l.
func NewUniqueFilter(l Layout, fields []string) (*UniqueFilter, error) {
	idx, err := fieldIndexes(l, fields)
	if err != nil {
		return nil, err
	}
	for i := range idx {
		idx[i]--
	}
	return &UniqueFilter{fields: fields, idx: idx, seed: maphash.MakeSeed(),
		bits: make([]uint64, bloomBits/64), candidates: []int64{}}, nil
}

// Fields are the rule's key fields.
func (f *UniqueFilter) Fields() []string { return f.fields }

// Hash returns the hash of a row's key (its mapped values), or 0 when the key's values
// are all empty: such rows are not checked.
func (f *UniqueFilter) Hash(vals []string) uint64 {
	var h maphash.Hash
	h.SetSeed(f.seed)
	empty := true
	for _, i := range f.idx {
		v := ""
		if i < len(vals) {
			v = vals[i]
		}
		if v != "" {
			empty = false
		}
		h.WriteString(v)
		h.WriteByte(valSep) // no staged value holds it, so keys cannot run into each other
	}
	if empty {
		return 0
	}
	return max(h.Sum64(), 1)
}

// Add records the key of row no and notes the row when its key may have been added
// before.
func (f *UniqueFilter) Add(no int64, vals []string) { f.Insert(no, f.Hash(vals)) }

// Insert is Add with the key's Hash.
func (f *UniqueFilter) Insert(no int64, hash uint64) {
	if hash == 0 {
		return
	}
	// The low bits choose the block, the next 9-bit groups the bits in it.
	block := f.bits[(hash%bloomBlocks)*(bloomBlockBits/64):][:bloomBlockBits/64]
	hash /= bloomBlocks
	seen := true
	for range bloomProbes {
		bit := hash % bloomBlockBits
		hash /= bloomBlockBits
		w, m := bit/64, uint64(1)<<(bit%64)
		if block[w]&m == 0 {
			seen = false
			block[w] |= m
		}
	}
	switch {
	case !seen, f.overflow:
	case len(f.candidates) == maxCandidates:
		f.overflow, f.candidates = true, nil
	default:
		f.candidates = append(f.candidates, no)
	}
}

// CheckUnique runs a unique rule over a job's rows once they are staged, looking only at
// the keys f flagged as possibly repeated: without any, there is nothing to do. See
// Unique for what it does to the rows.
func (s *Store) CheckUnique(ctx context.Context, job int64, f *UniqueFilter) (SetResult, error) {
	switch {
	case f.overflow:
		return s.unique(ctx, job, f.fields, nil)
	case len(f.candidates) == 0:
		return SetResult{}, nil
	}
	return s.unique(ctx, job, f.fields, f.candidates)
}
