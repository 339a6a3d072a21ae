package worker

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
)

// notFoundGrace is how long after submitting a 400 "not found" from
// GetExecutionSummaryStatus still means "not registered yet" (dmf-api.md §2.5).
const notFoundGrace = 5 * time.Minute

// recordIDBase is the first RecId F&O gives a table's records: GetExecutionErrors'
// RecordId of the n-th data row of a package's staging is recordIDBase+n on an
// environment whose staging table was empty (always so on the emulator). A RecordId
// outside a chunk's range is not matched to a row.
const recordIDBase = 5637144576

// pollWorker follows a chunk's execution until it ends and brings F&O's verdict back to
// the chunk's rows.
type pollWorker struct {
	river.WorkerDefaults[PollArgs]
	w *Worker
}

func (p *pollWorker) Timeout(*river.Job[PollArgs]) time.Duration { return stagePoll.timeout }

func (p *pollWorker) NextRetry(job *river.Job[PollArgs]) time.Time {
	return stagePoll.nextRetry(job.Attempt)
}

func (p *pollWorker) Work(ctx context.Context, job *river.Job[PollArgs]) error {
	w := p.w
	hist := history(w.pool)
	ex, ok, err := hist.Execution(ctx, job.Args.ExecutionID)
	if err != nil {
		return err
	}
	if !ok {
		return river.JobCancel(fmt.Errorf("execution %s is not recorded", job.Args.ExecutionID))
	}
	c, err := hist.Chunk(ctx, ex.JobID, ex.ChunkNo)
	if err != nil {
		return err
	}
	if jobhistory.ChunkTerminal(c.Status) {
		return nil
	}
	j, err := hist.Job(ctx, ex.JobID)
	if err != nil {
		return err
	}
	client, err := w.dmf(ex.Environment)
	if err != nil {
		return err
	}
	settings := w.pollSettings(ex.Environment)
	interval := pollInterval(settings.Initial.D(), settings.Max.D(), ex.Polls+1)
	elapsed := w.now().Sub(ex.SubmittedAt)
	st, err := client.GetExecutionSummaryStatus(ctx, ex.ID)
	if err != nil {
		if dmf.IsExecutionNotFound(err) && elapsed < notFoundGrace {
			return river.JobSnooze(interval)
		}
		return retryOrFailChunk(ctx, w, job.JobRow, c, err)
	}
	if !st.Terminal() {
		if elapsed > settings.Deadline.D() {
			msg := fmt.Sprintf("execution %s still %s after %s (poll deadline %s)", ex.ID, st, elapsed.Round(time.Second), settings.Deadline)
			if err := hist.RecordPoll(ctx, ex.ID, string(st), true, msg); err != nil {
				return err
			}
			return w.failChunk(ctx, c, fmt.Errorf("%s: %w", msg, dmf.ErrPollDeadline))
		}
		if err := hist.RecordPoll(ctx, ex.ID, string(st), false, ""); err != nil {
			return err
		}
		return river.JobSnooze(interval)
	}

	var rejected []rowError
	if st != dmf.StatusSucceeded {
		p, err := w.project(j.Project)
		if err != nil {
			return err
		}
		cp, err := w.compile(p)
		if err != nil {
			return err
		}
		layout, err := w.staging.Layout(ctx, j.ID)
		if err != nil {
			return err
		}
		if rejected, err = w.rejections(ctx, client, ex.ID, st, c, cp.entity, layout.Fields); err != nil {
			return retryOrFailChunk(ctx, w, job.JobRow, c, err)
		}
	}
	chunkStatus := jobhistory.ChunkSucceeded
	switch {
	case len(rejected) >= c.RowCount:
		chunkStatus = jobhistory.ChunkFailed
	case len(rejected) > 0 || st != dmf.StatusSucceeded:
		chunkStatus = jobhistory.ChunkPartiallySucceeded
	}
	return pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		hist := history(tx)
		if err := hist.RecordPoll(ctx, ex.ID, string(st), true, ""); err != nil {
			return err
		}
		if c, err := hist.LockChunk(ctx, c.JobID, c.No); err != nil || jobhistory.ChunkTerminal(c.Status) {
			return err // ended meanwhile (failed by its upload, or by another poll)
		}
		if err := rejectRows(ctx, tx, c.JobID, rejected); err != nil {
			return err
		}
		imported, err := setChunkRows(ctx, tx, c, staging.StatusImported, staging.StatusUploaded)
		if err != nil {
			return err
		}
		if err := hist.SetChunkStatus(ctx, c.JobID, c.No, chunkStatus, ""); err != nil {
			return err
		}
		level := "info"
		if chunkStatus != jobhistory.ChunkSucceeded {
			level = "warn"
		}
		if err := hist.AddEvent(ctx, c.JobID, "poll", level,
			fmt.Sprintf("chunk %d: execution %s %s: %d imported, %d rejected", c.No, ex.ID, st, imported, len(rejected)),
			map[string]any{"chunk": c.No, "execution": ex.ID, "status": string(st), "polls": ex.Polls + 1}); err != nil {
			return err
		}
		return w.finalizeIfDone(ctx, tx, c.JobID)
	})
}

