package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/dmfpipe/dmfpipe/explain"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
	"github.com/dmfpipe/dmfpipe/validate"
)

// reviewPageSize is how many rows a page of the review grid holds unless limit says.
const reviewPageSize = 50

// countUpTo is how far the review page counts the rows that match its filter: enough to
// say what a bulk action over them would do, never a count of a million rows.
const countUpTo = 10_000

// reviewQuery is the review page's filter, as in its URL:
//
//	field, rule   an error group (field present but empty: errors that name no field)
//	status        open (the default: rows waiting for an operator), all, or a status
//	q             text in a mapped or source value
//	where         FIELD=VALUE, repeatable
//	after, before the keyset page: rows after / before this row number
//	limit         rows per page
type reviewQuery struct {
	Field    *string              `json:"field,omitempty"`
	Rule     string               `json:"rule,omitempty"`
	Status   string               `json:"status"`
	Search   string               `json:"q,omitempty"`
	Where    []staging.FieldValue `json:"where,omitempty"`
	After    int64                `json:"after,omitempty"`
	Before   int64                `json:"before,omitempty"`
	Limit    int                  `json:"limit"`
	HasGroup bool                 `json:"-"`
}

func parseReview(q url.Values) (reviewQuery, error) {
	rq := reviewQuery{Status: "open", Rule: q.Get("rule"), Search: strings.TrimSpace(q.Get("q")), Limit: reviewPageSize}
	if q.Has("field") {
		f := q.Get("field")
		rq.Field = &f
	}
	rq.HasGroup = rq.Field != nil || rq.Rule != ""
	if s := q.Get("status"); s != "" {
		if s != "open" && s != "all" && !slices.Contains(staging.Statuses, staging.Status(s)) {
			return rq, badRequestf("unknown status %q (open, all or one of %v)", s, staging.Statuses)
		}
		rq.Status = s
	}
	for _, w := range q["where"] {
		if strings.TrimSpace(w) == "" {
			continue // the filter form's empty field
		}
		f, v, ok := strings.Cut(w, "=")
		if !ok || strings.TrimSpace(f) == "" {
			return rq, badRequestf("where takes FIELD=VALUE, got %q", w)
		}
		rq.Where = append(rq.Where, staging.FieldValue{Field: strings.ToUpper(strings.TrimSpace(f)), Value: v})
	}
	var err error
	for name, dst := range map[string]*int64{"after": &rq.After, "before": &rq.Before} {
		if v := q.Get(name); v != "" {
			if *dst, err = strconv.ParseInt(v, 10, 64); err != nil || *dst < 0 {
				return rq, badRequestf("%s %q is not a row number", name, v)
			}
		}
	}
	if v := q.Get("limit"); v != "" {
		if rq.Limit, err = strconv.Atoi(v); err != nil || rq.Limit < 1 || rq.Limit > staging.MaxPage {
			return rq, badRequestf("limit %q must be from 1 to %d", v, staging.MaxPage)
		}
	}
	return rq, nil
}

// GroupLabel words the error group the query filters on, for its chip.
func (rq *reviewQuery) GroupLabel() string {
	field := "any field"
	if rq.Field != nil {
		field = *rq.Field
		if field == "" {
			field = "no field"
		}
	}
	switch {
	case rq.Rule == string(staging.RuleFO) && (rq.Field == nil || *rq.Field == ""):
		return "rejected by F&O"
	case rq.Rule == "":
		return field + ", any rule"
	}
	return field + " · " + rq.Rule
}

// filter is the staging filter of the query.
func (rq *reviewQuery) filter() staging.Filter {
	f := staging.Filter{Search: rq.Search, Where: rq.Where}
	switch rq.Status {
	case "open":
		f.Statuses = staging.OpenStatuses
	case "all":
	default:
		f.Statuses = []staging.Status{staging.Status(rq.Status)}
	}
	if rq.HasGroup {
		f.Error = &staging.ErrorMatch{Field: rq.Field, Rule: validate.Rule(rq.Rule)}
	}
	return f
}

