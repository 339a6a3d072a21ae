package testsvc

import (
	"os"
	"path/filepath"
	"testing"
)

// OfflineConfig is the head of a test configuration that reaches nothing: an F&O
// environment "e" on a closed loopback port and a local connection "c". Tests append
// their projects ("projects:" and ImportProject items).
const OfflineConfig = `environments:
  e: { url: "http://127.0.0.1:1", tenant: t, client_id: c, client_secret: s }
connections:
  c: { type: local, root: /tmp }
`

// ImportProject is the YAML list item of an import project called name on
// OfflineConfig's environment e, reading the folder "in" of connection c; rest are the
// project's other keys, indented by four spaces.
func ImportProject(name, rest string) string {
	return "  - name: " + name + `
    kind: import
    environment: e
    source: { connection: c, path: in }
` + rest
}

// OfflineImportConfig is OfflineConfig with one import project (see ImportProject).
func OfflineImportConfig(name, rest string) string {
	return OfflineConfig + "projects:\n" + ImportProject(name, rest)
}

// WriteConfig writes a configuration to pipeline.yaml in a folder of the test's and
// returns its path.
func WriteConfig(t testing.TB, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatalf("writing the test's config: %v", err)
	}
	return path
}
