package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
	"github.com/dmfpipe/dmfpipe/validate"
)

// stagingPageLimit is how many rows or errors a page of staging rows or staging errors
// holds unless --limit says otherwise.
const stagingPageLimit = 50

// stagingNext tells an operator what comes after reviewing staged rows.
const stagingNext = `To fix rows: pipeline staging edit JOB (re-validated on save), set rows aside
with pipeline staging reject JOB, then send the fixed rows to F&O with pipeline staging
resubmit JOB.`

func newStagingCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "staging errors|rows|row|edit|reject|resubmit",
		Short: "Review an import job's staged rows and their errors; fix them, set them aside, send them again",
		Long: `staging reads what an import job left in staging: every row of its file, valid or
not, as mapped to the entity's fields and as read from the source, with the errors
that made it invalid: ours (reading, mapping, row and set rules) and F&O's (rule "fo",
on the rows F&O rejected). Rows are numbered from 1 in the order they were read; LINE
is where a row starts in the file (the sheet row for XLSX).

  pipeline staging errors -c pipeline.yaml 42                               # counts, errors by field and rule
  pipeline staging errors -c pipeline.yaml 42 --field NAME --rule required  # that group's rows, a page at a time
  pipeline staging errors -c pipeline.yaml 42 --format xlsx --out job-42-errors.xlsx
  pipeline staging rows   -c pipeline.yaml 42 --status invalid
  pipeline staging row    -c pipeline.yaml 42 7

Staged rows are kept for database.staging_retention (30 days by default) after their
job ends, then purged; a job that was never staged or was purged is an error (exit
status 1). Take JOB from pipeline jobs list.

errors, rows and row only read. edit, reject and resubmit change rows, as the OS user
(recorded in the job's audit trail), through the same functions as the console:

  pipeline staging edit     -c pipeline.yaml 42 --row 7 --set CUSTOMERGROUPID=30
  pipeline staging edit     -c pipeline.yaml 42 --where "CUSTOMERGROUPID=Retail " --set CUSTOMERGROUPID=10
  pipeline staging reject   -c pipeline.yaml 42 --field CUSTOMERACCOUNT --rule unique --reason "repeats in the file"
  pipeline staging resubmit -c pipeline.yaml 42

` + stagingNext,
	}
	cmd.AddCommand(newStagingErrorsCmd(), newStagingRowsCmd(), newStagingRowCmd(),
		newStagingEditCmd(), newStagingRejectCmd(), newStagingResubmitCmd())
	return cmd
}

// Formats of staging errors.
const (
	formatTable = "table"
	formatCSV   = "csv"
	formatXLSX  = "xlsx"
)