// values is the query without its page, as URL values.
func (rq *reviewQuery) values() url.Values {
	q := url.Values{}
	if rq.Field != nil {
		q.Set("field", *rq.Field)
	}
	if rq.Rule != "" {
		q.Set("rule", rq.Rule)
	}
	if rq.Status != "open" {
		q.Set("status", rq.Status)
	}
	if rq.Search != "" {
		q.Set("q", rq.Search)
	}
	for _, w := range rq.Where {
		q.Add("where", w.Field+"="+w.Value)
	}
	if rq.Limit != reviewPageSize {
		q.Set("limit", strconv.Itoa(rq.Limit))
	}
	return q
}

// url is the review page of job for the query, with one more value set (a page).
func (rq *reviewQuery) url(job int64, key, value string) string {
	q := rq.values()
	if key != "" {
		q.Set(key, value)
	}
	s := fmt.Sprintf("/jobs/%d/errors", job)
	if enc := q.Encode(); enc != "" {
		s += "?" + enc
	}
	return s
}

type reviewPage struct {
	Job     jobListItem    `json:"job"`
	Counts  staging.Counts `json:"counts"`
	Open    int64          `json:"open"`
	Groups  []groupView    `json:"groups"`
	Fields  []string       `json:"fields"`
	Query   reviewQuery    `json:"query"`
	Rows    []rowView      `json:"rows"`
	Matches int64          `json:"matches"`
	// MatchesMore is set when more rows than Matches match (counting stops there).
	MatchesMore bool   `json:"matches_more"`
	NextURL     string `json:"next,omitempty"`
	PrevURL     string `json:"prev,omitempty"`
	// ChunkMessages are what F&O said for the job's chunks without naming a row: the
	// reasons behind the rows it rejected with no message of their own.
	ChunkMessages []chunkMessage `json:"chunk_messages"`
	// Running are the job's bulk actions still at work.
	Running []auditView `json:"running_actions"`
	// Here is this view's URL (no page), for the forms to come back to.
	Here        string `json:"-"`
	QueryString string `json:"-"`
	// Selected is how the selection of the bulk form reads, in words.
	Describe string `json:"-"`
}

// groupView is an error group with its explanation and the link to its rows.
type groupView struct {
	staging.ErrorGroup
	// Name is how the group is called: its field, or what an error on no field is about.
	Name        string              `json:"-"`
	Explanation explain.Explanation `json:"explanation"`
	URL         string              `json:"-"`
	Active      bool                `json:"-"`
}

// rowView is a row of the grid: its cells (mapped value beside source value, errors on
// them) and the errors that name no field.
type rowView struct {
	No        int64          `json:"row"`
	Line      int64          `json:"line"`
	Status    staging.Status `json:"status"`
	Cells     []cellView     `json:"cells"`
	RowErrors []errorView    `json:"row_errors,omitempty"`
	Reason    string         `json:"reason,omitempty"`
	Attempt   int            `json:"attempt,omitempty"`
	Open      bool           `json:"open"`
	Job       int64          `json:"-"`
}

// FocusField is the field an edit form puts the cursor in: the first with an error.
func (r rowView) FocusField() string {
	for _, c := range r.Cells {
		if len(c.Errors) > 0 {
			return c.Field
		}
	}
	if len(r.Cells) > 0 {
		return r.Cells[0].Field
	}
	return ""
}

type cellView struct {
	Field  string      `json:"field"`
	Value  string      `json:"value"`
	Column string      `json:"column,omitempty"`
	Source string      `json:"source,omitempty"`
	Errors []errorView `json:"errors,omitempty"`
	// Changed is set when the source value is not the mapped value (trimmed, converted,
	// edited).
	Changed bool `json:"changed"`
}

type errorView struct {
	validate.Error
	Explanation explain.Explanation `json:"explanation"`
}

func newErrorViews(errs []validate.Error) []errorView {
	out := make([]errorView, len(errs))
	for i, e := range errs {
		out[i] = errorView{Error: e, Explanation: explain.Error(e)}
	}
	return out
}

