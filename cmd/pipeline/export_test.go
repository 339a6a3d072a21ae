package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

// exportConfig writes a config of the emulator's environment, a local connection "out" on
// a folder of the test's and the projects given; it returns the emulator, the config's
// path and the folder.
func exportConfig(t *testing.T, projects string) (*emulator.Emulator, string, string) {
	t.Helper()
	em, envCfg := startEmulator(t)
	envYAML, err := os.ReadFile(envCfg)
	require.NoError(t, err)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pipeline.yaml")
	require.NoError(t, os.WriteFile(cfg, append(envYAML, []byte("connections:\n  out: { type: local, root: "+dir+" }\nprojects:\n"+projects)...), 0o600))
	return em, cfg, dir
}

// `pipeline export` runs an export in the foreground: exit 0 and its files on success, 2
// when F&O reports PartiallySucceeded, 1 when the export fails, 64 for a usage problem;
// --json prints the summary.
func TestExportCommand(t *testing.T) {
	t.Parallel()
	dbURL := testsvc.Database(t)
	em, cfg, dir := exportConfig(t, `  - name: vendors
    kind: export
    environment: emu
    definition_group: VEND-OUT
    legal_entity: USMF
    destination: { connection: out, path: "vendors/{date}/vendors.csv" }
  - name: missing
    kind: export
    environment: emu
    definition_group: NO-SUCH-PROJECT
    legal_entity: USMF
    destination: { connection: out, path: "missing/{entity}.csv" }
`)
	em.Seed("Vendors V2", "USMF", []map[string]string{{"VENDORACCOUNTNUMBER": "V1", "VENDORGROUPID": "10", "CURRENCYCODE": "USD"},
		{"VENDORACCOUNTNUMBER": "V2", "VENDORGROUPID": "20", "CURRENCYCODE": "EUR"}})
	em.AddExportProject(emulator.ExportProject{DefinitionGroup: "VEND-OUT", Entity: "Vendors V2"})
	export := func(project string, args ...string) (string, int) {
		return runCLI(t, append([]string{"export", "-c", cfg, "--database-url", dbURL, project}, args...)...)
	}

	out, code := export("vendors")
	require.Equal(t, exitOK, code, out)
	assert.Regexp(t, `(?m)^export job 1 (queued|request|poll|deliver|finalize)`, out, "the stages as they pass")
	assert.Contains(t, out, "wrote out:vendors/")
	assert.Contains(t, out, "export job 1: succeeded in")
	assert.Contains(t, out, "2 rows in 1 files")
	csvFiles, err := filepath.Glob(filepath.Join(dir, "vendors", "*", "vendors.csv"))
	require.NoError(t, err)
	require.Len(t, csvFiles, 1)
	data, err := os.ReadFile(csvFiles[0])
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(data), "VENDORACCOUNTNUMBER,"), "%s", data)
	out, code = runCLI(t, "jobs", "show", "1", "-c", cfg, "--database-url", dbURL)
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "files: 2")
	assert.Regexp(t, `data\s+out:vendors/\S+/vendors.csv\s+Vendors V2\s+1\s+2\s+`, out)
	assert.Regexp(t, `manifest\s+out:vendors/`, out)

	em.SetFaults(emulator.Faults{PartialExports: true})
	out, code = export("vendors", "--json")
	assert.Equal(t, exitPartial, code, out)
	var sum struct {
		Status    string  `json:"status"`
		DMFStatus string  `json:"dmf_status"`
		Rows      int64   `json:"rows"`
		Secs      float64 `json:"duration_seconds"`
		Files     []struct {
			Kind, Path, SHA256 string
		} `json:"files"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &sum), out)
	assert.Equal(t, "partially_succeeded", sum.Status)
	assert.Equal(t, "PartiallySucceeded", sum.DMFStatus)
	assert.EqualValues(t, 2, sum.Rows)
	assert.Len(t, sum.Files, 2, "the data file and the manifest")
	assert.Positive(t, sum.Secs)
	em.SetFaults(emulator.Faults{})

	out, code = export("missing")
	assert.Equal(t, exitFailed, code, out)
	assert.Contains(t, out, "failed")
	assert.Contains(t, out, "NO-SUCH-PROJECT")

	for name, args := range map[string][]string{
		"unknown project":   {"export", "-c", cfg, "--database-url", dbURL, "nope"},
		"no project":        {"export", "-c", cfg, "--database-url", dbURL},
		"an import project": {"export", "-c", writeImportOnly(t), "--database-url", dbURL, "customers"},
	} {
		out, code := runCLI(t, args...)
		assert.Equal(t, exitUsage, code, "%s: %s", name, out)
	}
}

// writeImportOnly writes a config with one import project "customers".
func writeImportOnly(t *testing.T) string {
	t.Helper()
	return testsvc.WriteConfig(t, testsvc.OfflineImportConfig("customers", `    target: { entity: Customers V3, legal_entity: USMF, definition_group: CUST }
    mapping:
      CUSTOMERACCOUNT: { from: A }
      ORGANIZATIONNAME: { from: B }
      CUSTOMERGROUPID: { from: C }
      SALESCURRENCYCODE: { const: EUR }
`))
}
