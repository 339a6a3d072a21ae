package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/scheduler"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestServeHealthReadyMetricsAndGracefulStop(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "in"), 0o755))
	cfg := filepath.Join(dir, "pipeline.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`database:
  url: %s
console: { addr: "%s" }
environments:
  emu: { url: http://127.0.0.1:1, tenant: t, client_id: c, client_secret: s }
connections:
  drop: { type: local, root: %s }
projects:
  - name: customers
    kind: import
    environment: emu
    schedule: "0 2 * * *"
    timezone: Europe/Amsterdam
    source: { connection: drop, path: in, pattern: "*.csv" }
    format: { type: csv }
    target: { entity: Customers V3, legal_entity: USMF, definition_group: CUST }
    mapping:
      CUSTOMERACCOUNT:   { from: Account }
      CUSTOMERGROUPID:   { from: Group }
      SALESCURRENCYCODE: { const: EUR }
`, testsvc.Database(t), addr, dir)), 0o600))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	root := newRootCmd()
	root.SetArgs([]string{"serve", "-c", cfg})
	root.SetOut(&out)
	root.SetErr(&out)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	base := "http://" + addr
	require.Eventually(t, func() bool {
		code, _ := get(t, base+"/readyz")
		return code == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, out.String())
	code, body := get(t, base+"/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)
	assert.Contains(t, out.String(), "serving 1 projects")
	// The console answers beside them: its sign-in page, and its API refuses a request
	// without a session.
	code, body = get(t, base+"/login")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "Sign in")
	code, _ = get(t, base+"/api/v1/jobs")
	assert.Equal(t, http.StatusUnauthorized, code)

	// The discover of a run-now is a River job: it shows in the stage counters.
	_, err := runNowForTest(ctx, cfg)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, body := get(t, base+"/metrics")
		return bytes.Contains([]byte(body), []byte(`dmfpipe_stage_jobs_total{kind="dmfpipe.discover",outcome="completed"}`))
	}, 30*time.Second, 100*time.Millisecond)
	_, body = get(t, base+"/metrics")
	assert.Contains(t, body, "go_goroutines")

	stopServe(t, cancel, done)
	code, _ = get(t, base+"/healthz")
	assert.Zero(t, code, "the listener is closed")
}

// runNowForTest inserts a run-now discover through an insert-only River client, as the
// console would.
func runNowForTest(ctx context.Context, cfgPath string) (int64, error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return 0, err
	}
	pool, err := pgxpool.New(ctx, cfg.Database.URL.Value())
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		return 0, err
	}
	return scheduler.RunNow(ctx, client, cfg.Projects[0].Name)
}

// After an import under serve, /metrics has what a dashboard and an alert read, and with
// --log-format json every line serve logs is one JSON object, the job's outcome among
// them.
func TestServeMetricsAndJSONLogsAfterAnImport(t *testing.T) {
	t.Parallel()
	em, cfg, dir := emulatorImportConfig(t, ", min_age: 10ms", "legal_entity: USMF, definition_group: CUST", "")
	addr := freeAddr(t)
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = fmt.Fprintf(f, "database: { url: %q }\nconsole: { addr: %q }\n", testsvc.Database(t), addr)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "in"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "in", "customers.csv"),
		[]byte("Account No;Name;Group\nc-1;A;10\nc-2;B;20\nc-3;C;30\n"), 0o600))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	root := newRootCmd()
	root.SetArgs([]string{"serve", "-c", cfg, "--log-format", "json"})
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	base := "http://" + addr
	require.Eventually(t, func() bool { code, _ := get(t, base+"/readyz"); return code == http.StatusOK },
		30*time.Second, 50*time.Millisecond, stderr.String())
	_, err = runNowForTest(ctx, cfg)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(em.Rows("Customers V3", "USMF")) == 3 }, 30*time.Second, 50*time.Millisecond)
	var body string
	require.Eventually(t, func() bool {
		_, body = get(t, base+"/metrics")
		// River reports a step's run a moment after the step's work.
		return strings.Contains(body, `dmfpipe_jobs_ended_total{project="customers",status="succeeded"} 1`) &&
			strings.Contains(body, `dmfpipe_stage_jobs_total{kind="dmfpipe.finalize",outcome="completed"} 1`)
	}, 30*time.Second, 100*time.Millisecond)
	for _, want := range []string{
		`dmfpipe_rows_total{project="customers",state="imported"} 3`,
		`dmfpipe_rows_total{project="customers",state="read"} 3`,
		`dmfpipe_job_duration_seconds_count{project="customers"} 1`,
		`dmfpipe_step_duration_seconds_count{outcome="completed",stage="upload"}`,
		`dmfpipe_dmf_requests_total{action="ImportFromPackage",class="2xx",environment="emu"} 1`,
		`dmfpipe_dmf_requests_total{action="token",class="2xx",environment="emu"}`,
		`dmfpipe_project_last_success_timestamp_seconds{project="customers"}`,
		`dmfpipe_jobs{status="succeeded"} 1`,
		`dmfpipe_stage_jobs_total{kind="dmfpipe.poll",outcome="completed"}`,
	} {
		assert.Contains(t, body, want)
	}

	stopServe(t, cancel, done)
	var ended bool
	for line := range strings.Lines(stderr.String()) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "a log line that is not JSON: %q", line)
		if rec["msg"] == "job ended" {
			ended = true
			assert.Equal(t, "succeeded", rec["status"])
			assert.EqualValues(t, 3, rec["imported"])
		}
		assert.NotContains(t, rec["msg"], "Producer job counts")
	}
	assert.True(t, ended, "serve logs each job's outcome")
}

// stopServe cancels a serve started in the test and waits for it to return cleanly.
func stopServe(t *testing.T, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(40 * time.Second):
		t.Fatal("serve did not stop")
	}
}
