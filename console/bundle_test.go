package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/app"
	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/emulator"
	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/internal/argon2id"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/worker"
)

const (
	testProject = "customers"
	testEntity  = "Customers V3"
	testLE      = "USMF"
	// Every test user's password; the tokens' secrets are below.
	testPassword  = "correct horse battery staple"
	viewerToken   = "viewer-token-0123456789abcdef0123456789"
	operatorToken = "operator-token-0123456789abcdef012345678"
)

// cheap are Argon2id costs that keep the tests fast; production hashes use the default.
var cheap = argon2id.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const configTemplate = `
database: { url: "postgres://unused" }
console:
  base_url: %[5]s
  users:
    - { name: vera, role: viewer, password_hash: "%[3]s" }
    - { name: otto, role: operator, password_hash: "%[3]s" }
    - { name: ada, role: admin, password_hash: "%[3]s" }
  api_tokens:
    - { name: dashboard, role: viewer, token: %[6]s }
    - { name: robot, role: operator, token: %[7]s }
environments:
%[1]s
connections:
  drop: { type: local, root: %[2]s }
projects:
  - name: customers
    kind: import
    environment: emu
    schedule: "0 2 * * *"
    timezone: Europe/Amsterdam
    source: { connection: drop, path: in, pattern: "*.csv", min_age: 100ms, archive: archive, errors: failed }
    format: { type: csv, delimiter: ";" }
    target: { entity: Customers V3, legal_entity: USMF, definition_group: CUST, chunk_rows: %[4]d, lanes: 2 }
    mapping:
      CUSTOMERACCOUNT:   { from: Account, transforms: [trim, upper] }
      ORGANIZATIONNAME:  { from: Name }
      CUSTOMERGROUPID:   { from: Group }
      SALESCURRENCYCODE: { const: EUR }
      PARTYTYPE:         { const: Organization }
    validate:
      - { field: CUSTOMERACCOUNT, required: true, max_length: 20, unique: true }
      - { field: CUSTOMERGROUPID, required: true }
    on_errors: { max_error_rate: 0.5 }
`

// testBundle is a console over its own database, worker, emulator and source folder,
// served on a loopback port.
type testBundle struct {
	c    *Console
	srv  *httptest.Server
	w    *worker.Worker
	em   *emulator.Emulator
	pool *pgxpool.Pool
	root string
}

type testOpts struct {
	chunkRows int
	// proxyHeader sets console.trusted_proxy_header.
	proxyHeader string
}

func setup(t testing.TB, o testOpts) *testBundle {
	t.Helper()
	ctx := t.Context()
	pool, _ := testsvc.MigratedDatabase(t)
	em := emulator.New(emulator.Config{RandSeed: 7})
	foSrv := httptest.NewServer(em)
	t.Cleanup(foSrv.Close)
	t.Cleanup(em.Close)

	// The console's own address is known before its config: it is its base URL.
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "in"), 0o755))
	hash, err := argon2id.Hash(testPassword, cheap)
	require.NoError(t, err)
	chunk := o.chunkRows
	if chunk == 0 {
		chunk = 100
	}
	yaml := fmt.Sprintf(configTemplate, testsvc.EmulatorEnvironment("emu", foSrv.URL, "{ initial: 50ms, max: 200ms, deadline: 2m }"),
		root, hash, chunk, base, viewerToken, operatorToken)
	if o.proxyHeader != "" {
		yaml = strings.Replace(yaml, "console:\n", "console:\n  trusted_proxy_header: "+o.proxyHeader+"\n", 1)
	}
	cfgPath := filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(yaml), 0o600))
	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)

	log := testsvc.Log(t)
	a := app.New(cfg, app.Options{Logger: log, DMFOptions: testsvc.QuickDMF(nil)})
	w, err := worker.New(worker.Deps{Pool: pool, Parts: a, Logger: log, Tune: testsvc.QuickRiver})
	require.NoError(t, err)
	testsvc.Serve(t, w)
	c, err := New(Options{App: a, Pool: pool, Worker: w, Logger: log})
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx))
	t.Cleanup(c.Stop)
	srv.Config.Handler = c
	srv.Start()
	t.Cleanup(srv.Close)
	return &testBundle{c: c, srv: srv, w: w, em: em, pool: pool, root: root}
}

// importFile drops a file and imports it; it returns the job id once the job ended.
func (b *testBundle) importFile(t testing.TB, name, content string) int64 {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(b.root, "in", name), []byte(content), 0o644))
	ids, err := b.w.StartJob(t.Context(), testProject, []string{name}, imports.TriggerRun, false)
	require.NoError(t, err)
	require.Len(t, ids, 1)
	b.waitJob(t, ids[0])
	return ids[0]
}

func (b *testBundle) waitJob(t testing.TB, id int64) imports.JobSummary {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	s, err := b.w.WaitJob(ctx, id)
	require.NoError(t, err)
	return s
}

// client is an HTTP client that keeps cookies and does not follow redirects.
func (b *testBundle) client(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// login signs name in and returns their client.
func (b *testBundle) login(t testing.TB, name string) *http.Client {
	t.Helper()
	cl := b.client(t)
	resp := b.post(t, cl, "/login", url.Values{"name": {name}, "password": {testPassword}}, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "login of %s: %s", name, resp.body)
	return cl
}

type response struct {
	*http.Response
	body string
}

// do sends a request from the console's own origin (as a browser does, with
// Sec-Fetch-Site) unless header says otherwise.
func (b *testBundle) do(t testing.TB, cl *http.Client, method, path string, body io.Reader, header http.Header) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, b.srv.URL+path, body)
	require.NoError(t, err)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := cl.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{Response: resp, body: string(data)}
}

func (b *testBundle) post(t testing.TB, cl *http.Client, path string, form url.Values, header http.Header) response {
	t.Helper()
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	for k, vs := range header {
		h[k] = vs
	}
	return b.do(t, cl, http.MethodPost, path, strings.NewReader(form.Encode()), h)
}

func (b *testBundle) get(t testing.TB, cl *http.Client, path string) response {
	t.Helper()
	return b.do(t, cl, http.MethodGet, path, nil, nil)
}

// apiCall calls the JSON API with a bearer token ("" for none) and decodes the answer
// into v (when not nil).
func (b *testBundle) apiCall(t testing.TB, method, path, token string, body any, v any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		require.NoError(t, err)
		rd = strings.NewReader(string(data))
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	// Automation sends no Sec-Fetch-Site or Origin: it is not a browser.
	req, err := http.NewRequestWithContext(t.Context(), method, b.srv.URL+path, rd)
	require.NoError(t, err)
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if v != nil && resp.StatusCode < 300 {
		require.NoError(t, json.Unmarshal(data, v), "%s", data)
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	return resp.StatusCode
}

// partialJob imports 300 customers of which F&O rejects 6 (group 99), our rules 2 (an
// empty group, a repeated account): the job ends partially succeeded.
func (b *testBundle) partialJob(t testing.TB, name string) int64 {
	t.Helper()
	return b.importFile(t, name, testsvc.CustomersCSV(300, func(i int, account, group *string) {
		switch {
		case i%50 == 7:
			*group = "99" // F&O has no such customer group
		case i == 20:
			*group = "" // our rules want one
		case i == 30:
			*account = "c000029" // a repeat of row 29
		}
	}))
}
