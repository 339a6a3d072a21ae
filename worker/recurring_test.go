package worker

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/dmf/emulator"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
)

const recurringActivity = "0d6a4b3e-7c1f-4e51-9a2b-5c8d7e6f1a2b"

// recurring makes the test project a recurring import of recurringActivity.
func recurring(enqueue string) func(string) string {
	return func(yaml string) string {
		return strings.Replace(yaml, "    kind: import\n", "    kind: import\n    mode: recurring\n    activity: \"{"+
			strings.ToUpper(recurringActivity)+"}\"\n    enqueue: "+enqueue+"\n", 1)
	}
}

// The acceptance test: a recurring import enqueues its valid rows, follows the
// messages to Processed and its rows are in F&O; one with rows F&O refuses ends
// ProcessedWithErrors and the job shows the rows' errors, on the rows.
func TestRecurringImportEnqueuesAndBringsF0ErrorsBack(t *testing.T) {
	t.Parallel()
	for _, enqueue := range []string{"package", "file", "source"} {
		t.Run(enqueue, func(t *testing.T) {
			t.Parallel()
			b := setup(t, testOpts{chunkRows: 40, lanes: 1, edit: func(y string) string {
				y = recurring(enqueue)(y)
				if enqueue == "source" {
					y = asGiven(strings.Replace(y, "chunk_rows: 40, ", "", 1))
				}
				return y
			}})
			csvOf := testsvc.CustomersCSV
			if enqueue == "source" {
				csvOf = foCustomersCSV
			}
			job := emulator.RecurringJob{ActivityID: recurringActivity, LegalEntity: testLE}
			if enqueue != "package" {
				job.Entity = testEntity // the job takes individual files
			}
			b.em.AddRecurringJob(job)
			b.drop(t, "customers_ok.csv", csvOf(100, nil))
			s := b.startOne(t, "customers_ok.csv", false)
			if s.Status != jobhistory.JobSucceeded {
				events, _ := jobhistory.NewStore(b.pool).Events(t.Context(), s.ID)
				for _, e := range events {
					t.Log(e.Stage, e.Message)
				}
			}
			require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
			assert.EqualValues(t, 100, s.Counts.Imported)
			assert.Len(t, b.em.Rows(testEntity, testLE), 100, "the rows are in F&O")
			chunks := map[string]int{"package": 3, "file": 3, "source": 1}[enqueue]
			assert.Equal(t, chunks, s.Chunks)
			st := b.em.Stats()
			assert.EqualValues(t, chunks, st.Enqueued)
			assert.Zero(t, st.ImportCalls, "no ImportFromPackage: the recurring job imports")
			assert.Empty(t, st.ProtocolViolations)
			execs, err := jobhistory.NewStore(b.pool).Executions(t.Context(), s.ID)
			require.NoError(t, err)
			require.Len(t, execs, chunks)
			for _, ex := range execs {
				assert.Equal(t, "Processed", ex.DMFStatus)
				assert.Equal(t, "recurring:"+recurringActivity, ex.DefinitionGroup)
				m, ok, err := jobhistory.NewStore(b.pool).Enqueued(t.Context(), ex.ID)
				require.NoError(t, err)
				require.True(t, ok)
				assert.Equal(t, ex.BlobID, m.MessageID)
			}

			bad := map[int64]bool{}
			b.drop(t, "customers_bad.csv", csvOf(100, func(i int, account, group *string) {
				*account = "X" + *account
				if i%30 == 7 {
					*group = "99" // unknown to F&O, not to our rules
					bad[int64(i)] = true
				}
			}))
			s = b.startOne(t, "customers_bad.csv", false)
			require.Equal(t, jobhistory.JobPartiallySucceeded, s.Status, s.Error)
			assert.EqualValues(t, 100-len(bad), s.Counts.Imported)
			assert.EqualValues(t, len(bad), s.Counts.Rejected)
			rows, err := staging.NewStore(b.pool).Rows(t.Context(), s.ID, staging.StatusRejected, 0, 100)
			require.NoError(t, err)
			require.Len(t, rows, len(bad))
			for _, r := range rows {
				assert.True(t, bad[r.No], "row %d rejected", r.No)
				require.NotEmpty(t, r.Errors)
				assert.EqualValues(t, staging.RuleFO, r.Errors[0].Rule)
			}
			execs, err = jobhistory.NewStore(b.pool).Executions(t.Context(), s.ID)
			require.NoError(t, err)
			statuses := map[string]int{}
			for _, ex := range execs {
				statuses[ex.DMFStatus]++
			}
			assert.Positive(t, statuses["ProcessedWithErrors"], "%v", statuses)
		})
	}
}