func newStagingErrorsCmd() *cobra.Command {
	var (
		db          dbFlags
		field, rule string
		after       int64
		limit       int
		format      string
		out         string
		asJSON      bool
	)
	cmd := &cobra.Command{
		Use:   "errors JOB -c CFG [--field F --rule R] [--after ROW] [--limit N] [--format table|csv|xlsx] [--out FILE] [--json]",
		Short: "Summarize a job's errors by field and rule; page through one group; export them all",
		Long: `errors prints how job JOB's staged rows stand (rows by status: valid, invalid,
uploaded, imported, rejected by F&O, fixed, skipped) and its errors grouped by field
and rule, the most frequent first: how many rows have each, and the first of them.
A group without a field (a row that could not be read whole, say) shows field "-";
name it with --field ''.

With --field and --rule (together: one group of the summary) it then lists that
group's rows in row order: row, line, source column and message, at most --limit of
them. When more remain, a last line gives the --after to pass for the next page
(the last row printed); pages are keyed on the row number, so they stay fast on a
million-row job.

--format csv writes the full error report instead, one line per error of the job
(row, line, status, column, field, rule, message, the field's value and the column's
source value), to standard output or to --out FILE. --format xlsx writes the same as
a workbook (sheet "Errors", up to 1,048,576 lines; the CSV has them all) and needs
--out: a workbook is not written to standard output. --out replaces FILE only once
the report is complete, so a failed export leaves no partial file. The report is
what to hand to the people who own the data.

--json prints the counts, the summary and (with --field and --rule) the page of
errors as one JSON object; "next_after" is the --after of the next page, null on
the last.

To see a row in full (every value, as mapped and as read): pipeline staging row JOB
ROW.

A JOB without staged rows is an error (exit status 1); bad arguments are a usage
error (exit status 64).

` + stagingNext,
		Args: usageArgs("JOB"),
		RunE: func(cmd *cobra.Command, args []string) error {
			job, err := parseJobID(args[0])
			if err != nil {
				return err
			}
			fl := cmd.Flags()
			group := fl.Changed("field") || fl.Changed("rule")
			paged := fl.Changed("after") || fl.Changed("limit")
			switch {
			case format != formatTable && format != formatCSV && format != formatXLSX:
				return usageError(fmt.Errorf("unknown --format %q (valid: table, csv, xlsx)", format))
			case fl.Changed("field") != fl.Changed("rule"):
				return usageError(errors.New("--field and --rule go together: they name one group of the error summary"))
			case format != formatTable && (asJSON || group || paged):
				return usageError(fmt.Errorf("--format %s writes every error of the job: it takes no --json, --field, --rule, --after or --limit", format))
			case format == formatXLSX && out == "":
				return usageError(errors.New("--format xlsx writes a binary workbook: name the file with --out FILE"))
			case format == formatTable && out != "":
				return usageError(errors.New("--out is for the report of --format csv or xlsx"))
			case paged && !group:
				return usageError(errors.New("--after and --limit page the errors of one group: add --field and --rule"))
			}
			if err := checkPage(after, limit); err != nil {
				return err
			}

			pool, err := openHistory(cmd.Context(), &db)
			if err != nil {
				return err
			}
			defer pool.Close()
			ctx, store, w := cmd.Context(), staging.NewStore(pool), cmd.OutOrStdout()

			switch format {
			case formatCSV, formatXLSX:
				write := store.WriteErrorReportCSV
				if format == formatXLSX {
					write = store.WriteErrorReportXLSX
				}
				if out == "" {
					return explainStaging(write(ctx, job, w), job, 0)
				}
				err := downloadToFile(out, func(f *os.File) error { return write(ctx, job, f) })
				if errors.Is(err, staging.ErrNoJob) {
					return explainStaging(err, job, 0)
				}
				if err != nil {
					return fmt.Errorf("writing the error report of job %d to %s: %w", job, out, err)
				}
				_, err = fmt.Fprintf(w, "job %d: error report written to %s\n", job, out)
				return err
			}

			v := stagingErrorsView{Job: job}
			if v.Counts, err = store.Counts(ctx, job); err != nil {
				return explainStaging(err, job, 0)
			}
			if v.Summary, err = store.ErrorSummary(ctx, job); err != nil {
				return explainStaging(err, job, 0)
			}
			if v.Summary == nil {
				v.Summary = []staging.ErrorGroup{}
			}
			var next int64
			if group {
				v.Errors, next, err = fetchPage(after, limit, func(e validate.Error) int64 { return e.Row },
					func(after int64, limit int) ([]validate.Error, error) {
						return store.Errors(ctx, job, field, validate.Rule(rule), after, limit)
					})
				if err != nil {
					return explainStaging(err, job, 0)
				}
				if v.Errors == nil {
					v.Errors = []validate.Error{}
				}
			}
			if asJSON {
				if next != 0 {
					v.NextAfter = &next
				}
				return printJSON(w, v)
			}
			if err := printStagingErrors(w, &v); err != nil {
				return err
			}
			if group {
				return printErrorGroup(w, v.Summary, field, validate.Rule(rule), after, v.Errors, next)
			}
			return nil
		},
	}
	db.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&field, "field", "", "with --rule: list the errors of this field (as in the summary; '' for none)")
	fl.StringVar(&rule, "rule", "", "with --field: list the errors of this rule (as in the summary)")
	fl.Int64Var(&after, "after", 0, "with --field and --rule: only the rows after this row number (the next page)")
	fl.IntVar(&limit, "limit", stagingPageLimit, fmt.Sprintf("with --field and --rule: the most errors to print (1 to %d)", staging.MaxPage))
	fl.StringVar(&format, "format", formatTable, "table (counts and summary), or csv or xlsx (the full error report)")
	fl.StringVar(&out, "out", "", "write the csv or xlsx report to this file (replaced whole); csv defaults to standard output")
	fl.BoolVar(&asJSON, "json", false, "print the counts, the summary and the page of errors as one JSON object")
	return cmd
}