func newRowView(job int64, l *staging.Layout, r *staging.StagedRow) rowView {
	cells, rowErrs := l.Cells(r)
	rv := rowView{No: r.No, Line: r.Line, Status: r.Status, Reason: r.Reason, Attempt: r.Attempt, Open: staging.IsOpen(r.Status),
		Job: job, RowErrors: newErrorViews(rowErrs), Cells: make([]cellView, len(cells))}
	for i, c := range cells {
		rv.Cells[i] = cellView{Field: c.Field, Value: c.Value, Column: c.Column, Source: c.Source, Errors: newErrorViews(c.Errors),
			Changed: c.Column != "" && c.Source != c.Value}
	}
	return rv
}

// stagedJob reads the job of a request's path, and the layout of its staged rows.
func (c *Console) stagedJob(r *http.Request) (*jobhistory.Job, staging.Layout, error) {
	job, err := pathInt(r, "job")
	if err != nil {
		return nil, staging.Layout{}, err
	}
	j, err := jobhistory.NewStore(c.opts.Pool).Job(r.Context(), job)
	if err != nil {
		return nil, staging.Layout{}, err
	}
	l, err := staging.NewStore(c.opts.Pool).Layout(r.Context(), job)
	return j, l, err
}

func (c *Console) reviewView(r *http.Request) (any, error) {
	j, l, err := c.stagedJob(r)
	if err != nil {
		return nil, err
	}
	rq, err := parseReview(r.URL.Query())
	if err != nil {
		return nil, err
	}
	ctx, job, st := r.Context(), j.ID, staging.NewStore(c.opts.Pool)
	p := &reviewPage{Job: newJobListItem(j, ""), Fields: l.Fields, Query: rq, Groups: []groupView{}, Rows: []rowView{},
		Running: []auditView{}, ChunkMessages: []chunkMessage{}, Here: rq.url(job, "", "")}
	p.QueryString = rq.values().Encode()
	if p.Counts, err = st.OpenCounts(ctx, job, countUpTo); err != nil {
		return nil, err
	}
	p.Open = imports.Open(p.Counts)
	groups, err := st.ErrorSummary(ctx, job)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		gv := groupView{ErrorGroup: g, Name: g.Field}
		if g.Field == "" {
			gv.Name = "the whole row"
		}
		// The group's first error words its explanation (F&O's messages carry codes).
		first, err := st.ErrorPage(ctx, job, staging.Filter{Error: &staging.ErrorMatch{Field: &g.Field, Rule: g.Rule}}, g.FirstRow-1, 1)
		if err != nil {
			return nil, err
		}
		e := validate.Error{Field: g.Field, Rule: g.Rule}
		if len(first) > 0 {
			e = first[0].Error
		}
		gv.Explanation = explain.Error(e)
		field := g.Field
		gq := reviewQuery{Field: &field, Rule: string(g.Rule), Status: "open", Limit: rq.Limit, HasGroup: true}
		gv.URL = gq.url(job, "", "")
		gv.Active = rq.HasGroup && rq.Field != nil && *rq.Field == g.Field && rq.Rule == string(g.Rule)
		p.Groups = append(p.Groups, gv)
	}

	if p.Counts.Rejected > 0 {
		if p.ChunkMessages, err = c.chunkMessages(r, job); err != nil {
			return nil, err
		}
	}

	f := rq.filter()
	var rows []staging.StagedRow
	if rq.Before > 0 {
		rows, err = st.RowPageBefore(ctx, job, f, rq.Before, rq.Limit+1)
		if err == nil && len(rows) > rq.Limit {
			rows = rows[1:]
			p.PrevURL = rq.url(job, "before", strconv.FormatInt(rows[0].No, 10))
		}
		if err == nil && len(rows) > 0 {
			p.NextURL = rq.url(job, "after", strconv.FormatInt(rows[len(rows)-1].No, 10))
		}
	} else {
		rows, err = st.RowPage(ctx, job, f, rq.After, rq.Limit+1)
		if err == nil && len(rows) > rq.Limit {
			rows = rows[:rq.Limit]
			p.NextURL = rq.url(job, "after", strconv.FormatInt(rows[len(rows)-1].No, 10))
		}
		if err == nil && rq.After > 0 && len(rows) > 0 {
			p.PrevURL = rq.url(job, "before", strconv.FormatInt(rows[0].No, 10))
		}
	}
	if err != nil {
		return nil, err
	}
	for i := range rows {
		p.Rows = append(p.Rows, newRowView(job, &l, &rows[i]))
	}
	if p.Matches, p.MatchesMore, err = c.countMatches(r, job, &rq, groups); err != nil {
		return nil, err
	}
	if p.Running, err = c.runningActions(r, job); err != nil {
		return nil, err
	}
	p.Describe = describeFilter(&f)
	return p, nil
}

