// Package explain says in plain words what a staged row's error means and what to do
// about it, for operators who are data stewards, not engineers: our own rules' errors
// (reading, mapping, row and set rules), F&O's messages and DMF error codes (DMF1959
// duplicate key, DMF2016 invalid date, DMF2018 invalid column data, ...), and why a row
// was not imported. Each explanation names the field the error concerns.
//
// It reads messages as dmfpipe and F&O write them (the emulator's texts follow F&O's,
// see dmf/emulator/doc.go); a message it does not know gets a general explanation with
// F&O's own words kept beside it. Messages F&O gives for an execution without naming a
// row belong to the chunk (Message explains them), never to a row.
package explain

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/dmfpipe/dmfpipe/validate"
)

// Explanation is an error in plain words.
type Explanation struct {
	// Field is the entity field the error concerns, empty when it concerns the row as a
	// whole (or the file).
	Field string `json:"field,omitempty"`
	// Column is the source column, when the error names one.
	Column string `json:"column,omitempty"`
	// Code is F&O's DMF error code when the message carries one (DMF2016).
	Code string `json:"code,omitempty"`
	// Title says what is wrong in a few words, Text what it means and what to do.
	Title string `json:"title"`
	Text  string `json:"text"`
}

// The rules of the errors a row gets after staging (staging.RuleFO and
// staging.RuleNotImported; not imported here, the explanations being plain data).
const (
	ruleFO          = "fo"
	ruleNotImported = "not_imported"
)

// Error explains a staged row's error.
func Error(e validate.Error) Explanation {
	x := explainRule(e)
	if x.Field == "" {
		x.Field = e.Field
	}
	if x.Column == "" {
		x.Column = e.Column
	}
	return x
}

// Message explains a message F&O gave for an execution without naming a row (a chunk's
// error).
func Message(msg string) Explanation { return explainFO(msg, "") }

// name is how a text names a field: the field itself, or "this value" when none.
func name(field string) string {
	if field == "" {
		return "this value"
	}
	return field
}

func explainRule(e validate.Error) Explanation {
	f := name(e.Field)
	rule := string(e.Rule)
	switch {
	case rule == ruleFO:
		return explainFO(e.Msg, e.Field)
	case rule == ruleNotImported:
		return explainNotImported(e.Msg)
	case strings.HasPrefix(rule, "read."):
		return explainRead(strings.TrimPrefix(rule, "read."), e)
	case strings.HasPrefix(rule, "map."):
		return explainMapping(strings.TrimPrefix(rule, "map."), e)
	}
	switch validate.Rule(rule) {
	case validate.RuleRequired:
		if strings.HasPrefix(e.Msg, "required when") || strings.HasPrefix(e.Msg, "one of ") {
			return Explanation{Title: "Value missing for this kind of record",
				Text: fmt.Sprintf("F&O needs %s for records like this one (%s). Fill it in, or correct the field that decides the kind of record.", f, e.Msg)}
		}
		return Explanation{Title: "Value missing",
			Text: fmt.Sprintf("%s must have a value, and this row has none. Fill it in; when the source file left it empty, ask its owner to send it.", f)}
	case validate.RuleMaxLength:
		return Explanation{Title: "Value too long",
			Text: fmt.Sprintf("%s holds more characters than F&O can store in that field (%s). Shorten it.", f, e.Msg)}
	case validate.RuleMin:
		return Explanation{Title: "Value too small", Text: fmt.Sprintf("%s is below the smallest value allowed (%s).", f, e.Msg)}
	case validate.RuleMax:
		return Explanation{Title: "Value too large", Text: fmt.Sprintf("%s is above the largest value allowed (%s).", f, e.Msg)}
	case validate.RuleOneOf:
		return Explanation{Title: "Value not allowed",
			Text: fmt.Sprintf("%s must be one of a fixed list of values, and this one is not (%s). Pick one of the listed values.", f, e.Msg)}
	case validate.RulePattern:
		return Explanation{Title: "Value in the wrong format",
			Text: fmt.Sprintf("%s does not have the form the project expects (%s). Correct it to that form.", f, e.Msg)}
	case validate.RuleType:
		return explainType(f, e.Msg)
	case validate.RuleUnique:
		return Explanation{Title: "Duplicate",
			Text: fmt.Sprintf("Another row of the same file has the same %s (%s). F&O would keep only one of them: correct the key of this row, or set it aside when it really is a repeat.", keyName(e.Msg, f), e.Msg)}
	case validate.RuleLookup:
		return Explanation{Title: "Unknown value",
			Text: fmt.Sprintf("%s holds a value that is not in the project's reference list (%s). Use a value from the list, or have the list extended.", f, e.Msg)}
	case "when":
		return Explanation{Title: "Rule could not be checked",
			Text: fmt.Sprintf("The project's condition for checking %s failed on this row (%s): the project's settings need a look; tell whoever maintains them.", f, e.Msg)}
	case "staging.control_char":
		return Explanation{Title: "Invisible control character",
			Text: fmt.Sprintf("%s held an invisible control character (U+001F) that cannot be kept; it was replaced by �. Retype the value.", f)}
	}
	return Explanation{Title: "Problem with this row", Text: fmt.Sprintf("Rule %s: %s", rule, e.Msg)}
}

