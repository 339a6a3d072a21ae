package emulator_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
)

const activity = "6d31e09f-0249-459f-94f0-aad9c4e5ae3c"

func (b *bundle) enqueue(path string, body []byte) (int, string) {
	b.t.Helper()
	resp := b.do(http.MethodPost, path, body, map[string]string{"x-ms-dyn-externalidentifier": "customers.csv"}, true)
	return resp.StatusCode, string(readAll(b.t, resp))
}

// waitMessage polls GetMessageStatus until it is one of final.
func (b *bundle) waitMessage(id string, final ...string) string {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s := b.str("GetMessageStatus", map[string]string{"messageId": id})
		for _, f := range final {
			if s == f {
				return s
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	b.t.Fatalf("message %s did not reach %v", id, final)
	return ""
}

func TestRecurringImportOfFiles(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	b.em.AddRecurringJob(emulator.RecurringJob{ActivityID: "{" + strings.ToUpper(activity) + "}", Entity: "Customers V3", LegalEntity: "USMF"})
	file := csvUnicode([]string{"CustomerAccount", "OrganizationName", "CustomerGroupId", "SalesCurrencyCode", "Unrelated"},
		[][]string{{"R1", "Recurring", "10", "USD", "x"}, {"R2", "Bad group", "55", "USD", "y"}})

	// Braces URL-encoded, as Microsoft's examples write them.
	status, body := b.enqueue("/api/connector/enqueue/%7B"+activity+"%7D?entity=Customers%20V3&company=dat", file)
	require.Equal(t, http.StatusOK, status, body)
	require.True(t, strings.HasPrefix(body, `"`) && strings.HasSuffix(body, `"`), "a JSON-quoted message ID: %s", body)
	msgID := strings.Trim(body, `"`)
	assert.Regexp(t, `^[0-9a-f-]{36}$`, msgID)

	assert.Equal(t, "ProcessedWithErrors", b.waitMessage(msgID, "Processed", "ProcessedWithErrors", "PreProcessingError"))
	execID := b.str("GetExecutionIdByMessageId", map[string]string{"_messageId": msgID})
	require.NotEmpty(t, execID)
	assert.Equal(t, "PartiallySucceeded", b.wait(execID))
	assert.Len(t, b.em.Rows("Customers V3", "DAT"), 1)
	errs, lines := splitErrors(b.errors(execID))
	assert.Len(t, errs, 1)
	assert.Equal(t, []string{"Results. 1 record(s) failed in target for entity 'Customers V3'."}, lines)

	// Legacy job status endpoint, not OData-wrapped.
	resp := b.do(http.MethodGet, "/api/connector/jobstatus/"+activity+"?jobId="+url.QueryEscape(msgID), nil, nil, true)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var js struct {
		DataJobStatus struct {
			DataJobState, ExecutionIdentifier, ExternalIdentifier string
		}
		ExecutionDetail []struct {
			EntityName                    string
			StagingRecords, TargetRecords int
		}
	}
	require.NoError(t, json.Unmarshal(readAll(t, resp), &js))
	assert.Equal(t, "ProcessedWithErrors", js.DataJobStatus.DataJobState)
	assert.Equal(t, execID, js.DataJobStatus.ExecutionIdentifier)
	assert.Equal(t, "customers.csv", js.DataJobStatus.ExternalIdentifier)
	require.Len(t, js.ExecutionDetail, 1)
	assert.Equal(t, 1, js.ExecutionDetail[0].TargetRecords)

	// A UTF-8 file without braces in the path also works for individual files.
	status, body = b.enqueue("/api/connector/enqueue/"+activity+"?entity=Customers%20V3", []byte("CUSTOMERACCOUNT,ORGANIZATIONNAME,CUSTOMERGROUPID,SALESCURRENCYCODE\r\nR3,Utf8,20,USD\r\n"))
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "Processed", b.waitMessage(strings.Trim(body, `"`), "Processed", "ProcessedWithErrors", "PreProcessingError"))
	assert.Len(t, b.em.Rows("Customers V3", "USMF"), 1)

	status, _ = b.enqueue("/api/connector/enqueue/"+activity, file)
	assert.Equal(t, http.StatusBadRequest, status, "a file job needs entity=")
	status, _ = b.enqueue("/api/connector/enqueue/"+activity+"?entity=Vendors%20V2", file)
	assert.Equal(t, http.StatusBadRequest, status, "another entity")
	status, _ = b.enqueue("/api/connector/enqueue/00000000-0000-0000-0000-000000000000?entity=Customers%20V3", file)
	assert.Equal(t, http.StatusBadRequest, status, "unknown activity")
	assert.Equal(t, int64(2), b.em.Stats().Enqueued)
}

func TestRecurringImportOfPackages(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{EnqueueLimit: 64 << 10})
	b.em.AddRecurringJob(emulator.RecurringJob{ActivityID: activity, DefinitionGroup: "RECURRING-PKG"})
	status, body := b.enqueue("/api/connector/enqueue/"+activity+"?company=USMF", customersPackage(t, "X", [][]string{{"P1", "Pkg", "10", "USD", "", ""}}))
	require.Equal(t, http.StatusOK, status)
	msgID := strings.Trim(body, `"`)
	assert.Equal(t, "Processed", b.waitMessage(msgID, "Processed", "ProcessedWithErrors", "PreProcessingError"))
	info, ok := b.em.Execution(b.str("GetExecutionIdByMessageId", map[string]string{"_messageId": msgID}))
	require.True(t, ok)
	assert.Equal(t, "RECURRING-PKG", info.DefinitionGroup)
	assert.Equal(t, msgID, info.MessageID)

	status, body = b.enqueue("/api/connector/enqueue/"+activity, []byte("not a package"))
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "PreProcessingError", b.waitMessage(strings.Trim(body, `"`), "Processed", "ProcessedWithErrors", "PreProcessingError"))

	status, _ = b.enqueue("/api/connector/enqueue/"+activity, bytes.Repeat([]byte("x"), 65<<10))
	assert.Equal(t, http.StatusRequestEntityTooLarge, status)

	status, _ = b.action("GetMessageStatus", map[string]string{"messageId": "00000000-0000-0000-0000-000000000000"})
	assert.Equal(t, http.StatusBadRequest, status)
}