// maxChunkMessages is how many chunks' messages the review page shows.
const maxChunkMessages = 20

// chunkMessage is what F&O said for chunks without naming a row: one explanation, the
// chunks it was given for, and the first chunk's message.
type chunkMessage struct {
	Chunks      []int               `json:"chunks"`
	Explanation explain.Explanation `json:"explanation"`
	Error       string              `json:"message"`
}

// chunkMessages are the messages F&O gave for a job's chunks without naming a row, one
// per explanation, the latest chunks first.
func (c *Console) chunkMessages(r *http.Request, job int64) ([]chunkMessage, error) {
	chunks, err := jobhistory.NewStore(c.opts.Pool).Chunks(r.Context(), job)
	if err != nil {
		return nil, err
	}
	out := []chunkMessage{}
	for i := len(chunks) - 1; i >= 0; i-- {
		ch := chunks[i]
		if ch.Error == "" {
			continue
		}
		x := explain.Message(ch.Error)
		j := slices.IndexFunc(out, func(m chunkMessage) bool { return m.Explanation == x })
		switch {
		case j >= 0:
			out[j].Chunks = append(out[j].Chunks, ch.No)
		case len(out) < maxChunkMessages:
			out = append(out, chunkMessage{Chunks: []int{ch.No}, Explanation: x, Error: ch.Error})
		}
	}
	return out, nil
}

// countMatches counts the rows the query selects: an error group's count is kept (the
// summary has it); other filters are counted up to countUpTo.
func (c *Console) countMatches(r *http.Request, job int64, rq *reviewQuery, groups []staging.ErrorGroup) (int64, bool, error) {
	if rq.Search != "" {
		// A search that few rows match would read every open row to count them.
		return 0, true, nil
	}
	if rq.HasGroup && rq.Field != nil && rq.Rule != "" && rq.Status == "open" && rq.Search == "" && len(rq.Where) == 0 {
		for _, g := range groups {
			if g.Field == *rq.Field && string(g.Rule) == rq.Rule {
				return g.Rows, false, nil
			}
		}
		return 0, false, nil
	}
	f := rq.filter()
	n, err := staging.NewStore(c.opts.Pool).Count(r.Context(), job, f, countUpTo+1)
	if n > countUpTo {
		return countUpTo, true, err
	}
	return n, false, err
}

// runningActions are a job's bulk actions still at work, newest first.
func (c *Console) runningActions(r *http.Request, job int64) ([]auditView, error) {
	entries, err := jobhistory.NewAudit(c.opts.Pool).JobEntries(r.Context(), job, 0, 20)
	if err != nil {
		return nil, err
	}
	out := []auditView{}
	for _, e := range entries {
		if !e.Done() && (e.Action == jobhistory.ActionEdit || e.Action == jobhistory.ActionReject) {
			out = append(out, auditView{Entry: e, What: describeEntry(&e)})
		}
	}
	return out, nil
}

// rowPage is one row in full: every field beside its source, its errors (open and
// resolved), and its history in the audit trail.
type rowPage struct {
	Job      jobListItem           `json:"job"`
	Row      rowView               `json:"row"`
	Sheet    string                `json:"sheet,omitempty"`
	Source   []sourceValue         `json:"source"`
	Resolved []errorView           `json:"resolved,omitempty"`
	History  []jobhistory.RowEntry `json:"history"`
	Back     string                `json:"-"`
}

