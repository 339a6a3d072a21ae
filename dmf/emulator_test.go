package dmf_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/dmf/datapackage"
	"github.com/dmfpipe/dmfpipe/dmf/emulator"
)

const customers = "Customers V3"

var customerFields = []string{"CUSTOMERACCOUNT", "ORGANIZATIONNAME", "CUSTOMERGROUPID", "SALESCURRENCYCODE", "PARTYTYPE"}

// sleeper stands in for Options.Sleep: it records each requested wait and sleeps at
// most a few milliseconds of it, so Retry-After and backoff are observable but fast.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeper) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	t := time.NewTimer(min(d, 5*time.Millisecond))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (s *sleeper) recorded() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.waits)
}

type bundle struct {
	em     *emulator.Emulator
	srv    *httptest.Server
	client *dmf.Client
	sleeps *sleeper
}

// setup starts an emulator on loopback HTTP and a client for it. wrap, when not nil,
// sits in front of the emulator (to lose responses on purpose).
func setup(t *testing.T, cfg emulator.Config, mutate func(*dmf.Options), wrap func(http.Handler) http.Handler) *bundle {
	t.Helper()
	em := emulator.New(cfg)
	t.Cleanup(em.Close)
	var h http.Handler = em
	if wrap != nil {
		h = wrap(em)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b := &bundle{em: em, srv: srv, sleeps: &sleeper{}}
	o := dmf.Options{
		BaseURL:              srv.URL,
		TokenURL:             srv.URL + "/" + emulator.DefaultTenant + "/oauth2/v2.0/token",
		ClientID:             emulator.DefaultClientID,
		ClientSecret:         emulator.DefaultClientSecret,
		MaxRequestsPerMinute: 600_000,
		Poll:                 dmf.PollOptions{Initial: 2 * time.Millisecond, Max: 20 * time.Millisecond, Deadline: time.Minute},
		Sleep:                b.sleeps.sleep,
	}
	if mutate != nil {
		mutate(&o)
	}
	c, err := dmf.New(o)
	require.NoError(t, err)
	b.client = c
	return b
}

// noViolations asserts the emulator saw nothing that breaks the protocol (e.g. a
// bearer token sent to a SAS URL) and nothing imported twice.
func (b *bundle) noViolations(t *testing.T) {
	t.Helper()
	st := b.em.Stats()
	assert.Empty(t, st.ProtocolViolations)
	assert.Zero(t, st.Updates, "no row was upserted twice")
}

// customerRows returns n rows starting at account number from; rows whose index is
// in badGroup get a customer group that does not exist (a target error), rows in
// tooLong an account longer than 20 characters (a staging error).
func customerRows(from, n int, badGroup, tooLong map[int]bool) [][]string {
	rows := make([][]string, n)
	for i := range rows {
		acct := fmt.Sprintf("C%07d", from+i)
		if tooLong[i] {
			acct = "TOO-LONG-ACCOUNT-" + acct
		}
		group := []string{"10", "20", "30"}[i%3]
		if badGroup[i] {
			group = "99"
		}
		rows[i] = []string{acct, fmt.Sprintf("Contoso \"%d\", Ltd", from+i), group, "EUR", "Organization"}
	}
	return rows
}

func buildPackage(t *testing.T, group string, rows [][]string) *bytes.Reader {
	t.Helper()
	var buf bytes.Buffer
	w, err := datapackage.NewWriter(&buf, datapackage.Spec{DefinitionGroup: group, Entity: customers,
		TargetEntity: "CustCustomerV3Entity", Fields: customerFields})
	require.NoError(t, err)
	for _, r := range rows {
		require.NoError(t, w.WriteRow(r))
	}
	require.NoError(t, w.Close())
	return bytes.NewReader(buf.Bytes())
}

func (b *bundle) importRows(t *testing.T, group string, rows [][]string) *dmf.ImportResult {
	t.Helper()
	pkg := buildPackage(t, group, rows)
	res, err := b.client.Import(t.Context(), dmf.ImportJob{Package: pkg, Size: pkg.Size(), DefinitionGroupID: group, LegalEntityID: "USMF"})
	require.NoError(t, err)
	return res
}

// assertCustomers checks that exactly rows (minus the skipped indexes) are in F&O.
func assertCustomers(t *testing.T, em *emulator.Emulator, rows [][]string, skip map[int]bool) {
	t.Helper()
	got := map[string]map[string]string{}
	for _, r := range em.Rows(customers, "USMF") {
		got[r["CUSTOMERACCOUNT"]] = r
	}
	want := 0
	for i, r := range rows {
		if skip[i] {
			assert.NotContains(t, got, r[0])
			continue
		}
		want++
		if assert.Contains(t, got, r[0]) {
			assert.Equal(t, r[1], got[r[0]]["ORGANIZATIONNAME"])
			assert.Equal(t, r[2], got[r[0]]["CUSTOMERGROUPID"])
		}
	}
	assert.Len(t, got, want)
}

func TestImportSucceeds(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{}, nil, nil)
	rows := customerRows(0, 500, nil, nil)
	res := b.importRows(t, "CUST-IMPORT", rows)
	assert.Equal(t, dmf.StatusSucceeded, res.Status)
	assert.True(t, strings.HasPrefix(res.ExecutionID, "CUST-IMPORT-"), res.ExecutionID)
	assertCustomers(t, b.em, rows, nil)
	st := b.em.Stats()
	assert.Equal(t, int64(500), st.Inserts)
	assert.Equal(t, int64(1), st.ImportCalls)
	assert.Equal(t, int64(1), st.Requests["blob.PutBlob"])
	assert.Equal(t, int64(1), st.Requests["token.v2"], "one token serves every call")
	b.noViolations(t)

	errs, err := b.client.GetExecutionErrors(t.Context(), res.ExecutionID)
	require.NoError(t, err)
	assert.Empty(t, errs)

	// Importing the same rows again updates, never duplicates.
	res = b.importRows(t, "CUST-IMPORT", rows)
	assert.Equal(t, dmf.StatusSucceeded, res.Status)
	assert.Len(t, b.em.Rows(customers, "USMF"), 500)
}

