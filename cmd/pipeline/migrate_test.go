package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

// The database URL comes through a ${file:} secret, as it would in production.
func TestMigrateUpAndStatusFromConfig(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "db-url"), []byte(testsvc.Database(t)+"\n"), 0o600))
	cfg := filepath.Join(dir, "pipeline.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`database:
  url: ${file:db-url}
environments:
  emulator:
    url: http://127.0.0.1:8089
    tenant: t
    client_id: c
    client_secret: s
`), 0o600))

	out, code := runCLI(t, "migrate", "status", "-c", cfg)
	require.Equal(t, 0, code, out)
	assert.Regexp(t, `dmfpipe\s+1\s+pending\s+00001_job_history.sql`, out)
	assert.Regexp(t, `river\s+1\s+pending`, out)

	out, code = runCLI(t, "migrate", "up", "-c", cfg)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "applied dmfpipe 1 00001_job_history.sql")
	assert.Contains(t, out, "applied river 1 ")

	out, code = runCLI(t, "migrate", "up", "-c", cfg)
	require.Equal(t, 0, code, out)
	assert.Equal(t, "database is up to date\n", out)

	out, code = runCLI(t, "migrate", "status", "-c", cfg)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "\n0 pending\n")
}

func TestMigrateWithoutDatabaseIsUsageError(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("environments:\n  e: { url: https://x.example, tenant: t, client_id: c, client_secret: s }\n"), 0o600))
	out, code := runCLI(t, "migrate", "up", "-c", cfg)
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, "no database: set database.url in the config or pass --database-url")
}
