package validate

import (
	"fmt"
	"strings"
)

// Rule names a check that a row failed. Mapping problems use the "map." prefix, row
// rules their config key, set rules "unique" and "lookup", F&O's own errors "fo".
type Rule string

// Error is one problem with one row, located in the source file and in the entity.
type Error struct {
	// Row is the 1-based data row number within the job (the staging row number).
	Row int64 `json:"row"`
	// Line is where the record starts in the source file (1-based); for XLSX, the sheet row.
	Line int64 `json:"line,omitempty"`
	// Sheet is the XLSX sheet name, empty for text formats.
	Sheet string `json:"sheet,omitempty"`
	// Column is the source column (header name, or "#N" without a header), when one applies.
	Column string `json:"column,omitempty"`
	// Field is the entity field (upper-case staging name), when one applies.
	Field string `json:"field,omitempty"`
	Rule  Rule   `json:"rule"`
	Msg   string `json:"message"`
}

func (e *Error) Error() string {
	var loc []string
	if e.Sheet != "" {
		loc = append(loc, "sheet "+e.Sheet)
	}
	if e.Line > 0 {
		loc = append(loc, fmt.Sprintf("line %d", e.Line))
	} else if e.Row > 0 {
		loc = append(loc, fmt.Sprintf("row %d", e.Row))
	}
	if e.Column != "" {
		loc = append(loc, fmt.Sprintf("column %q", e.Column))
	}
	if e.Field != "" {
		loc = append(loc, "field "+e.Field)
	}
	return fmt.Sprintf("%s: %s (%s)", strings.Join(loc, ", "), e.Msg, e.Rule)
}
