package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/app"
	"github.com/dmfpipe/dmfpipe/ingest/reader"
)

// maxShownRowErrors bounds the row errors inspect lists; all are counted.
const maxShownRowErrors = 20

// maxShownColumns bounds the columns of the table of records; --json has them all.
const maxShownColumns = 20

// connectionPath matches the connection:path form (a Windows drive letter has one letter).
var connectionPath = regexp.MustCompile(`^[A-Za-z0-9_.-]{2,}:`)

func newInspectCmd() *cobra.Command {
	var (
		opts    reader.Options
		format  string
		cfgPath string
		limit   int
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Show how a file is read: format, encoding, delimiter, header, rows",
		Long: `inspect reads a CSV, XLSX, JSON or NDJSON file the way an import would and prints
the detected format, encoding and delimiter, the header, the number of rows (and of
rows with errors, with the first of them located) and the first --limit records.
The format comes from --format, else the file extension, else the content.

A title above the header (a report name, a date) is skipped with --header-row N
(the header is on row or line N) or --skip-rows N (N rows or lines come before it),
as format.header_row and format.skip_rows do in the config. Where the file looks
misread (a header of one column holding another delimiter, a title taken for the
header, bytes of another encoding), a hint names the config setting to try, e.g.
  Hint:  the header has one column containing ';': delimiter: ';'?

FILE is a local path, or CONNECTION:PATH to read it from a connection of the config
given with -c (an sftp server, an Azure Blob container or a local folder), e.g.
  pipeline inspect -c pipeline.yaml partner-sftp:/outbound/customers/customers_1.csv`,
		Args: usageArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			if limit < 0 {
				return usageError(fmt.Errorf("--limit %d: want 0 or more", limit))
			}
			f, err := reader.ParseFormat(format)
			if err != nil {
				return usageError(err)
			}
			opts.Format = f
			if err := checkHeaderRows(opts); err != nil {
				return usageError(err)
			}
			var rd reader.Reader
			if _, statErr := os.Stat(path); errors.Is(statErr, fs.ErrNotExist) && connectionPath.MatchString(path) {
				rd, err = openFromConnection(cmd.Context(), cfgPath, path, opts)
			} else {
				rd, err = reader.OpenFile(path, opts)
			}
			if errors.Is(err, fs.ErrNotExist) {
				return usageError(err)
			}
			if err != nil {
				return err
			}
			defer rd.Close()
			res, readErr := inspect(rd, limit)
			res.File = path
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				printInspection(cmd.OutOrStdout(), res)
			}
			return readErr
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&format, "format", "", "csv, xlsx, json or ndjson (default: by extension, then content)")
	fl.StringVar(&opts.Sheet, "sheet", "", "XLSX sheet name or 1-based index (default: the first)")
	fl.IntVar(&limit, "limit", 10, "number of records to show")
	fl.BoolVar(&asJSON, "json", false, "print the result as JSON")
	fl.StringVar(&opts.Records, "records", "", "JSON pointer to the records array, e.g. /data/items")
	fl.StringVar(&opts.Delimiter, "delimiter", "", "CSV delimiter (default: detected)")
	fl.StringVar(&opts.Encoding, "encoding", "", "CSV/JSON encoding (default: detected)")
	fl.BoolVar(&opts.NoHeader, "no-header", false, "the file has no header row")
	fl.IntVar(&opts.HeaderRow, "header-row", 0, "1-based row (XLSX) or line (CSV) holding the header; the rows above it are skipped (default: --skip-rows + 1)")
	fl.IntVar(&opts.SkipRows, "skip-rows", 0, "rows (XLSX) or lines (CSV) to skip before the header, such as a title")
	fl.StringVarP(&cfgPath, "config", "c", "", "config file whose connections CONNECTION:PATH names")
	return cmd
}

// checkHeaderRows refuses negative or contradicting --header-row and --skip-rows.
func checkHeaderRows(opts reader.Options) error {
	switch {
	case opts.HeaderRow < 0:
		return fmt.Errorf("--header-row %d: rows count from 1", opts.HeaderRow)
	case opts.SkipRows < 0:
		return fmt.Errorf("--skip-rows %d: want 0 or more", opts.SkipRows)
	case opts.HeaderRow > 0 && opts.SkipRows > 0 && opts.HeaderRow != opts.SkipRows+1:
		return fmt.Errorf("--header-row %d and --skip-rows %d disagree: give one of them", opts.HeaderRow, opts.SkipRows)
	}
	return nil
}

