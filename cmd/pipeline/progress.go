package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/worker"
)

// followEvery is how often run reads its jobs.
const followEvery = 250 * time.Millisecond

// view shows the jobs a run follows: bars on a terminal, plain lines otherwise, nothing
// with --json.
type view interface {
	// update shows where a job stands.
	update(s imports.JobSummary)
	// note shows a warning of a job's timeline as it is recorded (a retry and its cause).
	note(s imports.JobSummary, e jobhistory.Event)
	// done shows a job's end, with its summary.
	done(s imports.JobSummary)
	// close ends the view.
	close()
}

// follow waits for all the jobs at once, showing their progress and the warnings of
// their timelines, and returns their summaries in the order of ids. It stops when ctx
// ends or the worker lost the database.
func follow(ctx context.Context, w *worker.Worker, ids []int64, v view) ([]imports.JobSummary, error) {
	defer v.close()
	sums := make([]imports.JobSummary, len(ids))
	seen := make([]int64, len(ids)) // the last event shown, by job
	ended := make([]bool, len(ids))
	t := time.NewTicker(followEvery)
	defer t.Stop()
	for {
		for i, id := range ids {
			if ended[i] {
				continue
			}
			s, err := w.Summary(ctx, id)
			if err != nil {
				return sums, err
			}
			sums[i] = s
			events, err := w.Stages().EventsSince(ctx, id, seen[i])
			if err != nil {
				return sums, err
			}
			for _, e := range events {
				seen[i] = e.ID
				if e.Level == "warn" || e.Level == "error" {
					v.note(s, e)
				}
			}
			v.update(s)
			if s.Done() {
				ended[i] = true
				v.done(s)
			}
		}
		if !slices.Contains(ended, false) {
			return sums, nil
		}
		select {
		case <-ctx.Done():
			return sums, ctx.Err()
		case <-w.Lost():
			return sums, worker.ErrLivenessLost
		case <-t.C:
		}
	}
}

// newView is the view of a run writing to out: bars when out is a terminal, plain lines
// otherwise, none with quiet (--json prints the summaries).
func newView(out io.Writer, quiet bool, hint func(job int64) string) view {
	switch {
	case quiet:
		return quietView{}
	case isTerminal(out):
		return newBars(out, hint)
	}
	return &lines{w: out, hint: hint, last: map[int64]string{}, printed: map[int64]time.Time{}}
}

type quietView struct{}

func (quietView) update(imports.JobSummary)                 {}
func (quietView) note(imports.JobSummary, jobhistory.Event) {}
func (quietView) done(imports.JobSummary)                   {}
func (quietView) close()                                    {}

// lines prints a line per change of a job's stage and at most one every plainEvery
// within a stage; warnings and the end at once.
type lines struct {
	w       io.Writer
	hint    func(job int64) string
	last    map[int64]string
	printed map[int64]time.Time
}

// plainEvery spaces the progress lines within a stage when not on a terminal.
const plainEvery = 5 * time.Second

func (l *lines) update(s imports.JobSummary) {
	line := progressLine(s)
	prev, ok := l.last[s.ID]
	if line == prev || (ok && stageOf(prev) == s.Stage && time.Since(l.printed[s.ID]) < plainEvery) {
		return
	}
	l.last[s.ID], l.printed[s.ID] = line, time.Now()
	fmt.Fprintln(l.w, line)
}

func (l *lines) note(s imports.JobSummary, e jobhistory.Event) {
	fmt.Fprintf(l.w, "job %d %s: %s\n", s.ID, e.Stage, e.Message)
}

func (l *lines) done(s imports.JobSummary) { printDone(l.w, s, l.hint(s.ID)) }
func (l *lines) close()                    {}

// stageOf is the stage a progress line shows (its third word).
func stageOf(line string) string {
	f := strings.Fields(line)
	if len(f) < 4 {
		return ""
	}
	return f[3]
}

// progressLine describes where a job stands in a line: its stage and its rows.
func progressLine(s imports.JobSummary) string {
	head := fmt.Sprintf("job %d %s %-8s", s.ID, s.File, s.Stage)
	c := s.Counts
	switch s.Stage {
	case "upload", "poll":
		return fmt.Sprintf("%s %d of %d valid rows uploaded, %d imported", head, c.Uploaded, c.Staged-c.Invalid, c.Imported)
	}
	return fmt.Sprintf("%s %d rows read, %d staged, %d invalid", head, c.Read, c.Staged, c.Invalid)
}

