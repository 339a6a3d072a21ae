package exports_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/dmf/emulator"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

const feedActivity = "6d31e09f-0249-459f-94f0-aad9c4e5ae3c"

func recurringProject(name, rest string) string {
	return fmt.Sprintf(`  - name: %s
    kind: export
    environment: emu
    mode: recurring
    activity: "{%s}"
    destination: { connection: out, path: "%s/{execution}/{entity}.csv" }
%s`, name, strings.ToUpper(feedActivity), name, rest)
}

func recurringBundle(t *testing.T, o opts, quirkHTTP bool, visibility time.Duration) *bundle {
	t.Helper()
	o.emulator = func(c *emulator.Config) {
		c.Quirks.HTTPDownloadLocation = quirkHTTP
		c.VisibilityTimeout = visibility
	}
	b := setup(t, o)
	seedCustomers(b.em, "R", 30)
	b.em.AddExportProject(emulator.ExportProject{DefinitionGroup: "FEED", Entity: "Customers V3"})
	b.em.AddRecurringJob(emulator.RecurringJob{ActivityID: feedActivity, Direction: emulator.DirectionExport, DefinitionGroup: "FEED", Interval: 24 * time.Hour})
	return b
}

// A backlog is drained one message at a time, each written then acknowledged before the
// next is dequeued; a message without a file is recorded and acknowledged; a download
// location of http://host:80 is put on the environment's URL.
func TestRecurringExportDrainsABacklogOneMessageAtATime(t *testing.T) {
	t.Parallel()
	b := recurringBundle(t, opts{projects: recurringProject("feed", "")}, true, time.Hour)
	var corr []string
	for i := range 5 {
		if i == 2 {
			b.em.SetFaults(emulator.Faults{DequeueNoFile: 1})
		}
		c, ok := b.em.QueueRecurringExport(feedActivity)
		require.True(t, ok)
		corr = append(corr, c)
	}
	s := b.run(t, "feed")
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	require.Len(t, s.Messages, 5)
	for i, m := range s.Messages {
		assert.Equal(t, corr[i], m.CorrelationID, "in queue order")
		assert.Equal(t, jobhistory.MessageAcked, m.Status)
		assert.Equal(t, 1, m.Dequeues)
		if i == 2 {
			assert.Equal(t, 0, m.Files)
			assert.Equal(t, "no DownloadLocation", m.Error)
			continue
		}
		assert.Equal(t, 1, m.Files, "message %d", i)
		assert.EqualValues(t, 30, m.Rows)
		data := readLocal(t, b.local, "feed/"+m.CorrelationID+"/Customers V3.csv")
		assert.Len(t, readCSVTable(t, data), 30)
		assert.FileExists(t, filepath.Join(b.local, "feed", m.CorrelationID, "feed_"+m.CorrelationID+".manifest.json"))
	}
	_, err := os.Stat(filepath.Join(b.local, "feed", corr[2]))
	assert.ErrorIs(t, err, os.ErrNotExist, "nothing written for the message without a file")
	st := b.em.Stats()
	assert.EqualValues(t, 5, st.Acked)
	assert.EqualValues(t, 4, st.Requests["connector.download"], "the four files, downloaded once each")
	assert.EqualValues(t, 6, st.Requests["connector.dequeue"], "five messages, then 204")
	assert.Empty(t, st.ProtocolViolations)

	// One at a time: each message is acknowledged before the next dequeue.
	var order []string
	for _, e := range b.events(t, s.ID) {
		switch {
		case strings.Contains(e, "dequeued (#"), strings.Contains(e, "has no file"):
			order = append(order, "dequeue")
		case strings.HasSuffix(e, "acknowledged"):
			order = append(order, "ack")
		}
	}
	assert.Equal(t, strings.Repeat("dequeue ack ", 5), strings.Join(order, " ")+" ")
}

// on_no_file: skip records a message without a file and leaves it unacknowledged.
func TestRecurringExportLeavesMessagesWithoutAFile(t *testing.T) {
	t.Parallel()
	b := recurringBundle(t, opts{projects: recurringProject("feed", "    on_no_file: skip\n")}, false, time.Hour)
	b.em.SetFaults(emulator.Faults{DequeueNoFile: 1})
	_, ok := b.em.QueueRecurringExport(feedActivity)
	require.True(t, ok)
	s := b.run(t, "feed")
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	require.Len(t, s.Messages, 1)
	assert.Equal(t, jobhistory.MessageSkipped, s.Messages[0].Status)
	assert.Zero(t, b.em.Stats().Acked)
}

