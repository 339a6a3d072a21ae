package datapackage

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Spec describes a single-entity CSV-Unicode package.
type Spec struct {
	// DefinitionGroup is the data project name (Manifest DefinitionGroupName and
	// PackageHeader Description). Required.
	DefinitionGroup string
	// Description is the Manifest Description. Defaults to DefinitionGroup.
	Description string
	// Entity is the DMF entity label, e.g. "Customers V3". Required.
	Entity string
	// TargetEntity is the AOT entity name, e.g. "CustCustomerV3Entity". Optional; the
	// element is left out when empty.
	TargetEntity string
	// Fields are the data file's columns in order: the CSV header row and each
	// EntityMap's XMLField. The EntityField is the upper-cased name. Required.
	Fields []string
	// DataFileName is the data file's name in the zip (Manifest InputFilePath).
	// Defaults to Entity + ".csv".
	DataFileName string
	// SkipBusinessLogic and SkipBusinessValidation clear RunBusinessLogic and
	// RunBusinessValidation (both true by default).
	SkipBusinessLogic      bool
	SkipBusinessValidation bool
}

func (s *Spec) normalize() error {
	if strings.TrimSpace(s.DefinitionGroup) == "" {
		return errors.New("package spec: definition group is required")
	}
	if strings.TrimSpace(s.Entity) == "" {
		return errors.New("package spec: entity is required")
	}
	if len(s.Fields) == 0 {
		return errors.New("package spec: at least one field is required")
	}
	seen := make(map[string]bool, len(s.Fields))
	for i, f := range s.Fields {
		if strings.TrimSpace(f) == "" {
			return fmt.Errorf("package spec: field %d is empty", i+1)
		}
		up := strings.ToUpper(f)
		if seen[up] {
			return fmt.Errorf("package spec: field %q appears twice", f)
		}
		seen[up] = true
	}
	if s.Description == "" {
		s.Description = s.DefinitionGroup
	}
	if s.DataFileName == "" {
		s.DataFileName = s.Entity + ".csv"
	}
	if strings.ContainsAny(s.DataFileName, `/\`) || strings.EqualFold(s.DataFileName, manifestName) ||
		strings.EqualFold(s.DataFileName, headerName) {
		return fmt.Errorf("package spec: invalid data file name %q", s.DataFileName)
	}
	return nil
}

// flushSize is how much encoded CSV the writer gathers before handing it to the
// compressor: large enough to amortise the call, small enough to stay in cache.
const flushSize = 64 << 10

// Writer streams a single-entity package into a zip. Create it with NewWriter, add
// rows with WriteRow and finish with Close. It is not safe for concurrent use.
type Writer struct {
	zw    *zip.Writer
	data  io.Writer
	buf   []byte
	ncols int
	rows  int64
	err   error
}

// NewWriter writes the package's Manifest.xml and PackageHeader.xml and the data
// file's header row to w. Close must be called to complete the zip; it does not close w.
func NewWriter(w io.Writer, spec Spec) (*Writer, error) {
	if err := spec.normalize(); err != nil {
		return nil, err
	}
	zw := zip.NewWriter(w)
	registerCompressor(zw)
	now := time.Now()
	for _, f := range []struct{ name, body string }{
		{manifestName, manifestXML(&spec)},
		{headerName, headerXML(&spec)},
	} {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: now})
		if err != nil {
			return nil, fmt.Errorf("writing %s: %w", f.name, err)
		}
		// The XML is built from escaped text only, so it is valid UTF-8.
		body, _ := appendUTF16LE(append([]byte(nil), bomUTF16LE...), f.body, false)
		if _, err := fw.Write(body); err != nil {
			return nil, fmt.Errorf("writing %s: %w", f.name, err)
		}
	}
	data, err := zw.CreateHeader(&zip.FileHeader{Name: spec.DataFileName, Method: zip.Deflate, Modified: now})
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", spec.DataFileName, err)
	}
	pw := &Writer{zw: zw, data: data, buf: make([]byte, 0, 2*flushSize), ncols: len(spec.Fields)}
	pw.buf = append(pw.buf, bomUTF16LE...)
	if err := pw.writeRecord(spec.Fields); err != nil {
		return nil, fmt.Errorf("writing header row: %w", err)
	}
	return pw, nil
}

// WriteRow appends one data row. It must have exactly one value per field, each valid
// UTF-8. Values are written as given: format dates, numbers and enums before (ISO 8601
// UTC dates and enum value names, dmf-api.md §4.6).
func (w *Writer) WriteRow(values []string) error {
	if w.err != nil {
		return w.err
	}
	if len(values) != w.ncols {
		return &RowError{Row: w.rows + 1, Column: -1,
			Err: fmt.Errorf("%d values for %d fields", len(values), w.ncols)}
	}
	if err := w.writeRecord(values); err != nil {
		return err
	}
	w.rows++
	return nil
}

func (w *Writer) writeRecord(values []string) error {
	start := len(w.buf)
	for i, v := range values {
		if i > 0 {
			w.buf = append(w.buf, ',', 0)
		}
		var ok bool
		if w.buf, ok = appendCSVField(w.buf, v); !ok {
			w.buf = w.buf[:start]
			return &RowError{Row: w.rows + 1, Column: i, Err: ErrInvalidUTF8}
		}
	}
	w.buf = append(w.buf, '\r', 0, '\n', 0)
	if len(w.buf) >= flushSize {
		return w.flush()
	}
	return nil
}

func (w *Writer) flush() error {
	if _, err := w.data.Write(w.buf); err != nil {
		w.err = fmt.Errorf("writing package data: %w", err)
		return w.err
	}
	w.buf = w.buf[:0]
	return nil
}

// Rows returns the number of data rows written so far (the header row excluded).
func (w *Writer) Rows() int64 { return w.rows }

// Close flushes the data file and writes the zip's central directory.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.zw.Close(); err != nil {
		w.err = fmt.Errorf("finishing package zip: %w", err)
		return w.err
	}
	w.err = errors.New("package writer is closed")
	return nil
}

// ErrInvalidUTF8 is the cause of a RowError for a value that is not valid UTF-8.
var ErrInvalidUTF8 = errors.New("value is not valid UTF-8")

// RowError is a row that could not be written. The writer stays usable: the row is
// not in the package.
type RowError struct {
	Row    int64 // 1-based data row number (the header row is not counted)
	Column int   // 0-based column index, or -1 when the row as a whole is wrong
	Err    error
}

func (e *RowError) Error() string {
	if e.Column < 0 {
		return fmt.Sprintf("package row %d: %v", e.Row, e.Err)
	}
	return fmt.Sprintf("package row %d column %d: %v", e.Row, e.Column+1, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }
