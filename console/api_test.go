package console

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
)

// The JSON API does the review loop with an operator's token, acting as token:NAME; a
// viewer's token reads; a bad token or none is refused.
func TestAPITokensRunTheReviewLoop(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	job := b.partialJob(t, "customers_api.csv")
	base := fmt.Sprintf("/api/v1/jobs/%d", job)

	assert.Equal(t, http.StatusUnauthorized, b.apiCall(t, http.MethodGet, base, "", nil, nil))
	assert.Equal(t, http.StatusUnauthorized, b.apiCall(t, http.MethodGet, base, "not-a-token-not-a-token-not-a-token", nil, nil))
	var jv struct {
		Status string
		Open   int64
		Staged staging.Counts
	}
	require.Equal(t, http.StatusOK, b.apiCall(t, http.MethodGet, base, viewerToken, nil, &jv))
	assert.Equal(t, jobhistory.JobPartiallySucceeded, jv.Status)
	assert.EqualValues(t, 8, jv.Open, "2 invalid by our rules, 6 rejected by F&O")

	var review struct {
		Groups []struct {
			Field, Rule string
			Rows        int64
			Explanation struct{ Title, Text string }
		}
		Rows    []rowView
		Matches int64
		Next    string
	}
	require.Equal(t, http.StatusOK, b.apiCall(t, http.MethodGet, base+"/errors?rule=fo&limit=4", viewerToken, nil, &review))
	assert.EqualValues(t, 6, review.Matches)
	assert.Len(t, review.Rows, 4)
	assert.Contains(t, review.Next, "after=157")
	require.NotEmpty(t, review.Groups)
	for _, g := range review.Groups {
		assert.NotEmpty(t, g.Explanation.Title, "%s %s", g.Field, g.Rule)
	}
	var next struct {
		Rows       []rowView
		Next, Prev string
	}
	require.Equal(t, http.StatusOK, b.apiCall(t, http.MethodGet, base+"/errors?rule=fo&limit=4&after=157", viewerToken, nil, &next))
	require.Len(t, next.Rows, 2)
	assert.EqualValues(t, 207, next.Rows[0].No)
	assert.Empty(t, next.Next, "the last page")
	assert.Contains(t, next.Prev, "before=207")
	var prev struct{ Rows []rowView }
	require.Equal(t, http.StatusOK, b.apiCall(t, http.MethodGet, base+"/errors?rule=fo&limit=4&before=207", viewerToken, nil, &prev))
	var nos []int64
	for _, r := range prev.Rows {
		nos = append(nos, r.No)
	}
	assert.Equal(t, []int64{7, 57, 107, 157}, nos, "the previous page, in row order")
	assert.Equal(t, http.StatusBadRequest, b.apiCall(t, http.MethodGet, base+"/errors?status=nope", viewerToken, nil, nil))

	// A viewer's token cannot change anything.
	edit := map[string]any{"set": []staging.FieldValue{{Field: "CUSTOMERGROUPID", Value: "10"}}}
	assert.Equal(t, http.StatusForbidden, b.apiCall(t, http.MethodPost, base+"/rows/20", viewerToken, edit, nil))

	var res struct{ Message string }
	require.Equal(t, http.StatusOK, b.apiCall(t, http.MethodPost, base+"/rows/20", operatorToken, edit, &res))
	assert.Equal(t, "Row 20 is fixed.", res.Message)
	assert.Equal(t, http.StatusConflict, b.apiCall(t, http.MethodPost, base+"/rows/1", operatorToken, edit, nil), "row 1 is imported")
	assert.Equal(t, http.StatusBadRequest, b.apiCall(t, http.MethodPost, base+"/rows/20", operatorToken,
		map[string]any{"set": []staging.FieldValue{{Field: "NOPE", Value: "1"}}}, nil), "not a field")
	require.Equal(t, http.StatusOK, b.apiCall(t, http.MethodPost, base+"/rows/30/reject", operatorToken,
		map[string]any{"reason": "a repeat of row 29"}, nil))
	require.Equal(t, http.StatusOK, b.apiCall(t, http.MethodPost, base+"/actions", operatorToken, map[string]any{
		"kind": "edit", "filter": staging.Filter{Error: &staging.ErrorMatch{Rule: staging.RuleFO}},
		"set": []staging.FieldValue{{Field: "CUSTOMERGROUPID", Value: "30"}}}, &res))
	assert.Equal(t, "6 rows edited.", res.Message)
	require.Equal(t, http.StatusOK, b.apiCall(t, http.MethodPost, base+"/resubmit", operatorToken, nil, &res))
	s := b.waitJob(t, job)
	assert.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	assert.Len(t, b.em.Rows(testEntity, testLE), 299)

	entries, err := jobhistory.NewAudit(b.pool).JobEntries(t.Context(), job, 0, 10)
	require.NoError(t, err)
	// The edit of a field the job does not have is on the trail too, as failed.
	var states []string
	for _, e := range entries {
		assert.Equal(t, "token:robot", e.Actor, "%s", e.Action)
		states = append(states, e.Action+" "+e.State)
	}
	assert.Equal(t, []string{"resubmit done", "edit done", "reject done", "edit failed", "edit done"}, states)
}