func newStagingRowsCmd() *cobra.Command {
	var (
		db     dbFlags
		status string
		after  int64
		limit  int
		asJSON bool
	)
	statuses := stagingStatuses()
	cmd := &cobra.Command{
		Use:   "rows JOB -c CFG [--status S] [--after ROW] [--limit N] [--json]",
		Short: "List a job's staged rows in row order, with their values and errors",
		Long: `rows lists job JOB's staged rows in row order, at most --limit of them, optionally
only those in one --status:

  valid     passed every check; waits to be uploaded (or was, in a dry run)
  invalid   failed a check of ours; waits for an operator
  uploaded  sent to F&O in a package
  imported  F&O imported it
  rejected  F&O refused it (its errors have rule "fo")
  fixed     edited by an operator and now passes the row rules
  skipped   rejected by an operator: never uploaded

Each row shows its number, the line where it starts in the file, its status, its
mapped values by field, the source values (by column) that the mapping changed or
did not use (a trimmed, converted or mapped value, a column no field is read from, or
a value beyond the header), and its errors: field, rule, column and message.

When more rows remain, a last line gives the --after to pass for the next page (the
last row printed); pages are keyed on the row number, so they stay fast on a
million-row job.

--json prints a JSON array of the rows instead: "values" by field, "source" with the
same source values as the text, "errors"; the next page is --after the last row
printed, and an empty array is past the last page.

To see one row in full: pipeline staging row JOB ROW.

A JOB without staged rows is an error (exit status 1); an unknown --status, a
--limit out of range or another bad argument is a usage error (exit status 64).

` + stagingNext,
		Args: usageArgs("JOB"),
		RunE: func(cmd *cobra.Command, args []string) error {
			job, err := parseJobID(args[0])
			if err != nil {
				return err
			}
			if status != "" && !slices.Contains(statuses, status) {
				return usageError(fmt.Errorf("unknown --status %q (valid: %s)", status, strings.Join(statuses, ", ")))
			}
			if err := checkPage(after, limit); err != nil {
				return err
			}
			pool, err := openHistory(cmd.Context(), &db)
			if err != nil {
				return err
			}
			defer pool.Close()
			ctx, store := cmd.Context(), staging.NewStore(pool)
			l, err := store.Layout(ctx, job)
			if err != nil {
				return explainStaging(err, job, 0)
			}
			rows, next, err := fetchPage(after, limit, func(r staging.StagedRow) int64 { return r.No },
				func(after int64, limit int) ([]staging.StagedRow, error) {
					return store.Rows(ctx, job, staging.Status(status), after, limit)
				})
			if err != nil {
				return explainStaging(err, job, 0)
			}
			w := cmd.OutOrStdout()
			if asJSON {
				views := make([]stagedRowView, len(rows))
				for i := range rows {
					views[i] = newStagedRowView(l, &rows[i], false)
				}
				return printJSON(w, views)
			}
			return printStagedRows(w, l, rows, status, after, next)
		},
	}
	db.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&status, "status", "", "only the rows in this status: "+strings.Join(statuses, ", "))
	fl.Int64Var(&after, "after", 0, "only the rows after this row number (the next page); 0 starts at the first row")
	fl.IntVar(&limit, "limit", stagingPageLimit, fmt.Sprintf("the most rows to print (1 to %d)", staging.MaxPage))
	fl.BoolVar(&asJSON, "json", false, "print the rows as a JSON array")
	return cmd
}

func newStagingRowCmd() *cobra.Command {
	var (
		db     dbFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "row JOB ROW -c CFG [--json]",
		Short: "Show one staged row in full: every value as mapped and as read, and its errors",
		Long: `row prints row ROW of job JOB (its number, as staging rows and staging errors print
it) in full: the line where it starts in the file (and the sheet, for XLSX), its
status, each entity field with its mapped value, each source column with the value
as read from the file, and each of its errors with field, rule, source column and
message. A source value beyond the header (a row longer than the header), or of a
column the header leaves unnamed or names twice, is labelled #N, its position; a
column the row ended before is "(not in the row)".

Values are printed as they are, in Go-style double quotes when that is needed to see
them: empty, with spaces at either end, with a double quote or a control character.

--json prints the same as one JSON object: "values" by field, "source" by column
(the same labels), "errors".

A JOB without staged rows or a ROW it does not have is an error (exit status 1); a
JOB or ROW that is not a number is a usage error (exit status 64).

` + stagingNext,
		Args: usageArgs("JOB", "ROW"),
		RunE: func(cmd *cobra.Command, args []string) error {
			job, err := parseJobID(args[0])
			if err != nil {
				return err
			}
			no, err := strconv.ParseInt(args[1], 10, 64)
			if err != nil || no < 1 {
				return usageError(fmt.Errorf("ROW must be a row number (a positive number), got %q", args[1]))
			}
			pool, err := openHistory(cmd.Context(), &db)
			if err != nil {
				return err
			}
			defer pool.Close()
			ctx, store := cmd.Context(), staging.NewStore(pool)
			l, err := store.Layout(ctx, job)
			if err != nil {
				return explainStaging(err, job, no)
			}
			r, err := store.Row(ctx, job, no)
			if err != nil {
				return explainStaging(err, job, no)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), stagedRowDetailView{Job: job, stagedRowView: newStagedRowView(l, &r, true)})
			}
			return printStagedRow(cmd.OutOrStdout(), job, l, &r)
		},
	}
	db.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the row as one JSON object")
	return cmd
}

// checkPage checks --after and --limit.
func checkPage(after int64, limit int) error {
	switch {
	case after < 0:
		return usageError(fmt.Errorf("--after must be a row number, got %d", after))
	case limit < 1 || limit > staging.MaxPage:
		return usageError(fmt.Errorf("--limit must be from 1 to %d, got %d", staging.MaxPage, limit))
	}
	return nil
}

