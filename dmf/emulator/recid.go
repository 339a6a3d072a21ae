package emulator

import (
	"hash/fnv"
	mrand "math/rand/v2"
	"strings"
	"sync"
)

// Staging RecIds (dmf-api.md §2.6). GetExecutionErrors names a row by the RecId F&O
// gave it in the entity's staging table. F&O hands RecIds out per table from a
// sequence shared by every execution and company, in blocks, so that they have gaps,
// and it stages a file in parallel pieces, so that they do not follow the rows of the
// file. The emulator numbers the same way on purpose: a client that takes a RecordId
// for a position in its package must fail here as it fails against F&O.
const (
	// recIDFirst is the first RecId F&O gives out.
	recIDFirst int64 = 5637144576
	// recIDStartSpread is the range of the seeded starting point of a table's sequence
	// above recIDFirst: a staging table of a real environment has seen earlier imports.
	recIDStartSpread = 1 << 30
	// A file is staged in bundles of consecutive rows, at least stagingTasks of them
	// and none longer than stagingBundleRows, numbered bundle by bundle in the order
	// in which their tasks finish (a seeded shuffle).
	stagingTasks      = 8
	stagingBundleRows = 100
	// bundleGapMax and stagingGapMax bound the RecIds lost after a bundle and after a
	// file (the rest of a RecId block a task reserved and did not use).
	bundleGapMax  = 16
	stagingGapMax = 250
)

// recIDSequences are the RecId sequences of the staging tables, one per entity, shared
// by every execution and legal entity of an emulator.
type recIDSequences struct {
	seed uint64

	mu     sync.Mutex
	tables map[string]*recIDSequence
}

type recIDSequence struct {
	next int64
	rnd  *mrand.Rand // the sequence's own stream: its numbering depends only on its own use
}

func newRecIDSequences(seed uint64) *recIDSequences {
	return &recIDSequences{seed: seed, tables: map[string]*recIDSequence{}}
}

// stagingRecIDs are the staging RecIds of the rows of one entity of one execution.
type stagingRecIDs struct {
	bundle int     // rows per bundle
	first  []int64 // first RecId of each bundle, by bundle position in the file
}

// of is the RecId of data row pos (1-based).
func (r stagingRecIDs) of(pos int) int64 {
	i := pos - 1
	return r.first[i/r.bundle] + int64(i%r.bundle)
}

// stage reserves the RecIds of rows staged rows of table.
func (s *recIDSequences) stage(table string, rows int) stagingRecIDs {
	if rows <= 0 {
		return stagingRecIDs{bundle: 1}
	}
	bundle := min(max((rows+stagingTasks-1)/stagingTasks, 1), stagingBundleRows)
	ids := stagingRecIDs{bundle: bundle, first: make([]int64, (rows+bundle-1)/bundle)}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := strings.ToUpper(table)
	seq, ok := s.tables[k]
	if !ok {
		h := fnv.New64a()
		_, _ = h.Write([]byte(k))
		rnd := mrand.New(mrand.NewPCG(s.seed, h.Sum64()))
		seq = &recIDSequence{next: recIDFirst + rnd.Int64N(recIDStartSpread), rnd: rnd}
		s.tables[k] = seq
	}
	for _, b := range seq.rnd.Perm(len(ids.first)) {
		ids.first[b] = seq.next
		seq.next += int64(bundle) + seq.rnd.Int64N(bundleGapMax+1)
	}
	seq.next += seq.rnd.Int64N(stagingGapMax + 1)
	return ids
}