// keyName is the fields a unique error names ("duplicate of line 4 (A, B)"), or f.
func keyName(msg, f string) string {
	if i := strings.LastIndex(msg, "("); i >= 0 && strings.HasSuffix(msg, ")") {
		return msg[i+1 : len(msg)-1]
	}
	return f
}

func explainType(f, msg string) Explanation {
	switch {
	case strings.Contains(msg, "not a date and time"):
		return Explanation{Title: "Not a date and time",
			Text: fmt.Sprintf("%s must be a date and time, written as 2025-01-31T14:30:00Z (year-month-day, T, hours:minutes:seconds in UTC).", f)}
	case strings.Contains(msg, "not a date"):
		return Explanation{Title: "Not a date",
			Text: fmt.Sprintf("%s must be a date written as 2025-01-31 (year-month-day). Dates like 31/01/2025 need the project's mapping to convert them.", f)}
	case strings.Contains(msg, "not a whole number"):
		return Explanation{Title: "Not a whole number", Text: fmt.Sprintf("%s must be a whole number, such as 42, without decimals or letters.", f)}
	case strings.Contains(msg, "not a decimal number"):
		return Explanation{Title: "Not a number",
			Text: fmt.Sprintf("%s must be a number written with a dot for decimals and no thousands separators, such as 1234.56.", f)}
	case strings.Contains(msg, "is not one of"):
		return Explanation{Title: "Value not allowed",
			Text: fmt.Sprintf("%s must be one of F&O's fixed values for that field (%s).", f, msg)}
	}
	return Explanation{Title: "Wrong kind of value", Text: fmt.Sprintf("%s does not have the kind of value F&O stores in that field (%s).", f, msg)}
}

func explainRead(code string, e validate.Error) Explanation {
	switch code {
	case "ragged_row":
		return Explanation{Title: "Wrong number of columns",
			Text: fmt.Sprintf("This line of the file has a different number of values than the header (%s): a value may hold the delimiter without quotes, or a line break split the record. The row's values may sit in the wrong columns: check them all.", e.Msg)}
	case "invalid_encoding":
		return Explanation{Title: "Unreadable characters",
			Text: fmt.Sprintf("Part of this line is not text in the file's encoding (%s): accents and symbols may be garbled. Check the values, and the file's encoding in the project's settings.", e.Msg)}
	case "nul_byte":
		return Explanation{Title: "Invisible character in the file",
			Text: "The file holds a NUL byte on this line, which cannot be stored; it was replaced by �. Check the value where it was."}
	case "unclosed_quote", "bad_quote":
		return Explanation{Title: "Broken quotes",
			Text: fmt.Sprintf("A quoted value on this line is not closed properly (%s), so the line may have swallowed the ones after it. Ask the file's owner to fix the quotes.", e.Msg)}
	case "bad_cell":
		return Explanation{Title: "Unreadable cell", Text: fmt.Sprintf("A cell of this spreadsheet row could not be read (%s).", e.Msg)}
	case "syntax", "not_object":
		return Explanation{Title: "Broken record", Text: fmt.Sprintf("This record of the JSON file could not be read (%s).", e.Msg)}
	case "unknown_field":
		return Explanation{Title: "Unexpected field", Text: fmt.Sprintf("This record has a field the others do not have (%s); its value was not used.", e.Msg)}
	}
	return Explanation{Title: "Line could not be read whole", Text: e.Msg}
}