func TestGetAzureWriteURLDoubleDecode(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{}, nil, nil)
	loc, err := b.client.GetAzureWriteURL(t.Context(), "")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(loc.BlobID, "{") && strings.HasSuffix(loc.BlobID, "}"), loc.BlobID)
	assert.True(t, strings.HasPrefix(loc.BlobURL, b.srv.URL+"/devstoreaccount1/dmf/"), loc.BlobURL)
	assert.Contains(t, loc.BlobURL, "sig=")
}

func TestImportStagingOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{}, nil, nil)
	pkg := buildPackage(t, "CUST-STAGE", customerRows(0, 20, nil, nil))
	res, err := b.client.Import(t.Context(), dmf.ImportJob{Package: pkg, Size: pkg.Size(),
		DefinitionGroupID: "CUST-STAGE", StagingOnly: true})
	require.NoError(t, err)
	assert.Equal(t, dmf.StatusSucceeded, res.Status)
	assert.Empty(t, b.em.Rows(customers, "USMF"), "execute=false stops after staging")
}

func TestImportPartialErrorsAndFiles(t *testing.T) {
	t.Parallel()
	badGroup := map[int]bool{3: true, 50: true, 77: true, 120: true, 199: true}
	tooLong := map[int]bool{10: true, 11: true, 150: true}
	skip := map[int]bool{}
	for i := range badGroup {
		skip[i] = true
	}
	for i := range tooLong {
		skip[i] = true
	}
	var reports [][]dmf.ExecutionError
	for _, unescaped := range []bool{false, true} {
		t.Run(fmt.Sprintf("unescaped=%v", unescaped), func(t *testing.T) {
			// One seed for both: the RecordIds (staging RecIds) are then the same.
			b := setup(t, emulator.Config{Quirks: emulator.Quirks{UnescapedErrors: unescaped}, RandSeed: 1}, nil, nil)
			rows := customerRows(0, 200, badGroup, tooLong)
			res := b.importRows(t, "CUST-PARTIAL", rows)
			require.Equal(t, dmf.StatusPartiallySucceeded, res.Status)
			assertCustomers(t, b.em, rows, skip)

			rep, err := b.client.CollectErrors(t.Context(), res.ExecutionID, []string{customers})
			require.NoError(t, err)
			rowErrs, results := splitErrors(rep.Errors)
			require.Len(t, rowErrs, len(skip))
			assert.Equal(t, []string{"Results. 3 record(s) failed in staging for entity 'Customers V3'.",
				"Results. 5 record(s) failed in target for entity 'Customers V3'."}, results)
			byField := map[string]int{}
			for _, e := range rowErrs {
				byField[e.Field]++
			}
			assert.Equal(t, map[string]int{"CUSTOMERGROUPID": 5, "CUSTOMERACCOUNT": 3}, byField)
			for _, e := range rowErrs {
				if e.Field == "CUSTOMERACCOUNT" {
					assert.Contains(t, e.Message, `for column "CUSTOMERACCOUNT" returned status value 4 and status text "Text was truncated`,
						"quotes inside messages survive")
				}
			}
			files := map[dmf.ErrorFileKind][][]string{}
			for _, f := range rep.Files {
				assert.Equal(t, customers, f.Entity)
				header, records := downloadErrorFile(t, b, f)
				files[f.Kind] = append([][]string{header}, records...)
			}
			var wantStaging, wantKeys [][]string
			for i, r := range rows {
				if tooLong[i] {
					wantStaging = append(wantStaging, r)
				}
				if badGroup[i] {
					wantKeys = append(wantKeys, []string{r[0]})
				}
			}
			assert.Equal(t, append([][]string{customerFields}, wantStaging...), files[dmf.StagingErrorFile],
				"the source rows that failed source-to-staging, every column")
			assert.Equal(t, append([][]string{{"CUSTOMERACCOUNT"}}, wantKeys...), files[dmf.TargetErrorKeysFile],
				"the keys of the rows that failed staging-to-target")
			b.noViolations(t)
			reports = append(reports, rep.Errors)
		})
	}
	require.Len(t, reports, 2)
	sortErrs := func(es []dmf.ExecutionError) {
		slices.SortFunc(es, func(a, b dmf.ExecutionError) int {
			return strings.Compare(a.RecordID+a.Field+a.Message, b.RecordID+b.Field+b.Message)
		})
	}
	sortErrs(reports[0])
	sortErrs(reports[1])
	assert.Equal(t, reports[0], reports[1], "the lenient parse of unescaped errors equals the strict one")
}

