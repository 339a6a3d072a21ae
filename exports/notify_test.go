package exports_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// A finished export notifies the project's people (Mailpit here) with what it wrote, and
// the export counters on /metrics count its files and rows.
func TestExportNotifiesAndCounts(t *testing.T) {
	t.Parallel()
	to := testsvc.Name(t) + "@example.test"
	b := setup(t, opts{smtp: true, projects: exportProject("told", "out", "told/{entity}.csv",
		"    notify: { email: ["+to+"], on: [success, failure] }\n")})
	seedCustomers(b.em, "N", 12)
	b.em.AddExportProject(emulator.ExportProject{DefinitionGroup: "EXP-CUST", Entity: "Customers V3"})
	before := counter(t, "dmfpipe_export_rows_total")
	s := b.run(t, "told")
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)

	_, api := testsvc.Mailpit(t)
	var subject string
	require.Eventually(t, func() bool {
		resp, err := http.Get(api + "/api/v1/search?" + url.Values{"query": {"to:" + to}}.Encode())
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var res struct{ Messages []struct{ Subject string } }
		if json.NewDecoder(resp.Body).Decode(&res) != nil || len(res.Messages) == 0 {
			return false
		}
		subject = res.Messages[0].Subject
		return true
	}, 30*time.Second, 100*time.Millisecond)
	assert.Equal(t, "[dmfpipe] told: succeeded (12 rows exported in 1 files)", subject)
	assert.GreaterOrEqual(t, counter(t, "dmfpipe_export_rows_total")-before, 12.0)
	assert.Positive(t, counter(t, "dmfpipe_export_files_total"))
}

// counter sums a counter of the default registry over its labels.
func counter(t *testing.T, name string) float64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
