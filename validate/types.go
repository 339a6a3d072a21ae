package validate

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dmfpipe/dmfpipe/dmf/catalog"
)

// TypeProblem says why v is not a valid value of the given catalog type (enumValues for
// enums), or returns "" when it is. Empty values are valid: required rules catch them.
// Dates are ISO 8601 (2006-01-02), date-times ISO 8601 in UTC (2006-01-02T15:04:05Z),
// decimals invariant ("-1234.5"), enum values their names, matched case-insensitively.
func TypeProblem(typ catalog.FieldType, enumValues []string, v string) string {
	if v == "" {
		return ""
	}
	switch typ {
	case catalog.TypeInt:
		if !isInt(v) {
			return fmt.Sprintf("%q is not a whole number", v)
		}
	case catalog.TypeDecimal:
		if !isDecimal(v) {
			return fmt.Sprintf("%q is not a decimal number (write it as 1234.56)", v)
		}
	case catalog.TypeDate:
		if _, err := time.Parse("2006-01-02", v); err != nil {
			return fmt.Sprintf("%q is not a date (write it as yyyy-MM-dd)", v)
		}
	case catalog.TypeDateTime:
		if _, err := time.Parse(time.RFC3339, v); err != nil {
			if _, err := time.Parse("2006-01-02T15:04:05", v); err != nil {
				return fmt.Sprintf("%q is not a date and time (write it as yyyy-MM-ddTHH:mm:ssZ)", v)
			}
		}
	case catalog.TypeEnum:
		if EnumName(enumValues, v) == "" {
			return fmt.Sprintf("%q is not one of %s", v, strings.Join(enumValues, ", "))
		}
	}
	return ""
}

// typeChecked reports whether TypeProblem checks values of typ (the others are text).
func typeChecked(typ catalog.FieldType) bool {
	switch typ {
	case catalog.TypeInt, catalog.TypeDecimal, catalog.TypeDate, catalog.TypeDateTime, catalog.TypeEnum:
		return true
	}
	return false
}

// EnumName returns the enum value name matching v case-insensitively, or "".
func EnumName(enumValues []string, v string) string {
	for _, e := range enumValues {
		if strings.EqualFold(e, v) {
			return e
		}
	}
	return ""
}

// LengthProblem says why v is longer than max characters, or returns "".
func LengthProblem(max int, v string) string {
	if max <= 0 || len(v) <= max {
		return ""
	}
	if n := utf8.RuneCountInString(v); n > max {
		return fmt.Sprintf("%d characters, at most %d allowed", n, max)
	}
	return ""
}

func isInt(v string) bool {
	if v != "" && (v[0] == '-' || v[0] == '+') {
		v = v[1:]
	}
	return isDigits(v)
}

// isDecimal accepts an optional sign, digits, and optionally '.' and more digits.
func isDecimal(v string) bool {
	whole, frac, hasPoint := strings.Cut(v, ".")
	return isInt(whole) && (!hasPoint || isDigits(frac))
}

// isDigits reports whether v is one or more ASCII digits.
func isDigits(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return v != ""
}
