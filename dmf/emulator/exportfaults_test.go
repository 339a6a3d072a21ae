package emulator_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
)

// An export project of several entities packs a data file each; an entity without rows
// gets its header alone. PartialExports ends the export PartiallySucceeded with its
// package, and ExportURLNotReady answers GetExportedPackageUrl "", "”" and a zero GUID
// first.
func TestExportOfSeveralEntitiesPartialAndNotReady(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{Faults: emulator.Faults{PartialExports: true, ExportURLNotReady: 3}})
	b.em.Seed("Vendors V2", "USMF", []map[string]string{{"VENDORACCOUNTNUMBER": "V1", "VENDORGROUPID": "10", "CURRENCYCODE": "USD"}})
	b.em.AddExportProject(emulator.ExportProject{DefinitionGroup: "MASTER", Entity: "Vendors V2", Entities: []string{"Customers V3"}})
	id := b.str("ExportToPackageAsync", exportParams("MASTER", "USMF"))
	assert.Equal(t, "PartiallySucceeded", b.wait(id))
	errs := b.errors(id)
	require.Len(t, errs, 2, "a failed record of each entity")

	var answers []string
	for range 5 {
		var v string
		require.NoError(t, json.Unmarshal(b.value("GetExportedPackageUrl", map[string]string{"executionId": id}), &v))
		answers = append(answers, v)
	}
	assert.Equal(t, []string{"", "", "''", "00000000-0000-0000-0000-000000000000"}, answers[:4],
		"the first call after the end, then the three not-ready forms")
	assert.True(t, strings.HasPrefix(answers[4], b.srv.URL), answers[4])

	zr := b.exportedPackage(id, false)
	assert.Contains(t, decodeUTF16(t, zipEntry(t, zr, "Vendors V2.csv")), "V1,")
	customers := strings.TrimRight(decodeUTF16(t, zipEntry(t, zr, "Customers V3.csv")), "\r\n")
	assert.NotContains(t, customers, "\n", "no customers: the header alone")
	assert.True(t, strings.HasPrefix(customers, "CUSTOMERACCOUNT,"), customers)
	manifest := decodeUTF16(t, zipEntry(t, zr, "Manifest.xml"))
	assert.Less(t, strings.Index(manifest, "<EntityName>Vendors V2</EntityName>"), strings.Index(manifest, "<EntityName>Customers V3</EntityName>"))
}

// A backlog of messages; a configurable visibility timeout; messages without a file; acks
// that fail until the faults are used up.
func TestRecurringExportBacklogNoFileAndAckFailures(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)}
	b := setup(t, emulator.Config{Now: clock.Now, TokenTTL: 72 * time.Hour, VisibilityTimeout: 2 * time.Minute,
		Faults: emulator.Faults{AckFailures: 2}})
	b.em.AddExportProject(emulator.ExportProject{DefinitionGroup: "VEND-OUT", Entity: "Vendors V2"})
	b.em.AddRecurringJob(emulator.RecurringJob{ActivityID: activity, Direction: emulator.DirectionExport, DefinitionGroup: "VEND-OUT", Interval: 24 * time.Hour})

	first, ok := b.em.QueueRecurringExport(activity)
	require.True(t, ok)
	b.em.SetFaults(emulator.Faults{AckFailures: 2, DequeueNoFile: 1})
	resp := b.do(http.MethodPost, "/_emulator/recurring-jobs/"+activity+"/messages?count=2", nil, nil, false)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var queued struct {
		CorrelationIDs []string `json:"correlation_ids"`
	}
	require.NoError(t, json.Unmarshal(readAll(t, resp), &queued))
	require.Len(t, queued.CorrelationIDs, 2)

	d1, raw1 := b.dequeue()
	require.NotNil(t, d1)
	assert.Equal(t, first, d1.CorrelationID, "oldest first; no export runs at dequeue (not due)")
	d2, _ := b.dequeue()
	require.NotNil(t, d2)
	assert.Equal(t, queued.CorrelationIDs[0], d2.CorrelationID)
	assert.False(t, d2.IsDownLoadFileExist, "DequeueNoFile")
	var body map[string]any
	d3, raw3 := b.dequeue()
	require.NotNil(t, d3)
	assert.True(t, d3.IsDownLoadFileExist)
	require.NoError(t, json.Unmarshal(raw3, &body))
	assert.Contains(t, body, "DownloadLocation")
	none, _ := b.dequeue()
	assert.Nil(t, none, "a backlog of three")

	ack := func(raw []byte) int {
		resp := b.do(http.MethodPost, "/api/connector/ack/"+activity, raw, map[string]string{"Content-Type": "application/json"}, true)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusInternalServerError, ack(raw1))
	assert.Equal(t, http.StatusInternalServerError, ack(raw1))
	assert.Equal(t, http.StatusOK, ack(raw1), "the third ack goes through")

	clock.Advance(3 * time.Minute)
	again, _ := b.dequeue()
	require.NotNil(t, again, "unacknowledged messages come back after the visibility timeout")
	assert.Equal(t, d2.CorrelationID, again.CorrelationID)
	assert.Equal(t, "2025-06-01T08:00:00Z", again.LastDequeuedDateTime)
}

func TestNoFileMessageHasNullLocation(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{Faults: emulator.Faults{DequeueNoFile: 1}})
	b.em.AddExportProject(emulator.ExportProject{DefinitionGroup: "OUT", Entity: "Vendors V2"})
	b.em.AddRecurringJob(emulator.RecurringJob{ActivityID: activity, Direction: emulator.DirectionExport, DefinitionGroup: "OUT"})
	_, raw := b.dequeue()
	require.NotNil(t, raw)
	var body map[string]any
	require.NoError(t, json.Unmarshal(raw, &body))
	loc, present := body["DownloadLocation"]
	assert.True(t, present)
	assert.Nil(t, loc, "null, not absent or empty")
	assert.Equal(t, false, body["IsDownLoadFileExist"])
}