// pollInterval is the wait before the n-th poll: initial, growing 1.5× up to max.
func pollInterval(initial, max time.Duration, n int) time.Duration {
	d := initial
	for i := 1; i < n && d < max; i++ {
		d = d * 3 / 2
	}
	return min(d, max)
}

// rejections matches what F&O reports about a chunk's execution to the chunk's rows: the
// target error keys file by entity key, GetExecutionErrors by record id. An execution that
// failed without naming any row rejects all of them.
func (w *Worker) rejections(ctx context.Context, client *dmf.Client, execID string, st dmf.ExecutionStatus,
	c jobhistory.Chunk, ent *catalog.Entity, fields []string) ([]rowError, error) {
	rep, err := client.CollectErrors(ctx, execID, []string{ent.DMFName})
	if err != nil {
		return nil, fmt.Errorf("collecting the errors of execution %s: %w", execID, err)
	}
	keyPos := make([]int, len(ent.KeyFields))
	for i, k := range ent.KeyFields {
		keyPos[i] = -1
		for f, name := range fields {
			if strings.EqualFold(name, k) {
				keyPos[i] = f
			}
		}
	}
	failedKeys := map[string]bool{}
	for _, f := range rep.Files {
		if f.Kind != dmf.TargetErrorKeysFile {
			continue
		}
		var buf bytes.Buffer
		if _, err := client.DownloadBlob(ctx, f.URL, &buf); err != nil {
			return nil, fmt.Errorf("downloading the target error keys of execution %s: %w", execID, err)
		}
		keys, err := readKeysFile(&buf, ent.KeyFields)
		if err != nil {
			return nil, fmt.Errorf("reading the target error keys of execution %s: %w", execID, err)
		}
		for _, k := range keys {
			failedKeys[k] = true
		}
	}
	// Messages by package row (1-based).
	byPos := map[int64][]dmf.ExecutionError{}
	var unplaced []string
	for _, e := range rep.Errors {
		n, err := strconv.ParseInt(strings.TrimSpace(e.RecordID), 10, 64)
		if pos := n - recordIDBase; err == nil && pos >= 1 && pos <= int64(c.RowCount) {
			byPos[pos] = append(byPos[pos], e)
		} else {
			unplaced = append(unplaced, e.Message)
		}
	}
	var out []rowError
	var pos int64
	err = chunkRows(ctx, w.pool, c, func(rowNo int64, vals []string) error {
		pos++
		errs := byPos[pos]
		if len(errs) == 0 && !failedKeys[entityKey(vals, keyPos)] {
			return nil
		}
		if len(errs) == 0 {
			out = append(out, rowError{row: rowNo, message: "rejected by F&O (listed in the target error keys file)"})
		}
		for _, e := range errs {
			out = append(out, rowError{row: rowNo, field: e.Field, message: e.Message})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) > 0 || st == dmf.StatusPartiallySucceeded {
		return out, nil
	}
	// Failed, canceled or unknown without a row named: nothing of the chunk was imported.
	msg := fmt.Sprintf("execution %s ended %s", execID, st)
	if len(unplaced) > 0 {
		msg += ": " + strings.Join(unplaced[:min(len(unplaced), 3)], "; ")
	}
	err = chunkRows(ctx, w.pool, c, func(rowNo int64, _ []string) error {
		out = append(out, rowError{row: rowNo, message: msg})
		return nil
	})
	return out, err
}

// entityKey is a row's entity key as F&O compares it (case-insensitively).
func entityKey(vals []string, keyPos []int) string {
	parts := make([]string, len(keyPos))
	for i, p := range keyPos {
		if p >= 0 && p < len(vals) {
			parts[i] = strings.ToUpper(strings.TrimSpace(vals[p]))
		}
	}
	return strings.Join(parts, valSep)
}

// readKeysFile reads a target error keys file (CSV-Unicode: UTF-16 with a BOM, a header
// naming the key fields) into entity keys in the order of keyFields.
func readKeysFile(r io.Reader, keyFields []string) ([]string, error) {
	dec := unicode.BOMOverride(unicode.UTF8.NewDecoder())
	cr := csv.NewReader(transform.NewReader(r, dec))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cols := make([]int, len(keyFields))
	for i, k := range keyFields {
		cols[i] = -1
		for j, h := range header {
			if strings.EqualFold(strings.TrimSpace(h), k) {
				cols[i] = j
			}
		}
		if cols[i] < 0 {
			return nil, fmt.Errorf("key field %s is not in the file's header %q", k, header)
		}
	}
	var keys []string
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return keys, nil
		}
		if err != nil {
			return nil, err
		}
		keys = append(keys, entityKey(rec, cols))
	}
}
