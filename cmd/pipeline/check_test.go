package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckExampleConfig(t *testing.T) {
	out, code := runCLI(t, "check", "-c", "../../examples/pipeline.yaml")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "ok (1 environment, 2 connections, 4 projects)")
}

func TestCheckPrintsEveryProblemLocated(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`environments:
  prod:
    url: http://contoso.operations.dynamics.com
    tenant: t
    client_id: c
    client_secret: ${env:DMFPIPE_TEST_UNSET_SECRET}
connections:
  drop: { type: local, root: /data, colour: blue }
projects:
  - name: customers
    kind: import
    environment: staging
    schedule: "0 25 * * *"
    source: { connection: drop, path: in }
    target: { entity: Customers V3, legal_entity: USMF, definition_group: CUST }
    mapping:
      CUSTOMERACCOUNT: { from: "Account No" }
      ORGANIZATIONNAME: { from: Name }
      CUSTOMERGROUPID: { const: "10" }
      SALESCURRENCYCODE: { const: EUR }
`), 0o600))
	out, code := runCLI(t, "check", "-c", file)
	assert.Equal(t, exitUsage, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Equal(t, []string{
		file + `:3: environment prod: url "http://contoso.operations.dynamics.com" uses http:// on a host that is not loopback; F&O needs https://`,
		file + `:6: environments.prod.client_secret: environment variable DMFPIPE_TEST_UNSET_SECRET is not set`,
		file + `:8: connections.drop.colour: unknown key`,
		file + `:12: project customers: environment "staging" is not defined (defined: prod)`,
		file + `:13: project customers: invalid cron expression "0 25 * * *": end of range (25) above maximum (23): 25`,
	}, lines)
}

func TestCheckMissingFileIsUsageError(t *testing.T) {
	out, code := runCLI(t, "check", "-c", filepath.Join(t.TempDir(), "nope.yaml"))
	assert.Equal(t, exitUsage, code, out)
}
