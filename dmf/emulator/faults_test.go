package emulator_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
)

func TestThrottling(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)}
	b := setup(t, emulator.Config{Now: clock.Now, Faults: emulator.Faults{Rate429: 1, RetryAfter: 1500 * time.Millisecond}})

	status, body := b.action("GetExecutionSummaryStatus", map[string]string{"executionId": "x"})
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Contains(t, string(body), "exceeded the limit")
	resp := b.do(http.MethodGet, "/metadata/DataEntities", nil, nil, true)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "every F&O endpoint")
	assert.Equal(t, "2", resp.Header.Get("Retry-After"), "whole seconds, rounded up")
	resp.Body.Close()
	resp = b.do(http.MethodPost, "/api/connector/enqueue/x", nil, nil, true)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	resp.Body.Close()

	b.em.SetFaults(emulator.Faults{Rate429: 1, RetryAfter: 30 * time.Second, RetryAfterHTTPDate: true})
	resp = b.do(http.MethodGet, "/metadata/DataEntities", nil, nil, true)
	when, err := http.ParseTime(resp.Header.Get("Retry-After"))
	require.NoError(t, err)
	assert.Equal(t, clock.Now().Add(30*time.Second).Truncate(time.Second), when.UTC())
	resp.Body.Close()

	b.em.SetFaults(emulator.Faults{Rate429: 1})
	resp = b.do(http.MethodGet, "/metadata/DataEntities", nil, nil, true)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Empty(t, resp.Header.Get("Retry-After"), "RetryAfter 0 omits the header")
	resp.Body.Close()

	// Token and blob endpoints are never throttled.
	b.fetchToken(emulator.DefaultTenant)
	assert.Equal(t, int64(5), b.em.Stats().Throttled)

	b.em.SetFaults(emulator.Faults{})
	assert.Equal(t, "Unknown", b.str("GetExecutionSummaryStatus", map[string]string{"executionId": "x"}))
}

func TestThrottlingShare(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{RandSeed: 7, Faults: emulator.Faults{Rate429: 0.3, RetryAfter: time.Second}})
	throttled := 0
	for range 400 {
		status, _ := b.action("GetExecutionSummaryStatus", map[string]string{"executionId": "x"})
		if status == http.StatusTooManyRequests {
			throttled++
		}
	}
	assert.InDelta(t, 120, throttled, 40)
	assert.Equal(t, int64(throttled), b.em.Stats().Throttled)
	assert.Equal(t, int64(400), b.em.Stats().Requests["GetExecutionSummaryStatus"])
}

func TestServerErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{Faults: emulator.Faults{Rate5xx: 1}})
	status, _ := b.action("GetAzureWriteUrl", map[string]string{"uniqueFileName": "x"})
	assert.Equal(t, http.StatusServiceUnavailable, status)

	b.em.SetFaults(emulator.Faults{Rate5xxOnStatus: 1})
	status, body := b.action("GetExecutionSummaryStatus", map[string]string{"executionId": "x"})
	assert.Contains(t, []int{http.StatusInternalServerError, http.StatusServiceUnavailable}, status)
	var e map[string]map[string]any
	require.NoError(t, json.Unmarshal(body, &e), "an OData error envelope")
	assert.Contains(t, e, "error")
	b.str("GetAzureWriteUrl", map[string]string{"uniqueFileName": "x"}) // other actions are fine
	assert.Equal(t, int64(2), b.em.Stats().Faulted)
}

func TestNotFoundRightAfterImport(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{Faults: emulator.Faults{NotFoundAfterImport: 2}})
	id := b.importPackage(customersPackage(t, "NF", [][]string{{"N1", "Nf", "10", "USD", "", ""}}), "NF", "USMF", "")
	for range 2 {
		status, body := b.action("GetExecutionSummaryStatus", map[string]string{"executionId": id})
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Contains(t, string(body), "were not found")
	}
	assert.Equal(t, "Succeeded", b.wait(id))
}

