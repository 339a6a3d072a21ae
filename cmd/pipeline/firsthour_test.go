package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

// editConfig rewrites the config at path with edit.
func editConfig(t *testing.T, path string, edit func(string) string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(edit(string(raw))), 0o600))
}

// A wrong client secret fails the run before a row is staged, and says why in run's
// summary, `jobs show` and `jobs list`.
func TestRunWithAWrongSecretFailsBeforeStaging(t *testing.T) {
	t.Parallel()
	dbURL := testsvc.Database(t)
	em, cfg, dir := emulatorImportConfig(t, "", "legal_entity: USMF, definition_group: CUST", "")
	editConfig(t, cfg, func(s string) string {
		return strings.Replace(s, "client_secret: "+emulator.DefaultClientSecret, "client_secret: not-the-secret", 1)
	})
	file := filepath.Join(dir, "customers.csv")
	var b strings.Builder
	b.WriteString("Account No;Name;Group\n")
	for i := range 2000 {
		fmt.Fprintf(&b, "c-%05d;Firma %d;10\n", i, i)
	}
	require.NoError(t, os.WriteFile(file, []byte(b.String()), 0o600))

	out, code := runCLI(t, "run", "-c", cfg, "--database-url", dbURL, "customers", "--file", file)
	require.Equal(t, exitFailed, code, out)
	assert.Regexp(t, `job \d+: failed in .*: 0 read, 0 staged`, out, "nothing was read")
	assert.Regexp(t, `(?m)^  why: environment emu: Entra ID rejected the client credentials \(AADSTS7000215: `, out)
	assert.NotContains(t, out, "wait in staging", "no rows wait")
	assert.Zero(t, em.Stats().ImportCalls)

	id := regexp.MustCompile(`job (\d+): failed`).FindStringSubmatch(out)[1]
	out, code = runCLI(t, "jobs", "show", id, "--database-url", dbURL)
	require.Equal(t, exitOK, code, out)
	assert.Regexp(t, `(?m)^error:\s+environment emu: Entra ID rejected the client credentials`, out)
	out, code = runCLI(t, "jobs", "list", "--database-url", dbURL)
	require.Equal(t, exitOK, code, out)
	assert.Regexp(t, `(?m)^`+id+`\s+customers\s.*\sfailed\s.*Entra ID rejected`, out)
}

// A foreground run against an F&O URL nobody answers fails at once with the cause; one
// whose F&O goes away in the middle shows each retry with its cause and fails once the
// refused connections have lasted --give-up-after.
func TestRunAgainstARefusedConnectionFailsInBoundedTime(t *testing.T) {
	t.Parallel()
	dbURL := testsvc.Database(t)
	var srv *httptest.Server
	var gone atomic.Bool
	// F&O goes away right after the run's check of the environment: connections still
	// open are dropped, new ones refused.
	_, srv, envCfg := startEmulatorServer(t, func(em http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if gone.Load() {
				if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
					conn.Close()
				}
				return
			}
			em.ServeHTTP(w, r)
			if strings.HasSuffix(r.URL.Path, "/data/DataManagementDefinitionGroups") {
				gone.Store(true)
				srv.Listener.Close()
			}
		})
	})
	cfg, dir := importConfigOn(t, envCfg, "", "legal_entity: USMF, definition_group: CUST", "")
	file := filepath.Join(dir, "customers.csv")
	require.NoError(t, os.WriteFile(file, []byte("Account No;Name;Group\nc-1;A;10\n"), 0o600))

	out, code := runCLI(t, "run", "-c", cfg, "--database-url", dbURL, "customers", "--file", file, "--give-up-after", "10s")
	require.Equal(t, exitFailed, code, out)
	assert.Regexp(t, `(?m)^  \S+: connection refused at 127\.0\.0\.1:\d+, retry \d+ in `, out, "each retry is shown with its cause")
	assert.Regexp(t, `(?m)^  why: .*connection refused`, out)

	// The same URL from the start: the check fails the run at once.
	out, code = runCLI(t, "run", "-c", cfg, "--database-url", dbURL, "customers", "--file", file, "--force")
	require.Equal(t, exitFailed, code, out)
	assert.Regexp(t, `(?m)^  why: environment emu: .*connection refused at `+regexp.QuoteMeta(srv.Listener.Addr().String()), out)
	took := regexp.MustCompile(`job \d+: failed in (\S+):`).FindStringSubmatch(out)
	require.NotNil(t, took, out)
	d, err := time.ParseDuration(took[1])
	require.NoError(t, err)
	assert.Less(t, d, 10*time.Second, "at once, not after the default --give-up-after of 30s")
}

// Under run, a notification the webhook refuses is reported, not lost: the next run
// sends it.
func TestRunReportsAndLaterSendsAPendingNotification(t *testing.T) {
	t.Parallel()
	dbURL := testsvc.Database(t)
	var refuse atomic.Bool
	refuse.Store(true)
	var mu sync.Mutex
	var delivered []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if refuse.Load() {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		delivered = append(delivered, string(body))
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	_, cfg, dir := emulatorImportConfig(t, "", "legal_entity: USMF, definition_group: CUST",
		"    notify: { webhook: "+hook.URL+"/hook, on: [failure, partial, success] }\n")
	file := filepath.Join(dir, "customers.csv")
	require.NoError(t, os.WriteFile(file, []byte("Account No;Name;Group\nc-1;A;10\n"), 0o600))

	out, code := runCLI(t, "run", "-c", cfg, "--database-url", dbURL, "customers", "--file", file)
	require.Equal(t, exitOK, code, out)
	m := regexp.MustCompile(`(?m)^the notification of job (\d+) was not sent \((.*)\); the next .pipeline run. of the project or .pipeline serve. sends it$`).
		FindStringSubmatch(out)
	require.NotNil(t, m, out)
	assert.Contains(t, m[2], "503")

	refuse.Store(false)
	out, code = runCLI(t, "run", "-c", cfg, "--database-url", dbURL, "customers", "--file", file)
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "nothing new to import")
	assert.NotContains(t, out, "was not sent")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, delivered, 1, "sent once, by the next run")
	assert.Contains(t, delivered[0], `"job_id":`+m[1])
}

// With --log-format json, what run tells its user on standard error (here a notification
// it could not send) is JSON too, one object a line.
func TestRunNoticesAreJSONWithJSONLogs(t *testing.T) {
	t.Parallel()
	dbURL := testsvc.Database(t)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	t.Cleanup(hook.Close)
	_, cfg, dir := emulatorImportConfig(t, "", "legal_entity: USMF, definition_group: CUST",
		"    notify: { webhook: "+hook.URL+"/hook, on: [success] }\n")
	file := filepath.Join(dir, "customers.csv")
	require.NoError(t, os.WriteFile(file, []byte("Account No;Name;Group\nc-1;A;10\n"), 0o600))

	var stdout, stderr bytes.Buffer
	root := newRootCmd()
	root.SetArgs([]string{"run", "-c", cfg, "--database-url", dbURL, "customers", "--file", file, "--json", "--log-format", "json"})
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	require.NoError(t, root.ExecuteContext(t.Context()), stderr.String())
	assert.True(t, json.Valid(stdout.Bytes()), stdout.String())
	var notice bool
	for line := range strings.Lines(stderr.String()) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "not JSON: %q", line)
		notice = notice || strings.Contains(fmt.Sprint(rec["msg"]), "the notification of job 1 was not sent")
	}
	assert.True(t, notice, stderr.String())
}
