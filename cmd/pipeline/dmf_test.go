package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
)

// startEmulator serves a DMF emulator on loopback and writes a config whose only
// environment points at it.
func startEmulator(t *testing.T) (*emulator.Emulator, string) {
	t.Helper()
	em, _, cfg := startEmulatorServer(t, nil)
	return em, cfg
}

// startEmulatorServer is startEmulator whose server, also returned, serves wrap(emulator)
// (the emulator itself when wrap is nil).
func startEmulatorServer(t *testing.T, wrap func(http.Handler) http.Handler) (*emulator.Emulator, *httptest.Server, string) {
	t.Helper()
	em := emulator.New(emulator.Config{})
	t.Cleanup(em.Close)
	var h http.Handler = em
	if wrap != nil {
		h = wrap(em)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, `environments:
  emu:
    url: %s
    tenant: %s
    client_id: %s
    client_secret: %s
    token_url: %s/%s/oauth2/v2.0/token
    max_requests_per_minute: 60000
    poll: { initial: 10ms, max: 100ms, deadline: 5m }
`, srv.URL, emulator.DefaultTenant, emulator.DefaultClientID, emulator.DefaultClientSecret,
		srv.URL, emulator.DefaultTenant), 0o600))
	return em, srv, cfg
}

// writeCustomersCSV writes a UTF-8 CSV of n Customers V3 rows; rows in bad get a
// customer group that does not exist.
func writeCustomersCSV(t *testing.T, n int, bad map[int]bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "customers.csv")
	f, err := os.Create(path)
	require.NoError(t, err)
	w := bufio.NewWriter(f)
	w.WriteString("CUSTOMERACCOUNT,ORGANIZATIONNAME,CUSTOMERGROUPID,SALESCURRENCYCODE,PARTYTYPE\n")
	for i := range n {
		group := "10"
		if bad[i] {
			group = "99"
		}
		fmt.Fprintf(w, "C%07d,\"Fabrikam %d, Inc.\",%s,EUR,Organization\n", i, i, group)
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())
	return path
}

type importSummary struct {
	ExecutionID string `json:"execution_id"`
	Status      string `json:"status"`
	Rows        int64  `json:"rows"`
	ErrorCount  int    `json:"error_count"`
	Errors      []struct {
		RecordID string `json:"record_id"`
		Field    string `json:"field"`
		Message  string `json:"message"`
	} `json:"errors"`
}

func decodeJSON(t *testing.T, out string, v any) {
	t.Helper()
	require.NoError(t, json.NewDecoder(strings.NewReader(out)).Decode(v), out)
}

func TestDMFImport100kRows(t *testing.T) {
	t.Parallel()
	em, cfg := startEmulator(t)
	csv := writeCustomersCSV(t, 100_000, nil)
	out, code := runCLI(t, "dmf", "import", "-c", cfg, "--env", "emu", "--entity", "customers v3",
		"--legal-entity", "USMF", "--definition-group", "CUST-100K", "--json", csv)
	require.Equal(t, exitOK, code, out)
	var sum importSummary
	decodeJSON(t, out, &sum)
	assert.Equal(t, "Succeeded", sum.Status)
	assert.Equal(t, int64(100_000), sum.Rows)
	assert.Zero(t, sum.ErrorCount)
	assert.Len(t, em.Rows("Customers V3", "USMF"), 100_000)
	st := em.Stats()
	assert.Equal(t, int64(100_000), st.Inserts)
	assert.Empty(t, st.ProtocolViolations)
}

