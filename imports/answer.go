package imports

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/staging"
)

// Answer is what F&O said about a chunk's execution once it ended.
type Answer struct {
	// Execution is the execution id.
	Execution string
	// Status is its final DMFExecutionSummaryStatus.
	Status dmf.ExecutionStatus
	// Messages are GetExecutionErrors' entries.
	Messages []dmf.ExecutionError
	// Files are the entity's error files, read whole: the staging error file (input rows
	// that failed source to staging, with their columns) and the target error keys file
	// (the keys of rows that failed staging to target).
	Files []ErrorFile
}

// ErrorFile is a downloaded error file of an execution.
type ErrorFile struct {
	Kind    dmf.ErrorFileKind
	Header  []string
	Records [][]string
}

// KeyField is one field of an entity's key (without dataAreaId): its staging name, and
// its label as F&O's messages write it (the OData name, e.g. CustomerAccount, reads as
// "Customer account").
type KeyField struct {
	Name, Label string
}

// KeyedRow is one row of a chunk as F&O's answer is matched to it: its row number and its
// entity key values in the order of the entity's key fields.
type KeyedRow struct {
	No  int64
	Key []string
}

// Verdict is F&O's answer placed on a chunk's rows.
type Verdict struct {
	// Errors are the rows F&O rejected, each with why (a row may have several).
	Errors []staging.RowError
	// Rejected is the number of distinct rows in Errors.
	Rejected int
	// Unplaced are F&O's messages that name no row of the chunk with certainty: they
	// belong to the execution and are shown on the chunk, never on a guessed row.
	Unplaced []string
	// NotImported, when set, says why the chunk's other rows (those not in Errors) were not
	// imported: the execution failed, was canceled or ended unknown. Empty means F&O
	// imported them.
	NotImported string
}

// Judge places F&O's answer about a chunk's execution on the chunk's rows. A message or
// a file entry goes on a row only when that is certain, by entity key: a row listed in the
// target error keys file or the staging error file is rejected, and a message goes on the
// one row whose key values it names. GetExecutionErrors' RecordId is F&O's own staging
// RecId, unrelated to the row's place in the package (dmf-api.md §2.6): it is never used.
// keyFields are the entity's key fields and rows the chunk's rows with their values of
// those fields.
func Judge(a Answer, keyFields []KeyField, rows []KeyedRow) Verdict {
	m := newKeyMatcher(keyFields, rows)
	var v Verdict
	named := map[int64][]staging.RowError{} // row → messages placed on it
	listed := map[int64]string{}            // row → the file that lists it
	var order []int64                       // rows in the order they were first found
	note := func(no int64) {
		if _, ok := named[no]; !ok {
			if _, ok := listed[no]; !ok {
				order = append(order, no)
			}
		}
	}
	for _, f := range a.Files {
		cols, missing := columnsOf(f.Header, keyFields)
		if missing != "" {
			v.Unplaced = append(v.Unplaced, fmt.Sprintf("the %s has no %s column: its %d rows could not be matched", fileName(f.Kind), missing, len(f.Records)))
			continue
		}
		for _, rec := range f.Records {
			for _, no := range m.rowsOf(keyOf(rec, cols)) {
				note(no)
				if _, ok := listed[no]; !ok {
					listed[no] = fileName(f.Kind)
				}
			}
		}
	}
	for _, e := range a.Messages {
		msg := strings.TrimSpace(e.Message)
		if msg == "" {
			continue
		}
		no, ok := m.named(msg)
		if !ok {
			v.Unplaced = append(v.Unplaced, msg)
			continue
		}
		note(no)
		named[no] = append(named[no], staging.RowError{Row: no, Field: e.Field, Message: msg})
	}
	for _, no := range order {
		if errs := named[no]; len(errs) > 0 {
			v.Errors = append(v.Errors, errs...)
		} else {
			v.Errors = append(v.Errors, staging.RowError{Row: no,
				Message: fmt.Sprintf("rejected by F&O: listed in the %s of execution %s", listed[no], a.Execution)})
		}
	}
	v.Rejected = len(order)
	switch a.Status {
	case dmf.StatusSucceeded, dmf.StatusPartiallySucceeded:
	default:
		why := fmt.Sprintf("not imported: execution %s ended %s", a.Execution, a.Status)
		if v.Rejected > 0 {
			why += " and F&O named other rows, not this one"
		} else {
			why += " without naming a row"
		}
		if len(v.Unplaced) > 0 {
			why += ": " + strings.Join(v.Unplaced[:min(len(v.Unplaced), 3)], "; ")
		}
		v.NotImported = why
	}
	return v
}

func fileName(k dmf.ErrorFileKind) string {
	if k == dmf.StagingErrorFile {
		return "staging error file"
	}
	return "target error keys file"
}

