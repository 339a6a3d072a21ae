package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/app"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/ingest/reader"
	"github.com/dmfpipe/dmfpipe/ingestjob"
	"github.com/dmfpipe/dmfpipe/mapping"
	"github.com/dmfpipe/dmfpipe/validate"
)

// previewCellWidth bounds a value in the preview table; --json shows values whole.
const previewCellWidth = 30

func newPreviewCmd() *cobra.Command {
	var (
		cfgPath, file string
		limit         int
		asJSON        bool
	)
	cmd := &cobra.Command{
		Use:   "preview -c CFG PROJECT --file PATH [--limit N] [--json]",
		Short: "Map and validate the first records of a file, without a database",
		Long: `preview reads a local file the way PROJECT's import would (its format settings),
maps the first --limit records to entity rows and checks them with the project's row
rules and the entity catalog. It prints the rows and every located error. Set rules
(unique, lookup) need the whole file and run in "run --dry-run", not here.
Exit status 0 means no previewed row has an error, 2 that some have, 64 a usage or
config problem (including a mapping column the file lacks).`,
		Args: usageArgs("PROJECT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return usageError(errors.New("--file is required"))
			}
			if limit < 1 {
				return usageError(fmt.Errorf("--limit %d: want 1 or more", limit))
			}
			a, err := loadApp(cfgPath, app.Options{})
			if err != nil {
				return err
			}
			p, err := importProjectOf(a, args[0])
			if err != nil {
				return err
			}
			res, err := preview(p, file, limit)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				printPreview(out, res)
			}
			if res.Errors > 0 {
				return &exitError{code: exitPartial}
			}
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	fl := cmd.Flags()
	fl.StringVar(&file, "file", "", "local file to preview (required)")
	fl.IntVar(&limit, "limit", 20, "number of records to map")
	fl.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// previewResult is what preview prints, also its --json form.
type previewResult struct {
	File   string       `json:"file"`
	Entity string       `json:"entity"`
	Fields []string     `json:"fields"`
	Rows   []previewRow `json:"rows"`
	// Errors counts the previewed rows with at least one error.
	Errors int `json:"errors"`
}

type previewRow struct {
	Row    int64             `json:"row"`
	Line   int64             `json:"line"`
	Sheet  string            `json:"sheet,omitempty"`
	Values map[string]string `json:"values"`
	Errors []validate.Error  `json:"errors"`

	ordered []string
}

func preview(p *imports.Project, file string, limit int) (*previewResult, error) {
	opts, err := reader.OptionsFor(p.Format, file)
	if err != nil {
		return nil, usageError(err)
	}
	rd, err := reader.OpenFile(file, opts)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, usageError(err)
	}
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	fields, rows, err := ingestjob.Check(rd, ingestjob.BindMapping(p.Mapping), p.Rules, limit)
	var bindErr *mapping.ColumnError
	if errors.As(err, &bindErr) {
		return nil, usageError(fmt.Errorf("%s does not fit project %s:\n%w", file, p.Name, err))
	}
	if err != nil {
		return nil, err
	}
	res := &previewResult{File: file, Entity: p.Entity.DMFName, Fields: fields, Rows: []previewRow{}}
	for _, r := range rows {
		pr := previewRow{Row: r.No, Line: r.Line, Sheet: r.Sheet, Values: make(map[string]string, len(r.Values)),
			Errors: r.Errors, ordered: r.Values}
		if pr.Errors == nil {
			pr.Errors = []validate.Error{}
		}
		for i, f := range fields {
			pr.Values[f] = r.Values[i]
		}
		if len(r.Errors) > 0 {
			res.Errors++
		}
		res.Rows = append(res.Rows, pr)
	}
	return res, nil
}

func printPreview(w io.Writer, res *previewResult) {
	fmt.Fprintf(w, "%s -> %s: %d rows previewed, %d with errors\n\n", res.File, res.Entity, len(res.Rows), res.Errors)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ROW\tLINE\t%s\n", strings.Join(res.Fields, "\t"))
	for _, r := range res.Rows {
		cells := make([]string, len(r.ordered))
		for i, v := range r.ordered {
			cells[i] = shorten(v)
		}
		mark := ""
		if len(r.Errors) > 0 {
			mark = "!"
		}
		fmt.Fprintf(tw, "%d%s\t%d\t%s\n", r.Row, mark, r.Line, strings.Join(cells, "\t"))
	}
	tw.Flush()
	if res.Errors == 0 {
		return
	}
	fmt.Fprintln(w)
	name := filepath.Base(res.File)
	for _, r := range res.Rows {
		for _, e := range r.Errors {
			loc := fmt.Sprintf("%s:%d", name, e.Line)
			if e.Sheet != "" {
				loc = fmt.Sprintf("%s[%s]:%d", name, e.Sheet, e.Line)
			}
			target := e.Field
			if e.Column != "" && e.Field != "" {
				target = e.Column + "/" + e.Field
			} else if e.Column != "" {
				target = e.Column
			}
			fmt.Fprintf(w, "%s: %s: %s (%s)\n", loc, target, e.Msg, e.Rule)
		}
	}
}

// shorten keeps table cells on one line and narrow.
func shorten(v string) string {
	v = strings.NewReplacer("\r", " ", "\n", " ", "\t", " ").Replace(v)
	if v == "" {
		return "·"
	}
	if utf8.RuneCountInString(v) <= previewCellWidth {
		return v
	}
	r := []rune(v)
	return string(r[:previewCellWidth-1]) + "…"
}
