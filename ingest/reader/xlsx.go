package reader

import (
	"archive/zip"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/dmfpipe/dmfpipe/internal/excerpt"
	"github.com/dmfpipe/dmfpipe/internal/tempfile"
)

// maxXLSXRatio is the compression ratio beyond which a large workbook part
// (over maxXLSXRatioFloor bytes uncompressed) is refused as a likely zip
// bomb. Real sheets compress 5-50 times; deflate tops out near 1,000.
const (
	maxXLSXRatio      = 200
	maxXLSXRatioFloor = 64 << 20
	maxXLSXColumns    = 16384     // XFD, Excel's last column
	maxXLSXMetaBytes  = 256 << 20 // workbook.xml, styles.xml, relationships
)

// oleMagic starts an OLE compound file: a legacy .xls, or an encrypted .xlsx.
const oleMagic = "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"

// openXLSXStream spools r to a temp file: a zip needs random access.
func openXLSXStream(r io.Reader, opts Options) (Reader, error) {
	tmp, err := tempfile.Create(opts.TempDir, "xlsx-*")
	if err != nil {
		return nil, fmt.Errorf("spooling workbook: %w", err)
	}
	limit := xlsxLimit(opts)
	n, err := io.Copy(tmp, io.LimitReader(r, limit+1))
	if err == nil && n > limit {
		err = fmt.Errorf("%w: file larger than %d bytes", ErrXLSXTooLarge, limit)
	}
	if err != nil {
		removeTemp(tmp)
		return nil, fmt.Errorf("spooling workbook: %w", err)
	}
	rd, err := newXLSX(tmp, n, opts)
	if err != nil {
		removeTemp(tmp)
		return nil, err
	}
	rd.tmp = tmp
	return rd, nil
}

// openXLSXFile reads a workbook from a regular file in place (spooling
// anything else, such as a pipe).
func openXLSXFile(f *os.File, opts Options) (Reader, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return openXLSXStream(f, opts)
	}
	return newXLSX(f, st.Size(), opts)
}

func removeTemp(f *os.File) error {
	return errors.Join(f.Close(), os.Remove(f.Name()))
}

func xlsxLimit(opts Options) int64 {
	if opts.MaxXLSXBytes > 0 {
		return opts.MaxXLSXBytes
	}
	return defaultMaxXLSXBytes
}

// xlsxReader streams one sheet of a workbook.
type xlsxReader struct {
	file      string
	info      Info
	tmp       *os.File
	sheet     io.ReadCloser
	sc        *xmlScanner
	sst       *sharedStrings
	dateKinds []dateKind
	header    []string
	width     int
	hint      *string // why the header may be wrong (headerHint), set at the first ragged row

	rowNum  int // the current row's number
	cells   []xlsxCell
	rowBuf  []byte // values that are not shared strings, back to back
	raw     []byte // the current <v> or <t> text, undecoded
	text    []byte
	values  []string
	rowErr  *RowError
	pending bool // the first record was read at Open (NoHeader) and not returned yet
	err     error
}

// xlsxCell is a cell's value: a shared string (sst >= 0) or rowBuf[start:end].
type xlsxCell struct {
	col        int
	sst        int
	start, end int
}