func stagingStatuses() []string {
	out := make([]string, len(staging.Statuses))
	for i, s := range staging.Statuses {
		out[i] = string(s)
	}
	return out
}

// fetchPage returns up to limit items after the key after, and the after of the next
// page (0 when none remain). It asks for one item more than limit to know; a page of
// the store's largest size (staging.MaxPage) has no room for it, so it looks again.
func fetchPage[T any](after int64, limit int, key func(T) int64, fetch func(after int64, limit int) ([]T, error)) ([]T, int64, error) {
	ask := min(limit+1, staging.MaxPage)
	page, err := fetch(after, ask)
	if err != nil {
		return nil, 0, err
	}
	switch {
	case len(page) > limit:
		return page[:limit], key(page[limit-1]), nil
	case len(page) == limit && ask == limit:
		last := key(page[limit-1])
		more, err := fetch(last, 1)
		if err != nil {
			return nil, 0, err
		}
		if len(more) > 0 {
			return page, last, nil
		}
	}
	return page, 0, nil
}

// rewordedError gives err a message for the operator; errors.Is and errors.As still see err.
type rewordedError struct {
	msg string
	err error
}

func (e *rewordedError) Error() string { return e.msg }
func (e *rewordedError) Unwrap() error { return e.err }

// explainStaging words the staging store's "not there" errors for an operator.
func explainStaging(err error, job, row int64) error {
	switch {
	case errors.Is(err, staging.ErrNoJob):
		return &rewordedError{msg: fmt.Sprintf("job %d has no staged rows (never staged, or purged after the staging retention)", job), err: err}
	case errors.Is(err, staging.ErrNoRow):
		return &rewordedError{msg: fmt.Sprintf("job %d has no staged row %d", job, row), err: err}
	}
	return err
}

// stagingErrorsView is what staging errors prints, also its --json form. Errors is null
// unless a group was asked for.
type stagingErrorsView struct {
	Job       int64                `json:"job"`
	Counts    staging.Counts       `json:"counts"`
	Summary   []staging.ErrorGroup `json:"summary"`
	Errors    []validate.Error     `json:"errors"`
	NextAfter *int64               `json:"next_after"`
}

func printStagingErrors(w io.Writer, v *stagingErrorsView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "job %d: %s\n", v.Job, plural(int(v.Counts.Total), "staged row"))
	fmt.Fprintln(tw, "  STATUS\tROWS")
	for _, s := range staging.Statuses {
		fmt.Fprintf(tw, "  %s\t%d\n", s, v.Counts.Of(s))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(v.Summary) == 0 {
		_, err := fmt.Fprintln(w, "\nerrors: none")
		return err
	}
	fmt.Fprintf(w, "\nerrors by field and rule: %d\n", len(v.Summary))
	fmt.Fprintln(tw, "  FIELD\tRULE\tROWS\tFIRST ROW")
	for _, g := range v.Summary {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\n", orDash(oneLine(g.Field)), oneLine(string(g.Rule)), g.Rows, g.FirstRow)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if v.Errors != nil {
		return nil
	}
	g := v.Summary[0]
	_, err := fmt.Fprintf(w, "to list a group's rows, add its --field and --rule (e.g. --field %s --rule %s)\n",
		shellQuote(g.Field), shellQuote(string(g.Rule)))
	return err
}

