package datapackage

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// ErrFileNotFound is returned for a package entry that does not exist.
var ErrFileNotFound = errors.New("file not in package")

// ErrNotCSV is returned by Rows for an entity whose data file is not delimited text
// (Excel or XML source formats); read those with Open.
var ErrNotCSV = errors.New("data file is not CSV")

// maxXMLSize bounds Manifest.xml and PackageHeader.xml, which are read whole.
const maxXMLSize = 64 << 20

// Reader reads a package: its manifest and header are parsed when it is opened, data
// files are streamed on demand.
type Reader struct {
	Manifest Manifest
	// Header is the parsed PackageHeader.xml; zero when the package has none.
	Header Header

	zr     *zip.Reader
	byName map[string]*zip.File // lower-cased full name, then lower-cased base name
}

// NewReader parses the package in r, which is size bytes long.
func NewReader(r io.ReaderAt, size int64) (*Reader, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("reading package zip: %w", err)
	}
	p := &Reader{zr: zr, byName: make(map[string]*zip.File, 2*len(zr.File))}
	for _, f := range zr.File {
		if _, dup := p.byName[strings.ToLower(f.Name)]; !dup {
			p.byName[strings.ToLower(f.Name)] = f
		}
	}
	for _, f := range zr.File {
		base := strings.ToLower(path.Base(f.Name))
		if _, dup := p.byName[base]; !dup {
			p.byName[base] = f
		}
	}
	if err := p.decodeXML(manifestName, &p.Manifest); err != nil {
		return nil, err
	}
	if err := p.decodeXML(headerName, &p.Header); err != nil && !errors.Is(err, ErrFileNotFound) {
		return nil, err
	}
	return p, nil
}

// ReadCloser is a Reader over a file that Close releases.
type ReadCloser struct {
	Reader
	f *os.File
}

// Open opens and parses the package file at name.
func Open(name string) (*ReadCloser, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("opening package: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening package: %w", err)
	}
	r, err := NewReader(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("package %s: %w", name, err)
	}
	return &ReadCloser{Reader: *r, f: f}, nil
}

// Close closes the package file.
func (rc *ReadCloser) Close() error { return rc.f.Close() }

// Open opens the entry called name, matching case-insensitively and, failing that, by
// base name in any folder.
func (p *Reader) Open(name string) (io.ReadCloser, error) {
	f := p.byName[strings.ToLower(name)]
	if f == nil {
		f = p.byName[strings.ToLower(path.Base(name))]
	}
	if f == nil {
		return nil, fmt.Errorf("%s: %w", name, ErrFileNotFound)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", name, err)
	}
	return rc, nil
}

func (p *Reader) decodeXML(name string, v any) error {
	rc, err := p.Open(name)
	if err != nil {
		return err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxXMLSize+1))
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	if len(raw) > maxXMLSize {
		return fmt.Errorf("reading %s: larger than %d bytes", name, maxXMLSize)
	}
	text, err := io.ReadAll(newTextReader(bytes.NewReader(raw)))
	if err != nil {
		return fmt.Errorf("decoding %s: %w", name, err)
	}
	dec := xml.NewDecoder(bytes.NewReader(text))
	// The text is UTF-8 by now, whatever the declaration says (usually "utf-16").
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("parsing %s: %w", name, err)
	}
	return nil
}

// newTextReader returns r decoded to UTF-8: UTF-16 LE or BE is recognised by its BOM
// or, without one, by the NUL byte ASCII text has on one side; a UTF-8 BOM is dropped.
func newTextReader(r io.Reader) io.Reader {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(3) // a short or failed peek leaves the error to the first Read
	var dec *encoding.Decoder
	switch {
	case len(head) >= 2 && head[0] == 0xFF && head[1] == 0xFE:
		dec = unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()
	case len(head) >= 2 && head[0] == 0xFE && head[1] == 0xFF:
		dec = unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder()
	case len(head) >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF:
		_, _ = br.Discard(3)
		return br
	case len(head) >= 2 && head[0] != 0 && head[1] == 0:
		dec = unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewDecoder()
	case len(head) >= 2 && head[0] == 0 && head[1] != 0:
		dec = unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM).NewDecoder()
	default:
		return br
	}
	return transform.NewReader(br, dec)
}

// Rows streams the rows of e's data file, which must be delimited text with a header
// row (the CSV-Unicode format F&O exports, or UTF-8 CSV).
func (p *Reader) Rows(e Entity) (*Rows, error) {
	if !isCSV(e) {
		return nil, fmt.Errorf("entity %q (%s, %s): %w", e.EntityName, e.SourceFormat, e.InputFilePath, ErrNotCSV)
	}
	rc, err := p.Open(e.InputFilePath)
	if err != nil {
		return nil, fmt.Errorf("entity %q: %w", e.EntityName, err)
	}
	cr := csv.NewReader(newTextReader(rc))
	cr.LazyQuotes = true
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		rc.Close()
		return nil, fmt.Errorf("entity %q: data file %s has no header row", e.EntityName, e.InputFilePath)
	}
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("entity %q: reading %s: %w", e.EntityName, e.InputFilePath, err)
	}
	return &Rows{rc: rc, cr: cr, name: e.InputFilePath, columns: append([]string(nil), header...)}, nil
}

func isCSV(e Entity) bool {
	if strings.Contains(strings.ToUpper(e.SourceFormat), "CSV") {
		return true
	}
	ext := strings.ToLower(path.Ext(e.InputFilePath))
	return e.SourceFormat == "" && (ext == ".csv" || ext == ".txt")
}

// Rows is a streaming reader of a data file's rows.
type Rows struct {
	rc      io.ReadCloser
	cr      *csv.Reader
	name    string
	columns []string
}

// Columns returns the header row.
func (r *Rows) Columns() []string { return r.columns }

// Next returns the next row, or io.EOF after the last. The returned slice is reused
// by the following call: copy what you keep.
func (r *Rows) Next() ([]string, error) {
	rec, err := r.cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("reading %s: %w", r.name, err)
	}
	return rec, nil
}

// Close releases the data file.
func (r *Rows) Close() error { return r.rc.Close() }
