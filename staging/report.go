package staging

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/xuri/excelize/v2"
)

// reportHeader is the first line of an error report: one line per error, with the
// value the field had and the source value of the column the error names.
var reportHeader = []string{"row", "line", "status", "column", "field", "rule", "message", "value", "source_value"}

// eachReportLine streams a job's open errors in row order as report lines.
func (s *Store) eachReportLine(ctx context.Context, job int64, fn func(line []string) error) error {
	l, err := s.Layout(ctx, job)
	if err != nil {
		return err
	}
	rows, err := s.db.Query(ctx, `SELECT e.row_no, r.line, r.status, e.col, e.field, e.rule, e.message, r.vals, r.raw
		FROM `+errorsTable(job)+` e JOIN `+rowsTable(job)+` r USING (row_no)
		WHERE NOT e.resolved
		ORDER BY e.row_no, e.field, e.rule`)
	if err != nil {
		return fmt.Errorf("reading errors of job %d: %w", job, err)
	}
	defer rows.Close()
	line := make([]string, len(reportHeader))
	var (
		no, srcLine int64
		stored      string
		raw         *string
	)
	for rows.Next() {
		if err := rows.Scan(&no, &srcLine, &line[2], &line[3], &line[4], &line[5], &line[6], &stored, &raw); err != nil {
			return fmt.Errorf("reading errors of job %d: %w", job, err)
		}
		vals := splitVals(stored)
		line[0], line[1] = strconv.FormatInt(no, 10), strconv.FormatInt(srcLine, 10)
		line[7], line[8] = "", ""
		if i := slices.Index(l.Fields, line[4]); i >= 0 && i < len(vals) {
			line[7] = vals[i]
		}
		if i := slices.Index(l.Columns, line[3]); i >= 0 {
			src, err := decodeRaw(raw, vals, &l)
			if err != nil {
				return fmt.Errorf("reading row %d of job %d: %w", no, job, err)
			}
			if i < len(src) {
				line[8] = src[i]
			}
		}
		if err := fn(line); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading errors of job %d: %w", job, err)
	}
	return nil
}

// WriteErrorReportCSV streams a job's errors to w as CSV, one line per error.
func (s *Store) WriteErrorReportCSV(ctx context.Context, job int64, w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(reportHeader); err != nil {
		return err
	}
	if err := s.eachReportLine(ctx, job, cw.Write); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// maxSheetRows is the number of rows a worksheet holds.
const maxSheetRows = 1_048_576

// WriteErrorReportXLSX streams a job's errors to w as a workbook with one sheet, one row
// per error. A sheet holds 1,048,576 rows: beyond that the last row says how many
// errors were left out (the CSV report has them all).
func (s *Store) WriteErrorReportXLSX(ctx context.Context, job int64, w io.Writer) error {
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "Errors"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	cells := make([]any, len(reportHeader))
	setRow := func(n int, line []string) error {
		for i, v := range line {
			cells[i] = v
		}
		cell, err := excelize.CoordinatesToCellName(1, n)
		if err != nil {
			return err
		}
		return sw.SetRow(cell, cells)
	}
	if err := setRow(1, reportHeader); err != nil {
		return err
	}
	n, left := 1, 0
	err = s.eachReportLine(ctx, job, func(line []string) error {
		if n == maxSheetRows-1 {
			left++
			return nil
		}
		n++
		// Row and line are numbers in the workbook, so that they sort as numbers.
		for i, v := range line {
			cells[i] = v
		}
		r, _ := strconv.ParseInt(line[0], 10, 64)
		l, _ := strconv.ParseInt(line[1], 10, 64)
		cells[0], cells[1] = r, l
		cell, err := excelize.CoordinatesToCellName(1, n)
		if err != nil {
			return err
		}
		return sw.SetRow(cell, cells)
	})
	if err != nil {
		return err
	}
	if left > 0 {
		cell, err := excelize.CoordinatesToCellName(1, n+1)
		if err != nil {
			return err
		}
		if err := sw.SetRow(cell, []any{fmt.Sprintf("%d more errors are in the CSV report", left)}); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("writing error report of job %d: %w", job, err)
	}
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("writing error report of job %d: %w", job, err)
	}
	return nil
}