// bars draws a bar per job and stage with mpb: rows read while the file is staged
// (rate only: the total is not known yet), then rows sent and rows F&O answered for out
// of the valid rows, with rate and ETA.
type bars struct {
	p    *mpb.Progress
	hint func(job int64) string
	jobs map[int64]*jobBars
}

type jobBars struct {
	stage string
	bar   *mpb.Bar
}

func newBars(out io.Writer, hint func(int64) string) *bars {
	return &bars{p: mpb.New(mpb.WithOutput(out), mpb.WithWidth(32), mpb.WithRefreshRate(200*time.Millisecond)),
		hint: hint, jobs: map[int64]*jobBars{}}
}

// barStage is the bar a stage is shown on: ingest, upload, or poll (F&O's answers).
func barStage(stage string) string {
	switch stage {
	case "upload", "poll":
		return stage
	}
	return "ingest"
}

func (b *bars) update(s imports.JobSummary) {
	stage := barStage(s.Stage)
	jb, ok := b.jobs[s.ID]
	if ok && jb.stage != stage {
		jb.bar.SetTotal(-1, true) // the earlier stage is over
		ok = false
	}
	if !ok {
		name := fmt.Sprintf("job %d %s %-7s", s.ID, s.File, stage)
		var total int64
		if stage != "ingest" {
			total = max(s.Counts.Staged-s.Counts.Invalid, 1)
		}
		jb = &jobBars{stage: stage, bar: b.p.New(total, mpb.BarStyle(),
			mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR), decor.CountersNoUnit("%d / %d rows", decor.WCSyncWidth)),
			mpb.AppendDecorators(decor.AverageSpeed(0, "%.0f rows/s", decor.WCSyncSpace), decor.OnComplete(decor.AverageETA(decor.ET_STYLE_GO), "done")))}
		b.jobs[s.ID] = jb
	}
	c := s.Counts
	switch stage {
	case "ingest":
		jb.bar.SetCurrent(c.Read)
	case "upload":
		jb.bar.SetCurrent(c.Uploaded)
	default:
		jb.bar.SetCurrent(c.Imported)
	}
}

func (b *bars) note(s imports.JobSummary, e jobhistory.Event) {
	fmt.Fprintf(b.p, "job %d %s: %s\n", s.ID, e.Stage, e.Message)
}

func (b *bars) done(s imports.JobSummary) {
	if jb, ok := b.jobs[s.ID]; ok {
		jb.bar.SetTotal(-1, true)
	}
	var sb strings.Builder
	printDone(&sb, s, b.hint(s.ID))
	fmt.Fprint(b.p, sb.String())
}

func (b *bars) close() {
	for _, jb := range b.jobs {
		if !jb.bar.Completed() {
			jb.bar.Abort(false)
		}
	}
	b.p.Wait()
}

// printDone prints how a job ended: its counts, every row accounted for, why it failed,
// and where the rows that wait for an operator are.
func printDone(w io.Writer, s imports.JobSummary, stagingHint string) {
	c := s.Counts
	fmt.Fprintf(w, "job %d: %s in %s: %d read, %d staged, %d invalid, %d uploaded, %d imported, %d rejected by F&O",
		s.ID, strings.ReplaceAll(s.Status, "_", " "), s.Duration.Round(time.Millisecond),
		c.Read, c.Staged, c.Invalid, c.Uploaded, c.Imported, c.Rejected)
	if c.NotImported > 0 {
		fmt.Fprintf(w, ", %d not imported", c.NotImported)
	}
	fmt.Fprintf(w, ", %d chunks\n", s.Chunks)
	if s.Error != "" {
		fmt.Fprintf(w, "  why: %s\n", s.Error)
	}
	// Rows still valid at the end were never sent: the job failed before its upload.
	if unsent := c.Staged - c.Invalid - c.Uploaded - c.NotImported; unsent > 0 && s.Status != jobhistory.JobSkipped {
		fmt.Fprintf(w, "  %d valid rows were not sent to F&O\n", unsent)
	}
	if open := c.Invalid + c.Rejected + c.NotImported; open > 0 {
		fmt.Fprintf(w, "  %d rows wait in staging for job %d (%s): %s\n", open, s.ID, waiting(c), stagingHint)
	}
}

// waiting says what the rows that wait in staging are, e.g. "3 invalid, 2 rejected by F&O".
func waiting(c jobhistory.JobCounts) string {
	var parts []string
	for _, p := range []struct {
		n    int64
		what string
	}{{c.Invalid, "invalid"}, {c.Rejected, "rejected by F&O"}, {c.NotImported, "not imported"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	return strings.Join(parts, ", ")
}

// isTerminal reports whether w is a character device (a terminal), for progress bars.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
