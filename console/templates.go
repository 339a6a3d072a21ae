package console

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/dmfpipe/dmfpipe/staging"
)

// pageNames are the pages, each templates/NAME.html with the layout.
var pageNames = []string{"login", "error", "jobs", "job", "review", "row", "action", "projects"}

var funcs = template.FuncMap{
	"when": func(t time.Time) string { return when(t, time.Local) },
	// whenIn shows a time in a project's time zone (its schedule's), the server's when
	// it has none.
	"whenIn": func(t time.Time, tz string) string {
		loc, err := time.LoadLocation(tz)
		if tz == "" || err != nil {
			loc = time.Local
		}
		return when(t, loc)
	},
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"words": func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"pct": func(n, of int64) int {
		if of <= 0 {
			return 0
		}
		return int(min(100, n*100/of))
	},
	"add": func(a, b int64) int64 { return a + b },
	"show": func(v string) string {
		// A value is shown as it is, quoted where that is needed to see it.
		if v == "" || strings.TrimSpace(v) != v {
			return fmt.Sprintf("%q", v)
		}
		return v
	},
	"orDash": func(s string) string {
		if s == "" {
			return "–"
		}
		return s
	},
	"hasPrefix": strings.HasPrefix,
	// atMost shows a count that stopped at countUpTo+1 rows.
	"atMost": func(n int64) string {
		if n > countUpTo {
			return fmt.Sprintf("more than %d", countUpTo)
		}
		return strconv.FormatInt(n, 10)
	},
	"statuses": func() []staging.Status { return staging.Statuses },
	"fragment": func(r rowView, back string, me *identity) rowFragment {
		return rowFragment{Row: r, Back: back, Me: me}
	},
	"deref": func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	},
}

func parsePages() (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// when shows a time in loc, with the zone's abbreviation: the console's readers may sit
// in other zones than the server.
func when(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "–"
	}
	return t.In(loc).Format("2006-01-02 15:04:05 MST")
}