func newXLSX(ra io.ReaderAt, size int64, opts Options) (*xlsxReader, error) {
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		var magic [8]byte
		if n, _ := ra.ReadAt(magic[:], 0); n == len(magic) && string(magic[:]) == oleMagic {
			return nil, errors.New("opening workbook: an encrypted (password-protected) workbook or a legacy .xls file, which cannot be read: save it as an unprotected .xlsx")
		}
		return nil, fmt.Errorf("opening workbook: %w", excerpt.Error(err))
	}
	pkg := xlsxPackage{files: map[string]*zip.File{}}
	for _, f := range zr.File {
		// Part names in a package are case-insensitive (ECMA-376 Part 2, 6.2.2.3).
		pkg.files[strings.ToLower(strings.TrimPrefix(f.Name, "/"))] = f
	}
	wb, err := pkg.workbook()
	if err != nil {
		return nil, err
	}
	p := &xlsxReader{
		file: opts.FileName,
		info: Info{Format: FormatXLSX, Date1904: wb.date1904},
	}
	for _, s := range wb.sheets {
		p.info.Sheets = append(p.info.Sheets, s.name)
	}
	sheet, err := wb.pick(opts.Sheet)
	if err != nil {
		return nil, err
	}
	p.info.Sheet = sheet.name

	sheetFile := pkg.get(sheet.target)
	if sheetFile == nil {
		return nil, fmt.Errorf("sheet %s: part %s missing from the workbook", excerpt.Quote(sheet.name), excerpt.String(sheet.target))
	}
	sstFile := pkg.get(wb.sharedStrings)
	budget := &xlsxBudget{left: xlsxLimit(opts)}
	for _, f := range []*zip.File{sheetFile, sstFile} {
		if err := budget.check(f); err != nil {
			return nil, err
		}
	}
	if p.dateKinds, err = pkg.styles(wb.styles); err != nil {
		return nil, err
	}
	if sstFile != nil {
		rc, err := sstFile.Open()
		if err != nil {
			return nil, fmt.Errorf("reading shared strings: %w", excerpt.Error(err))
		}
		p.sst, err = readSharedStrings(budget.reader(rc), sstFile.UncompressedSize64)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("reading shared strings: %w", excerpt.Error(err))
		}
	} else {
		p.sst = &sharedStrings{}
	}
	rc, err := sheetFile.Open()
	if err != nil {
		return nil, fmt.Errorf("reading sheet %s: %w", excerpt.Quote(sheet.name), excerpt.Error(err))
	}
	p.sheet = rc
	p.sc = newXMLScanner(budget.reader(rc))
	if err := p.readHeader(opts); err != nil {
		rc.Close()
		return nil, err
	}
	return p, nil
}

// readHeader reads up to the header row (or, without a header, the first
// data row, which Next then returns first).
func (p *xlsxReader) readHeader(opts Options) error {
	headerRow := opts.HeaderRow
	if headerRow <= 0 {
		headerRow = opts.SkipRows + 1
	}
	for {
		err := p.readRow()
		if err == io.EOF {
			return nil // an empty sheet: no header, no records
		}
		if err != nil {
			return err
		}
		if p.rowNum < headerRow || (len(p.cells) == 0 && p.rowErr == nil) {
			continue
		}
		if opts.NoHeader {
			p.width = p.rowWidth()
			p.header = make([]string, p.width)
			for i := range p.header {
				p.header[i] = strconv.Itoa(i + 1)
			}
			p.pending = true
			return nil
		}
		if p.rowNum > headerRow {
			return fmt.Errorf("sheet %s: header row %d is empty", excerpt.Quote(p.info.Sheet), headerRow)
		}
		if p.rowErr != nil {
			return headerErr(p.rowErr, "")
		}
		p.width = p.rowWidth()
		p.header = append([]string(nil), p.buildValues(p.width)...)
		return nil
	}
}

func (p *xlsxReader) Header() []string { return p.header }
func (p *xlsxReader) Info() Info       { return p.info }

func (p *xlsxReader) Close() error {
	var errs []error
	if p.sheet != nil {
		errs = append(errs, p.sheet.Close())
	}
	if p.tmp != nil {
		errs = append(errs, removeTemp(p.tmp))
	}
	return errors.Join(errs...)
}

func (p *xlsxReader) Next() (Record, error) {
	if p.err != nil {
		return Record{}, p.err
	}
	if p.pending {
		p.pending = false
		return p.record()
	}
	for {
		if err := p.readRow(); err != nil {
			p.err = err
			return Record{}, err
		}
		if len(p.cells) > 0 || p.rowErr != nil {
			return p.record()
		}
	}
}

func (p *xlsxReader) record() (Record, error) {
	w := p.rowWidth()
	if w > p.width && p.rowErr == nil {
		first := w
		for _, c := range p.cells {
			if c.col >= p.width {
				first = min(first, c.col)
			}
		}
		if p.hint == nil {
			h := TitleHint(p.header, p.rowNum)
			if h != "" {
				h = "; " + h
			}
			p.hint = &h
		}
		p.rowErr = p.newRowError(first+1, CodeRagged, fmt.Sprintf("a value beyond the header's %s%s", plural(p.width, "column"), *p.hint))
	}
	rec := Record{Values: p.buildValues(max(w, p.width)), Loc: Location{Sheet: p.info.Sheet, Row: p.rowNum}}
	if p.rowErr != nil {
		return rec, p.rowErr
	}
	return rec, nil
}

// rowWidth is one past the last column holding a value.
func (p *xlsxReader) rowWidth() int {
	w := 0
	for _, c := range p.cells {
		w = max(w, c.col+1)
	}
	return w
}

// buildValues lays the current row's cells out over width columns.
func (p *xlsxReader) buildValues(width int) []string {
	if cap(p.values) < width {
		p.values = make([]string, width)
	}
	p.values = p.values[:width]
	clear(p.values)
	s := string(p.rowBuf)
	for _, c := range p.cells {
		if c.col >= width {
			continue
		}
		if c.sst >= 0 {
			p.values[c.col] = p.sst.get(c.sst)
		} else {
			p.values[c.col] = s[c.start:c.end]
		}
	}
	return p.values
}

func (p *xlsxReader) newRowError(col int, code Code, msg string) *RowError {
	return &RowError{File: p.file, Sheet: p.info.Sheet, Row: p.rowNum, Column: col, Code: code, Msg: msg}
}

func (p *xlsxReader) setRowErr(col int, code Code, msg string) {
	if p.rowErr == nil {
		p.rowErr = p.newRowError(col, code, msg)
	}
}

func (p *xlsxReader) xmlErr(err error) error {
	if errors.Is(err, ErrXLSXTooLarge) {
		return fileErr(p.file, err)
	}
	return fileErr(p.file, fmt.Errorf("sheet %s after row %d: %w", excerpt.Quote(p.info.Sheet), p.rowNum, excerpt.Error(err)))
}

// readRow reads the next <row> into cells and rowBuf, keeping only cells
// with a value. It returns io.EOF after the last row.
func (p *xlsxReader) readRow() error {
	p.cells, p.rowBuf, p.rowErr = p.cells[:0], p.rowBuf[:0], nil
	for {
		t, err := p.sc.next(nil)
		if err != nil {
			return p.xmlErr(err)
		}
		switch {
		case t.kind == tagEOF:
			return io.EOF
		case t.kind == tagEnd && string(t.name) == "sheetData":
			return io.EOF
		case t.kind != tagStart || string(t.name) != "row":
			continue
		}
		if v, ok := attr(t.attrs, "r"); ok {
			n, ok := parseUint(v)
			if !ok {
				return p.xmlErr(fmt.Errorf("row number %s", excerpt.Quote(string(v))))
			}
			p.rowNum = n
		} else {
			p.rowNum++
		}
		if t.self {
			return nil
		}
		return p.readCells()
	}
}

func (p *xlsxReader) readCells() error {
	col := -1
	for {
		t, err := p.sc.next(nil)
		if err != nil {
			return p.xmlErr(err)
		}
		switch t.kind {
		case tagEOF:
			return p.xmlErr(errXMLEOF)
		case tagEnd:
			return nil // </row>
		}
		if string(t.name) != "c" {
			if !t.self {
				if err := p.sc.skipElement(); err != nil {
					return p.xmlErr(err)
				}
			}
			continue
		}
		col++
		var typ []byte
		style := -1
		for it := (attrIter{t.attrs}); ; {
			k, v, ok := it.next()
			if !ok {
				break
			}
			switch string(k) {
			case "r":
				if c, ok := parseColumn(v); ok {
					col = c
				} else {
					p.setRowErr(col+1, CodeBadCell, "cell reference "+excerpt.Quote(string(v)))
				}
			case "t":
				typ = v
			case "s":
				if n, ok := parseUint(v); ok {
					style = n
				}
			}
		}
		if col >= maxXLSXColumns {
			return p.xmlErr(fmt.Errorf("cell in column %d, beyond %s", col+1, ColumnName(maxXLSXColumns)))
		}
		if t.self {
			continue
		}
		if err := p.readCell(col, string(typ), style); err != nil {
			return err
		}
	}
}