// openFromConnection streams "connection:path" from a connection of the config.
func openFromConnection(ctx context.Context, cfgPath, arg string, opts reader.Options) (reader.Reader, error) {
	name, rel, _ := strings.Cut(arg, ":")
	if cfgPath == "" {
		return nil, usageError(fmt.Errorf("%s: reading from connection %q needs the config: -c FILE", arg, name))
	}
	a, err := loadApp(cfgPath, app.Options{})
	if err != nil {
		return nil, err
	}
	if _, ok := a.Config().Connections[name]; !ok {
		return nil, usageError(fmt.Errorf("%s: no connection %q in %s", arg, name, cfgPath))
	}
	src, err := a.Source(ctx, name)
	if err != nil {
		return nil, err
	}
	rc, err := src.Open(ctx, rel)
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("%s: %w", arg, err)
	}
	if opts.FileName == "" {
		opts.FileName = path.Base(rel)
	}
	rd, err := reader.Open(rc, opts)
	if err != nil {
		rc.Close()
		src.Close()
		return nil, err
	}
	return &sourceReader{Reader: rd, closers: []io.Closer{rc, src}}, nil
}

// sourceReader closes the stream and its source with the reader.
type sourceReader struct {
	reader.Reader
	closers []io.Closer
}

func (r *sourceReader) Close() error {
	err := r.Reader.Close()
	for _, c := range r.closers {
		err = errors.Join(err, c.Close())
	}
	return err
}

// inspection is what inspect reports, also its --json form.
type inspection struct {
	File              string            `json:"file"`
	Format            reader.Format     `json:"format"`
	Encoding          string            `json:"encoding,omitempty"`
	EncodingSource    string            `json:"encoding_source,omitempty"`
	Delimiter         string            `json:"delimiter,omitempty"`
	DelimiterDetected bool              `json:"delimiter_detected,omitempty"`
	Sheet             string            `json:"sheet,omitempty"`
	Sheets            []string          `json:"sheets,omitempty"`
	Date1904          bool              `json:"date1904,omitempty"`
	Records           string            `json:"records_pointer,omitempty"`
	Header            []string          `json:"header"`
	Rows              int               `json:"rows"`
	RowErrors         int               `json:"row_errors"`
	First             []inspectedRecord `json:"records"`
	Errors            []inspectedError  `json:"errors"`
	// Hints say why the file may be misread and which setting would likely read it.
	Hints []string `json:"hints"`
}

type inspectedRecord struct {
	Line   int      `json:"line,omitempty"`
	Row    int      `json:"row,omitempty"`
	Values []string `json:"values"`
}

type inspectedError struct {
	Line    int         `json:"line,omitempty"`
	Row     int         `json:"row,omitempty"`
	Column  int         `json:"column,omitempty"`
	Code    reader.Code `json:"code"`
	Message string      `json:"message"`
}

// inspect reads every record of rd, keeping the first limit records and the
// first row errors. A final read error is returned with what was read before it.
func inspect(rd reader.Reader, limit int) (inspection, error) {
	info := rd.Info()
	res := inspection{
		Format:            info.Format,
		Encoding:          info.Encoding,
		EncodingSource:    info.EncodingSource,
		DelimiterDetected: info.DelimiterDetected,
		Sheet:             info.Sheet,
		Sheets:            info.Sheets,
		Date1904:          info.Date1904,
		Records:           info.Records,
		Header:            append([]string{}, rd.Header()...),
		First:             []inspectedRecord{},
		Errors:            []inspectedError{},
		Hints:             []string{},
	}
	if h := reader.DelimiterHint(res.Header); h != "" {
		res.Hints = append(res.Hints, h)
	}
	// A header of one column above wider records is likely a title: the first of
	// them is likely the header.
	titleRow := 0
	lookForTitle := len(res.Hints) == 0 && reader.TitleHint(res.Header, 0) != ""
	titleHint := func() {
		if titleRow > 0 {
			res.Hints = append(res.Hints, reader.TitleHint(res.Header, titleRow))
		}
	}
	if info.Delimiter != 0 {
		res.Delimiter = string(rune(info.Delimiter))
	}
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			titleHint()
			return res, nil
		}
		var rowErr *reader.RowError
		if err != nil && !errors.As(err, &rowErr) {
			titleHint()
			return res, fmt.Errorf("after %d rows: %w", res.Rows, err)
		}
		res.Rows++
		if lookForTitle && titleRow == 0 && wider(rec.Values) {
			titleRow = max(rec.Loc.Line, rec.Loc.Row)
		}
		if rowErr != nil {
			res.RowErrors++
			if len(res.Errors) < maxShownRowErrors {
				res.Errors = append(res.Errors, inspectedError{
					Line: rowErr.Line, Row: rowErr.Row, Column: rowErr.Column, Code: rowErr.Code, Message: rowErr.Error(),
				})
			}
		}
		if len(res.First) < limit {
			res.First = append(res.First, inspectedRecord{Line: rec.Loc.Line, Row: rec.Loc.Row, Values: append([]string{}, rec.Values...)})
		}
	}
}