// columnsOf finds each key field in an error file's header by staging or OData name
// (case-insensitively); missing names the first one that is not there.
func columnsOf(header []string, keyFields []KeyField) (cols []int, missing string) {
	cols = make([]int, len(keyFields))
	for i, k := range keyFields {
		cols[i] = slices.IndexFunc(header, func(h string) bool {
			h = strings.TrimSpace(h)
			return strings.EqualFold(h, k.Name) || strings.EqualFold(h, k.Label)
		})
		if cols[i] < 0 {
			return nil, k.Name
		}
	}
	return cols, ""
}

func keyOf(rec []string, cols []int) []string {
	key := make([]string, len(cols))
	for i, c := range cols {
		if c < len(rec) {
			key[i] = rec[c]
		}
	}
	return key
}

// normKey is a key value as F&O compares it: case-insensitively, without surrounding
// blanks.
func normKey(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

func joinKey(key []string) string {
	parts := make([]string, len(key))
	for i, k := range key {
		parts[i] = normKey(k)
	}
	return strings.Join(parts, "\x00")
}

// keyMatcher finds a chunk's rows by entity key, and the row a message names.
type keyMatcher struct {
	byKey map[string][]int64 // joined normalized key → rows
	// byFirst finds the rows whose first key value is a phrase of a message.
	byFirst map[string][]keyedRef
	spans   []int      // the word counts of first key values, ascending, distinct
	labels  [][]string // per key field, its name as words ("CustomerAccount" → CUSTOMER ACCOUNT)
}

type keyedRef struct {
	no  int64
	key [][]string // every key value as words, normalized
}

func newKeyMatcher(fields []KeyField, rows []KeyedRow) *keyMatcher {
	m := &keyMatcher{byKey: make(map[string][]int64, len(rows)), byFirst: make(map[string][]keyedRef, len(rows))}
	for _, f := range fields {
		m.labels = append(m.labels, words(strings.ToUpper(splitCamel(f.Label))))
	}
	spans := map[int]bool{}
	for _, r := range rows {
		if len(r.Key) != len(fields) || len(r.Key) == 0 {
			continue
		}
		k := joinKey(r.Key)
		m.byKey[k] = append(m.byKey[k], r.No)
		ref := keyedRef{no: r.No, key: make([][]string, len(r.Key))}
		for i, v := range r.Key {
			ref.key[i] = words(normKey(v))
		}
		if len(ref.key[0]) == 0 {
			continue
		}
		first := strings.Join(ref.key[0], " ")
		m.byFirst[first] = append(m.byFirst[first], ref)
		spans[len(ref.key[0])] = true
	}
	for n := range spans {
		m.spans = append(m.spans, n)
	}
	slices.Sort(m.spans)
	return m
}

// rowsOf returns the rows with key.
func (m *keyMatcher) rowsOf(key []string) []int64 { return m.byKey[joinKey(key)] }

// named returns the one row whose key the message names, and false when it names none or
// several rows (it cannot be told which it is about). A message names a key when it holds
// every key value as a phrase of whole words; a value of digits only (a line number, a
// count in a summary line would look the same) counts only when the message also names
// its field ("Line number 25", "LineNumber: 25").
func (m *keyMatcher) named(msg string) (int64, bool) {
	toks := words(strings.ToUpper(msg))
	found := map[int64]bool{}
	var last int64
	for _, n := range m.spans {
		for i := 0; i+n <= len(toks); i++ {
			for _, ref := range m.byFirst[strings.Join(toks[i:i+n], " ")] {
				if !found[ref.no] && m.namesKey(toks, ref) {
					found[ref.no] = true
					last = ref.no
				}
			}
		}
	}
	if len(found) != 1 {
		return 0, false
	}
	return last, true
}

func (m *keyMatcher) namesKey(toks []string, ref keyedRef) bool {
	for i, value := range ref.key {
		if len(value) == 0 {
			continue // an empty key part names nothing
		}
		if !hasPhrase(toks, value) || (digitsOnly(value) && !hasPhrase(toks, m.labels[i]) && !hasPhrase(toks, []string{strings.Join(m.labels[i], "")})) {
			return false
		}
	}
	return true
}

// hasPhrase reports whether w appears in toks as consecutive words.
func hasPhrase(toks, w []string) bool {
	if len(w) == 0 {
		return false
	}
	for i := 0; i+len(w) <= len(toks); i++ {
		if slices.Equal(toks[i:i+len(w)], w) {
			return true
		}
	}
	return false
}

func digitsOnly(w []string) bool {
	for _, s := range w {
		for _, r := range s {
			if r < '0' || r > '9' {
				return false
			}
		}
	}
	return true
}

// splitCamel spaces an OData name's words: "CustomerAccount" → "Customer Account".
func splitCamel(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// words splits a message into the words a key value may be: runs of characters other
// than blanks, quotes, brackets and the punctuation that separates them in F&O's
// messages; a trailing full stop or comma is not part of a word ("C000123." is C000123).
func words(s string) []string {
	f := strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune(`"'’‘“”()[]{}<>,;:=`, r)
	})
	out := f[:0]
	for _, w := range f {
		if w = strings.TrimRight(w, "."); w != "" {
			out = append(out, w)
		}
	}
	return out
}