func explainMapping(step string, e validate.Error) Explanation {
	f := name(e.Field)
	switch step {
	case "unmapped":
		return Explanation{Title: "No translation for this value",
			Text: fmt.Sprintf("The project translates the source values of %s through a table, and this value is not in it (%s). Enter the value F&O should get, or have the table extended.", f, e.Msg)}
	case "expr":
		return Explanation{Title: "Calculation failed",
			Text: fmt.Sprintf("The project computes %s with a formula, which failed on this row (%s). Enter the value by hand.", f, e.Msg)}
	}
	return Explanation{Title: "Conversion failed",
		Text: fmt.Sprintf("The project's %q step could not convert the source value of %s (%s). Enter the value in the form F&O expects.", step, f, e.Msg)}
}

func explainNotImported(msg string) Explanation {
	switch {
	case strings.Contains(msg, "unknown") || strings.Contains(msg, "poll deadline"):
		return Explanation{Title: "Outcome unknown",
			Text: "F&O did not say whether it imported this row (its execution ran past the time the project waits). Look the record up in F&O before sending it again; F&O updates a record sent twice by its key."}
	case strings.Contains(msg, "canceled"):
		return Explanation{Title: "Not imported: canceled", Text: "The job was canceled before F&O imported this row (" + msg + "). Send it again with a retry when it should go in."}
	case strings.Contains(msg, "job ended before"):
		return Explanation{Title: "Not imported",
			Text: "The job ended before F&O gave a verdict on this row. Nothing is wrong with its values: send it again with a retry."}
	}
	return Explanation{Title: "Not imported: its package failed",
		Text: "F&O did not import this row because the package it was in failed as a whole (" + msg + "). Nothing is known to be wrong with the row itself: once the cause is fixed, send it again with a retry."}
}

var (
	dmfCode        = regexp.MustCompile(`\bDMF\d{4}\b`)
	mustBeFilledIn = regexp.MustCompile(`^Field '([^']*)' must be filled in`)
	oneMustBe      = regexp.MustCompile(`^At least one of the fields (.*) must be filled in`)
	notInRelated   = regexp.MustCompile(`The value '([^']*)' in field '([^']*)' is not found in the relating table '([^']*)'`)
	recordExists   = regexp.MustCompile(`Cannot create a record in ([^.]*)\. (.*)\. The record already exists`)
	conversion     = regexp.MustCompile(`data conversion for column "([^"]*)" returned status value (\d+)`)
	listedIn       = regexp.MustCompile(`^rejected by F&O: listed in the (.*) of execution`)
	failedCount    = regexp.MustCompile(`^Results\. (\d+) record\(s\) failed in (\S+)`)
	unbalanced     = regexp.MustCompile(`do not balance`)
	notUnicode     = regexp.MustCompile(`not Unicode`)
)

// codes are the DMF error codes dmf-api.md and F&O's documentation name, in plain words.
var codes = map[string]Explanation{
	"DMF1959": {Title: "Duplicate key in the file",
		Text: "F&O found two records with the same key in one package and refused them. Make the keys unique (or set the repeats aside) and send the rows again."},
	"DMF2016": {Title: "Invalid date",
		Text: "A date in the row is not a date F&O can read. Write dates as 2025-01-31 (year-month-day)."},
	"DMF2018": {Title: "Invalid column data",
		Text: "A value does not fit its column in F&O: the wrong kind of value (text where a number or date belongs), or a line with more or fewer values than the header."},
	"DMF2022": {Title: "Column missing from the file",
		Text: "The F&O data project maps a column that the package does not have. The data project's mapping and the project's fields differ: tell whoever maintains the F&O data project."},
	"DMF2025": {Title: "Another import was running",
		Text: "F&O was importing another package into the same data project at the same time and refused this one. Nothing is wrong with the rows: send them again with a retry."},
	"DMF1996": {Title: "F&O was busy (deadlock)",
		Text: "Two imports into the same data project got in each other's way inside F&O. Nothing is wrong with the rows: send them again with a retry."},
	"DMF2039": {Title: "Another Excel import was running",
		Text: "F&O runs one Excel import or export at a time. Send the rows again with a retry."},
	"DMF1957": {Title: "Characters the format cannot hold",
		Text: "The F&O source format is ASCII, which cannot hold some characters of the data. The data project needs a Unicode format."},
	"DMF1963": {Title: "Composite entity not allowed like this",
		Text: "A composite entity must be imported as XML, alone in its package and without overwrite. The F&O data project's settings need a look."},
	"DMF1999": {Title: "Wrong delimiter",
		Text: "The F&O source format uses another delimiter than the package. The F&O data project needs a format with the right delimiter."},
}

