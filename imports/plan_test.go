package imports

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
)

func TestPlanChunks(t *testing.T) {
	t.Parallel()
	three := []staging.RowRange{{First: 1, Last: 10, Count: 10}, {First: 11, Last: 25, Count: 10}, {First: 26, Last: 27, Count: 2}}
	for _, tc := range []struct {
		name         string
		ranges       []staging.RowRange
		lanes, first int
		want         []jobhistory.Chunk
	}{
		{name: "nothing to upload", ranges: nil, lanes: 2, first: 1, want: []jobhistory.Chunk{}},
		{name: "one lane", ranges: three, lanes: 1, first: 1, want: []jobhistory.Chunk{
			{JobID: 7, No: 1, Lane: 1, FirstRow: 1, LastRow: 10, RowCount: 10},
			{JobID: 7, No: 2, Lane: 1, FirstRow: 11, LastRow: 25, RowCount: 10},
			{JobID: 7, No: 3, Lane: 1, FirstRow: 26, LastRow: 27, RowCount: 2},
		}},
		{name: "lanes take turns", ranges: three, lanes: 2, first: 1, want: []jobhistory.Chunk{
			{JobID: 7, No: 1, Lane: 1, FirstRow: 1, LastRow: 10, RowCount: 10},
			{JobID: 7, No: 2, Lane: 2, FirstRow: 11, LastRow: 25, RowCount: 10},
			{JobID: 7, No: 3, Lane: 1, FirstRow: 26, LastRow: 27, RowCount: 2},
		}},
		{name: "more lanes than chunks", ranges: three[:1], lanes: 4, first: 1, want: []jobhistory.Chunk{
			{JobID: 7, No: 1, Lane: 1, FirstRow: 1, LastRow: 10, RowCount: 10},
		}},
		{name: "numbering goes on after earlier chunks", ranges: three[1:], lanes: 2, first: 5, want: []jobhistory.Chunk{
			{JobID: 7, No: 5, Lane: 1, FirstRow: 11, LastRow: 25, RowCount: 10},
			{JobID: 7, No: 6, Lane: 2, FirstRow: 26, LastRow: 27, RowCount: 2},
		}},
		{name: "zero lanes is one", ranges: three[:2], lanes: 0, first: 1, want: []jobhistory.Chunk{
			{JobID: 7, No: 1, Lane: 1, FirstRow: 1, LastRow: 10, RowCount: 10},
			{JobID: 7, No: 2, Lane: 1, FirstRow: 11, LastRow: 25, RowCount: 10},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, PlanChunks(7, tc.ranges, tc.lanes, tc.first))
		})
	}
}

func TestDefinitionGroup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		group       string
		lanes, lane int
		want        string
	}{
		{group: "CUST", lanes: 1, lane: 1, want: "CUST"},
		{group: "CUST", lanes: 0, lane: 1, want: "CUST"},
		{group: "CUST", lanes: 3, lane: 2, want: "CUST-L2"},
		{group: "", lanes: 1, lane: 1, want: "customers"},
		{group: "", lanes: 2, lane: 1, want: "customers-L1"},
	} {
		p := &config.Project{Name: "customers", Target: &config.Target{DefinitionGroup: tc.group, Lanes: tc.lanes}}
		assert.Equal(t, tc.want, DefinitionGroup(p, tc.lane), "%+v", tc)
	}
}

func TestExecutionID(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "customers-12-3-1-9f3a07c2", ExecutionID("customers", 12, "9f3a07c2", 3, 1))
	assert.Equal(t, "customers-12-3-2", ExecutionID("customers", 12, "", 3, 2), "jobs from before the nonce keep their ids")
	assert.NotEqual(t, ExecutionID("customers", 12, "aaaa0000", 3, 1), ExecutionID("customers", 12, "bbbb1111", 3, 1),
		"two databases numbering a job 12 never share an execution id")
}
