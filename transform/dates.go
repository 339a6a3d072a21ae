package transform

import (
	"fmt"
	"strings"
	"time"

	"github.com/dmfpipe/dmfpipe/dmf/catalog"
)

// ISO 8601 layouts written to F&O.
const (
	DateLayout     = "2006-01-02"
	DateTimeLayout = "2006-01-02T15:04:05Z"
)

var (
	defaultDateLayouts     = []string{"yyyy-MM-dd"}
	defaultDateTimeLayouts = []string{"yyyy-MM-ddTHH:mm:ss", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-ddTHH:mm:ssK", "yyyy-MM-dd"}
)

// dotnetTokens translates .NET custom date and time format specifiers to Go layout
// elements, longest first within each letter.
var dotnetTokens = map[string]string{
	"yyyy": "2006", "yy": "06",
	"MMMM": "January", "MMM": "Jan", "MM": "01", "M": "1",
	"dddd": "Monday", "ddd": "Mon", "dd": "02", "d": "2",
	"HH": "15", "H": "15", "hh": "03", "h": "3",
	"mm": "04", "m": "4", "ss": "05", "s": "5",
	"fff": "000", "ff": "00", "f": "0", "FFF": "999", "FF": "99", "F": "9",
	"tt":  "PM",
	"zzz": "-07:00", "zz": "-07", "K": "Z07:00",
}

const specifierLetters = "yMdHhmsfFtzK"

// GoLayout translates a .NET-style date pattern ("dd.MM.yyyy", "M/d/yyyy h:mm tt") to a
// Go layout. A pattern that already holds Go's reference year (2006) is returned as is.
// Text in single quotes is literal; letters that are no specifier are kept as text.
func GoLayout(pattern string) (string, error) {
	if strings.Contains(pattern, "2006") {
		return pattern, nil
	}
	var b strings.Builder
	for i := 0; i < len(pattern); {
		c := pattern[i]
		if c == '\'' {
			end := strings.IndexByte(pattern[i+1:], '\'')
			if end < 0 {
				return "", fmt.Errorf("unclosed quote in date pattern %q", pattern)
			}
			b.WriteString(pattern[i+1 : i+1+end])
			i += end + 2
			continue
		}
		j := i
		for j < len(pattern) && pattern[j] == c {
			j++
		}
		run := pattern[i:j]
		if goElem, ok := dotnetTokens[run]; ok {
			b.WriteString(goElem)
		} else if strings.IndexByte(specifierLetters, c) >= 0 {
			return "", fmt.Errorf("date pattern %q: %q is not a specifier (use e.g. yyyy, MM, dd, HH, mm, ss)", pattern, run)
		} else if (c >= '0' && c <= '9') || c == '_' {
			return "", fmt.Errorf("date pattern %q: digits must be quoted, e.g. '1'", pattern)
		} else {
			b.WriteString(run)
		}
		i = j
	}
	return b.String(), nil
}

// layouts returns the Go layouts of the layouts argument (def when absent) and the
// patterns as written, for messages.
func (a *args) layouts(def []string) ([]string, string, error) {
	patterns := def
	if n := a.get("layouts"); n != nil {
		var err error
		if patterns, err = a.strings(n, "layouts"); err != nil {
			return nil, "", err
		}
		if len(patterns) == 0 {
			return nil, "", a.errf(n, "layouts must not be empty")
		}
	}
	layouts := make([]string, len(patterns))
	for i, p := range patterns {
		l, err := GoLayout(p)
		if err != nil {
			return nil, "", a.errf(a.get("layouts"), "%v", err)
		}
		layouts[i] = l
	}
	return layouts, strings.Join(patterns, ", "), nil
}

func compileDate(a *args, _ *catalog.Field) (func(string) (string, error), error) {
	if err := a.mapping(false); err != nil {
		return nil, err
	}
	layouts, written, err := a.layouts(defaultDateLayouts)
	if err != nil {
		return nil, err
	}
	return func(v string) (string, error) {
		v = strings.TrimSpace(v)
		for _, l := range layouts {
			if t, err := time.Parse(l, v); err == nil {
				return t.Format(DateLayout), nil
			}
		}
		return "", &ValueError{Name: "date", Msg: fmt.Sprintf("%q is not a date in the layouts %s", v, written)}
	}, nil
}

func compileDateTime(a *args, _ *catalog.Field) (func(string) (string, error), error) {
	if err := a.mapping(false); err != nil {
		return nil, err
	}
	layouts, written, err := a.layouts(defaultDateTimeLayouts)
	if err != nil {
		return nil, err
	}
	zone, err := a.str("timezone", false, "UTC")
	if err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, a.errf(a.get("timezone"), "unknown time zone %q", zone)
	}
	return func(v string) (string, error) {
		v = strings.TrimSpace(v)
		for _, l := range layouts {
			if t, err := time.ParseInLocation(l, v, loc); err == nil {
				return t.UTC().Format(DateTimeLayout), nil
			}
		}
		return "", &ValueError{Name: "datetime", Msg: fmt.Sprintf("%q is not a date and time in the layouts %s", v, written)}
	}, nil
}