type sourceValue struct {
	Column string `json:"column"`
	Value  string `json:"value"`
}

func (c *Console) rowView(r *http.Request) (any, error) {
	j, l, err := c.stagedJob(r)
	if err != nil {
		return nil, err
	}
	no, err := pathInt(r, "row")
	if err != nil {
		return nil, err
	}
	ctx, job := r.Context(), j.ID
	row, err := staging.NewStore(c.opts.Pool).Row(ctx, job, no)
	if err != nil {
		return nil, err
	}
	p := &rowPage{Job: newJobListItem(j, ""), Row: newRowView(job, &l, &row), Sheet: l.Sheet, Resolved: newErrorViews(row.Resolved),
		Source: []sourceValue{}, Back: safeNext(r.URL.Query().Get("back"))}
	if p.Back == "/jobs" {
		p.Back = fmt.Sprintf("/jobs/%d/errors", job)
	}
	for i, v := range row.Raw {
		name := fmt.Sprintf("#%d", i+1)
		if i < len(l.Columns) && l.Columns[i] != "" {
			name = l.Columns[i]
		}
		p.Source = append(p.Source, sourceValue{Column: name, Value: v})
	}
	if p.History, err = jobhistory.NewAudit(c.opts.Pool).RowEntries(ctx, job, no); err != nil {
		return nil, err
	}
	if p.History == nil {
		p.History = []jobhistory.RowEntry{}
	}
	return p, nil
}

// rowFragment is a row of the grid rendered alone (after an inline edit), or its edit
// form.
type rowFragment struct {
	Row   rowView
	Back  string
	Error string
	Me    *identity
}

// rowEditForm answers htmx's request for a row's inline edit form.
func (c *Console) rowEditForm(w http.ResponseWriter, r *http.Request) {
	rv, err := c.loadRow(r)
	if err != nil {
		c.failWith(w, r, err)
		return
	}
	c.renderTemplate(w, r, http.StatusOK, "review", "row-edit", rowFragment{Row: rv, Back: r.URL.Query().Get("back"), Me: c.me(r)})
}

func (c *Console) loadRow(r *http.Request) (rowView, error) {
	job, no, err := jobRow(r)
	if err != nil {
		return rowView{}, err
	}
	st := staging.NewStore(c.opts.Pool)
	l, err := st.Layout(r.Context(), job)
	if err != nil {
		return rowView{}, err
	}
	row, err := st.Row(r.Context(), job, no)
	if err != nil {
		return rowView{}, err
	}
	return newRowView(job, &l, &row), nil
}

// jobRow reads the job and row numbers of a request's path.
func jobRow(r *http.Request) (job, row int64, err error) {
	if job, err = pathInt(r, "job"); err != nil {
		return 0, 0, err
	}
	row, err = pathInt(r, "row")
	return job, row, err
}

