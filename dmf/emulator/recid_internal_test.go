package emulator

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// allRecIDs lists the RecId of every row, in file order.
func allRecIDs(ids stagingRecIDs, rows int) []int64 {
	out := make([]int64, rows)
	for pos := 1; pos <= rows; pos++ {
		out[pos-1] = ids.of(pos)
	}
	return out
}

func TestStagingRecIDsAreNotPositions(t *testing.T) {
	t.Parallel()
	const rows = 5000
	seqs := newRecIDSequences(7)
	got := allRecIDs(seqs.stage("CustCustomerV3Entity", rows), rows)

	sorted := slices.Clone(got)
	slices.Sort(sorted)
	assert.Len(t, slices.Compact(slices.Clone(sorted)), rows, "one RecId per row")
	assert.GreaterOrEqual(t, sorted[0], recIDFirst)
	assert.Greater(t, sorted[rows-1]-sorted[0]+1, int64(rows), "with gaps")
	assert.False(t, slices.IsSorted(got), "not in file order")
	offsets := map[int64]bool{}
	for i, id := range got {
		offsets[id-int64(i+1)] = true
	}
	assert.Greater(t, len(offsets), 1, "no base+position")

	// A bundle is consecutive rows with consecutive RecIds; bundles are shuffled.
	for i := 1; i < stagingBundleRows; i++ {
		assert.Equal(t, got[0]+int64(i), got[i])
	}
	assert.Equal(t, 1, seqs.stage("CustCustomerV3Entity", 7).bundle, "a small file is still spread over the tasks")
}

func TestStagingRecIDSequences(t *testing.T) {
	t.Parallel()
	seqs := newRecIDSequences(7)
	first := allRecIDs(seqs.stage("CustCustomerV3Entity", 300), 300)
	second := allRecIDs(seqs.stage("custcustomerv3entity", 300), 300)
	other := allRecIDs(seqs.stage("VendVendorV2Entity", 300), 300)
	assert.Greater(t, slices.Min(second), slices.Max(first), "one sequence per staging table, never reused")
	assert.NotEqual(t, first[0], other[0], "each table starts elsewhere")

	again := newRecIDSequences(7)
	assert.Equal(t, first, allRecIDs(again.stage("CustCustomerV3Entity", 300), 300), "deterministic for a seed")
	assert.Equal(t, second, allRecIDs(again.stage("CustCustomerV3Entity", 300), 300))
	assert.NotEqual(t, first, allRecIDs(newRecIDSequences(8).stage("CustCustomerV3Entity", 300), 300))

	// Another table's use does not move this one's numbers.
	interleaved := newRecIDSequences(7)
	interleaved.stage("VendVendorV2Entity", 1000)
	require.Equal(t, first, allRecIDs(interleaved.stage("CustCustomerV3Entity", 300), 300))
	assert.Empty(t, newRecIDSequences(7).stage("X", 0).first)
}
