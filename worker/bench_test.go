package worker

import (
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// BenchmarkImportEndToEnd imports a 100k-row CSV from a local folder into the emulator
// (10 chunks over 2 lanes) per iteration, and reports rows/s and the time spent from the
// job's creation to the end of each stage (from its event timeline). -rpm sets the
// environment's max_requests_per_minute: at the default 600 the client's own rate limit
// is what the uploads and polls wait for.
// benchRows sizes BenchmarkImportEndToEnd: go test ./worker -run '^$' -bench ImportEndToEnd -benchtime 1x -rows 1000000
var (
	benchRows = flag.Int("rows", 100_000, "rows of BenchmarkImportEndToEnd's file")
	benchRPM  = flag.Int("rpm", 0, "max_requests_per_minute of BenchmarkImportEndToEnd's environment (0: the default)")
)

func BenchmarkImportEndToEnd(b *testing.B) {
	rows := *benchRows
	bb := setup(b, testOpts{chunkRows: 10_000, lanes: 2, maxRequestsPerMinute: *benchRPM})
	hist := jobhistory.NewStore(bb.pool)
	stageEnd := map[string]time.Duration{}
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		name := fmt.Sprintf("bench_%d.csv", i)
		// Each iteration's content differs, so that none is a duplicate.
		bb.drop(b, name, testsvc.CustomersCSV(rows, func(_ int, account, _ *string) { *account = fmt.Sprintf("%s-%d", *account, i) }))
		b.StartTimer()
		start := time.Now()
		s := bb.startOne(b, name, false)
		total += time.Since(start)
		require.Equal(b, jobhistory.JobSucceeded, s.Status, s.Error)
		b.StopTimer()
		j, err := hist.Job(b.Context(), s.ID)
		require.NoError(b, err)
		events, err := hist.Events(b.Context(), s.ID)
		require.NoError(b, err)
		for _, e := range events {
			stageEnd[e.Stage] = max(stageEnd[e.Stage], e.At.Sub(j.CreatedAt))
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(rows*b.N)/total.Seconds(), "rows/s")
	for _, stage := range []string{"ingest", "chunk", "upload", "poll", "finalize"} {
		b.ReportMetric(stageEnd[stage].Seconds(), stage+"-end-s")
	}
}
