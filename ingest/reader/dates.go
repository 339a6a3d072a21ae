package reader

import (
	"math"
	"strings"
	"time"
)

// dateKind is what a cell's number format shows of a serial number.
type dateKind uint8

const (
	notDate dateKind = iota
	kindDate
	kindTime
	kindDateTime
)

// builtinDateKind classifies the built-in number formats (ECMA-376 Part 1,
// 18.8.30; 27-36 and 50-58 are the East Asian locales' date and time formats).
func builtinDateKind(id int) dateKind {
	switch {
	case id >= 14 && id <= 17, id >= 27 && id <= 31, id >= 34 && id <= 36, id >= 50 && id <= 58:
		return kindDate
	case id >= 18 && id <= 21, id == 32, id == 33, id >= 45 && id <= 47:
		return kindTime
	case id == 22:
		return kindDateTime
	}
	return notDate
}

// formatDateKind classifies a custom number format code by the date and time
// tokens of its first section, ignoring quoted text, escaped and fill
// characters and bracketed colours, conditions and locales ([h], [m] and [s],
// elapsed time, count as time).
func formatDateKind(code string) dateKind {
	var y, m, d, h, s bool
scan:
	for i := 0; i < len(code); i++ {
		switch c := code[i]; c {
		case '"':
			if j := strings.IndexByte(code[i+1:], '"'); j >= 0 {
				i += j + 1
			} else {
				break scan
			}
		case '\\', '_', '*':
			i++
		case ';':
			break scan
		case '[':
			j := strings.IndexByte(code[i:], ']')
			if j < 0 {
				break scan
			}
			if inner := strings.ToLower(code[i+1 : i+j]); inner != "" && strings.Trim(inner, "hms") == "" {
				h = h || strings.Contains(inner, "h")
				m = m || strings.Contains(inner, "m")
				s = s || strings.Contains(inner, "s")
			}
			i += j
		default:
			switch c | 0x20 { // lower case
			case 'y':
				y = true
			case 'm':
				m = true
			case 'd':
				d = true
			case 'h':
				h = true
			case 's':
				s = true
			}
		}
	}
	date := y || d || (m && !h && !s)
	clock := h || s
	switch {
	case date && clock:
		return kindDateTime
	case date:
		return kindDate
	case clock:
		return kindTime
	}
	return notDate
}

var (
	epoch1900 = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC) // serial 61 is 1900-03-01
	epoch1904 = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
)

const msPerDay = 24 * 60 * 60 * 1000

// appendSerial appends the ISO 8601 form of the spreadsheet serial v, or
// reports false when v is no date: negative, beyond 9999-12-31, the
// fictitious 1900-02-29 (serial 60) or 1900-01-00 (serial 0 shown as a date).
func appendSerial(dst []byte, v float64, kind dateKind, date1904 bool) ([]byte, bool) {
	if math.IsNaN(v) || v < 0 || v >= 2958466 {
		return dst, false
	}
	ms := int64(math.Round(v * msPerDay))
	days, msOfDay := ms/msPerDay, ms%msPerDay
	var t time.Time
	switch {
	case days == 0 && kind == kindTime:
		t = time.UnixMilli(msOfDay).UTC()
		dst = t.AppendFormat(dst, "15:04:05")
		return appendMillis(dst, t, msOfDay), true
	case date1904:
		t = epoch1904.AddDate(0, 0, int(days))
	case days == 0 || days == 60:
		return dst, false
	case days < 60:
		t = epoch1900.AddDate(0, 0, int(days)+1) // serials before Lotus 1-2-3's 1900-02-29
	default:
		t = epoch1900.AddDate(0, 0, int(days))
	}
	if kind == kindDate && msOfDay == 0 {
		return t.AppendFormat(dst, "2006-01-02"), true
	}
	t = t.Add(time.Duration(msOfDay) * time.Millisecond)
	dst = t.AppendFormat(dst, "2006-01-02T15:04:05")
	return appendMillis(dst, t, msOfDay), true
}

func appendMillis(dst []byte, t time.Time, msOfDay int64) []byte {
	if msOfDay%1000 == 0 {
		return dst
	}
	return t.AppendFormat(dst, ".000")
}