// readCell reads a cell's children up to </c> and records its value.
func (p *xlsxReader) readCell(col int, typ string, style int) error {
	var v, inline []byte
	hasV, hasInline := false, false
	for {
		t, err := p.sc.next(nil)
		if err != nil {
			return p.xmlErr(err)
		}
		if t.kind == tagEOF {
			return p.xmlErr(errXMLEOF)
		}
		if t.kind == tagEnd {
			break // </c>
		}
		switch string(t.name) {
		case "v":
			hasV = true
			p.raw = p.raw[:0]
			if !t.self {
				if err := p.textUntilEnd(); err != nil {
					return err
				}
			}
			v = p.raw
		case "is":
			hasInline = true
			if !t.self {
				if err := p.inlineString(); err != nil {
					return err
				}
			}
			inline = p.text
		default:
			if !t.self {
				if err := p.sc.skipElement(); err != nil {
					return p.xmlErr(err)
				}
			}
		}
	}
	start := len(p.rowBuf)
	switch {
	case typ == "inlineStr" || (hasInline && !hasV):
		p.rowBuf = append(p.rowBuf, inline...)
	case !hasV:
		return nil
	case typ == "s":
		i, ok := parseUint(v)
		if !ok || i >= p.sst.len() {
			p.setRowErr(col+1, CodeBadCell, fmt.Sprintf("shared string index %s out of range", excerpt.Quote(string(v))))
			return nil
		}
		if code, bad := p.sst.bad[i]; bad {
			p.setRowErr(col+1, code, "invalid characters in a shared string")
		}
		if p.sst.get(i) != "" {
			p.cells = append(p.cells, xlsxCell{col: col, sst: i})
		}
		return nil
	case typ == "str" || typ == "e" || typ == "d":
		p.text = appendText(p.text[:0], v)
		p.rowBuf = append(p.rowBuf, decodeXString(p.text)...)
	case typ == "b":
		switch strings.TrimSpace(string(v)) {
		case "1", "true":
			p.rowBuf = append(p.rowBuf, "TRUE"...)
		case "0", "false":
			p.rowBuf = append(p.rowBuf, "FALSE"...)
		default:
			p.rowBuf = appendText(p.rowBuf, v)
		}
	default: // a number
		kind := notDate
		if style >= 0 && style < len(p.dateKinds) {
			kind = p.dateKinds[style]
		}
		converted := false
		if kind != notDate {
			if f, err := strconv.ParseFloat(strings.TrimSpace(string(v)), 64); err == nil {
				p.rowBuf, converted = appendSerial(p.rowBuf, f, kind, p.info.Date1904)
			}
		}
		if !converted {
			p.rowBuf = appendText(p.rowBuf, v)
		}
	}
	if len(p.rowBuf) == start {
		return nil
	}
	p.checkText(col, p.rowBuf[start:])
	p.cells = append(p.cells, xlsxCell{col: col, sst: -1, start: start, end: len(p.rowBuf)})
	return nil
}

// checkText flags NUL bytes and invalid UTF-8 in the cell b at the end of
// rowBuf and replaces them.
func (p *xlsxReader) checkText(col int, b []byte) {
	clean, code := sanitizeText(b)
	if code == "" {
		return
	}
	msg := "invalid UTF-8"
	if code == CodeNUL {
		msg = "NUL character"
	}
	p.setRowErr(col+1, code, msg)
	p.rowBuf = append(p.rowBuf[:len(p.rowBuf)-len(b)], clean...)
}

// textUntilEnd collects the raw text of the element just opened into raw.
func (p *xlsxReader) textUntilEnd() error {
	for {
		t, err := p.sc.next(&p.raw)
		if err != nil {
			return p.xmlErr(err)
		}
		switch t.kind {
		case tagEOF:
			return p.xmlErr(errXMLEOF)
		case tagEnd:
			return nil
		}
		if !t.self {
			if err := p.sc.skipElement(); err != nil {
				return p.xmlErr(err)
			}
		}
	}
}

// inlineString collects the decoded text of an <is> element into text:
// its <t> elements, those inside phonetic runs (<rPh>) excluded.
func (p *xlsxReader) inlineString() error {
	p.text = p.text[:0]
	depth, phonetic := 1, 0
	for depth > 0 {
		t, err := p.sc.next(nil)
		if err != nil {
			return p.xmlErr(err)
		}
		switch t.kind {
		case tagEOF:
			return p.xmlErr(errXMLEOF)
		case tagEnd:
			depth--
			if string(t.name) == "rPh" {
				phonetic--
			}
			continue
		}
		if t.self {
			continue
		}
		switch string(t.name) {
		case "t":
			p.raw = p.raw[:0]
			if err := p.textUntilEnd(); err != nil {
				return err
			}
			if phonetic == 0 {
				p.text = appendText(p.text, p.raw)
			}
		case "rPh":
			phonetic++
			depth++
		default:
			depth++
		}
	}
	p.text = decodeXString(p.text)
	return nil
}

