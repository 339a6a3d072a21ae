// Package pathtemplate names export files: a destination path with placeholders, such as
// "orders/{date}/{entity}-{time}-{part:3}.csv", parsed once and rendered per file.
//
// Placeholders:
//
//	{date}       the export's date in the project's time zone, 2026-12-01
//	{time}       its time of day, 143005 (HHMMSS)
//	{project}    the project's name
//	{entity}     the entity's name as F&O labels it, "Customers V3"
//	{execution}  the DMF execution id of a package export; the CorrelationId of a
//	             recurring message
//	{company}    the legal entity, USMF
//	{part}       the part of a file split by rows or size, from 1; {part:N} pads it to
//	             N digits (1 to 9)
//
// A rendered value never adds folders: '/', '\' and the characters Windows and most SFTP
// servers refuse (: * ? " < > |, control characters) become '_'. The text between
// placeholders is kept as written.
package pathtemplate

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// The placeholders.
const (
	Date      = "date"
	Time      = "time"
	Project   = "project"
	Entity    = "entity"
	Execution = "execution"
	Company   = "company"
	Part      = "part"
)

// Names lists the placeholders.
var Names = []string{Date, Time, Project, Entity, Execution, Company, Part}

// Template is a parsed path template.
type Template struct {
	raw   string
	parts []segment
}

type segment struct {
	text  string // literal text, when name is ""
	name  string
	width int // {part:N}
}

// Parse parses a path template; the error names the placeholder or brace at fault.
func Parse(s string) (*Template, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("the path is empty")
	}
	t := &Template{raw: s}
	rest := s
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		closeAt := strings.IndexByte(rest, '}')
		if closeAt >= 0 && (open < 0 || closeAt < open) {
			return nil, fmt.Errorf("%q: '}' without '{'", s)
		}
		if open < 0 {
			t.parts = append(t.parts, segment{text: rest})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, segment{text: rest[:open]})
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("%q: '{' without '}'", s)
		}
		body := rest[open+1 : open+end]
		seg := segment{name: body}
		if name, width, ok := strings.Cut(body, ":"); ok {
			n, err := strconv.Atoi(width)
			if name != Part || err != nil || n < 1 || n > 9 {
				return nil, fmt.Errorf("%q: {%s}: only {part:N} takes a width, N from 1 to 9", s, body)
			}
			seg = segment{name: Part, width: n}
		}
		if !slices.Contains(Names, seg.name) {
			return nil, fmt.Errorf("%q: unknown placeholder {%s} (known: {%s})", s, body, strings.Join(Names, "}, {"))
		}
		t.parts = append(t.parts, seg)
		rest = rest[open+end+1:]
	}
	for _, seg := range t.parts {
		if seg.name == "" && slices.Contains(strings.Split(seg.text, "/"), "..") {
			return nil, fmt.Errorf("%q: \"..\" is not allowed", s)
		}
	}
	return t, nil
}

// MustParse is Parse for templates known to be valid; it panics otherwise.
func MustParse(s string) *Template {
	t, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return t
}

// String is the template as written.
func (t *Template) String() string { return t.raw }

// Has reports whether the template uses the placeholder name.
func (t *Template) Has(name string) bool {
	return slices.ContainsFunc(t.parts, func(s segment) bool { return s.name == name })
}

// DirHas reports whether the template's folder (what comes before its last '/') uses the
// placeholder name.
func (t *Template) DirHas(name string) bool {
	for i, s := range t.parts {
		if s.name != name {
			continue
		}
		for _, later := range t.parts[i+1:] {
			if later.name == "" && strings.Contains(later.text, "/") {
				return true
			}
		}
	}
	return false
}

// Dir is the template of the folder the template's files go to, "" when they go to the
// root; it may hold placeholders.
func (t *Template) Dir() string {
	i := strings.LastIndexByte(t.raw, '/')
	if i < 0 {
		return ""
	}
	return t.raw[:i]
}

// Vars are a file's placeholder values.
type Vars struct {
	Date, Time, Project, Entity, Execution, Company string
	Part                                            int
}

// Render names a file. The result is a clean relative path: no leading slash, no empty
// or "." elements.
func (t *Template) Render(v Vars) (string, error) {
	var b strings.Builder
	for _, s := range t.parts {
		switch s.name {
		case "":
			b.WriteString(s.text)
		case Date:
			b.WriteString(Safe(v.Date))
		case Time:
			b.WriteString(Safe(v.Time))
		case Project:
			b.WriteString(Safe(v.Project))
		case Entity:
			b.WriteString(Safe(v.Entity))
		case Execution:
			b.WriteString(Safe(v.Execution))
		case Company:
			b.WriteString(Safe(v.Company))
		case Part:
			p := strconv.Itoa(v.Part)
			if len(p) < s.width {
				p = strings.Repeat("0", s.width-len(p)) + p
			}
			b.WriteString(p)
		}
	}
	out := strings.Trim(path.Clean("/"+b.String()), "/")
	if out == "" || strings.HasSuffix(b.String(), "/") {
		return "", fmt.Errorf("path %q names a folder, not a file", t.raw)
	}
	return out, nil
}

// Safe makes a value fit for a file name: the characters that would add a folder or that
// file systems and servers refuse become '_'; an empty value is "_".
func Safe(s string) string {
	if s == "" {
		return "_"
	}
	out := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7F || strings.ContainsRune(`/\:*?"<>|`, r) {
			return '_'
		}
		return r
	}, s)
	if out == "." || out == ".." {
		return "_"
	}
	return out
}