// A message whose ack fails stays written and unacknowledged; when F&O hands it out again
// (after its visibility timeout) the next run acknowledges it and writes nothing again.
func TestRecurringExportRedeliveryIsNotWrittenAgain(t *testing.T) {
	t.Parallel()
	b := recurringBundle(t, opts{projects: recurringProject("feed", ""),
		dmf: func(o *dmf.Options) { o.RetryDeadline = 200 * time.Millisecond }}, false, 700*time.Millisecond)
	corr, ok := b.em.QueueRecurringExport(feedActivity)
	require.True(t, ok)
	b.em.SetFaults(emulator.Faults{AckFailures: 1_000_000})
	first := b.run(t, "feed")
	require.Equal(t, jobhistory.JobPartiallySucceeded, first.Status, "written, not acknowledged: %s", first.Error)
	require.Len(t, first.Messages, 1)
	assert.Equal(t, jobhistory.MessageWritten, first.Messages[0].Status)
	written := readLocal(t, b.local, "feed/"+corr+"/Customers V3.csv")

	b.em.SetFaults(emulator.Faults{})
	time.Sleep(time.Second) // past the visibility timeout: F&O hands the message out again
	second := b.run(t, "feed")
	require.Equal(t, jobhistory.JobSucceeded, second.Status, second.Error)
	require.Len(t, second.Messages, 1)
	m := second.Messages[0]
	assert.Equal(t, corr, m.CorrelationID)
	assert.Equal(t, jobhistory.MessageAcked, m.Status)
	assert.Equal(t, 2, m.Dequeues)
	assert.Empty(t, second.Files, "nothing written by the second run")
	assert.Contains(t, strings.Join(b.events(t, second.ID), "\n"), "its files were written before; acknowledging it, not writing it again")
	assert.Equal(t, written, readLocal(t, b.local, "feed/"+corr+"/Customers V3.csv"))
	st := b.em.Stats()
	assert.EqualValues(t, 1, st.Requests["connector.download"], "downloaded once")
	assert.EqualValues(t, 1, st.Acked)
	var acks int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT ack_attempts FROM recurring_messages WHERE correlation_id = $1`, corr).Scan(&acks))
	assert.Equal(t, 2, acks)
}

// A dequeue that runs again after it committed (its node died before the runner recorded
// it done) takes nothing from the queue: the job has gone past it, to its message's
// delivery, and each message is still dequeued once and acknowledged once.
func TestRecurringExportDequeueRunAgainTakesNothing(t *testing.T) {
	t.Parallel()
	b := recurringBundle(t, opts{projects: recurringProject("feed", ""),
		dmf: func(o *dmf.Options) { o.RetryDeadline = 2 * time.Minute }}, false, time.Hour)
	var corr []string
	for range 2 {
		c, ok := b.em.QueueRecurringExport(feedActivity)
		require.True(t, ok)
		corr = append(corr, c)
	}
	b.em.SetFaults(emulator.Faults{AckFailures: 1_000_000})
	id, err := b.w.Exports().Start(t.Context(), "feed", "run_now", time.Time{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return b.em.Stats().Requests["connector.ack"] > 0 }, time.Minute, 20*time.Millisecond,
		"the first message's ack is being retried")

	require.NoError(t, b.w.Exports().Dequeue(t.Context(), imports.Attempt{N: 2, Max: 5}, id, 1))
	assert.EqualValues(t, 1, b.em.Stats().Requests["connector.dequeue"], "the dequeue run again asks F&O for nothing")

	b.em.SetFaults(emulator.Faults{})
	s := b.wait(t, id)
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	require.Len(t, s.Messages, 2)
	for i, m := range s.Messages {
		assert.Equal(t, corr[i], m.CorrelationID)
		assert.Equal(t, jobhistory.MessageAcked, m.Status)
		assert.Equal(t, 1, m.Dequeues)
	}
	st := b.em.Stats()
	assert.EqualValues(t, 2, st.Acked)
	assert.EqualValues(t, 3, st.Requests["connector.dequeue"], "two messages, then 204")
	assert.Empty(t, st.ProtocolViolations)
}