// foMessages are the F&O messages known by their shape: each pattern's submatches fill
// in its explanation (see dmf/emulator/doc.go for the texts).
var foMessages = []struct {
	re      *regexp.Regexp
	explain func(m []string, x *Explanation)
}{
	{mustBeFilledIn, func(m []string, x *Explanation) {
		x.Title = "Value missing in F&O"
		x.Text = fmt.Sprintf("F&O needs a value for '%s', and this row has none. Fill it in.", m[1])
	}},
	{oneMustBe, func(m []string, x *Explanation) {
		x.Title = "One of several values missing in F&O"
		x.Text = fmt.Sprintf("F&O needs at least one of the fields %s, and this row has none of them. Fill one in.", m[1])
	}},
	{notInRelated, func(m []string, x *Explanation) {
		x.Title = "Unknown in F&O"
		x.Text = fmt.Sprintf("'%s' is not one of the %s in F&O, so F&O refused the row. Use an existing value for '%s', or have it created in F&O first.", m[1], m[3], m[2])
	}},
	{recordExists, func(m []string, x *Explanation) {
		x.Code, x.Title = "DMF1959", "Duplicate key"
		x.Text = fmt.Sprintf("F&O already had a record in %s with this key (%s) from the same package, and refused this one. Make the key unique, or set the row aside when it is a repeat.", m[1], m[2])
	}},
	{conversion, func(m []string, x *Explanation) {
		if x.Field == "" {
			x.Field = strings.ToUpper(m[1])
		}
		if m[2] == "4" {
			x.Title = "Value too long for F&O"
			x.Text = fmt.Sprintf("The value of %s is longer than F&O's field (or holds characters F&O's format cannot store). Shorten it.", m[1])
			return
		}
		x.Title = "Value F&O cannot convert"
		x.Text = fmt.Sprintf("F&O could not read the value of %s as the kind of value that field holds: a number, a date or one of its fixed values. Write numbers as 1234.56 and dates as 2025-01-31.", m[1])
	}},
	{unbalanced, func(_ []string, x *Explanation) {
		x.Title = "Voucher does not balance"
		x.Text = "The debit and credit lines of this voucher do not add up to zero, so F&O refused every line of it. Correct the amounts of the voucher's lines."
	}},
	{listedIn, func(m []string, x *Explanation) {
		x.Title = "Refused by F&O"
		x.Text = fmt.Sprintf("F&O listed this row among those it refused (in its %s) without a message about the row itself; the reasons it gave are on the chunk. Check the row's values against them.", m[1])
	}},
	{failedCount, func(m []string, x *Explanation) {
		x.Title = "Records failed"
		x.Text = fmt.Sprintf("F&O's summary: %s record(s) failed on the way to the %s. The rows it refused carry their own errors.", m[1], m[2])
	}},
	{notUnicode, func(_ []string, x *Explanation) {
		x.Title = "File not in Unicode"
		x.Text = "F&O expected a Unicode file and could not read this one. The F&O data project's source format needs a look."
	}},
}

// explainFO explains one of F&O's messages; field is the field F&O gave with it.
func explainFO(msg, field string) Explanation {
	x := Explanation{Field: field}
	code := dmfCode.FindString(msg)
	for _, known := range foMessages {
		if m := known.re.FindStringSubmatch(msg); m != nil {
			x.Code = code
			known.explain(m, &x)
			return x
		}
	}
	x.Code = code
	switch known, ok := codes[code]; {
	case ok:
		x.Title, x.Text = known.Title, known.Text
	case code != "":
		x.Title = "Refused by F&O (" + code + ")"
		x.Text = "F&O refused the row with error " + code + ": " + msg
	default:
		x.Title = "Refused by F&O"
		x.Text = "F&O refused the row and said: " + msg
	}
	return x
}
