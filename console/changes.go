package console

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
)

// The forms' fields:
//
//	back               the page to go back to
//	v.FIELD, o.FIELD   an inline edit: the value of FIELD, and what it was (unchanged
//	                   fields are not set)
//	reason             why rows are set aside
//	kind               a bulk action: edit or reject
//	scope              selected (the rows ticked, "row" fields) or filter (every open row
//	                   that matches the review query in "query")
//	field, value       a bulk edit's field and value
func actionFromForm(r *http.Request) (imports.Action, error) {
	var a imports.Action
	if err := r.ParseForm(); err != nil {
		return a, badRequestf("reading the form: %v", err)
	}
	pf := r.PostForm
	a.Kind, a.Reason = pf.Get("kind"), pf.Get("reason")
	for k, vs := range pf {
		if f, ok := strings.CutPrefix(k, "v."); ok && len(vs) == 1 {
			if orig, had := pf["o."+f]; had && len(orig) == 1 && orig[0] == vs[0] {
				continue
			}
			a.Set = append(a.Set, staging.FieldValue{Field: f, Value: vs[0]})
		}
	}
	if f := strings.ToUpper(strings.TrimSpace(pf.Get("field"))); f != "" {
		a.Set = append(a.Set, staging.FieldValue{Field: f, Value: pf.Get("value")})
	}
	switch a.Kind {
	case jobhistory.ActionReject:
		a.Set = nil
	case jobhistory.ActionEdit:
		a.Reason = ""
	}
	switch pf.Get("scope") {
	case "selected":
		for _, v := range pf["row"] {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return a, badRequestf("row %q is not a row number", v)
			}
			a.Filter.Rows = append(a.Filter.Rows, n)
		}
		if len(a.Filter.Rows) == 0 {
			return a, badRequestf("no row is selected: tick the rows first, or choose every row that matches the filter")
		}
	case "filter":
		q, err := url.ParseQuery(pf.Get("query"))
		if err != nil {
			return a, badRequestf("reading the filter: %v", err)
		}
		rq, err := parseReview(q)
		if err != nil {
			return a, err
		}
		a.Filter = rq.filter()
		if rq.Status == "all" {
			a.Filter.Statuses = nil // the open ones: the only rows an action changes
		}
	}
	return a, nil
}

func (c *Console) me(r *http.Request) *identity { return identityOf(r.Context()) }

func (c *Console) doRetry(r *http.Request, _ *imports.Action) (result, error) {
	job, err := pathInt(r, "job")
	if err != nil {
		return result{}, err
	}
	res, err := c.stages.Retry(r.Context(), c.me(r).actor(), job, false)
	if err != nil {
		return result{}, err
	}
	out := result{Next: fmt.Sprintf("/jobs/%d", job), Data: res}
	if res.Hurried {
		out.Message = fmt.Sprintf("Job %d: its waiting steps run now.", job)
	} else {
		out.Message = fmt.Sprintf("Job %d: attempt %d sends %d rows again.", job, res.Attempt.Attempt, res.Attempt.Rows)
	}
	return out, nil
}

func (c *Console) doCancel(r *http.Request, _ *imports.Action) (result, error) {
	job, err := pathInt(r, "job")
	if err != nil {
		return result{}, err
	}
	res, err := c.stages.Cancel(r.Context(), c.me(r).actor(), job)
	if err != nil {
		return result{}, err
	}
	return result{Next: fmt.Sprintf("/jobs/%d", job), Data: map[string]any{"steps": res.Steps, "not_imported": res.NotImported},
		Message: fmt.Sprintf("Job %d canceled: %d steps stopped, %d rows not imported wait for a retry.", job, res.Steps, res.NotImported)}, nil
}

func (c *Console) doResubmit(r *http.Request, _ *imports.Action) (result, error) {
	job, err := pathInt(r, "job")
	if err != nil {
		return result{}, err
	}
	a, err := c.stages.Resubmit(r.Context(), c.me(r).actor(), job, false)
	if err != nil {
		return result{}, err
	}
	return result{Next: fmt.Sprintf("/jobs/%d", job),
		Data:    map[string]any{"attempt": a.Attempt, "rows": a.Rows, "first_chunk": a.FirstChunk, "chunks": a.Chunks},
		Message: fmt.Sprintf("Job %d: attempt %d sends %d fixed rows to F&O.", job, a.Attempt, a.Rows)}, nil
}

func (c *Console) doEditRow(r *http.Request, in *imports.Action) (result, error) {
	job, no, err := jobRow(r)
	if err != nil {
		return result{}, err
	}
	if len(in.Set) == 0 {
		return result{}, badRequestf("nothing changed: edit a value first")
	}
	row, e, err := c.stages.EditRow(r.Context(), c.me(r).actor(), job, no, in.Set)
	if err != nil {
		return result{}, err
	}
	msg := fmt.Sprintf("Row %d is %s.", no, row.Status)
	if row.Status == staging.StatusInvalid {
		msg = fmt.Sprintf("Row %d still has errors: %s.", no, row.Errors[0].Msg)
	}
	return result{Next: fmt.Sprintf("/jobs/%d/errors", job), Message: msg, Data: map[string]any{"row": row, "entry": e}}, nil
}

func (c *Console) doRejectRow(r *http.Request, in *imports.Action) (result, error) {
	job, no, err := jobRow(r)
	if err != nil {
		return result{}, err
	}
	if strings.TrimSpace(in.Reason) == "" {
		return result{}, badRequestf("say why the row is set aside")
	}
	row, e, err := c.stages.RejectRow(r.Context(), c.me(r).actor(), job, no, in.Reason)
	if err != nil {
		return result{}, err
	}
	return result{Next: fmt.Sprintf("/jobs/%d/errors", job), Message: fmt.Sprintf("Row %d set aside.", no),
		Data: map[string]any{"row": row, "entry": e}}, nil
}

// doBulk runs an action over a selection of rows: in the request when it is small, else
// as a background job whose progress the next page shows.
func (c *Console) doBulk(r *http.Request, in *imports.Action) (result, error) {
	job, err := pathInt(r, "job")
	if err != nil {
		return result{}, err
	}
	e, err := c.stages.Act(r.Context(), c.me(r).actor(), job, *in)
	if err != nil {
		return result{}, err
	}
	out := result{Next: fmt.Sprintf("/jobs/%d/errors", job), Data: e}
	verb := map[string]string{jobhistory.ActionEdit: "edited", jobhistory.ActionReject: "set aside"}[e.Action]
	if e.Done() {
		out.Message = fmt.Sprintf("%d rows %s.", e.Rows, verb)
	} else {
		out.Message = fmt.Sprintf("The rows are being %s in the background (audit entry %d): the page shows its progress.", verb, e.ID)
	}
	return out, nil
}