// wider reports whether values hold more than one column: two non-empty values, or
// one holding a delimiter (the file was split with another).
func wider(values []string) bool {
	n := 0
	for _, v := range values {
		if v != "" {
			n++
		}
	}
	return n > 1 || reader.DelimiterHint(values) != ""
}

func printInspection(w io.Writer, res inspection) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "File:\t%s\n", res.File)
	fmt.Fprintf(tw, "Format:\t%s\n", res.Format)
	if res.Encoding != "" {
		fmt.Fprintf(tw, "Encoding:\t%s (%s)\n", res.Encoding, res.EncodingSource)
	}
	if res.Delimiter != "" {
		how := "given"
		if res.DelimiterDetected {
			how = "detected"
		}
		fmt.Fprintf(tw, "Delimiter:\t%s (%s)\n", strconv.Quote(res.Delimiter), how)
	}
	if res.Sheet != "" {
		quoted := make([]string, len(res.Sheets))
		for i, s := range res.Sheets {
			quoted[i] = strconv.Quote(s)
		}
		fmt.Fprintf(tw, "Sheet:\t%q (of %s)\n", res.Sheet, strings.Join(quoted, ", "))
		system := "1900"
		if res.Date1904 {
			system = "1904"
		}
		fmt.Fprintf(tw, "Dates:\t%s date system\n", system)
	}
	if res.Records != "" {
		fmt.Fprintf(tw, "Records:\t%s\n", res.Records)
	}
	columns := "columns"
	if len(res.Header) == 1 {
		columns = "column"
	}
	fmt.Fprintf(tw, "Header:\t%d %s\n", len(res.Header), columns)
	fmt.Fprintf(tw, "Rows:\t%d (%d with errors)\n", res.Rows, res.RowErrors)
	for _, h := range res.Hints {
		fmt.Fprintf(tw, "Hint:\t%s\n", h)
	}
	tw.Flush()

	if len(res.First) > 0 {
		fmt.Fprintln(w)
		var table strings.Builder
		tw = tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
		loc := "LINE"
		if res.Format == reader.FormatXLSX {
			loc = "ROW"
		}
		// Every cell ends with a tab, and short rows are padded, so that
		// tabwriter keeps each column aligned over all lines.
		width := min(len(res.Header), maxShownColumns)
		fmt.Fprint(tw, loc, "\t")
		for _, h := range res.Header[:width] {
			fmt.Fprint(tw, cell(h), "\t")
		}
		fmt.Fprintln(tw)
		for _, r := range res.First {
			fmt.Fprint(tw, max(r.Line, r.Row), "\t")
			values := r.Values[:min(len(r.Values), maxShownColumns)]
			for _, v := range values {
				fmt.Fprint(tw, cell(v), "\t")
			}
			fmt.Fprint(tw, strings.Repeat("\t", max(0, width-len(values))))
			fmt.Fprintln(tw)
		}
		tw.Flush()
		for _, line := range strings.Split(strings.TrimSuffix(table.String(), "\n"), "\n") {
			fmt.Fprintln(w, strings.TrimRight(line, " "))
		}
		if len(res.Header) > width {
			fmt.Fprintf(w, "(the first %d of %d columns; --json shows them all)\n", width, len(res.Header))
		}
	}
	if len(res.Errors) > 0 {
		fmt.Fprintf(w, "\nRow errors (first %d of %d):\n", len(res.Errors), res.RowErrors)
		for _, e := range res.Errors {
			fmt.Fprintf(w, "  %s [%s]\n", e.Message, e.Code)
		}
	}
}

var cellEscaper = strings.NewReplacer("\r", `\r`, "\n", `\n`, "\t", `\t`)

// cell shortens a value for a table column and makes line breaks visible.
func cell(v string) string {
	const width = 30
	v = cellEscaper.Replace(v)
	if utf8.RuneCountInString(v) > width {
		v = string([]rune(v)[:width-1]) + "…"
	}
	return v
}