// printErrorGroup prints a page of the errors of one field and rule.
func printErrorGroup(w io.Writer, summary []staging.ErrorGroup, field string, rule validate.Rule, after int64,
	errs []validate.Error, next int64) error {
	title := fmt.Sprintf("field %s, rule %s", orDash(oneLine(field)), oneLine(string(rule)))
	i := slices.IndexFunc(summary, func(g staging.ErrorGroup) bool { return g.Field == field && g.Rule == rule })
	if i < 0 {
		_, err := fmt.Fprintf(w, "\n%s: no errors (the groups are listed above)\n", title)
		return err
	}
	fmt.Fprintf(w, "\n%s: %s\n", title, plural(int(summary[i].Rows), "row"))
	if len(errs) == 0 {
		_, err := fmt.Fprintf(w, "no more errors after row %d\n", after)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ROW\tLINE\tCOLUMN\tMESSAGE")
	for _, e := range errs {
		fmt.Fprintf(tw, "  %d\t%d\t%s\t%s\n", e.Row, e.Line, orDash(oneLine(e.Column)), oneLine(e.Msg))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if next != 0 {
		_, err := fmt.Fprintf(w, "more errors: add --after %d for the next page\n", next)
		return err
	}
	return nil
}

func printStagedRows(w io.Writer, l staging.Layout, rows []staging.StagedRow, status string, after, next int64) error {
	if len(rows) == 0 {
		what := "no rows"
		if status != "" {
			what = "no " + status + " rows"
		}
		if after > 0 {
			what += fmt.Sprintf(" after row %d", after)
		}
		_, err := fmt.Fprintln(w, what)
		return err
	}
	cols := columnLabels(l.Columns, 0)
	for i := range rows {
		r := &rows[i]
		fmt.Fprintf(w, "row %d (line %d): %s\n", r.No, r.Line, r.Status)
		pairs := make([]string, 0, len(l.Fields))
		for j, f := range l.Fields {
			pairs = append(pairs, f+"="+showValue(valueAt(r.Values, j), true))
		}
		fmt.Fprintf(w, "  %s\n", strings.Join(pairs, " "))
		if changed := changedSource(&l, r, cols); len(changed) > 0 {
			pairs = pairs[:0]
			for _, c := range changed {
				pairs = append(pairs, c.column+"="+showValue(c.value, true))
			}
			fmt.Fprintf(w, "  source: %s\n", strings.Join(pairs, " "))
		}
		if r.Reason != "" {
			fmt.Fprintf(w, "  reason: %s\n", oneLine(r.Reason))
		}
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  error: %s\n", errorLine(e))
		}
	}
	if next != 0 {
		_, err := fmt.Fprintf(w, "more rows: add --after %d for the next page\n", next)
		return err
	}
	return nil
}

func printStagedRow(w io.Writer, job int64, l staging.Layout, r *staging.StagedRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "job:\t%d\n", job)
	fmt.Fprintf(tw, "row:\t%d\n", r.No)
	fmt.Fprintf(tw, "line:\t%d\n", r.Line)
	if l.Sheet != "" {
		fmt.Fprintf(tw, "sheet:\t%s\n", oneLine(l.Sheet))
	}
	fmt.Fprintf(tw, "status:\t%s\n", r.Status)
	if r.Reason != "" {
		fmt.Fprintf(tw, "reason:\t%s\n", oneLine(r.Reason))
	}
	if r.Attempt > 0 {
		fmt.Fprintf(tw, "sent again:\tby attempt %d\n", r.Attempt)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nfields: %d\n", len(l.Fields))
	fmt.Fprintln(tw, "  FIELD\tVALUE")
	for i, f := range l.Fields {
		fmt.Fprintf(tw, "  %s\t%s\n", f, showValue(valueAt(r.Values, i), false))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	cols := columnLabels(l.Columns, len(r.Raw))
	fmt.Fprintf(w, "\nsource columns: %d\n", len(cols))
	fmt.Fprintln(tw, "  COLUMN\tVALUE")
	for i, c := range cols {
		v := "(not in the row)"
		if i < len(r.Raw) {
			v = showValue(r.Raw[i], false)
		}
		fmt.Fprintf(tw, "  %s\t%s\n", showValue(c, false), v)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if err := printErrorTable(w, tw, "errors", r.Errors, true); err != nil {
		return err
	}
	return printErrorTable(w, tw, "resolved errors (what was wrong before an operator dealt with the row)", r.Resolved, false)
}

// printErrorTable prints a titled table of a row's errors; always prints it when empty.
func printErrorTable(w io.Writer, tw *tabwriter.Writer, title string, errs []validate.Error, always bool) error {
	if len(errs) == 0 && !always {
		return nil
	}
	fmt.Fprintf(w, "\n%s: %d\n", title, len(errs))
	if len(errs) == 0 {
		return nil
	}
	fmt.Fprintln(tw, "  FIELD\tRULE\tCOLUMN\tMESSAGE")
	for _, e := range errs {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", orDash(oneLine(e.Field)), oneLine(string(e.Rule)), orDash(oneLine(e.Column)), oneLine(e.Msg))
	}
	return tw.Flush()
}

// errorLine is a row error on one line: field and rule, column, message.
func errorLine(e validate.Error) string {
	var b strings.Builder
	if e.Field != "" {
		b.WriteString(oneLine(e.Field) + " ")
	}
	b.WriteString(oneLine(string(e.Rule)))
	if e.Column != "" {
		fmt.Fprintf(&b, " (column %s)", oneLine(e.Column))
	}
	b.WriteString(": " + oneLine(e.Msg))
	return b.String()
}

func valueAt(vals []string, i int) string {
	if i < len(vals) {
		return vals[i]
	}
	return ""
}

// columnLabels names the source values of a row of at least n values: each by its
// column's name, or #N (its 1-based position) beyond the header or where the header has
// no name or the same name twice, so that a label names one value.
func columnLabels(columns []string, n int) []string {
	out := make([]string, max(len(columns), n))
	seen := make(map[string]bool, len(out))
	for i := range out {
		if i < len(columns) && columns[i] != "" && !seen[columns[i]] {
			out[i] = columns[i]
		} else {
			out[i] = "#" + strconv.Itoa(i+1)
		}
		seen[out[i]] = true
	}
	return out
}

type sourceValue struct{ column, value string }

// changedSource is what a row read in its source columns where that is not the value
// mapped from the column (staging.Layout.MappedFrom), as staging itself compares when
// it stores a row's source values.
func changedSource(l *staging.Layout, r *staging.StagedRow, cols []string) []sourceValue {
	var out []sourceValue
	for i, v := range r.Raw {
		if m, ok := l.MappedFrom(i, r.Values); ok && i < len(l.Columns) && v == m {
			continue
		}
		c := "#" + strconv.Itoa(i+1)
		if i < len(cols) {
			c = cols[i]
		}
		out = append(out, sourceValue{c, v})
	}
	return out
}

var plainValue = regexp.MustCompile(`^[A-Za-z0-9_.:/@+-]+$`)

// shellQuote quotes s for a shell command line where it needs it.
func shellQuote(s string) string {
	if plainValue.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// showValue prints a staged value as it is, quoted (Go syntax) where that is needed to
// see it: empty, with spaces at either end, with a double quote or a character that is
// not printable, and with a space when spaces separate values (inList).
func showValue(v string, inList bool) string {
	needs := v == "" || strings.TrimSpace(v) != v || strings.ContainsRune(v, '"') ||
		strings.IndexFunc(v, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 ||
		(inList && strings.ContainsRune(v, ' '))
	if needs {
		return strconv.Quote(v)
	}
	return v
}

// stagedRowView is a staged row in --json output. Source holds every source value (row)
// or those that are not the value mapped from their column (rows).
type stagedRowView struct {
	Row    int64             `json:"row"`
	Line   int64             `json:"line"`
	Sheet  string            `json:"sheet"`
	Status staging.Status    `json:"status"`
	Values map[string]string `json:"values"`
	Source map[string]string `json:"source"`
	Errors []validate.Error  `json:"errors"`
	// Reason, Attempt and Resolved are there only when the row has them.
	Reason   string           `json:"reason,omitempty"`
	Attempt  int              `json:"attempt,omitempty"`
	Resolved []validate.Error `json:"resolved,omitempty"`
}

func newStagedRowView(l staging.Layout, r *staging.StagedRow, allSource bool) stagedRowView {
	v := stagedRowView{Row: r.No, Line: r.Line, Sheet: l.Sheet, Status: r.Status,
		Values: make(map[string]string, len(l.Fields)), Source: map[string]string{}, Errors: r.Errors,
		Reason: r.Reason, Attempt: r.Attempt, Resolved: r.Resolved}
	for i, f := range l.Fields {
		v.Values[f] = valueAt(r.Values, i)
	}
	cols := columnLabels(l.Columns, len(r.Raw))
	if allSource {
		for i, s := range r.Raw {
			v.Source[cols[i]] = s
		}
	} else {
		for _, s := range changedSource(&l, r, cols) {
			v.Source[s.column] = s.value
		}
	}
	if v.Errors == nil {
		v.Errors = []validate.Error{}
	}
	return v
}

// stagedRowDetailView is staging row's --json output.
type stagedRowDetailView struct {
	Job int64 `json:"job"`
	stagedRowView
}

// selectionFlags are how edit and reject name the rows they act on: the job's open rows
// that match.
type selectionFlags struct {
	rows        []int64
	field, rule string
	where       []string
}

func (f *selectionFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.Int64SliceVar(&f.rows, "row", nil, "these rows (repeat, or separate with commas)")
	fl.StringVar(&f.field, "field", "", "the rows with an open error on this field ('' for errors on no field); with --rule, of that rule")
	fl.StringVar(&f.rule, "rule", "", "the rows with an open error of this rule (with --field, on that field); fo: the rows F&O rejected")
	fl.StringArrayVar(&f.where, "where", nil, "FIELD=VALUE: the rows whose mapped FIELD is VALUE (repeat: all must hold)")
}

// filter is the selection the flags name; exactly one kind of selection is required.
func (f *selectionFlags) filter(cmd *cobra.Command) (staging.Filter, error) {
	fl := cmd.Flags()
	byError := fl.Changed("field") || fl.Changed("rule")
	kinds := 0
	for _, set := range []bool{len(f.rows) > 0, byError, len(f.where) > 0} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return staging.Filter{}, usageError(errors.New("name the rows with one of --row N..., --field F [--rule R] (or --rule R) and --where FIELD=VALUE..."))
	}
	var sel staging.Filter
	switch {
	case len(f.rows) > 0:
		for _, n := range f.rows {
			if n < 1 {
				return sel, usageError(fmt.Errorf("--row must be a row number (a positive number), got %d", n))
			}
		}
		sel.Rows = slices.Clone(f.rows)
	case byError:
		m := &staging.ErrorMatch{Rule: validate.Rule(f.rule)}
		if fl.Changed("field") {
			m.Field = &f.field
		}
		sel.Error = m
	default:
		vals, err := parseFieldValues("--where", f.where)
		if err != nil {
			return sel, err
		}
		sel.Where = vals
	}
	return sel, nil
}

// parseFieldValues reads FIELD=VALUE arguments of a flag.
func parseFieldValues(flag string, args []string) ([]staging.FieldValue, error) {
	out := make([]staging.FieldValue, 0, len(args))
	for _, a := range args {
		f, v, ok := strings.Cut(a, "=")
		if !ok || f == "" {
			return nil, usageError(fmt.Errorf("%s takes FIELD=VALUE, got %q", flag, a))
		}
		out = append(out, staging.FieldValue{Field: strings.ToUpper(strings.TrimSpace(f)), Value: v})
	}
	return out, nil
}

// checkNamedRows reports named rows that a job does not have or that are not open, so
// that an operator who names a row learns why it is left alone.
func checkNamedRows(ctx context.Context, store *staging.Store, job int64, rows []int64) error {
	found, err := store.RowPage(ctx, job, staging.Filter{Rows: rows}, 0, staging.MaxPage)
	if err != nil {
		return explainOperator(err, job)
	}
	byNo := make(map[int64]staging.Status, len(found))
	for _, r := range found {
		byNo[r.No] = r.Status
	}
	var problems []string
	for _, n := range rows {
		st, ok := byNo[n]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("job %d has no staged row %d", job, n))
		case !staging.IsOpen(st):
			problems = append(problems, fmt.Sprintf("row %d is %s", n, st))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: only invalid, rejected and fixed rows are changed", strings.Join(problems, "; "))
	}
	return nil
}

// actionView is what edit and reject print with --json.
type actionView struct {
	Job      int64            `json:"job"`
	Entry    jobhistory.Entry `json:"entry"`
	Outcomes map[string]int64 `json:"outcomes"`
}

// runStagingAction runs an edit or reject from the command line, printing its progress
// a batch at a time (on standard error) and its outcome.
func runStagingAction(cmd *cobra.Command, db *dbFlags, args []string, a imports.Action, asJSON bool) error {
	return withOperator(cmd, db, args, func(s *operatorSession) error { return s.runAction(cmd, db, a, asJSON) })
}

func (s *operatorSession) runAction(cmd *cobra.Command, db *dbFlags, a imports.Action, asJSON bool) error {
	ctx, job := cmd.Context(), s.job.ID
	if len(a.Filter.Rows) > 0 {
		if err := checkNamedRows(ctx, staging.NewStore(s.pool), job, a.Filter.Rows); err != nil {
			return err
		}
	}
	progress := func(e jobhistory.Entry) {
		if !asJSON && e.Matched > InlineProgress {
			fmt.Fprintf(cmd.ErrOrStderr(), "job %d: %d of %d rows\n", job, e.Rows, e.Matched)
		}
	}
	e, err := s.stages().RunAction(ctx, s.actor, job, a, progress)
	if err != nil {
		return explainOperator(err, job)
	}
	outcomes, err := jobhistory.NewAudit(s.pool).Outcomes(ctx, e.ID)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if asJSON {
		return printJSON(w, actionView{Job: job, Entry: e, Outcomes: outcomes})
	}
	verb := map[string]string{jobhistory.ActionEdit: "edited", jobhistory.ActionReject: "set aside"}[a.Kind]
	fmt.Fprintf(w, "job %d: %s %s (audit entry %d)", job, plural(int(e.Rows), "row"), verb, e.ID)
	if a.Kind == jobhistory.ActionEdit {
		fmt.Fprintf(w, ": %d fixed, %d still invalid", outcomes[string(staging.StatusFixed)], outcomes[string(staging.StatusInvalid)])
	}
	fmt.Fprintln(w)
	if n := outcomes[string(staging.StatusInvalid)]; n > 0 && a.Kind == jobhistory.ActionEdit {
		fmt.Fprintf(w, "the rows still invalid have new errors: pipeline staging errors %d -c %s\n", job, db.configPath)
	}
	if n := outcomes[string(staging.StatusFixed)]; n > 0 {
		fmt.Fprintf(w, "send the fixed rows to F&O with: pipeline staging resubmit %d -c %s\n", job, db.configPath)
	}
	return nil
}

// InlineProgress is the size of an action above which the CLI prints its progress.
const InlineProgress = 5000

const selectionHelp = `The rows are the job's open rows (invalid, rejected by F&O or not imported, fixed)
that match one selection:

  --row N...                 these rows (pipeline staging rows lists them)
  --field F [--rule R]       the rows with an open error on field F (of rule R): one
                             group of pipeline staging errors; --field '' for errors
                             on no field
  --rule R                   the rows with an open error of rule R on any field;
                             --rule fo selects the rows F&O rejected
  --where FIELD=VALUE...     the rows whose mapped FIELD is VALUE exactly (repeat: all
                             must hold)

A large selection is worked a batch at a time (a few thousand rows per transaction),
with its progress on standard error. The action is one entry of the job's audit trail,
with its selection, who acted (the OS user) and, for each row, what changed.
--json prints the entry and how many rows ended in each status.

A selection without an open row, or a named row that is not open, is an error (exit
status 1); a bad argument, an unknown field or a value with a control character is a
usage error (exit status 64).`

func newStagingEditCmd() *cobra.Command {
	var (
		db     dbFlags
		sel    selectionFlags
		set    []string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "edit JOB -c CFG (--row N... | --field F [--rule R] | --where FIELD=VALUE...) --set FIELD=VALUE... [--json]",
		Short: "Set field values on a job's open rows and re-validate them",
		Long: `edit sets the mapped values --set names on rows of job JOB, then re-validates each
row with the project's rules and the entity catalog (types, lengths, mandatory fields,
reference lists, unique keys across the job's rows): a row that passes becomes fixed,
one that fails stays invalid with its new errors. The row's source values stay as
read. Its earlier errors are kept on the row as resolved (pipeline staging row shows
them) and leave the error groups.

` + selectionHelp + `

Fixed rows wait for pipeline staging resubmit JOB, which sends them to F&O.`,
		Args: usageArgs("JOB"),
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := sel.filter(cmd)
			if err != nil {
				return err
			}
			if len(set) == 0 {
				return usageError(errors.New("--set FIELD=VALUE is required: the values to set"))
			}
			values, err := parseFieldValues("--set", set)
			if err != nil {
				return err
			}
			return runStagingAction(cmd, &db, args, imports.Action{Kind: jobhistory.ActionEdit, Filter: filter, Set: values}, asJSON)
		},
	}
	db.register(cmd)
	sel.register(cmd)
	cmd.Flags().StringArrayVar(&set, "set", nil, "FIELD=VALUE: the value to set (repeat for several fields)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the audit entry and the rows' new statuses as JSON")
	return cmd
}

func newStagingRejectCmd() *cobra.Command {
	var (
		db     dbFlags
		sel    selectionFlags
		reason string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "reject JOB -c CFG (--row N... | --field F [--rule R] | --where FIELD=VALUE...) --reason TEXT [--json]",
		Short: "Set a job's open rows aside, with a reason: they are never sent to F&O",
		Long: `reject sets rows of job JOB aside (status skipped) with the --reason given: they are
never sent to F&O, leave the queue and the error groups, and count as dealt with, so
that a job whose other rows are all imported ends succeeded once resubmitted.

` + selectionHelp,
		Args: usageArgs("JOB"),
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := sel.filter(cmd)
			if err != nil {
				return err
			}
			if strings.TrimSpace(reason) == "" {
				return usageError(errors.New("--reason TEXT is required: why the rows are set aside"))
			}
			return runStagingAction(cmd, &db, args, imports.Action{Kind: jobhistory.ActionReject, Filter: filter, Reason: reason}, asJSON)
		},
	}
	db.register(cmd)
	sel.register(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why the rows are set aside (required)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the audit entry as JSON")
	return cmd
}

func newStagingResubmitCmd() *cobra.Command {
	var (
		db             dbFlags
		asJSON, detach bool
	)
	cmd := &cobra.Command{
		Use:   "resubmit JOB -c CFG [--detach] [--json]",
		Short: "Send a job's fixed rows to F&O as a new attempt and wait for it",
		Long: `resubmit sends the rows operators fixed in job JOB (and any valid row never sent) to
F&O as a new attempt of the same job, as the OS user (recorded in the job's audit
trail): new chunks numbered after the job's others, through the same upload and poll
stages, definition groups, lanes and request limits as the first attempt. F&O's
verdict comes back onto the rows: imported, or rejected again with F&O's new errors.
The job runs again and ends succeeded once every row is imported or set aside.

The attempt is worked here, with its progress, until the job ends (as run works its
jobs); --detach leaves it to the serve nodes and returns at once. An interrupted
attempt resumes at the next pipeline run of the job's project.

Exit status as for run: 0 the job succeeded, 2 it partially succeeded (rows still wait
in staging), 1 it failed, the job has not ended, or it has no fixed row; 64 for a bad
argument. --json prints the job's summary at the end.`,
		Args: usageArgs("JOB"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withOperator(cmd, &db, args, func(s *operatorSession) error {
				a, err := s.stages().Resubmit(cmd.Context(), s.actor, s.job.ID, !detach)
				if err != nil {
					return explainOperator(err, s.job.ID)
				}
				return s.followAttempt(cmd, &db, &a, detach, asJSON)
			})
		},
	}
	db.register(cmd)
	cmd.Flags().BoolVar(&detach, "detach", false, "leave the new attempt to the serve nodes and return at once")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the job's summary as JSON when it ends")
	return cmd
}
