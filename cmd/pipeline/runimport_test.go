package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

// run without --dry-run: the whole import in the foreground against the emulator.
func TestRunImportsLocalFiles(t *testing.T) {
	t.Parallel()
	dbURL := testsvc.Database(t)
	em, cfg, dir := emulatorImportConfig(t, "", "legal_entity: USMF, definition_group: CUST, chunk_rows: 400, lanes: 2",
		`    validate:
      - { field: CUSTOMERACCOUNT, required: true, unique: true }
`)
	var b strings.Builder
	b.WriteString("Account No;Name;Group\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "c-%05d;Firma %d;%d0\n", i, i, 1+i%3)
	}
	file := filepath.Join(dir, "customers.csv")
	require.NoError(t, os.WriteFile(file, []byte(b.String()), 0o600))
	run := func(args ...string) (string, int) {
		return runCLI(t, append([]string{"run", "-c", cfg, "--database-url", dbURL, "customers"}, args...)...)
	}

	out, code := run("--file", file)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "succeeded in")
	assert.Contains(t, out, "1000 read, 1000 staged, 0 invalid, 1000 uploaded, 1000 imported, 0 rejected by F&O, 3 chunks")
	assert.Len(t, em.Rows("Customers V3", "USMF"), 1000)

	out, code = run("--file", file)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "nothing new to import")

	copyPath := filepath.Join(dir, "customers-again.csv")
	require.NoError(t, os.WriteFile(copyPath, []byte(b.String()), 0o600))
	out, code = run("--file", copyPath)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "skipped")
	assert.Contains(t, out, "same content")
	calls := em.Stats().ImportCalls

	out, code = run("--file", copyPath, "--force", "--json")
	require.Equal(t, 0, code, out)
	var sum struct {
		Status string  `json:"status"`
		Chunks int     `json:"chunks"`
		Secs   float64 `json:"duration_seconds"`
		Counts struct {
			Imported int64 `json:"imported"`
		} `json:"counts"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &sum), out)
	assert.Equal(t, "succeeded", sum.Status)
	assert.Equal(t, int64(1000), sum.Counts.Imported)
	assert.Positive(t, sum.Secs)
	assert.Len(t, em.Rows("Customers V3", "USMF"), 1000, "forced re-import updates, never duplicates")
	assert.Equal(t, int64(1000), em.Stats().Updates)
	assert.Equal(t, calls+3, em.Stats().ImportCalls)

	// 3 rows our validation rejects and 2 that F&O rejects (a group it does not know)
	bad := strings.Replace(b.String(), "c-00001;", ";", 1)
	bad = strings.Replace(bad, "c-00002;", ";", 1)
	bad = strings.Replace(bad, "c-00003;", ";", 1)
	bad = strings.Replace(bad, "c-00010;Firma 10;20", "c-00010;Firma 10;99", 1)
	bad = strings.Replace(bad, "c-00011;Firma 11;30", "c-00011;Firma 11;99", 1)
	badPath := filepath.Join(dir, "customers-bad.csv")
	require.NoError(t, os.WriteFile(badPath, []byte(bad), 0o600))
	out, code = run("--file", badPath)
	assert.Equal(t, exitPartial, code, out)
	assert.Contains(t, out, "partially succeeded")
	assert.Contains(t, out, "3 invalid, 997 uploaded, 995 imported, 2 rejected by F&O")
}

func TestRunUsage(t *testing.T) {
	t.Parallel()
	cfg, file := writeRunFixture(t, "1", "Account No;Name;Group\nc-1;A;10\n")
	for name, args := range map[string][]string{
		"dry run without file":  {"run", "-c", cfg, "customers", "--dry-run"},
		"dry run with force":    {"run", "-c", cfg, "customers", "--dry-run", "--file", file, "--force"},
		"missing file":          {"run", "-c", cfg, "customers", "--file", filepath.Join(t.TempDir(), "nope.csv")},
		"unknown project":       {"run", "-c", cfg, "nope", "--file", file},
		"a folder is not files": {"run", "-c", cfg, "customers", "--file", t.TempDir()},
	} {
		out, code := runCLI(t, args...)
		assert.Equal(t, exitUsage, code, "%s: %s", name, out)
	}
}

// run --file applies the project's own pattern to the file's name: a project that takes
// its legal entity from {company} works on a file given by hand, and a file whose name
// does not fit is a clear usage error.
func TestRunFileTakesTheCompanyFromThePattern(t *testing.T) {
	t.Parallel()
	dbURL := testsvc.Database(t)
	em, cfg, dir := emulatorImportConfig(t, `, pattern: "customers_{company}_*.csv"`, "definition_group: CUST", "")
	content := "Account No;Name;Group\nc-1;A;10\nc-2;B;20\n"
	good := filepath.Join(dir, "customers_dat_20261201.csv")
	require.NoError(t, os.WriteFile(good, []byte(content), 0o600))
	out, code := runCLI(t, "run", "-c", cfg, "--database-url", dbURL, "customers", "--file", good)
	require.Equal(t, 0, code, out)
	assert.Len(t, em.Rows("Customers V3", "DAT"), 2)

	other := filepath.Join(dir, "vendors_dat.csv")
	require.NoError(t, os.WriteFile(other, []byte(content), 0o600))
	out, code = runCLI(t, "run", "-c", cfg, "--database-url", dbURL, "customers", "--file", other)
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, `does not fit source.pattern "customers_{company}_*.csv"`)
}

// emulatorImportConfig writes a config of the emulator's environment and a project
// "customers" importing a semicolon CSV (Account No, Name, Group) from the folder "in" of
// a local connection on dir; source and target complete the project's source and target,
// rest adds its other keys. It returns the emulator, the config's path and dir.
func emulatorImportConfig(t *testing.T, source, target, rest string) (*emulator.Emulator, string, string) {
	t.Helper()
	em, envCfg := startEmulator(t)
	cfg, dir := importConfigOn(t, envCfg, source, target, rest)
	return em, cfg, dir
}

// importConfigOn is emulatorImportConfig on the environment config at envCfg.
func importConfigOn(t *testing.T, envCfg, source, target, rest string) (cfg, dir string) {
	t.Helper()
	envYAML, err := os.ReadFile(envCfg)
	require.NoError(t, err)
	dir = t.TempDir()
	cfg = filepath.Join(dir, "pipeline.yaml")
	require.NoError(t, os.WriteFile(cfg, append(envYAML, []byte(`connections:
  inbox: { type: local, root: `+dir+` }
projects:
  - name: customers
    kind: import
    environment: emu
    source: { connection: inbox, path: in`+source+` }
    format: { type: csv, delimiter: ";" }
    target: { entity: Customers V3, `+target+` }
    mapping:
      CUSTOMERACCOUNT:   { from: "Account No", transforms: [trim, upper] }
      ORGANIZATIONNAME:  { from: Name }
      CUSTOMERGROUPID:   { from: Group }
      SALESCURRENCYCODE: { const: EUR }
`+rest)...), 0o600))
	return cfg, dir
}
