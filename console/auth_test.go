package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/staging"
)

// mutatingRoutes are every route that changes something, with the least role that may
// call it. The test below fails when the console registers one that is not here: a new
// mutating route must be added, and so be checked.
var mutatingRoutes = map[string]string{
	"POST /login":                               "",
	"POST /logout":                              config.RoleViewer,
	"POST /jobs/{job}/retry":                    config.RoleOperator,
	"POST /jobs/{job}/cancel":                   config.RoleOperator,
	"POST /jobs/{job}/resubmit":                 config.RoleOperator,
	"POST /jobs/{job}/rows/{row}":               config.RoleOperator,
	"POST /jobs/{job}/rows/{row}/reject":        config.RoleOperator,
	"POST /jobs/{job}/actions":                  config.RoleOperator,
	"POST /projects/{project}/pause":            config.RoleOperator,
	"POST /projects/{project}/resume":           config.RoleOperator,
	"POST /projects/{project}/run-now":          config.RoleOperator,
	"POST /api/v1/jobs/{job}/retry":             config.RoleOperator,
	"POST /api/v1/jobs/{job}/cancel":            config.RoleOperator,
	"POST /api/v1/jobs/{job}/resubmit":          config.RoleOperator,
	"POST /api/v1/jobs/{job}/rows/{row}":        config.RoleOperator,
	"POST /api/v1/jobs/{job}/rows/{row}/reject": config.RoleOperator,
	"POST /api/v1/jobs/{job}/actions":           config.RoleOperator,
	"POST /api/v1/projects/{project}/pause":     config.RoleOperator,
	"POST /api/v1/projects/{project}/resume":    config.RoleOperator,
	"POST /api/v1/projects/{project}/run-now":   config.RoleOperator,
}