// TestErrorsOfAnImportAreNotByPosition is the case that once passed by coincidence: a
// 5,000-row package with 25 rows in an unknown customer group. F&O names the rows by
// staging RecId, which says nothing of their position; only the target error keys file
// says which rows failed.
func TestErrorsOfAnImportAreNotByPosition(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{RandSeed: 5000}, nil, nil)
	bad := map[int]bool{}
	want := map[string]bool{}
	for i := range 25 {
		bad[i*i*7+i] = true // 0 .. 4224, denser at the start
	}
	rows := customerRows(0, 5000, bad, nil)
	for i := range bad {
		want[rows[i][0]] = true
	}
	res := b.importRows(t, "CUST-5000", rows)
	require.Equal(t, dmf.StatusPartiallySucceeded, res.Status)
	assert.Len(t, b.em.Rows(customers, "USMF"), 5000-25)

	rep, err := b.client.CollectErrors(t.Context(), res.ExecutionID, []string{customers})
	require.NoError(t, err)
	rowErrs, results := splitErrors(rep.Errors)
	assert.Equal(t, []string{"Results. 25 record(s) failed in target for entity 'Customers V3'."}, results)
	require.Len(t, rowErrs, 25)
	asPosition := 0
	for _, e := range rowErrs {
		assert.Equal(t, dmf.ExecutionError{RecordID: e.RecordID, Field: "CUSTOMERGROUPID",
			Message: "The value '99' in field 'Customer group' is not found in the relating table 'Customer groups'."}, e)
		n, err := strconv.ParseInt(e.RecordID, 10, 64)
		require.NoError(t, err)
		if pos := n - 5637144576; pos >= 1 && pos <= 5000 && bad[int(pos)-1] {
			asPosition++
		}
	}
	assert.Zero(t, asPosition, "no RecordId read as base+position names a failed row")

	require.Len(t, rep.Files, 1, "nothing failed source-to-staging")
	require.Equal(t, dmf.TargetErrorKeysFile, rep.Files[0].Kind)
	header, records := downloadErrorFile(t, b, rep.Files[0])
	assert.Equal(t, []string{"CUSTOMERACCOUNT"}, header)
	got := map[string]bool{}
	for _, r := range records {
		got[r[0]] = true
	}
	assert.Len(t, records, 25)
	assert.Equal(t, want, got, "exactly the keys of the failed rows")
}

