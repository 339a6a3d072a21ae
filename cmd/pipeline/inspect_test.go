package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

func TestInspectCSV(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "customers.csv")
	require.NoError(t, os.WriteFile(path, []byte("Account No;Name;Note\r\n1;Caf\xe9;\"two\r\nlines\"\r\n2;Bob\r\n3;Eve;x\r\n"), 0o600))

	out, code := runCLI(t, "inspect", path, "--limit", "2")
	require.Equal(t, exitOK, code, out)
	for _, want := range []string{
		"Format:     csv",
		"Encoding:   windows-1252 (detected)",
		`Delimiter:  ";" (detected)`,
		"Rows:       3 (1 with errors)",
		"LINE  Account No  Name  Note\n",
		"2     1           Café  two\\r\\nlines\n",
		"4     2           Bob\n",
		"customers.csv: line 4: 2 fields, the header has 3 [ragged_row]",
	} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "Eve", "limited to 2 records")

	out, code = runCLI(t, "inspect", path, "--json", "--limit", "1")
	require.Equal(t, exitOK, code, out)
	var res inspection
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Equal(t, []string{"Account No", "Name", "Note"}, res.Header)
	assert.Equal(t, 3, res.Rows)
	assert.Equal(t, 1, res.RowErrors)
	require.Len(t, res.First, 1)
	assert.Equal(t, inspectedRecord{Line: 2, Values: []string{"1", "Café", "two\r\nlines"}}, res.First[0])
	require.Len(t, res.Errors, 1)
	assert.Equal(t, 4, res.Errors[0].Line)
}

func TestInspectXLSXSheet(t *testing.T) {
	t.Parallel()
	f := excelize.NewFile()
	_, err := f.NewSheet("Orders")
	require.NoError(t, err)
	require.NoError(t, f.SetSheetRow("Orders", "A1", &[]any{"Order", "Qty"}))
	require.NoError(t, f.SetSheetRow("Orders", "A2", &[]any{"SO-1", 3}))
	path := filepath.Join(t.TempDir(), "book.xlsx")
	require.NoError(t, f.SaveAs(path))
	require.NoError(t, f.Close())

	out, code := runCLI(t, "inspect", path, "--sheet", "orders")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, `Sheet:   "Orders" (of "Sheet1", "Orders")`)
	assert.Contains(t, out, "ROW  Order  Qty\n2    SO-1   3\n")
}

func TestInspectJSONRecords(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "export.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"data":{"items":[{"id":12345678901234567890,"a":{"b":"x"}}]}}`), 0o600))
	out, code := runCLI(t, "inspect", path, "--records", "/data/items", "--json")
	require.Equal(t, exitOK, code, out)
	var res inspection
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Equal(t, "/data/items", res.Records)
	assert.Equal(t, []string{"id", "a.b"}, res.Header)
	assert.Equal(t, []string{"12345678901234567890", "x"}, res.First[0].Values)

	out, code = runCLI(t, "inspect", path)
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, out, "set records to the JSON pointer")
}

func TestInspectUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, args := range map[string][]string{
		"no file":         {"inspect"},
		"missing file":    {"inspect", filepath.Join(dir, "missing.csv")},
		"bad format":      {"inspect", "--format", "parquet", filepath.Join(dir, "x.csv")},
		"negative limit":  {"inspect", "--limit", "-1", filepath.Join(dir, "x.csv")},
		"connection path": {"inspect", "partner-sftp:/outbound/customers.csv"},
	} {
		out, code := runCLI(t, args...)
		assert.Equal(t, exitUsage, code, "%s: %s", name, out)
		if name == "connection path" {
			assert.Contains(t, out, `reading from connection "partner-sftp" needs the config: -c FILE`)
		}
	}
}

// connection:path reads through a configured source: here OpenSSH's SFTP server, with
// the host key checked against known_hosts.
func TestInspectFromConnection(t *testing.T) {
	t.Parallel()
	srv := testsvc.SFTP(t)
	host, port, err := net.SplitHostPort(srv.Addr)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(srv.Root, "kunden.csv"), []byte("Nr;Name\r\n1;Müller\r\n2;Ørsted\r\n"), 0o644))
	cfg := filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`environments:
  e: { url: https://x.example, tenant: t, client_id: c, client_secret: s }
connections:
  partner:
    type: sftp
    host: %s
    port: %s
    user: %s
    private_key: ${file:%s}
    known_hosts: %s
`, host, port, srv.User, srv.KeyPath, srv.KnownHosts)), 0o600))

	out, code := runCLI(t, "inspect", "-c", cfg, "--json", "partner:"+srv.Root+"/kunden.csv")
	require.Equal(t, 0, code, out)
	var res struct {
		Header    []string `json:"header"`
		Rows      int      `json:"rows"`
		Delimiter string   `json:"delimiter"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Equal(t, []string{"Nr", "Name"}, res.Header)
	assert.Equal(t, 2, res.Rows)
	assert.Equal(t, ";", res.Delimiter)

	out, code = runCLI(t, "inspect", "-c", cfg, "nowhere:/x.csv")
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, `no connection "nowhere"`)
}
