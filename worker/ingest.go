package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"

	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/ingest/reader"
	"github.com/dmfpipe/dmfpipe/ingestjob"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
)

// firstErrors is how many row errors the ingest keeps in its result.
const firstErrors = 20

// ingestWorker stages a job's file, checks its content against the ledger, decides on
// the error rate and plans the chunks.
type ingestWorker struct {
	river.WorkerDefaults[IngestArgs]
	w *Worker
}

func (i *ingestWorker) Timeout(*river.Job[IngestArgs]) time.Duration { return stageIngest.timeout }

func (i *ingestWorker) NextRetry(job *river.Job[IngestArgs]) time.Time {
	return stageIngest.nextRetry(job.Attempt)
}

func (i *ingestWorker) Work(ctx context.Context, job *river.Job[IngestArgs]) error {
	w, id := i.w, job.Args.JobID
	hist := history(w.pool)
	j, err := stageJob(ctx, hist, id)
	if err != nil {
		return err
	}
	if jobhistory.JobTerminal(j.Status) || (j.Stage != "discover" && j.Stage != "ingest") {
		return nil // a repeated ingest of a job that went on (a crash after the plan committed)
	}
	fail := func(err error) error { return w.failJob(ctx, id, "ingest", err) }
	p, err := w.project(j.Project)
	if err != nil {
		return fail(err)
	}
	cp, err := w.compile(p)
	if err != nil {
		return fail(err)
	}
	ledger := jobhistory.NewLedger(w.pool)
	entry, err := ledger.Get(ctx, j.SourceFileID)
	if err != nil {
		return fail(err)
	}
	if err := hist.SetStage(ctx, id, "ingest"); err != nil {
		return err
	}
	w.event(ctx, id, "ingest", "info", "reading "+entry.File.Name, map[string]any{"attempt": job.Attempt})
	// A previous attempt may have left part of the rows: start over.
	if err := w.staging.Drop(ctx, id); err != nil {
		return err
	}
	retryOrFail := func(err error) error {
		if job.Attempt >= job.MaxAttempts {
			return fail(err)
		}
		return err
	}

	src, err := w.openSource(ctx, p)
	if err != nil {
		return retryOrFail(err)
	}
	defer src.Close()
	rc, err := src.Open(ctx, entry.File.Name)
	if errors.Is(err, ingest.ErrNotExist) {
		return fail(fmt.Errorf("opening %s: %w", entry.File.Name, err))
	}
	if err != nil {
		return retryOrFail(fmt.Errorf("opening %s: %w", entry.File.Name, err))
	}
	hr := ingest.NewHashingReader(rc)
	defer hr.Close()
	opts, err := reader.OptionsFor(p.Format, entry.File.Name)
	if err != nil {
		return fail(err)
	}
	rd, err := reader.Open(hr, opts)
	if err != nil {
		return failOrRetry(err, fail, retryOrFail)
	}
	res, stageErr := ingestjob.Stage(ctx, w.staging, id, rd, ingestjob.BindMapping(cp.mapping), cp.rules, cp.sets,
		ingestjob.Options{MaxErrorRate: p.OnErrors.MaxErrorRate, FirstErrors: firstErrors,
			Progress: func(read int64) {
				// Progress is best effort: a failed update only delays what `run` shows.
				_ = hist.SetRead(ctx, id, read)
			}})
	closeErr := rd.Close()
	var exceeded *staging.ErrorRateExceededError
	if stageErr != nil && !errors.As(stageErr, &exceeded) {
		return failOrRetry(stageErr, fail, retryOrFail)
	}
	if closeErr != nil {
		return retryOrFail(closeErr)
	}
	sum, err := hr.Finish()
	if err != nil {
		return retryOrFail(err)
	}
	if err := hist.SetStaged(ctx, id, res.Read, res.Counts.Total, res.Counts.Invalid); err != nil {
		return err
	}
	w.event(ctx, id, "ingest", "info", fmt.Sprintf("staged %d rows: %d valid, %d invalid", res.Read, res.Counts.Valid, res.Counts.Invalid),
		map[string]any{"counts": res.Counts, "duplicates": res.Duplicates, "lookup_misses": res.LookupMisses})

	prior, duplicate, err := ledger.SetHash(ctx, entry.ID, sum)
	if err != nil {
		return err
	}
	if duplicate {
		return w.skipDuplicate(ctx, j.ID, entry, prior)
	}
	if exceeded != nil {
		return w.failJob(ctx, id, "decide", exceeded)
	}
	return w.planUploads(ctx, id, p.Target.ChunkRows, p.Target.Lanes)
}

// planUploads cuts the job's valid rows into chunks and inserts one upload per chunk
// (or the finalize when there is nothing to upload), in one transaction.
func (w *Worker) planUploads(ctx context.Context, job int64, chunkRows, lanes int) error {
	var n int
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		hist := history(tx)
		chunks, err := planChunks(ctx, tx, job, chunkRows, lanes)
		if err != nil {
			return err
		}
		n = len(chunks)
		if err := hist.InsertChunks(ctx, job, chunks); err != nil {
			return err
		}
		if err := hist.SetStage(ctx, job, "upload"); err != nil {
			return err
		}
		if err := hist.AddEvent(ctx, job, "chunk", "info", fmt.Sprintf("%d chunks of up to %d rows over %d lanes", n, chunkRows, lanes),
			map[string]any{"chunks": n}); err != nil {
			return err
		}
		if n == 0 {
			_, err := w.client.InsertTx(ctx, tx, FinalizeArgs{JobID: job}, nil)
			return err
		}
		params := make([]river.InsertManyParams, n)
		for i, c := range chunks {
			params[i] = river.InsertManyParams{Args: UploadArgs{JobID: job, ChunkNo: c.No}}
		}
		_, err = w.client.InsertManyTx(ctx, tx, params)
		return err
	})
	if err != nil {
		return fmt.Errorf("planning the uploads of job %d: %w", job, err)
	}
	return nil
}

// failOrRetry fails the job for an error in the file (retrying cannot help) and retries
// an infrastructure error (database, network, a canceled context).
func failOrRetry(err error, fail, retry func(error) error) error {
	var (
		pgErr  *pgconn.PgError
		netErr net.Error
	)
	if errors.As(err, &pgErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return retry(err)
	}
	return fail(err)
}

// failJob records why a job failed and hands it to finalize; the River job that failed
// it is canceled (retrying cannot help).
func (w *Worker) failJob(ctx context.Context, job int64, stage string, cause error) error {
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		hist := history(tx)
		if err := hist.SetError(ctx, job, cause.Error()); err != nil {
			return err
		}
		if err := hist.AddEvent(ctx, job, stage, "error", cause.Error(), nil); err != nil {
			return err
		}
		_, err := w.client.InsertTx(ctx, tx, FinalizeArgs{JobID: job}, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("failing job %d (%w): %w", job, cause, err)
	}
	return river.JobCancel(cause)
}