func TestStuckExecutionAndCancel(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{Faults: emulator.Faults{StuckExecuting: true}})
	id := b.importPackage(customersPackage(t, "STUCK", [][]string{{"S1", "Stuck", "10", "USD", "", ""}}), "STUCK", "USMF", "")
	for range 3 {
		assert.Equal(t, "Executing", b.str("GetExecutionSummaryStatus", map[string]string{"executionId": id}))
	}
	resp := b.do(http.MethodPost, "/_emulator/executions/"+id+"/cancel", nil, nil, false)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp.Body.Close()
	assert.Equal(t, "Canceled", b.wait(id))
	assert.Empty(t, b.em.Rows("Customers V3", "USMF"))

	resp = b.do(http.MethodPost, "/_emulator/executions/"+id+"/cancel", nil, nil, false)
	assert.Equal(t, http.StatusConflict, resp.StatusCode, "already finished")
	resp.Body.Close()
}

func TestConcurrentImportsOfOneGroup(t *testing.T) {
	t.Parallel()
	for _, fail := range []bool{false, true} {
		// A stuck execution holds the group, so the next import waits unstaged in NotRun
		// while a third one arrives: an overlap, without depending on timing.
		b := setup(t, emulator.Config{Faults: emulator.Faults{StuckExecuting: true}})
		stuck := b.importPackage(customersPackage(t, "G", nil), "G", "USMF", "")
		b.em.SetFaults(emulator.Faults{FailConcurrentImports: fail})
		first := b.str("ImportFromPackageAsync", importParams(b.upload(customersPackage(t, "G", [][]string{{"A1", "A", "10", "USD", "", ""}})), "G", "", "USMF"))
		second := b.str("ImportFromPackageAsync", importParams(b.upload(customersPackage(t, "G", [][]string{{"A2", "B", "10", "USD", "", ""}})), "G", "", "USMF"))
		require.True(t, b.em.CancelExecution(stuck))
		assert.Equal(t, "Canceled", b.wait(stuck))
		assert.Equal(t, "Succeeded", b.wait(first))
		if fail {
			assert.Equal(t, "Failed", b.wait(second))
			errs := b.errors(second)
			require.Len(t, errs, 1)
			assert.Contains(t, errs[0].ErrorMessage, "DMF2025")
			assert.Len(t, b.em.Rows("Customers V3", "USMF"), 1)
		} else {
			assert.Equal(t, "Succeeded", b.wait(second), "queued behind the first")
			assert.Len(t, b.em.Rows("Customers V3", "USMF"), 2)
		}
		v := b.em.Stats().ProtocolViolations
		require.Len(t, v, 1)
		assert.Contains(t, v[0], "still staging")
	}
}

func TestSynchronousImportsInSequenceAreNotConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{Faults: emulator.Faults{FailConcurrentImports: true}})
	var ids []string
	for i := range 3 {
		ids = append(ids, b.importPackage(customersPackage(t, "SEQ", [][]string{{"Q" + strconv.Itoa(i), "Q", "10", "USD", "", ""}}), "SEQ", "USMF", ""))
	}
	for _, id := range ids {
		assert.Equal(t, "Succeeded", b.wait(id))
	}
	assert.Empty(t, b.em.Stats().ProtocolViolations)
}

func TestLatency(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	resp := b.do(http.MethodPut, "/_emulator/faults", []byte(`{"latency":"60ms"}`), nil, false)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp.Body.Close()
	start := time.Now()
	b.str("GetExecutionSummaryStatus", map[string]string{"executionId": "x"})
	assert.GreaterOrEqual(t, time.Since(start), 60*time.Millisecond)
	assert.Equal(t, 60*time.Millisecond, b.em.CurrentFaults().Latency)

	resp = b.do(http.MethodPut, "/_emulator/faults", []byte(`{"rate_429":2}`), nil, false)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "rates are shares")
	resp.Body.Close()
}

func TestParallelImportsAcrossGroups(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{Faults: emulator.Faults{FailConcurrentImports: true}})
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for lane := range ids {
		wg.Go(func() {
			var rows [][]string
			for i := range 50 {
				rows = append(rows, []string{"L" + strconv.Itoa(lane) + "-" + strconv.Itoa(i), "Lane", "10", "USD", "", ""})
			}
			ids[lane] = b.importPackage(customersPackage(t, "LANE", rows), "LANE-"+strconv.Itoa(lane), "USMF", "")
		})
	}
	wg.Wait()
	for _, id := range ids {
		assert.Equal(t, "Succeeded", b.wait(id))
	}
	assert.Len(t, b.em.Rows("Customers V3", "USMF"), 400)
	assert.Equal(t, int64(400), b.em.Stats().Inserts)
	assert.Empty(t, b.em.Stats().ProtocolViolations)
}