// editRowForm saves an inline edit: for htmx it answers the row as it now is (fixed, or
// invalid with its new errors) or the form again with what went wrong; a plain form
// goes back to its page.
func (c *Console) editRowForm(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("HX-Request") != "true" {
		c.form(c.doEditRow)(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	in, err := actionFromForm(r)
	if err == nil {
		_, err = c.doEditRow(r, &in)
	}
	back := r.PostFormValue("back")
	rv, lerr := c.loadRow(r)
	if lerr != nil {
		c.failWith(w, r, lerr)
		return
	}
	if err != nil {
		if statusOf(err) == http.StatusInternalServerError {
			c.internal(w, r, err)
			return
		}
		c.renderTemplate(w, r, http.StatusOK, "review", "row-edit", rowFragment{Row: rv, Back: back, Error: err.Error(), Me: c.me(r)})
		return
	}
	c.renderTemplate(w, r, http.StatusOK, "review", "row", rowFragment{Row: rv, Back: back, Me: c.me(r)})
}

// actionPage is a bulk action's progress.
type actionPage struct {
	auditView
	Job     int64  `json:"-"`
	Percent int    `json:"percent"`
	Back    string `json:"-"`
}

func (c *Console) actionView(r *http.Request) (any, error) {
	job, err := pathInt(r, "job")
	if err != nil {
		return nil, err
	}
	id, err := pathInt(r, "entry")
	if err != nil {
		return nil, err
	}
	e, err := jobhistory.NewAudit(c.opts.Pool).Entry(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if e.Job != job {
		return nil, fmt.Errorf("job %d has no audit entry %d: %w", job, id, jobhistory.ErrEntryNotFound)
	}
	p := &actionPage{auditView: auditView{Entry: e, What: describeEntry(&e)}, Job: job, Back: fmt.Sprintf("/jobs/%d/errors", job)}
	switch {
	case e.State == jobhistory.EntryDone:
		p.Percent = 100
	case e.Matched > 0:
		p.Percent = int(e.Rows * 100 / e.Matched)
	}
	return p, nil
}

// describeFilter words a selection for the bulk form and the audit trail.
func describeFilter(f *staging.Filter) string {
	var parts []string
	if len(f.Rows) == 1 {
		return fmt.Sprintf("row %d", f.Rows[0])
	}
	if len(f.Rows) > 0 {
		return "rows " + joinInts(f.Rows, 10)
	}
	if m := f.Error; m != nil {
		switch {
		case m.Rule == staging.RuleFO && (m.Field == nil || *m.Field == ""):
			parts = append(parts, "rejected by F&O")
		case m.Field != nil && *m.Field == "":
			parts = append(parts, fmt.Sprintf("with a %s error on no field", orAny(string(m.Rule))))
		case m.Field != nil:
			parts = append(parts, fmt.Sprintf("with a %s error on %s", orAny(string(m.Rule)), *m.Field))
		default:
			parts = append(parts, fmt.Sprintf("with a %s error", orAny(string(m.Rule))))
		}
	}
	for _, w := range f.Where {
		parts = append(parts, fmt.Sprintf("where %s is %q", w.Field, w.Value))
	}
	if f.Search != "" {
		parts = append(parts, fmt.Sprintf("containing %q", f.Search))
	}
	if len(f.Statuses) > 0 && !slices.Equal(f.Statuses, staging.OpenStatuses) {
		sts := make([]string, len(f.Statuses))
		for i, s := range f.Statuses {
			sts[i] = string(s)
		}
		parts = append(parts, "in status "+strings.Join(sts, " or "))
	}
	if len(parts) == 0 {
		return "every open row"
	}
	return "open rows " + strings.Join(parts, ", ")
}

func orAny(rule string) string {
	if rule == "" {
		return "any"
	}
	return rule
}

func joinInts(ns []int64, most int) string {
	var b strings.Builder
	for i, n := range ns {
		if i == most {
			fmt.Fprintf(&b, " and %d more", len(ns)-most)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatInt(n, 10))
	}
	return b.String()
}

// describeEntry words an audit entry: what was done to which rows.
func describeEntry(e *jobhistory.Entry) string {
	var f staging.Filter
	sel := ""
	if len(e.Selection) > 0 && json.Unmarshal(e.Selection, &f) == nil {
		sel = describeFilter(&f)
	}
	switch e.Action {
	case jobhistory.ActionEdit:
		sets := make([]string, 0, len(e.Set))
		for k, v := range e.Set {
			sets = append(sets, fmt.Sprintf("%s to %q", k, v))
		}
		slices.Sort(sets)
		return fmt.Sprintf("set %s on %s", strings.Join(sets, ", "), sel)
	case jobhistory.ActionReject:
		return fmt.Sprintf("set aside %s: %q", sel, e.Reason)
	case jobhistory.ActionResubmit:
		return "sent the fixed rows to F&O again"
	case jobhistory.ActionRetry:
		return "retried the job"
	case jobhistory.ActionCancel:
		return "canceled the job"
	}
	return e.Action
}