// splitErrors separates the messages of staged rows (they have a RecordId) from the
// lines of the execution, which name no row.
func splitErrors(errs []dmf.ExecutionError) (rows []dmf.ExecutionError, lines []string) {
	for _, e := range errs {
		if e.RecordID == "" {
			lines = append(lines, e.Message)
		} else {
			rows = append(rows, e)
		}
	}
	return rows, lines
}

// downloadErrorFile downloads an error file and reads it with dmf.ErrorFileReader.
func downloadErrorFile(t *testing.T, b *bundle, f dmf.ErrorFile) (header []string, records [][]string) {
	t.Helper()
	var buf bytes.Buffer
	_, err := b.client.DownloadBlob(t.Context(), f.URL, &buf)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(buf.Bytes(), []byte{0xFF, 0xFE}), "CSV-Unicode: UTF-16 LE with BOM")
	r, err := dmf.NewErrorFileReader(&buf)
	require.NoError(t, err)
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r.Header(), records
		}
		require.NoError(t, err)
		records = append(records, slices.Clone(rec.Values))
	}
}

func seedCustomers(em *emulator.Emulator, rows [][]string) {
	seed := make([]map[string]string, len(rows))
	for i, r := range rows {
		m := map[string]string{}
		for j, f := range customerFields {
			m[f] = r[j]
		}
		seed[i] = m
	}
	em.Seed(customers, "USMF", seed)
}

// readPackageRows reads every row of the package's only entity, keyed by the first
// column, with values keyed by column name.
func readPackageRows(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	pkg, err := datapackage.Open(path)
	require.NoError(t, err)
	defer pkg.Close()
	require.Len(t, pkg.Manifest.Entities, 1)
	assert.Equal(t, customers, pkg.Manifest.Entities[0].EntityName)
	rs, err := pkg.Rows(pkg.Manifest.Entities[0])
	require.NoError(t, err)
	defer rs.Close()
	cols := rs.Columns()
	acct := slices.IndexFunc(cols, func(c string) bool { return strings.EqualFold(c, "CUSTOMERACCOUNT") })
	require.GreaterOrEqual(t, acct, 0, "columns %v", cols)
	out := map[string]map[string]string{}
	for {
		rec, err := rs.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		m := map[string]string{}
		for i, c := range cols {
			m[strings.ToUpper(c)] = rec[i]
		}
		out[rec[acct]] = m
	}
	return out
}

func TestExportBothValueShapes(t *testing.T) {
	t.Parallel()
	for _, nested := range []bool{false, true} {
		t.Run(fmt.Sprintf("nested=%v", nested), func(t *testing.T) {
			t.Parallel()
			b := setup(t, emulator.Config{Quirks: emulator.Quirks{NestedValue: nested}}, nil, nil)
			rows := customerRows(0, 300, nil, nil)
			seedCustomers(b.em, rows)
			b.em.AddExportProject(emulator.ExportProject{DefinitionGroup: "CUST-EXPORT", Entity: customers})

			path := filepath.Join(t.TempDir(), "export.zip")
			f, err := os.Create(path)
			require.NoError(t, err)
			res, err := b.client.Export(t.Context(), dmf.ExportJob{DefinitionGroupID: "CUST-EXPORT", LegalEntityID: "USMF",
				ExecutionID: "EXPORT-RUN-1"}, f)
			require.NoError(t, err)
			require.NoError(t, f.Close())
			assert.Equal(t, "EXPORT-RUN-1", res.ExecutionID, "the nested value is unwrapped to the execution id")
			assert.Equal(t, dmf.StatusSucceeded, res.Status)
			assert.Positive(t, res.PackageBytes)

			got := readPackageRows(t, path)
			require.Len(t, got, len(rows))
			for _, r := range rows {
				assert.Equal(t, r[1], got[r[0]]["ORGANIZATIONNAME"])
			}
			u, err := b.client.GetExportedPackageURL(t.Context(), res.ExecutionID)
			require.NoError(t, err)
			assert.Contains(t, u, "/devstoreaccount1/dmf/")
			b.noViolations(t)
		})
	}
}

func TestExportOfMissingProjectFails(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{}, nil, nil)
	_, err := b.client.Export(t.Context(), dmf.ExportJob{DefinitionGroupID: "NO-SUCH-PROJECT"}, io.Discard)
	var he *dmf.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusBadRequest, he.StatusCode)
	assert.Equal(t, int64(1), b.em.Stats().ExportCalls, "a 400 is an answer: no resend")
}