// parseUint parses a non-negative decimal integer that fits an int.
func parseUint(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// parseColumn returns the 0-based column of a cell reference such as "AB12".
func parseColumn(ref []byte) (int, bool) {
	col, i := 0, 0
	for ; i < len(ref) && i < 4; i++ {
		c := ref[i] | 0x20
		if c < 'a' || c > 'z' {
			break
		}
		col = col*26 + int(c-'a') + 1
	}
	if i == 0 || i == len(ref) || ref[i] < '0' || ref[i] > '9' {
		return 0, false
	}
	return col - 1, true
}

// xlsxBudget enforces Options.MaxXLSXBytes over all parts read.
type xlsxBudget struct {
	left int64
}

func (b *xlsxBudget) check(f *zip.File) error {
	if f == nil {
		return nil
	}
	size := f.UncompressedSize64
	if size > uint64(b.left) {
		return fmt.Errorf("%w: %s is %d bytes uncompressed, the limit is %d", ErrXLSXTooLarge, excerpt.String(f.Name), size, b.left)
	}
	if size > maxXLSXRatioFloor && size/max(f.CompressedSize64, 1) > maxXLSXRatio {
		return fmt.Errorf("%w: %s compresses %d:1, a likely zip bomb", ErrXLSXTooLarge, excerpt.String(f.Name), size/max(f.CompressedSize64, 1))
	}
	return nil
}

func (b *xlsxBudget) reader(r io.Reader) io.Reader { return &budgetReader{r: r, b: b} }

type budgetReader struct {
	r io.Reader
	b *xlsxBudget
}

func (r *budgetReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.b.left -= int64(n)
	if r.b.left < 0 {
		return n, fmt.Errorf("%w: decompressed sheet and shared strings exceed the limit", ErrXLSXTooLarge)
	}
	return n, err
}

// xlsxPackage is the zip of a workbook, by lower-case part name.
type xlsxPackage struct {
	files map[string]*zip.File
}

func (k xlsxPackage) get(name string) *zip.File {
	if name == "" {
		return nil
	}
	return k.files[strings.ToLower(strings.TrimPrefix(name, "/"))]
}

// decode unmarshals a small XML part; a missing part leaves v untouched.
func (k xlsxPackage) decode(name string, v any) error {
	f := k.get(name)
	if f == nil {
		return nil
	}
	if f.UncompressedSize64 > maxXLSXMetaBytes {
		return fmt.Errorf("%w: %s is %d bytes uncompressed", ErrXLSXTooLarge, excerpt.String(name), f.UncompressedSize64)
	}
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("reading %s: %w", excerpt.String(name), excerpt.Error(err))
	}
	defer rc.Close()
	if err := xml.NewDecoder(io.LimitReader(rc, maxXLSXMetaBytes)).Decode(v); err != nil {
		return fmt.Errorf("reading %s: %w", excerpt.String(name), excerpt.Error(err))
	}
	return nil
}

type xmlRels struct {
	Rels []struct {
		ID     string `xml:"Id,attr"`
		Type   string `xml:"Type,attr"`
		Target string `xml:"Target,attr"`
		Mode   string `xml:"TargetMode,attr"`
	} `xml:"Relationship"`
}

// rels reads the relationships of a part and resolves their targets.
func (k xlsxPackage) rels(part string) (map[string]string, map[string]string, error) {
	dir, file := path.Split(part)
	var rs xmlRels
	if err := k.decode(dir+"_rels/"+file+".rels", &rs); err != nil {
		return nil, nil, err
	}
	byID, byType := map[string]string{}, map[string]string{}
	for _, r := range rs.Rels {
		if strings.EqualFold(r.Mode, "External") {
			continue
		}
		target := r.Target
		if strings.HasPrefix(target, "/") {
			target = target[1:]
		} else {
			target = path.Join(dir, target)
		}
		byID[r.ID] = target
		byType[r.Type[strings.LastIndexByte(r.Type, '/')+1:]] = target
	}
	return byID, byType, nil
}