func TestRISStatusSpelling(t *testing.T) {
	t.Parallel()
	// A long delay holds the message in preprocessing; Close ends it.
	b := setup(t, emulator.Config{ExecutionDelay: time.Hour, Quirks: emulator.Quirks{RISStatusSpelling: true}})
	b.em.AddRecurringJob(emulator.RecurringJob{ActivityID: activity})
	status, body := b.enqueue("/api/connector/enqueue/"+activity, customersPackage(t, "X", nil))
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "PreProcessing", b.waitMessage(strings.Trim(body, `"`), "PreProcessing", "Preprocessing"))
}

type dequeued struct {
	CorrelationID            string `json:"CorrelationId"`
	PopReceipt               string
	DownloadLocation         string
	IsDownLoadFileExist      bool
	FileDownLoadErrorMessage string
	LastDequeuedDateTime     string
}

func (b *bundle) dequeue() (*dequeued, []byte) {
	b.t.Helper()
	resp := b.do(http.MethodGet, "/api/connector/dequeue/%7B"+activity+"%7D", nil, nil, true)
	raw := readAll(b.t, resp)
	if resp.StatusCode == http.StatusNoContent {
		require.Empty(b.t, raw)
		return nil, nil
	}
	require.Equal(b.t, http.StatusOK, resp.StatusCode, string(raw))
	var d dequeued
	require.NoError(b.t, json.Unmarshal(raw, &d))
	return &d, raw
}

