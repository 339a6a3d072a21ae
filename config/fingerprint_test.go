package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFingerprintIgnoresHowAProjectIsWritten(t *testing.T) {
	t.Parallel()
	load := func(yaml string) *Project {
		t.Helper()
		path := filepath.Join(t.TempDir(), "pipeline.yaml")
		require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
		cfg, err := Load(path)
		require.NoError(t, err)
		return cfg.Projects[0]
	}
	const head = `
database: { url: "postgres://x" }
environments:
  emu: { url: "http://127.0.0.1:1", tenant: t, client_id: c, client_secret: s }
connections:
  drop: { type: local, root: /tmp }
`
	a := load(head + `
projects:
  - name: customers
    kind: import
    environment: emu
    source: { connection: drop, path: in, pattern: "*.csv" }
    target: { entity: Customers V3, legal_entity: USMF, definition_group: G }
    mapping:
      CUSTOMERACCOUNT: { from: Account, transforms: [trim, { pad_left: { width: 10, char: "0" } }] }
      ORGANIZATIONNAME: { from: Name }
`)
	b := load(head + `
# the same project, written otherwise
projects:
  - kind: import
    name: customers
    environment: emu


    target:
      legal_entity: USMF
      definition_group: G
      entity: Customers V3
    source:
      pattern: "*.csv"
      connection: drop
      path: in
    mapping:
      CUSTOMERACCOUNT:
        from: Account   # the partner's account number
        transforms:
          - trim
          - pad_left: { char: "0", width: 10 }
      ORGANIZATIONNAME: { from: Name }
`)
	c := load(head + `
projects:
  - name: customers
    kind: import
    environment: emu
    source: { connection: drop, path: in, pattern: "*.csv" }
    target: { entity: Customers V3, legal_entity: USMF, definition_group: G }
    mapping:
      CUSTOMERACCOUNT: { from: Account, transforms: [trim, { pad_left: { width: 12, char: "0" } }] }
      ORGANIZATIONNAME: { from: Name }
`)
	assert.Len(t, a.Fingerprint(), 12)
	assert.Equal(t, a.Fingerprint(), b.Fingerprint())
	assert.NotEqual(t, a.Fingerprint(), c.Fingerprint(), "a transform's argument is part of the project")
}
