package testsvc

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
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

// EmulatorEnvironment is the YAML of an F&O environment called name on the DMF emulator
// at url, with the emulator's default credentials and the poll schedule poll (a flow
// mapping: "{ initial: 50ms, max: 200ms, deadline: 2m }"): an item of "environments:".
func EmulatorEnvironment(name, url, poll string) string {
	return fmt.Sprintf(`  %[1]s:
    url: %[2]s
    tenant: %[3]s
    client_id: %[4]s
    client_secret: %[5]s
    token_url: %[2]s/%[3]s/oauth2/v2.0/token
    poll: %[6]s
`, name, url, emulator.DefaultTenant, emulator.DefaultClientID, emulator.DefaultClientSecret, poll)
}

// Connection is the YAML of a connection called name on the test's SFTP server, logging in
// with its key and checking its host key: an item of "connections:".
func (s SFTPServer) Connection(name string) string {
	host, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		panic(fmt.Sprintf("testsvc: SFTP address %q: %v", s.Addr, err))
	}
	return fmt.Sprintf("  %s: { type: sftp, host: %s, port: %s, user: %s, private_key: \"${file:%s}\", known_hosts: %s }\n",
		name, host, port, s.User, s.KeyPath, s.KnownHosts)
}

// CustomersCSV is a semicolon CSV of n customers (Account;Name;Group: c000001, Customer 1,
// a group of 10, 20 and 30 in turn); edit, when set, may change row i's account and group.
func CustomersCSV(n int, edit func(i int, account, group *string)) string {
	var b strings.Builder
	b.WriteString("Account;Name;Group\n")
	for i := 1; i <= n; i++ {
		account, group := fmt.Sprintf("c%06d", i), []string{"10", "20", "30"}[i%3]
		if edit != nil {
			edit(i, &account, &group)
		}
		fmt.Fprintf(&b, "%s;Customer %d;%s\n", account, i, group)
	}
	return b.String()
}