type xlsxWorkbook struct {
	date1904      bool
	sheets        []xlsxSheet
	sharedStrings string
	styles        string
}

type xlsxSheet struct{ name, target string }

func (k xlsxPackage) workbook() (*xlsxWorkbook, error) {
	_, root, err := k.rels("")
	if err != nil {
		return nil, err
	}
	part := root["officeDocument"]
	if part == "" {
		part = "xl/workbook.xml"
	}
	if k.get(part) == nil {
		return nil, fmt.Errorf("not an XLSX workbook: no %s", excerpt.String(part))
	}
	var doc struct {
		Pr struct {
			Date1904 string `xml:"date1904,attr"`
		} `xml:"workbookPr"`
		Sheets []struct {
			Name string `xml:"name,attr"`
			ID   string `xml:"id,attr"`
		} `xml:"sheets>sheet"`
	}
	if err := k.decode(part, &doc); err != nil {
		return nil, err
	}
	byID, byType, err := k.rels(part)
	if err != nil {
		return nil, err
	}
	dir := path.Dir(part)
	wb := &xlsxWorkbook{
		date1904:      doc.Pr.Date1904 == "1" || strings.EqualFold(doc.Pr.Date1904, "true"),
		sharedStrings: byType["sharedStrings"],
		styles:        byType["styles"],
	}
	if wb.sharedStrings == "" && k.get(path.Join(dir, "sharedStrings.xml")) != nil {
		wb.sharedStrings = path.Join(dir, "sharedStrings.xml")
	}
	if wb.styles == "" {
		wb.styles = path.Join(dir, "styles.xml")
	}
	for _, s := range doc.Sheets {
		target := byID[s.ID]
		if target == "" {
			return nil, fmt.Errorf("sheet %s: no relationship %s in the workbook", excerpt.Quote(s.Name), excerpt.Quote(s.ID))
		}
		wb.sheets = append(wb.sheets, xlsxSheet{name: s.Name, target: target})
	}
	if len(wb.sheets) == 0 {
		return nil, errors.New("the workbook has no sheets")
	}
	return wb, nil
}

// pick chooses a sheet by name (exact, then case-insensitive), then by
// 1-based index; empty means the first.
func (wb *xlsxWorkbook) pick(want string) (xlsxSheet, error) {
	if want == "" {
		return wb.sheets[0], nil
	}
	for _, s := range wb.sheets {
		if s.name == want {
			return s, nil
		}
	}
	for _, s := range wb.sheets {
		if strings.EqualFold(s.name, want) {
			return s, nil
		}
	}
	if i, err := strconv.Atoi(want); err == nil && i >= 1 && i <= len(wb.sheets) {
		return wb.sheets[i-1], nil
	}
	names := make([]string, len(wb.sheets))
	for i, s := range wb.sheets {
		names[i] = s.name
	}
	return xlsxSheet{}, fmt.Errorf("no sheet %s (the workbook has %s)", excerpt.Quote(want), excerpt.QuotedList(names, "sheet"))
}

// styles returns, per cell style index, whether its number format shows a
// date or time.
func (k xlsxPackage) styles(part string) ([]dateKind, error) {
	var doc struct {
		NumFmts []struct {
			ID   int    `xml:"numFmtId,attr"`
			Code string `xml:"formatCode,attr"`
		} `xml:"numFmts>numFmt"`
		Xfs []struct {
			NumFmtID int `xml:"numFmtId,attr"`
		} `xml:"cellXfs>xf"`
	}
	if err := k.decode(part, &doc); err != nil {
		return nil, err
	}
	custom := map[int]dateKind{}
	for _, f := range doc.NumFmts {
		custom[f.ID] = formatDateKind(f.Code)
	}
	kinds := make([]dateKind, len(doc.Xfs))
	for i, xf := range doc.Xfs {
		if k, ok := custom[xf.NumFmtID]; ok {
			kinds[i] = k
		} else {
			kinds[i] = builtinDateKind(xf.NumFmtID)
		}
	}
	return kinds, nil
}