func TestRecurringImportBothStatusSpellings(t *testing.T) {
	t.Parallel()
	for _, ris := range []bool{false, true} {
		t.Run(fmt.Sprintf("ris=%v", ris), func(t *testing.T) {
			t.Parallel()
			b := setup(t, emulator.Config{Quirks: emulator.Quirks{RISStatusSpelling: ris}}, nil, nil)
			const activity = "{5F2C1E0A-1B2C-4D3E-8F90-A1B2C3D4E5F6}"
			b.em.AddRecurringJob(emulator.RecurringJob{ActivityID: activity, Entity: customers})

			rows := customerRows(0, 50, map[int]bool{7: true}, nil)
			var csvFile bytes.Buffer
			csvFile.WriteString(strings.Join(customerFields, ",") + "\r\n")
			for _, r := range rows {
				for i, v := range r {
					if i > 0 {
						csvFile.WriteByte(',')
					}
					csvFile.WriteString(`"` + strings.ReplaceAll(v, `"`, `""`) + `"`)
				}
				csvFile.WriteString("\r\n")
			}
			id, err := b.client.Enqueue(t.Context(), dmf.EnqueueRequest{ActivityID: activity, Entity: customers, Company: "usmf",
				ExternalID: "customers.csv", ContentType: "text/csv", Body: bytes.NewReader(csvFile.Bytes()), Size: int64(csvFile.Len())})
			require.NoError(t, err)
			assert.NotContains(t, id, `"`)

			var final dmf.MessageStatus
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
				st, err := b.client.GetMessageStatus(t.Context(), id)
				require.NoError(t, err)
				assert.Contains(t, []dmf.MessageStatus{dmf.MessageEnqueued, dmf.MessagePreprocessing, dmf.MessageProcessing,
					dmf.MessageProcessed, dmf.MessageProcessedWithErrors}, st, "every status maps onto a documented one")
				if st.Terminal() {
					final = st
					break
				}
			}
			require.Equal(t, dmf.MessageProcessedWithErrors, final)

			execID, err := b.client.GetExecutionIDByMessageID(t.Context(), id)
			require.NoError(t, err)
			require.NotEmpty(t, execID)
			all, err := b.client.GetExecutionErrors(t.Context(), execID)
			require.NoError(t, err)
			errs, _ := splitErrors(all)
			require.Len(t, errs, 1)
			assert.Equal(t, "CUSTOMERGROUPID", errs[0].Field)

			js, err := b.client.JobStatus(t.Context(), activity, id)
			require.NoError(t, err)
			assert.Equal(t, execID, js.DataJobStatus.ExecutionIdentifier)
			assert.Equal(t, "customers.csv", js.DataJobStatus.ExternalIdentifier)
			assertCustomers(t, b.em, rows, map[int]bool{7: true})
			b.noViolations(t)
		})
	}
}

func TestRecurringExportDequeueDownloadAck(t *testing.T) {
	t.Parallel()
	for _, httpLocation := range []bool{false, true} {
		t.Run(fmt.Sprintf("httpDownloadLocation=%v", httpLocation), func(t *testing.T) {
			t.Parallel()
			b := setup(t, emulator.Config{Quirks: emulator.Quirks{HTTPDownloadLocation: httpLocation}}, nil, nil)
			rows := customerRows(0, 40, nil, nil)
			seedCustomers(b.em, rows)
			b.em.AddExportProject(emulator.ExportProject{DefinitionGroup: "CUST-RECUR", Entity: customers})
			const activity = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
			b.em.AddRecurringJob(emulator.RecurringJob{ActivityID: activity, Direction: emulator.DirectionExport, DefinitionGroup: "CUST-RECUR"})

			m, err := b.client.Dequeue(t.Context(), activity)
			require.NoError(t, err)
			require.NotNil(t, m)
			assert.True(t, bool(m.IsDownLoadFileExist))
			assert.Contains(t, string(m.Raw), "LastDequeuedDateTime", "unknown fields are kept in the raw body")
			if httpLocation {
				assert.True(t, strings.HasPrefix(m.DownloadLocation, "http://127.0.0.1:80/"), m.DownloadLocation)
			}
			path := filepath.Join(t.TempDir(), "msg.zip")
			f, err := os.Create(path)
			require.NoError(t, err)
			n, err := b.client.DownloadMessage(t.Context(), m, f)
			require.NoError(t, err)
			require.NoError(t, f.Close())
			assert.Positive(t, n)
			assert.Len(t, readPackageRows(t, path), len(rows))

			require.NoError(t, b.client.Ack(t.Context(), activity, m))
			next, err := b.client.Dequeue(t.Context(), activity)
			require.NoError(t, err)
			assert.Nil(t, next, "204 once the queue is empty")
			st := b.em.Stats()
			assert.Equal(t, int64(1), st.Dequeued)
			assert.Equal(t, int64(1), st.Acked)
			assert.Empty(t, st.ProtocolViolations)
		})
	}
}

func TestEnqueueLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{}, func(o *dmf.Options) { o.MaxEnqueueBytes = 10 }, nil)
	_, err := b.client.Enqueue(t.Context(), dmf.EnqueueRequest{ActivityID: "A", Body: strings.NewReader("01234567890"), Size: 11})
	require.ErrorIs(t, err, dmf.ErrTooLarge)
	assert.Zero(t, b.em.Stats().Requests["connector.enqueue"])
}

// fullRoundTrip imports rows with some bad ones, collects the errors and exports the
// result: every kind of call, under whatever faults the emulator has.
func fullRoundTrip(t *testing.T, b *bundle, n int) {
	t.Helper()
	bad := map[int]bool{1: true, n / 2: true}
	rows := customerRows(0, n, bad, nil)
	res := b.importRows(t, "CUST-FAULTS", rows)
	require.Equal(t, dmf.StatusPartiallySucceeded, res.Status)
	rep, err := b.client.CollectErrors(t.Context(), res.ExecutionID, []string{customers})
	require.NoError(t, err)
	rowErrs, results := splitErrors(rep.Errors)
	assert.Len(t, rowErrs, 2)
	assert.Len(t, results, 1)
	assertCustomers(t, b.em, rows, bad)

	b.em.AddExportProject(emulator.ExportProject{DefinitionGroup: "CUST-FAULTS-EXPORT", Entity: customers})
	path := filepath.Join(t.TempDir(), "export.zip")
	f, err := os.Create(path)
	require.NoError(t, err)
	exp, err := b.client.Export(t.Context(), dmf.ExportJob{DefinitionGroupID: "CUST-FAULTS-EXPORT", LegalEntityID: "USMF"}, f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.Equal(t, dmf.StatusSucceeded, exp.Status)
	assert.Len(t, readPackageRows(t, path), n-len(bad))

	entities, err := b.client.DataEntities(t.Context(), "")
	require.NoError(t, err)
	assert.NotEmpty(t, entities)
	b.noViolations(t)
	assert.Equal(t, int64(1), b.em.Stats().ExportCalls, "ExportToPackage is never sent twice")
}

func TestThrottleStorm(t *testing.T) {
	t.Parallel()
	for _, httpDate := range []bool{false, true} {
		t.Run(fmt.Sprintf("httpDate=%v", httpDate), func(t *testing.T) {
			t.Parallel()
			b := setup(t, emulator.Config{Faults: emulator.Faults{Rate429: 0.4, RetryAfter: 2 * time.Second,
				RetryAfterHTTPDate: httpDate}, RandSeed: 7}, nil, nil)
			fullRoundTrip(t, b, 1000)
			st := b.em.Stats()
			assert.Greater(t, st.Throttled, int64(5))
			assert.Equal(t, int64(998), st.Inserts)
			// Every 429 was waited out for about its Retry-After (±10% jitter; an HTTP
			// date has one-second resolution).
			honoured := 0
			for _, w := range b.sleeps.recorded() {
				if w >= 800*time.Millisecond && w <= 2200*time.Millisecond {
					honoured++
				}
			}
			assert.GreaterOrEqual(t, int64(honoured), st.Throttled)
		})
	}
}

func TestServerErrorBursts(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{Faults: emulator.Faults{Rate5xx: 0.25, Rate5xxOnStatus: 0.5}, RandSeed: 11}, nil, nil)
	fullRoundTrip(t, b, 1000)
	st := b.em.Stats()
	assert.Greater(t, st.Faulted, int64(3))
	assert.Equal(t, int64(998), st.Inserts)
	assert.Equal(t, int64(1), st.ImportCalls, "ImportFromPackage reached the import engine once")
}

