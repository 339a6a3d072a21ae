package imports

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/ingest/reader"
	"github.com/dmfpipe/dmfpipe/ingestjob"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
)

// firstErrors is how many row errors the ingest keeps in its result.
const firstErrors = 20

// infraWait is how long an ingest out of attempts waits for an infrastructure fault
// (a full disk, the database) to be mended before it tries again.
const infraWait = 10 * time.Minute

// checkedFor is how long an environment's credentials and reachability, once checked,
// count as good.
const checkedFor = 5 * time.Minute

// checkEnvironment tries an environment's credentials and reachability (one token
// request and one cheap call, dmf.Client.Check), at most once per checkedFor.
func (s *Stages) checkEnvironment(ctx context.Context, env string) error {
	s.mu.Lock()
	ok := s.d.Now().Sub(s.checked[env]) < checkedFor
	s.mu.Unlock()
	if ok {
		return nil
	}
	client, err := s.d.DMF(env)
	if err != nil {
		return err
	}
	if err := client.Check(ctx); err != nil {
		return fmt.Errorf("environment %s: %w", env, err)
	}
	s.mu.Lock()
	s.checked[env] = s.d.Now()
	s.mu.Unlock()
	return nil
}

// Ingest stages a job's file (read → map → validate → COPY), checks its content against
// the ledger (a duplicate is skipped), decides on the error rate and plans the chunks: one
// upload step per chunk, or the finalize when nothing is to be uploaded.
func (s *Stages) Ingest(ctx context.Context, at Attempt, id int64) error {
	j, err := s.job(ctx, id)
	if err != nil {
		return err
	}
	if jobhistory.JobTerminal(j.Status) || (j.Stage != "discover" && j.Stage != "ingest") {
		return nil // a repeated ingest of a job that went on (a crash after the plan committed)
	}
	p, err := s.admit(ctx, j, StepIngest)
	var probs config.Problems
	if errors.As(err, &probs) {
		return s.FailJob(ctx, j, StepIngest, err) // nothing staged yet: the job fails with the project's problems
	}
	if err != nil {
		return err
	}
	fail := func(err error) error { return s.FailJob(ctx, j, StepIngest, err) }
	retryOrFail := func(err error) error {
		switch {
		case at.Last() && Infrastructure(err):
			// A full disk or a lost database is not the file's fault: the job waits for
			// it to be mended, its file stays where it is, and the timeline says why.
			s.event(ctx, id, StepIngest, "error", fmt.Sprintf("attempt %d failed: %v; waiting %s before the next one", at.N, err, infraWait), nil)
			return snooze(infraWait)
		case at.Last():
			return fail(err)
		}
		return err
	}
	hist := s.hist(s.d.DB)
	ledger := jobhistory.NewLedger(s.d.DB)
	entry, err := ledger.Get(ctx, j.SourceFileID)
	if err != nil {
		return fail(err)
	}
	// The credentials and the environment are tried before the file is staged: a wrong
	// secret fails the job in a second, not after a million rows are in staging.
	if err := s.checkEnvironment(ctx, j.Environment); err != nil {
		if s.d.Foreground && dmf.IsPersistent(err) {
			return fail(err)
		}
		return retryOrFail(err)
	}
	if err := hist.SetStage(ctx, id, "ingest"); err != nil {
		return err
	}
	s.event(ctx, id, StepIngest, "info", "reading "+entry.File.Name, map[string]any{"attempt": at.N})
	store := s.staging(s.d.DB)
	// A previous attempt may have left part of the rows: start over.
	if err := store.Drop(ctx, id); err != nil {
		return err
	}

	src, err := s.d.Source(ctx, entry.Connection)
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
	res, stageErr := ingestjob.Stage(ctx, store, id, rd, ingestjob.BindMapping(p.Mapping), p.Rules, p.Sets,
		ingestjob.Options{MaxErrorRate: p.OnErrors.MaxErrorRate, FirstErrors: firstErrors, File: entry.File.Name,
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
	s.event(ctx, id, StepIngest, "info", fmt.Sprintf("staged %d rows: %d valid, %d invalid", res.Read, res.Counts.Valid, res.Counts.Invalid),
		map[string]any{"valid": res.Counts.Valid, "invalid": res.Counts.Invalid, "duplicates": res.Duplicates, "lookup_misses": res.LookupMisses})

	prior, duplicate, err := ledger.SetHash(ctx, entry.ID, sum)
	if err != nil {
		return err
	}
	if duplicate {
		return s.skipDuplicate(ctx, j, p, entry, prior)
	}
	if exceeded != nil {
		return s.FailJob(ctx, j, "decide", exceeded)
	}
	return s.plan(ctx, j, p)
}

// plan cuts the job's valid rows into chunks and inserts one upload per chunk (or the
// finalize when there is nothing to upload), in one transaction.
func (s *Stages) plan(ctx context.Context, j *jobhistory.Job, p *Project) error {
	err := pgx.BeginFunc(ctx, s.d.DB, func(tx pgx.Tx) error {
		hist := s.hist(tx)
		ranges, err := s.staging(tx).CutChunks(ctx, j.ID, p.Target.ChunkRows, staging.StatusValid)
		if err != nil {
			return err
		}
		chunks := PlanChunks(j.ID, ranges, p.Target.Lanes, 1)
		if err := hist.InsertChunks(ctx, j.ID, chunks); err != nil {
			return err
		}
		if err := hist.SetStage(ctx, j.ID, "upload"); err != nil {
			return err
		}
		if err := hist.AddEvent(ctx, j.ID, "chunk", "info", fmt.Sprintf("%d chunks of up to %d rows over %d lanes", len(chunks), p.Target.ChunkRows, p.Target.Lanes),
			map[string]any{"chunks": len(chunks)}); err != nil {
			return err
		}
		if len(chunks) == 0 {
			return s.d.Steps.Insert(ctx, tx, Step{Kind: StepFinalize, Job: j})
		}
		steps := make([]Step, len(chunks))
		for i, c := range chunks {
			steps[i] = Step{Kind: StepUpload, Job: j, Chunk: c.No}
		}
		return s.d.Steps.Insert(ctx, tx, steps...)
	})
	if err != nil {
		return fmt.Errorf("planning the uploads of job %d: %w", j.ID, err)
	}
	return nil
}

// failOrRetry fails the job for an error in the file (retrying cannot help) and retries
// an infrastructure error: the database, the network, a canceled context, or the local
// file system (a full or read-only temp folder must never send a good file to the errors
// folder).
func failOrRetry(err error, fail, retry func(error) error) error {
	if Infrastructure(err) {
		return retry(err)
	}
	return fail(err)
}

// Infrastructure reports whether err is a fault of what the pipeline runs on rather than
// of the data: the database, the network, a canceled context, the local file system.
func Infrastructure(err error) bool {
	var (
		pgErr   *pgconn.PgError
		netErr  net.Error
		pathErr *fs.PathError
	)
	return errors.As(err, &pgErr) || errors.As(err, &netErr) || pgconn.Timeout(err) || errors.As(err, &pathErr) ||
		errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EDQUOT) ||
		errors.Is(err, syscall.EIO) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// FailJob records why a job failed and hands it to the finalize; the step that failed it
// is dropped (retrying cannot help).
func (s *Stages) FailJob(ctx context.Context, j *jobhistory.Job, stage StepKind, cause error) error {
	return s.base.FailJob(ctx, j.ID, string(stage), cause, func(tx pgx.Tx) error {
		return s.d.Steps.Insert(ctx, tx, Step{Kind: StepFinalize, Job: j})
	})
}
