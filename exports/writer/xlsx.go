package writer

import (
	"archive/zip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/dmfpipe/dmfpipe/internal/tempfile"
	"github.com/xuri/excelize/v2"
)

// Excel's limits: rows and columns a sheet, UTF-16 units a cell, characters a sheet name.
const (
	MaxXLSXRows      = excelize.TotalRows
	MaxXLSXColumns   = excelize.MaxColumns
	MaxXLSXCellChars = excelize.TotalCellChars
	maxSheetName     = 31
)

// xlsxWriter writes one sheet per table with excelize's StreamWriter: excelize keeps up to
// 16 MiB of a sheet in memory and spools the rest to a temporary file; Close compresses
// the workbook straight into the output (a zip writer of ours is given to excelize, so
// the workbook never sits whole in a buffer).
type xlsxWriter struct {
	table
	w      io.Writer
	f      *excelize.File
	sw     *excelize.StreamWriter
	sheets []string
	cells  []any
	closed bool
	err    error
}

func newXLSX(w io.Writer) *xlsxWriter { return &xlsxWriter{w: w, f: excelize.NewFile()} }

// sheetName makes a table's name a valid, unused sheet name: no []:*?/\, at most 31
// characters, unique regardless of case.
func sheetName(name string, taken []string) string {
	clean := strings.Map(func(r rune) rune {
		if strings.ContainsRune(`[]:*?/\`, r) {
			return '_'
		}
		return r
	}, strings.Trim(name, "'"))
	if clean == "" {
		clean = "Sheet"
	}
	fit := func(s, suffix string) string {
		r := []rune(s)
		if len(r)+len([]rune(suffix)) > maxSheetName {
			r = r[:maxSheetName-len([]rune(suffix))]
		}
		return string(r) + suffix
	}
	cand := fit(clean, "")
	for n := 2; slices.ContainsFunc(taken, func(t string) bool { return strings.EqualFold(t, cand) }); n++ {
		cand = fit(clean, "~"+strconv.Itoa(n))
	}
	return cand
}

func (x *xlsxWriter) Begin(name string, columns []string) error {
	if x.err != nil {
		return x.err
	}
	if err := x.begin(name, columns, false); err != nil {
		return err
	}
	if len(columns) > MaxXLSXColumns {
		return &ValueError{Table: name, Msg: fmt.Sprintf("%d columns; Excel's limit is %d a sheet", len(columns), MaxXLSXColumns)}
	}
	if err := x.endSheet(); err != nil {
		return err
	}
	sheet := sheetName(name, x.sheets)
	if len(x.sheets) == 0 {
		if err := x.f.SetSheetName("Sheet1", sheet); err != nil {
			return x.fail(err)
		}
	} else if _, err := x.f.NewSheet(sheet); err != nil {
		return x.fail(err)
	}
	x.sheets = append(x.sheets, sheet)
	sw, err := x.f.NewStreamWriter(sheet)
	if err != nil {
		return x.fail(err)
	}
	x.sw = sw
	x.cells = make([]any, len(columns))
	return x.setRow(columns, 0)
}

func (x *xlsxWriter) Row(values []string) error {
	if x.err != nil {
		return x.err
	}
	if err := x.row(values); err != nil {
		return err
	}
	if x.rows+1 > MaxXLSXRows {
		return &ValueError{Table: x.name, Row: x.rows,
			Msg: fmt.Sprintf("more than %d rows: Excel's limit is %d rows a sheet, the header included; split the file by rows (destination.split.rows)",
				MaxXLSXRows-1, MaxXLSXRows)}
	}
	return x.setRow(values, x.rows)
}

// setRow writes the header (row 0) or a data row into the sheet's next row.
func (x *xlsxWriter) setRow(values []string, row int64) error {
	for i, v := range values {
		// A UTF-16 unit takes at least one byte of UTF-8: only a long value can be too long.
		if len(v) > MaxXLSXCellChars {
			if n := utf16Len(v); n > MaxXLSXCellChars {
				return &ValueError{Table: x.name, Row: row, Column: x.columns[i],
					Msg: fmt.Sprintf("%d characters; Excel's limit is %d a cell: export as csv, json or ndjson", n, MaxXLSXCellChars)}
			}
		}
		if c, ok := xmlControl(v); ok {
			return &ValueError{Table: x.name, Row: row, Column: x.columns[i],
				Msg: fmt.Sprintf("control character U+%04X cannot be stored in an Excel cell: export as csv, json or ndjson", c)}
		}
		x.cells[i] = v
	}
	cell, err := excelize.CoordinatesToCellName(1, int(row)+1)
	if err != nil {
		return x.fail(err)
	}
	if err := x.sw.SetRow(cell, x.cells); err != nil {
		return x.fail(err)
	}
	return nil
}

// xmlControl returns the first character of s that XML 1.0, and so a workbook, cannot
// hold: a C0 control other than tab, line feed and carriage return.
func xmlControl(s string) (byte, bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return c, true
		}
	}
	return 0, false
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += len(utf16.AppendRune(nil, r))
	}
	return n
}

func (x *xlsxWriter) fail(err error) error {
	x.err = fmt.Errorf("writing the workbook: %w", err)
	return x.err
}

func (x *xlsxWriter) endSheet() error {
	if x.sw == nil {
		return nil
	}
	sw := x.sw
	x.sw = nil
	if err := sw.Flush(); err != nil {
		return x.fail(err)
	}
	return nil
}

func (x *xlsxWriter) Close() error {
	if x.closed {
		return x.err
	}
	x.closed = true
	defer x.f.Close() // removes excelize's temporary files
	if x.err != nil {
		return x.err
	}
	if !x.begun {
		// A workbook without tables still has its one empty sheet.
		x.sheets = append(x.sheets, "Sheet1")
	}
	if err := x.endSheet(); err != nil {
		return err
	}
	zw := &orderedZip{zw: zip.NewWriter(x.w), sheets: len(x.sheets)}
	x.f.SetZipWriter(func(io.Writer) excelize.ZipWriter { return zw })
	if _, err := x.f.WriteToBuffer(); err != nil {
		return x.fail(err)
	}
	return zw.err
}

// orderedZip is the zip writer excelize writes the workbook into: straight onto the
// output. excelize writes the streamed sheets first, in the order of a Go map; with several
// sheets, they are spooled to temporary files and written in sheet order, so that the
// same tables always give the same bytes.
type orderedZip struct {
	zw     *zip.Writer
	sheets int
	spools []spool
	err    error
}

type spool struct {
	name string
	f    *os.File
}

func (z *orderedZip) Create(name string) (io.Writer, error) {
	if z.sheets > 1 && strings.HasPrefix(name, "xl/worksheets/sheet") && len(z.spools) < z.sheets {
		f, err := tempfile.Create("", "sheet-*.xml")
		if err != nil {
			return nil, z.setErr(err)
		}
		z.spools = append(z.spools, spool{name: name, f: f})
		return f, nil
	}
	if err := z.writeSpools(); err != nil {
		return nil, err
	}
	w, err := z.zw.Create(name)
	return w, z.setErr(err)
}

// writeSpools writes the spooled sheets into the zip, in sheet order.
func (z *orderedZip) writeSpools() error {
	if len(z.spools) == 0 {
		return nil
	}
	slices.SortFunc(z.spools, func(a, b spool) int { return sheetNumber(a.name) - sheetNumber(b.name) })
	spools := z.spools
	z.spools = nil
	z.sheets = 0 // spooled once
	defer func() {
		for _, s := range spools {
			s.f.Close()
			os.Remove(s.f.Name())
		}
	}()
	for _, s := range spools {
		if _, err := s.f.Seek(0, io.SeekStart); err != nil {
			return z.setErr(err)
		}
		w, err := z.zw.Create(s.name)
		if err != nil {
			return z.setErr(err)
		}
		if _, err := io.Copy(w, s.f); err != nil {
			return z.setErr(err)
		}
	}
	return nil
}

// sheetNumber is N of "xl/worksheets/sheetN.xml".
func sheetNumber(name string) int {
	n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "xl/worksheets/sheet"), ".xml"))
	return n
}

func (z *orderedZip) AddFS(fsys fs.FS) error {
	if err := z.writeSpools(); err != nil {
		return err
	}
	return z.setErr(z.zw.AddFS(fsys))
}

func (z *orderedZip) Close() error {
	if err := z.writeSpools(); err != nil {
		return err
	}
	return z.setErr(z.zw.Close())
}

func (z *orderedZip) setErr(err error) error {
	if err != nil && z.err == nil {
		z.err = err
	}
	return err
}