func TestNotFoundRightAfterImport(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{Faults: emulator.Faults{NotFoundAfterImport: 3}}, nil, nil)
	res := b.importRows(t, "CUST-NF", customerRows(0, 10, nil, nil))
	assert.Equal(t, dmf.StatusSucceeded, res.Status)
	assert.GreaterOrEqual(t, b.em.Stats().Requests["GetExecutionSummaryStatus"], int64(4))
}

func TestStuckExecutionHitsPollDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{Faults: emulator.Faults{StuckExecuting: true}},
		func(o *dmf.Options) { o.Poll.Deadline = time.Second }, nil)
	pkg := buildPackage(t, "CUST-STUCK", customerRows(0, 5, nil, nil))
	res, err := b.client.Import(t.Context(), dmf.ImportJob{Package: pkg, Size: pkg.Size(), DefinitionGroupID: "CUST-STUCK"})
	require.ErrorIs(t, err, dmf.ErrPollDeadline)
	require.NotNil(t, res)
	assert.NotEmpty(t, res.ExecutionID)
	assert.Equal(t, dmf.StatusExecuting, res.Status)
}

// dropResponse is a handler in front of the emulator that loses the answer of the
// first ImportFromPackage: before the emulator sees it (processed=false) or after
// the emulator has handled it (processed=true). Either way the client's connection
// is cut.
func dropResponse(processed bool, dropped *atomic.Bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, ".ImportFromPackage") && dropped.CompareAndSwap(false, true) {
				if processed {
					next.ServeHTTP(httptest.NewRecorder(), r)
				}
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestLostImportResponse(t *testing.T) {
	t.Parallel()
	for _, processed := range []bool{false, true} {
		t.Run(fmt.Sprintf("processed=%v", processed), func(t *testing.T) {
			t.Parallel()
			var dropped atomic.Bool
			b := setup(t, emulator.Config{}, nil, dropResponse(processed, &dropped))
			rows := customerRows(0, 100, nil, nil)
			res := b.importRows(t, "CUST-LOST", rows)
			require.True(t, dropped.Load())
			assert.Equal(t, dmf.StatusSucceeded, res.Status)
			assertCustomers(t, b.em, rows, nil)
			st := b.em.Stats()
			// Processed: the lookup finds the execution and nothing is re-sent. Not
			// processed: the lookup finds nothing and the call is re-sent once.
			assert.Equal(t, int64(1), st.ImportCalls)
			assert.Equal(t, int64(1), st.Executions)
			b.noViolations(t)
		})
	}
}

func TestImportTimeoutLooksUpInsteadOfResending(t *testing.T) {
	t.Parallel()
	// Staging takes longer than the client waits for ImportFromPackage's answer.
	b := setup(t, emulator.Config{ExecutionDelay: 300 * time.Millisecond},
		func(o *dmf.Options) { o.LongRequestTimeout = 50 * time.Millisecond }, nil)
	rows := customerRows(0, 30, nil, nil)
	res := b.importRows(t, "CUST-SLOW", rows)
	assert.Equal(t, dmf.StatusSucceeded, res.Status)
	assert.Equal(t, int64(1), b.em.Stats().ImportCalls)
	assert.Equal(t, int64(1), b.em.Stats().Requests["ImportFromPackage"])
	assertCustomers(t, b.em, rows, nil)
	b.noViolations(t)
}

func TestBlockUpload(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{}, func(o *dmf.Options) {
		o.BlockUploadThreshold = 64 << 10
		o.BlockSize = 16 << 10
	}, nil)
	rows := customerRows(0, 20_000, nil, nil)
	pkg := buildPackage(t, "CUST-BLOCKS", rows)
	require.Greater(t, pkg.Size(), int64(64<<10))
	res, err := b.client.Import(t.Context(), dmf.ImportJob{Package: pkg, Size: pkg.Size(), DefinitionGroupID: "CUST-BLOCKS"})
	require.NoError(t, err)
	assert.Equal(t, dmf.StatusSucceeded, res.Status)
	st := b.em.Stats()
	assert.Equal(t, (pkg.Size()+16<<10-1)/(16<<10), st.Requests["blob.PutBlock"])
	assert.Equal(t, int64(1), st.Requests["blob.PutBlockList"])
	assert.Zero(t, st.Requests["blob.PutBlob"])
	assert.Len(t, b.em.Rows(customers, "USMF"), len(rows))
	b.noViolations(t)
}

