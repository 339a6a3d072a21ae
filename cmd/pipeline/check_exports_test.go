package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// check locates the problems of export and recurring projects: the config's own and
// those of an export's columns (the mapping language), each at its line.
func TestCheckExportProjects(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`environments:
  prod: { url: "https://contoso.operations.dynamics.com", tenant: t, client_id: c, client_secret: s }
connections:
  out: { type: local, root: /data }
projects:
  - name: orders
    kind: export
    environment: prod
    definition_group: EXPORT-ORDERS
    legal_entity: USMF
    destination: { connection: out, path: "orders/{date}/{entity}-{hour}.csv" }
    entities:
      Sales order headers V2:
        columns:
          Order: { from: SALESORDERNUMBER, transforms: [shout] }
  - name: feed
    kind: export
    environment: prod
    mode: recurring
    activity: not-a-guid
    destination: { connection: out, path: "feed/{date}.ndjson" }
`), 0o600))
	out, code := runCLI(t, "check", "-c", file)
	assert.Equal(t, exitUsage, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	assert.Equal(t, file+`:11: project orders: destination.path: "orders/{date}/{entity}-{hour}.csv": unknown placeholder {hour} (known: {date}, {time}, {project}, {entity}, {execution}, {company}, {part})`, lines[0])
	assert.True(t, strings.HasPrefix(lines[1], file+`:15: project orders: entities.Sales order headers V2.columns.Order: unknown transform "shout"`), lines[1])
	assert.Equal(t, file+`:20: project feed: activity "not-a-guid" is not a GUID (copy it from F&O's Manage scheduled data jobs)`, lines[2])
	assert.Equal(t, file+`:21: project feed: destination.path needs {execution} (the message's CorrelationId): every message of a recurring export writes files of its own`, lines[3])
}