// A viewer changes nothing: every mutating route refuses a viewer, a request without a
// session and a cross-origin POST, and the data stays as it was.
func TestEveryMutatingRouteRefusesViewersAnonymousAndCrossOrigin(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	job := b.partialJob(t, "customers_auth.csv")
	before := b.snapshot(t, job)

	var registered []string
	for _, r := range b.c.Routes() {
		key := r.Method + " " + r.Pattern
		if !r.Mutating() {
			continue
		}
		registered = append(registered, key)
		want, ok := mutatingRoutes[key]
		if !assert.True(t, ok, "mutating route %s is not in mutatingRoutes: add it, with the role it needs", key) {
			continue
		}
		assert.Equal(t, want, r.Role, "%s", key)
	}
	for key := range mutatingRoutes {
		assert.Contains(t, registered, key, "mutatingRoutes lists %s, which the console no longer registers", key)
	}

	viewer, operator := b.login(t, "vera"), b.login(t, "otto")
	fill := strings.NewReplacer("{job}", fmt.Sprint(job), "{row}", "20", "{project}", testProject)
	// A body every route would take from an operator: the refusals must come first.
	form := url.Values{"v.CUSTOMERGROUPID": {"10"}, "reason": {"no"}, "kind": {"reject"}, "scope": {"filter"}, "password": {testPassword}, "name": {"otto"}}
	for _, key := range registered {
		method, pattern, _ := strings.Cut(key, " ")
		path := fill.Replace(pattern)
		t.Run(strings.ReplaceAll(pattern, "/", "_"), func(t *testing.T) {
			role := mutatingRoutes[key]
			cross := b.post(t, operator, path, form, http.Header{"Sec-Fetch-Site": {"cross-site"}})
			assert.Equal(t, http.StatusForbidden, cross.StatusCode, "cross-origin %s %s", method, path)
			cross = b.post(t, b.client(t), path, form, http.Header{"Sec-Fetch-Site": nil, "Origin": {"https://evil.example"}})
			assert.Equal(t, http.StatusForbidden, cross.StatusCode, "cross-origin (Origin only) %s %s", method, path)
			if role == "" {
				return
			}
			anon := b.post(t, b.client(t), path, form, nil)
			assert.Equal(t, http.StatusUnauthorized, anon.StatusCode, "no session: %s %s", method, path)
			if role == config.RoleOperator {
				v := b.post(t, viewer, path, form, nil)
				assert.Equal(t, http.StatusForbidden, v.StatusCode, "viewer: %s %s", method, path)
				var token int
				if strings.HasPrefix(path, "/api/") {
					token = b.apiCall(t, method, path, viewerToken, map[string]any{"reason": "no"}, nil)
					assert.Equal(t, http.StatusForbidden, token, "viewer token: %s %s", method, path)
				}
			}
		})
	}
	assert.Equal(t, before, b.snapshot(t, job), "nothing changed")

	// River's UI: read-only for all but admins.
	for _, name := range []string{"vera", "otto"} {
		resp := b.post(t, b.login(t, name), "/riverui/api/jobs/cancel", nil, http.Header{"Content-Type": {"application/json"}})
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "%s cancels through River's UI", name)
	}
	resp := b.post(t, b.client(t), "/riverui/api/jobs/cancel", nil, nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp = b.get(t, viewer, "/riverui/api/jobs?state=completed")
	assert.Equal(t, http.StatusOK, resp.StatusCode, resp.body)
	admin := b.login(t, "ada")
	// Job arguments are hidden from all but admins.
	var list struct {
		Data []struct {
			Args string `json:"args"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(resp.body), &list), resp.body)
	require.NotEmpty(t, list.Data, "the import's River jobs")
	for _, j := range list.Data {
		assert.Equal(t, "{}", j.Args)
	}
	resp = b.get(t, admin, "/riverui/api/jobs?state=completed")
	require.NoError(t, json.Unmarshal([]byte(resp.body), &list), resp.body)
	require.NotEmpty(t, list.Data)
	assert.NotEqual(t, "{}", list.Data[0].Args, "an admin sees them")
	resp = b.do(t, admin, http.MethodPost, "/riverui/api/jobs/cancel", strings.NewReader(`{"ids":["999999"]}`), http.Header{"Content-Type": {"application/json"}})
	assert.NotEqual(t, http.StatusForbidden, resp.StatusCode, "an admin acts in River's UI: %s", resp.body)
}

// snapshot is what a mutation would change: the job, its rows' counts, its audit trail,
// the projects' pause states.
type snapshot struct {
	status  string
	attempt int
	counts  staging.Counts
	entries int
	paused  []jobhistory.PauseRecord
}

func (b *testBundle) snapshot(t *testing.T, job int64) snapshot {
	t.Helper()
	ctx := t.Context()
	j, err := jobhistory.NewStore(b.pool).Job(ctx, job)
	require.NoError(t, err)
	c, err := staging.NewStore(b.pool).Counts(ctx, job)
	require.NoError(t, err)
	entries, err := jobhistory.NewAudit(b.pool).JobEntries(ctx, job, 0, 100)
	require.NoError(t, err)
	paused, err := jobhistory.NewStore(b.pool).PauseRecords(ctx)
	require.NoError(t, err)
	return snapshot{status: j.Status, attempt: j.Attempt, counts: c, entries: len(entries), paused: paused}
}

func TestPagesNeedASession(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	anon := b.client(t)
	resp := b.get(t, anon, "/jobs?status=failed")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, "/login?next="+url.QueryEscape("/jobs?status=failed"), resp.Header.Get("Location"))
	assert.Equal(t, http.StatusUnauthorized, b.get(t, anon, "/api/v1/jobs").StatusCode)
	assert.Equal(t, http.StatusOK, b.get(t, anon, "/login").StatusCode)
	assert.Equal(t, http.StatusOK, b.get(t, anon, "/static/htmx.min.js").StatusCode, "assets need no session")

	// A wrong password is refused and says so; the right one opens a session that
	// lands where the user was going (never on another site).
	resp = b.post(t, anon, "/login", url.Values{"name": {"otto"}, "password": {"wrong"}}, nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, resp.body, "Wrong name or password")
	resp = b.post(t, anon, "/login", url.Values{"name": {"Otto"}, "password": {testPassword}, "next": {"//evil.example/x"}}, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, "/jobs", resp.Header.Get("Location"))
	cookie := resp.Header.Get("Set-Cookie")
	assert.Contains(t, cookie, "HttpOnly")
	assert.Contains(t, cookie, "SameSite=Lax")
	assert.NotContains(t, cookie, "Secure", "the test console's base URL is http://")
	var me identity
	resp = b.get(t, anon, "/api/v1/me")
	require.Equal(t, http.StatusOK, resp.StatusCode, resp.body)
	require.NoError(t, json.Unmarshal([]byte(resp.body), &me))
	assert.Equal(t, identity{Name: "otto", Role: "operator", Via: "session"}, me)

	// The session lives in Postgres: another console on the same database knows it.
	other, err := New(Options{App: b.c.opts.App, Pool: b.pool, Worker: b.w})
	require.NoError(t, err)
	require.NoError(t, other.Start(t.Context()))
	t.Cleanup(other.Stop)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "/api/v1/me", nil)
	require.NoError(t, err)
	u, _ := url.Parse(b.srv.URL)
	for _, c := range anon.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	other.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())

	resp = b.post(t, anon, "/logout", nil, nil)
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, http.StatusUnauthorized, b.get(t, anon, "/api/v1/me").StatusCode, "signed out")
}

func TestLoginIsRateLimited(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	cl := b.client(t)
	var codes []int
	for range 12 {
		codes = append(codes, b.post(t, cl, "/login", url.Values{"name": {"otto"}, "password": {"guess"}}, nil).StatusCode)
	}
	assert.Equal(t, http.StatusUnauthorized, codes[0])
	assert.Equal(t, http.StatusTooManyRequests, codes[len(codes)-1], "%v", codes)
	assert.True(t, slices.Contains(codes, http.StatusTooManyRequests))
}

func TestTrustedProxyHeader(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{proxyHeader: "X-Forwarded-User"})
	cl := b.client(t)
	resp := b.do(t, cl, http.MethodGet, "/api/v1/me", nil, http.Header{"X-Forwarded-User": {"ada"}})
	require.Equal(t, http.StatusOK, resp.StatusCode, resp.body)
	assert.Contains(t, resp.body, `"via": "proxy"`)
	assert.Equal(t, http.StatusUnauthorized, b.do(t, cl, http.MethodGet, "/api/v1/me", nil, http.Header{"X-Forwarded-User": {"mallory"}}).StatusCode,
		"a name that is not a user")
	assert.Equal(t, http.StatusUnauthorized, b.get(t, cl, "/api/v1/me").StatusCode, "no header")
	assert.Equal(t, http.StatusNotFound, b.post(t, cl, "/login", url.Values{"name": {"ada"}, "password": {testPassword}}, nil).StatusCode,
		"no password login behind the proxy")
}