func TestConcurrentImportsOfOneGroupAreSerialised(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{Faults: emulator.Faults{FailConcurrentImports: true}, ExecutionDelay: 5 * time.Millisecond}, nil, nil)
	var wg sync.WaitGroup
	var all [][]string
	for k := range 4 {
		rows := customerRows(k*1000, 200, nil, nil)
		all = append(all, rows...)
		wg.Go(func() {
			pkg := buildPackage(t, "CUST-LANE", rows)
			res, err := b.client.Import(t.Context(), dmf.ImportJob{Package: pkg, Size: pkg.Size(), DefinitionGroupID: "CUST-LANE"})
			if assert.NoError(t, err) {
				assert.Equal(t, dmf.StatusSucceeded, res.Status)
			}
		})
	}
	wg.Wait()
	assertCustomers(t, b.em, all, nil)
	b.noViolations(t)
}

func TestMetadataAndJobDetails(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{}, nil, nil)
	all, err := b.client.DataEntities(t.Context(), "")
	require.NoError(t, err)
	i := slices.IndexFunc(all, func(e dmf.DataEntity) bool { return e.Name == "CustCustomerV3Entity" })
	require.GreaterOrEqual(t, i, 0)
	assert.Equal(t, "CustomersV3", all[i].PublicCollectionName)
	one, err := b.client.DataEntities(t.Context(), "PublicCollectionName eq 'CustomersV3'")
	require.NoError(t, err)
	require.Len(t, one, 1)

	res := b.importRows(t, "CUST-DETAILS", customerRows(0, 25, nil, nil))
	details, err := b.client.ExecutionJobDetails(t.Context(), dmf.JobDetailsFilter{JobID: res.ExecutionID})
	require.NoError(t, err)
	require.Len(t, details, 1)
	assert.Equal(t, "CUST-DETAILS", details[0].DefinitionGroupID)
	assert.Equal(t, customers, details[0].EntityName)
	assert.Equal(t, int64(25), details[0].TargetRecordsCreatedCount)
	byGroup, err := b.client.ExecutionJobDetails(t.Context(), dmf.JobDetailsFilter{DefinitionGroupID: "cust-details"})
	require.NoError(t, err)
	assert.Len(t, byGroup, 1)
}

func TestTokenV1AndBadCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{}, func(o *dmf.Options) {
		o.TokenVersion = dmf.TokenV1
		o.TokenURL = strings.Replace(o.TokenURL, "/oauth2/v2.0/token", "/oauth2/token", 1)
	}, nil)
	res := b.importRows(t, "CUST-V1", customerRows(0, 5, nil, nil))
	assert.Equal(t, dmf.StatusSucceeded, res.Status)
	assert.Equal(t, int64(1), b.em.Stats().Requests["token.v1"])
	b.noViolations(t)

	const wrong = "not-the-secret-4242"
	bad := setup(t, emulator.Config{}, func(o *dmf.Options) { o.ClientSecret = wrong }, nil)
	_, err := bad.client.GetExecutionSummaryStatus(t.Context(), "X")
	var he *dmf.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "invalid_client", he.Code)
	assert.NotContains(t, err.Error(), wrong)
}

func TestLogsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var mu sync.Mutex
	b := setup(t, emulator.Config{Faults: emulator.Faults{Rate429: 0.3, Rate5xx: 0.2}, RandSeed: 3}, func(o *dmf.Options) {
		o.Logger = newLogger(&lockedWriter{w: &logs, mu: &mu})
	}, nil)
	res := b.importRows(t, "CUST-LOGS", customerRows(0, 50, map[int]bool{2: true}, nil))
	rep, err := b.client.CollectErrors(t.Context(), res.ExecutionID, []string{customers})
	require.NoError(t, err)
	for _, f := range rep.Files {
		_, err := b.client.DownloadBlob(t.Context(), f.URL, io.Discard)
		require.NoError(t, err)
	}
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, logs.String(), "faults produce retry logs")
	sc := bufio.NewScanner(bytes.NewReader(logs.Bytes()))
	for sc.Scan() {
		line := sc.Text()
		assert.NotContains(t, line, emulator.DefaultClientSecret)
		assert.NotContains(t, line, "sig=")
		assert.NotContains(t, line, "Bearer")
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