// Every page renders for a viewer, with the job's data on it and no form that changes
// anything.
func TestPagesShowTheJob(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	job := b.partialJob(t, "customers_pages.csv")
	viewer := b.login(t, "vera")
	for path, wants := range map[string][]string{
		"/jobs": {fmt.Sprintf("/jobs/%d", job), "partially succeeded"},
		"/jobs?project=customers&status=partially_succeeded&trigger=run&from=2020-01-01": {fmt.Sprintf("#%d", job)},
		fmt.Sprintf("/jobs/%d", job):                                            {"customers_pages.csv", "Rejected by F&amp;O", "Chunks", "Timeline", "-1-1"},
		fmt.Sprintf("/jobs/%d/errors", job):                                     {"8</strong> of 300 rows wait", "CUSTOMERGROUPID", "rejected"},
		fmt.Sprintf("/jobs/%d/errors?field=CUSTOMERGROUPID&rule=required", job): {"1 row matches", "row-20"},
		fmt.Sprintf("/jobs/%d/errors?q=c000157", job):                           {"row-157"},
		fmt.Sprintf("/jobs/%d/rows/20", job):                                    {"Row 20", "CUSTOMERGROUPID", "No operator has changed this row"},
		// The next run in the schedule's own time zone, named (CET or CEST).
		"/projects": {"customers", "0 2 * * *", "Europe/Amsterdam", " 02:00:00 CE"},
	} {
		resp := b.get(t, viewer, path)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, resp.body)
		for _, w := range wants {
			assert.Contains(t, resp.body, w, "%s", path)
		}
		assert.NotContains(t, resp.body, `method="post" action="/jobs`, "a viewer gets no form that changes data: %s", path)
	}
	// The error report, to hand to the data's owners.
	resp := b.get(t, viewer, fmt.Sprintf("/jobs/%d/errors/report", job))
	require.Equal(t, http.StatusOK, resp.StatusCode, resp.body)
	assert.Contains(t, resp.Header.Get("Content-Disposition"), fmt.Sprintf("job-%d-errors.csv", job))
	assert.Equal(t, 9, strings.Count(resp.body, "\n"), "a header and one line per error:\n%s", resp.body)
	resp = b.get(t, viewer, fmt.Sprintf("/jobs/%d/errors/report?format=xlsx", job))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.body, "PK"), "a workbook")

	// A form that cannot be done goes back to its page with what was wrong.
	otto := b.login(t, "otto")
	resp = b.post(t, otto, fmt.Sprintf("/jobs/%d/actions", job), url.Values{"kind": {"reject"}, "scope": {"selected"}, "reason": {"x"},
		"back": {fmt.Sprintf("/jobs/%d/errors", job)}}, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, resp.body)
	assert.Contains(t, b.get(t, otto, resp.Header.Get("Location")).body, "Not done: no row is selected")

	resp = b.get(t, viewer, fmt.Sprintf("/jobs/%d/source", job))
	require.Equal(t, http.StatusOK, resp.StatusCode, resp.body)
	assert.True(t, strings.HasPrefix(resp.body, "Account;Name;Group\n"), "the source file, from its archive folder")
	assert.Equal(t, http.StatusNotFound, b.get(t, viewer, "/jobs/999999").StatusCode)
	assert.Equal(t, http.StatusNotFound, b.get(t, viewer, fmt.Sprintf("/jobs/%d/rows/999999", job)).StatusCode)
	resp = b.get(t, viewer, fmt.Sprintf("/jobs/%d/errors?where=%s", job, url.QueryEscape("NOPE=1")))
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, resp.body, "NOPE is not a field of this job")
}