func TestRecurringExport(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)}
	b := setup(t, emulator.Config{Now: clock.Now, TokenTTL: 72 * time.Hour})
	b.em.Seed("Vendors V2", "USMF", []map[string]string{{"VENDORACCOUNTNUMBER": "V1", "VENDORGROUPID": "10", "CURRENCYCODE": "USD"}})
	b.em.AddExportProject(emulator.ExportProject{DefinitionGroup: "VEND-OUT", Entity: "Vendors V2"})
	b.em.AddRecurringJob(emulator.RecurringJob{ActivityID: activity, Direction: emulator.DirectionExport, DefinitionGroup: "VEND-OUT", Interval: 24 * time.Hour})

	d, raw := b.dequeue()
	require.NotNil(t, d, "the first dequeue runs the export")
	assert.True(t, d.IsDownLoadFileExist)
	assert.Empty(t, d.LastDequeuedDateTime)
	assert.True(t, strings.HasPrefix(d.DownloadLocation, b.srv.URL+"/api/connector/download/%7B"), d.DownloadLocation)

	resp := b.do(http.MethodGet, d.DownloadLocation, nil, nil, false)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "download needs the bearer token")
	resp.Body.Close()
	resp = b.do(http.MethodGet, d.DownloadLocation, nil, nil, true)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	data := readAll(t, resp)
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	assert.Contains(t, decodeUTF16(t, zipEntry(t, zr, "Vendors V2.csv")), "V1,")

	next, _ := b.dequeue()
	assert.Nil(t, next, "invisible for 30 minutes")

	clock.Advance(31 * time.Minute)
	again, _ := b.dequeue()
	require.NotNil(t, again, "redelivered when not acked")
	assert.Equal(t, d.CorrelationID, again.CorrelationID)
	assert.NotEqual(t, d.PopReceipt, again.PopReceipt)
	assert.Equal(t, "2025-06-01T08:00:00Z", again.LastDequeuedDateTime)

	// Ack with the exact dequeue body.
	resp = b.do(http.MethodPost, "/api/connector/ack/%7B"+activity+"%7D", raw, map[string]string{"Content-Type": "application/json"}, true)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp.Body.Close()
	clock.Advance(31 * time.Minute)
	gone, _ := b.dequeue()
	assert.Nil(t, gone, "acked messages never come back")

	// The next run is due after the interval.
	clock.Advance(24 * time.Hour)
	fresh, _ := b.dequeue()
	require.NotNil(t, fresh)
	assert.NotEqual(t, d.CorrelationID, fresh.CorrelationID)

	stats := b.em.Stats()
	assert.Equal(t, int64(3), stats.Dequeued)
	assert.Equal(t, int64(1), stats.Acked)

	resp = b.do(http.MethodPost, "/api/connector/ack/"+activity, []byte(`{"CorrelationId":"nope","PopReceipt":"x"}`), nil, true)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp.Body.Close()
}

func TestHTTPDownloadLocationQuirk(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{Quirks: emulator.Quirks{HTTPDownloadLocation: true}})
	b.em.AddExportProject(emulator.ExportProject{DefinitionGroup: "OUT", Entity: "Vendors V2"})
	b.em.AddRecurringJob(emulator.RecurringJob{ActivityID: activity, Direction: emulator.DirectionExport, DefinitionGroup: "OUT"})
	d, _ := b.dequeue()
	require.NotNil(t, d)
	u, err := url.Parse(d.DownloadLocation)
	require.NoError(t, err)
	assert.Equal(t, "http", u.Scheme)
	assert.Equal(t, "80", u.Port())
	srv, _ := url.Parse(b.srv.URL)
	assert.Equal(t, srv.Hostname(), u.Hostname())

	// Rewritten to the real address, the download works.
	u.Host = srv.Host
	resp := b.do(http.MethodGet, u.String(), nil, nil, true)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp.Body.Close()
	none, _ := b.dequeue()
	assert.Nil(t, none, "Interval 0 runs the export once")
}
