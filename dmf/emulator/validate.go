package emulator

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dmfpipe/dmfpipe/dmf/catalog"
)

// Accepted date and time layouts (dmf-api.md §4.6): ISO-8601 and en-US.
var (
	dateLayouts = []string{
		"2006-01-02", "2006-01-02T15:04:05", "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05.999999999",
		"2006-01-02T15:04:05.999999999Z07:00", "1/2/2006", "1/2/2006 3:04:05 PM", "1/2/2006 3:04 PM",
		"1/2/2006 15:04:05", "1/2/2006 15:04",
	}
)

// normalizeValue checks a non-empty source value against its field (source-to-staging
// conversion) and returns the stored form: enum names in catalog spelling, dates as
// yyyy-MM-dd, date-times as UTC RFC 3339. msg is set, in SSIS's words, when the value
// does not convert.
func normalizeValue(f *catalog.Field, v string) (norm, msg string) {
	switch f.Type {
	case catalog.TypeString:
		if f.MaxLen > 0 && utf8.RuneCountInString(v) > f.MaxLen {
			return "", msgConversionFailed(f.StagingName, ssisTruncated)
		}
		return v, ""
	case catalog.TypeDecimal:
		if t := strings.TrimSpace(v); isDecimal(t) {
			return t, ""
		}
	case catalog.TypeInt:
		t := strings.TrimSpace(v)
		if _, err := strconv.ParseInt(t, 10, 64); err == nil {
			return t, ""
		}
	case catalog.TypeDate, catalog.TypeDateTime:
		t := strings.TrimSpace(v)
		for _, layout := range dateLayouts {
			if ts, err := time.Parse(layout, t); err == nil {
				if f.Type == catalog.TypeDate {
					return ts.Format("2006-01-02"), ""
				}
				return ts.UTC().Format(time.RFC3339), ""
			}
		}
	case catalog.TypeEnum:
		t := strings.TrimSpace(v)
		for _, ev := range f.EnumValues {
			if strings.EqualFold(ev, t) {
				return ev, ""
			}
		}
	default:
		return v, ""
	}
	return "", msgConversionFailed(f.StagingName, ssisLossOfData)
}

// isDecimal accepts an optional sign, digits and an optional '.' fraction.
func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' || s[0] == '+' {
		s = s[1:]
	}
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}
