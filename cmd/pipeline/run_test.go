package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

var runTestConfig = testsvc.OfflineImportConfig("customers", `    format: { type: csv, delimiter: ";" }
    target: { entity: Customers V3, legal_entity: USMF, definition_group: G }
    mapping:
      CUSTOMERACCOUNT:   { from: "Account No", transforms: [trim, upper] }
      ORGANIZATIONNAME:  { from: Name }
      CUSTOMERGROUPID:   { from: Group, default: "10" }
      SALESCURRENCYCODE: { const: EUR }
    validate:
      - { field: CUSTOMERACCOUNT, required: true, unique: true }
    on_errors: { max_error_rate: MAXRATE }
`)

func writeRunFixture(t *testing.T, maxRate, csv string) (cfg, file string) {
	t.Helper()
	dir := t.TempDir()
	cfg = filepath.Join(dir, "pipeline.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(strings.ReplaceAll(runTestConfig, "MAXRATE", maxRate)), 0o600))
	file = filepath.Join(dir, "customers.csv")
	require.NoError(t, os.WriteFile(file, []byte(csv), 0o600))
	return cfg, file
}

func TestRunDryRun(t *testing.T) {
	t.Parallel()
	dbURL := testsvc.Database(t)
	const clean = "Account No;Name;Group\nc-1;A;10\nc-2;B;20\n"
	const dirty = "Account No;Name;Group\nc-1;A;10\nC-1;B;20\n;C;30\nc-4;D;10\n"

	t.Run("clean file exits 0", func(t *testing.T) {
		cfg, file := writeRunFixture(t, "1", clean)
		out, code := runCLI(t, "run", "-c", cfg, "--database-url", dbURL, "customers", "--file", file, "--dry-run")
		assert.Equal(t, 0, code, out)
		assert.Contains(t, out, "2 read, 2 valid, 0 invalid")
	})
	t.Run("invalid rows exit 2 with located errors", func(t *testing.T) {
		cfg, file := writeRunFixture(t, "1", dirty)
		out, code := runCLI(t, "run", "-c", cfg, "--database-url", dbURL, "customers", "--file", file, "--dry-run", "--json")
		assert.Equal(t, 2, code, out)
		var res runResult
		require.NoError(t, json.Unmarshal([]byte(out), &res))
		assert.Equal(t, "partially_succeeded", res.Status, "as the import would be")
		assert.True(t, res.DryRun)
		assert.Equal(t, []int64{4, 4, 2, 2, 1}, []int64{res.Read, res.Staged, res.Valid, res.Invalid, res.Duplicates})
		require.Len(t, res.Errors, 2)
		assert.Equal(t, "duplicate of line 2 (CUSTOMERACCOUNT)", res.Errors[0].Msg)
		assert.Equal(t, int64(3), res.Errors[0].Line)
		assert.Equal(t, "required", string(res.Errors[1].Rule))
		assert.Equal(t, "Account No", res.Errors[1].Column)
	})
	t.Run("error rate above the threshold fails the job", func(t *testing.T) {
		cfg, file := writeRunFixture(t, "0.25", dirty)
		out, code := runCLI(t, "run", "-c", cfg, "--database-url", dbURL, "customers", "--file", file, "--dry-run")
		assert.Equal(t, 1, code, out)
		assert.Contains(t, out, "job failed: 2 of 4 rows invalid (50.00%), above on_errors.max_error_rate 25.00%")
	})
	t.Run("usage errors exit 64", func(t *testing.T) {
		cfg, file := writeRunFixture(t, "1", clean)
		_, code := runCLI(t, "run", "-c", cfg, "--database-url", dbURL, "customers", "--dry-run")
		assert.Equal(t, 64, code, "without --file")
		_, code = runCLI(t, "run", "-c", cfg, "--database-url", dbURL, "nope", "--file", file, "--dry-run")
		assert.Equal(t, 64, code, "unknown project")
		_, code = runCLI(t, "run", "-c", cfg, "--database-url", dbURL, "customers", "--file", file+".missing", "--dry-run")
		assert.Equal(t, 64, code, "missing file")
	})
}