// An operator pauses, resumes and runs a project now from the projects page; the page
// says who paused it.
func TestProjectsPauseResumeRunNow(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	otto := b.login(t, "otto")
	resp := b.post(t, otto, "/projects/customers/pause", nil, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, resp.body)
	assert.Equal(t, "/projects", resp.Header.Get("Location"))
	page := b.get(t, otto, "/projects")
	assert.Contains(t, page.body, "paused</span> by otto")
	assert.Contains(t, page.body, "Project customers paused", "the flash says what happened")
	paused, err := b.c.schedules().Paused(t.Context(), testProject)
	require.NoError(t, err)
	assert.True(t, paused)

	var projects struct {
		Projects []projectView `json:"projects"`
	}
	require.Equal(t, http.StatusOK, b.apiCall(t, http.MethodPost, "/api/v1/projects/customers/resume", operatorToken, nil, nil))
	require.Equal(t, http.StatusOK, b.apiCall(t, http.MethodGet, "/api/v1/projects", viewerToken, nil, &projects))
	require.Len(t, projects.Projects, 1)
	assert.False(t, projects.Projects[0].Paused)
	assert.False(t, projects.Projects[0].Next.IsZero(), "the next run of its schedule")

	var res struct {
		Data struct {
			RiverJob int64 `json:"river_job"`
		}
	}
	require.Equal(t, http.StatusOK, b.apiCall(t, http.MethodPost, "/api/v1/projects/customers/run-now", operatorToken, nil, &res))
	assert.NotZero(t, res.Data.RiverJob)
	assert.Equal(t, http.StatusNotFound, b.apiCall(t, http.MethodPost, "/api/v1/projects/nope/pause", operatorToken, nil, nil))
	entries, err := jobhistory.NewStore(b.pool).ProjectEntries(t.Context(), testProject, 10)
	require.NoError(t, err)
	var trail []string
	for _, e := range entries {
		trail = append(trail, e.Actor+" "+e.Action)
	}
	assert.Equal(t, []string{"token:robot run_now", "token:robot resume", "otto pause"}, trail, "the project's audit trail")
	assert.Contains(t, b.get(t, otto, "/projects").body, "run now by token:robot")
	assert.Equal(t, http.StatusNotFound, b.apiCall(t, http.MethodPost, "/api/v1/projects/nope/run-now", operatorToken, nil, nil))
}

// A bulk action over more rows than run in the request is a background job: the page
// the operator lands on shows its progress, and it ends with every row fixed.
func TestLargeBulkActionRunsInTheBackground(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{chunkRows: 5000})
	job := b.importFile(t, "customers_big.csv", testsvc.CustomersCSV(4000, func(i int, _, group *string) {
		if i%2 == 0 {
			*group = "" // 2000 rows invalid by our rules
		}
	}))
	otto := b.login(t, "otto")
	q := url.Values{"field": {"CUSTOMERGROUPID"}, "rule": {"required"}}
	resp := b.post(t, otto, fmt.Sprintf("/jobs/%d/actions", job), url.Values{"kind": {"edit"}, "scope": {"filter"},
		"query": {q.Encode()}, "field": {"CUSTOMERGROUPID"}, "value": {"20"}, "back": {fmt.Sprintf("/jobs/%d/errors?%s", job, q.Encode())}}, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, resp.body)
	page := b.get(t, otto, resp.Header.Get("Location"))
	require.Equal(t, http.StatusOK, page.StatusCode)
	assert.Contains(t, page.body, "in the background", "the flash")

	entries, err := jobhistory.NewAudit(b.pool).JobEntries(t.Context(), job, 0, 1)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	e := entries[0]
	assert.Equal(t, "otto", e.Actor)
	action := fmt.Sprintf("/api/v1/jobs/%d/actions/%d", job, e.ID)
	var p struct {
		State   string
		Rows    int64
		Matched int64
		Percent int
	}
	require.Eventually(t, func() bool {
		require.Equal(t, http.StatusOK, b.apiCall(t, http.MethodGet, action, viewerToken, nil, &p))
		return p.State == jobhistory.EntryDone
	}, 60*time.Second, 100*time.Millisecond)
	assert.EqualValues(t, 2000, p.Rows)
	assert.EqualValues(t, 2000, p.Matched)
	assert.Equal(t, 100, p.Percent)
	html := b.get(t, otto, fmt.Sprintf("/jobs/%d/actions/%d", job, e.ID))
	assert.Contains(t, html.body, "2000 of 2000 rows (100%)")
	c, err := staging.NewStore(b.pool).Counts(t.Context(), job)
	require.NoError(t, err)
	assert.EqualValues(t, 2000, c.Fixed)
}
