package main

import (
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

	"github.com/dmfpipe/dmfpipe/staging"
	"github.com/dmfpipe/dmfpipe/validate"
)

// stagingPageLimit is how many rows or errors a page of staging rows or staging errors
// holds unless --limit says otherwise.
const stagingPageLimit = 50

// stagingNext tells an operator what comes after reviewing staged rows.
const stagingNext = `Editing, rejecting and resubmitting rows come with the console; until then, correct
the rows at their source (or the project's mapping) and import a file with them
again: new content is never skipped as a duplicate.`

func newStagingCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "staging errors|rows|row",
		Short: "Review an import job's staged rows and their errors (read-only)",
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

These commands only read. ` + stagingNext,
	}
	cmd.AddCommand(newStagingErrorsCmd(), newStagingRowsCmd(), newStagingRowCmd())
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

	fmt.Fprintf(w, "\nerrors: %d\n", len(r.Errors))
	if len(r.Errors) == 0 {
		return nil
	}
	fmt.Fprintln(tw, "  FIELD\tRULE\tCOLUMN\tMESSAGE")
	for _, e := range r.Errors {
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
}

func newStagedRowView(l staging.Layout, r *staging.StagedRow, allSource bool) stagedRowView {
	v := stagedRowView{Row: r.No, Line: r.Line, Sheet: l.Sheet, Status: r.Status,
		Values: make(map[string]string, len(l.Fields)), Source: map[string]string{}, Errors: r.Errors}
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