// A chunk larger than F&O takes in one enqueue is refused before anything is sent; a
// file with invalid rows is not enqueued as given.
func TestRecurringImportRefusesWhatF0WouldNotTake(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 1000, lanes: 1, edit: recurring("package"),
		dmf: func(o *dmf.Options) { o.MaxEnqueueBytes = 4 << 10 }})
	b.em.AddRecurringJob(emulator.RecurringJob{ActivityID: recurringActivity, LegalEntity: testLE})
	b.drop(t, "customers_big.csv", testsvc.CustomersCSV(1000, nil))
	s := b.startOne(t, "customers_big.csv", false)
	require.Equal(t, jobhistory.JobFailed, s.Status)
	chunks, err := jobhistory.NewStore(b.pool).Chunks(t.Context(), s.ID)
	require.NoError(t, err)
	require.Len(t, chunks, 1)
	assert.Contains(t, chunks[0].Error, "more than F&O takes in one enqueue")
	assert.Contains(t, chunks[0].Error, "lower target.chunk_rows")
	assert.Zero(t, b.em.Stats().Enqueued, "refused before sending")
	execs, err := jobhistory.NewStore(b.pool).Executions(t.Context(), s.ID)
	require.NoError(t, err)
	assert.Empty(t, execs, "nothing recorded as sent")

	src := setup(t, testOpts{chunkRows: 1000, lanes: 1, edit: func(y string) string {
		return asGiven(strings.Replace(recurring("source")(y), "chunk_rows: 1000, ", "", 1))
	}})
	src.em.AddRecurringJob(emulator.RecurringJob{ActivityID: recurringActivity, LegalEntity: testLE, Entity: testEntity})
	src.drop(t, "customers_invalid.csv", foCustomersCSV(10, func(i int, account, _ *string) {
		if i == 4 {
			*account = ""
		}
	}))
	s = src.startOne(t, "customers_invalid.csv", false)
	require.Equal(t, jobhistory.JobFailed, s.Status, "nothing sent: the invalid row and the others wait")
	chunks, err = jobhistory.NewStore(src.pool).Chunks(t.Context(), s.ID)
	require.NoError(t, err)
	require.Len(t, chunks, 1)
	assert.Contains(t, chunks[0].Error, "enqueue: source sends the file as given")
	assert.Zero(t, src.em.Stats().Enqueued)
}

// asGiven makes the test project read files whose header names the entity's fields, as
// F&O's file jobs take them: a file that can go to F&O as given.
func asGiven(yaml string) string {
	return strings.NewReplacer(`delimiter: ";"`, `delimiter: ","`, "from: Account", "from: CUSTOMERACCOUNT",
		"from: Name", "from: ORGANIZATIONNAME", "from: Group", "from: CUSTOMERGROUPID").Replace(yaml)
}

// foCustomersCSV is testsvc.CustomersCSV with F&O's field names in its header, comma-separated,
// CRLF line ends, the currency and party type in the file.
func foCustomersCSV(n int, edit func(i int, account, group *string)) string {
	lines := strings.Split(strings.TrimSuffix(testsvc.CustomersCSV(n, edit), "\n"), "\n")
	var b strings.Builder
	b.WriteString("CUSTOMERACCOUNT,ORGANIZATIONNAME,CUSTOMERGROUPID,SALESCURRENCYCODE,PARTYTYPE\r\n")
	for _, l := range lines[1:] {
		b.WriteString(strings.ReplaceAll(l, ";", ",") + ",EUR,Organization\r\n")
	}
	return b.String()
}

// GetMessageStatus in RIS's spellings ends the messages all the same.
func TestRecurringImportKnowsRISSpellings(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 100, lanes: 1, edit: recurring("package"), emulator: func(c *emulator.Config) {
		c.Quirks.RISStatusSpelling = true
		c.ExecutionDelay = 50 * time.Millisecond
	}})
	b.em.AddRecurringJob(emulator.RecurringJob{ActivityID: recurringActivity, LegalEntity: testLE})
	b.drop(t, "customers_ris.csv", testsvc.CustomersCSV(10, nil))
	s := b.startOne(t, "customers_ris.csv", false)
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	assert.Len(t, b.em.Rows(testEntity, testLE), 10)
}