func TestDMFImportPartialListsBadRows(t *testing.T) {
	t.Parallel()
	em, cfg := startEmulator(t)
	bad := map[int]bool{}
	for _, i := range []int{0, 9, 4_321, 20_000, 33_333, 50_000, 66_666, 77_777, 88_888, 99_999} {
		bad[i] = true
	}
	csv := writeCustomersCSV(t, 100_000, bad)
	errDir := t.TempDir()
	out, code := runCLI(t, "dmf", "import", "-c", cfg, "--env", "emu", "--entity", "Customers V3",
		"--legal-entity", "USMF", "--definition-group", "CUST-PARTIAL", "--execution-id", "CUST-PARTIAL-RUN-1",
		"--errors-dir", errDir, csv)
	require.Equal(t, exitPartial, code, out)
	assert.Contains(t, out, "execution CUST-PARTIAL-RUN-1: PartiallySucceeded, 100000 rows sent")
	assert.Contains(t, out, "11 errors:") // the bad rows, and F&O's results line
	lines := regexp.MustCompile(`(?m)^  record (\d+) CUSTOMERGROUPID: .*'99'.*$`).FindAllStringSubmatch(out, -1)
	require.Len(t, lines, 10, out)
	// Record ids are F&O's staging RecIds, unrelated to the rows' places in the file
	// (dmf-api.md §2.6): distinct, and not the bad rows' positions from any base.
	var ids []int
	for _, l := range lines {
		id, err := strconv.Atoi(l[1])
		require.NoError(t, err)
		ids = append(ids, id)
	}
	slices.Sort(ids)
	assert.Len(t, slices.Compact(slices.Clone(ids)), len(ids))
	var badRows []int
	for i := range bad {
		badRows = append(badRows, i)
	}
	slices.Sort(badRows)
	spaced := true
	for k := range ids {
		spaced = spaced && badRows[k]-badRows[0] == ids[k]-ids[0]
	}
	assert.False(t, spaced, "record ids spaced as the rows: positions, not RecIds")
	assert.Contains(t, out, "target error file of Customers V3: ")
	files, err := os.ReadDir(errDir)
	require.NoError(t, err)
	assert.NotEmpty(t, files)
	assert.Len(t, em.Rows("Customers V3", "USMF"), 100_000-10)

	// The same execution id again is a no-op in F&O: status shows the same outcome.
	out, code = runCLI(t, "dmf", "status", "-c", cfg, "CUST-PARTIAL-RUN-1", "--json")
	require.Equal(t, exitOK, code, out)
	var st struct {
		Status     string `json:"status"`
		ErrorCount int    `json:"error_count"`
	}
	decodeJSON(t, out, &st)
	assert.Equal(t, "PartiallySucceeded", st.Status)
	assert.Equal(t, 11, st.ErrorCount)
}

func TestDMFExportEntitiesAndRecurring(t *testing.T) {
	t.Parallel()
	em, cfg := startEmulator(t)
	seed := make([]map[string]string, 25)
	for i := range seed {
		seed[i] = map[string]string{"CUSTOMERACCOUNT": fmt.Sprintf("E%03d", i), "ORGANIZATIONNAME": "Exported",
			"CUSTOMERGROUPID": "10", "SALESCURRENCYCODE": "USD", "PARTYTYPE": "Organization"}
	}
	em.Seed("Customers V3", "USMF", seed)
	em.AddExportProject(emulator.ExportProject{DefinitionGroup: "CUST-EXP", Entity: "Customers V3"})

	dir := t.TempDir()
	out, code := runCLI(t, "dmf", "export", "-c", cfg, "--definition-group", "CUST-EXP", "--legal-entity", "USMF",
		"--out", dir, "--execution-id", "EXP-1")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "execution EXP-1: Succeeded")
	assert.FileExists(t, filepath.Join(dir, "EXP-1.zip"))
	assert.Regexp(t, `Customers V3: .*\(25 rows\)`, out)

	out, code = runCLI(t, "dmf", "entities", "-c", cfg, "--filter", "customer")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "CustCustomerV3Entity")
	assert.NotContains(t, out, "VendVendorV2Entity")

	const activity = "{11111111-2222-3333-4444-555555555555}"
	em.AddRecurringJob(emulator.RecurringJob{ActivityID: activity, Entity: "Customers V3"})
	csv := writeCustomersCSV(t, 5, nil)
	out, code = runCLI(t, "dmf", "enqueue", "-c", cfg, "--activity", activity, "--entity", "Customers V3", "--company", "USMF", csv)
	require.Equal(t, exitOK, code, out)
	assert.Regexp(t, `^[0-9a-fA-F-]{36}\n$`, out)

	const exportActivity = "22222222-3333-4444-5555-666666666666"
	em.AddRecurringJob(emulator.RecurringJob{ActivityID: exportActivity, Direction: emulator.DirectionExport, DefinitionGroup: "CUST-EXP"})
	outDir := t.TempDir()
	out, code = runCLI(t, "dmf", "dequeue", "-c", cfg, "--activity", exportActivity, "--out", outDir)
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "1 message dequeued")
	files, err := os.ReadDir(outDir)
	require.NoError(t, err)
	require.Len(t, files, 1)
	zipBytes, err := os.ReadFile(filepath.Join(outDir, files[0].Name()))
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(zipBytes, []byte("PK")))
	assert.Equal(t, int64(1), em.Stats().Acked)
}

func TestDMFUsageErrors(t *testing.T) {
	t.Parallel()
	_, cfg := startEmulator(t)
	_, code := runCLI(t, "dmf", "import", "-c", cfg, "--definition-group", "G", "x.csv")
	assert.Equal(t, exitUsage, code, "a CSV needs --entity")
	_, code = runCLI(t, "dmf", "status", "-c", cfg, "--env", "nope", "X")
	assert.Equal(t, exitUsage, code)
	_, code = runCLI(t, "dmf", "import", "-c", cfg, "--entity", "Customers V3", "--definition-group", "G",
		filepath.Join(t.TempDir(), "missing.csv"))
	assert.Equal(t, exitUsage, code)
}
