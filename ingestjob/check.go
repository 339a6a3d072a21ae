package ingestjob

import (
	"io"

	"github.com/dmfpipe/dmfpipe/ingest/reader"
	"github.com/dmfpipe/dmfpipe/validate"
)

// Checked is one record mapped and checked exactly as Stage does it, and not staged.
type Checked struct {
	// No is the record's row number, Line where it starts in the file (the sheet row for
	// XLSX), Sheet the sheet read.
	No    int64
	Line  int64
	Sheet string
	// Values are the mapped values, one per field.
	Values []string
	// Errors are the record's read, mapping and row-rule errors, located.
	Errors []validate.Error
}

// Check reads the first limit records of rd and maps and checks them through the same
// path as Stage (the mapping bound to the file's header, the row rules), without a
// database: `pipeline preview`. The set rules, which need the whole file, do not run. It
// returns the fields of a row and the checked records; an error is one the file cannot be
// read on with, or a header that does not fit the mapping.
func Check(rd reader.Reader, bind BindFunc, rules RowChecker, limit int) ([]string, []Checked, error) {
	header := rd.Header()
	m, err := bind(header)
	if err != nil {
		return nil, nil, err
	}
	st := stream{rules: rules, header: header, nfields: len(m.Fields())}
	b := &batch{first: 1}
	for len(b.recs) < limit {
		rec, err := rd.Next()
		if err == io.EOF || !b.add(rec, err) {
			break
		}
	}
	if b.err != nil {
		return nil, nil, b.err
	}
	st.mapBatch(b, m)
	out := make([]Checked, len(b.recs))
	for i, rec := range b.recs {
		errs := b.errs[b.errAt[i]:b.errAt[i+1]]
		for j := range errs {
			errs[j].Sheet = rec.Loc.Sheet
		}
		out[i] = Checked{No: b.first + int64(i), Line: lineOf(rec.Loc), Sheet: rec.Loc.Sheet,
			Values: b.rows[i*st.nfields : (i+1)*st.nfields], Errors: errs}
	}
	return m.Fields(), out, nil
}
