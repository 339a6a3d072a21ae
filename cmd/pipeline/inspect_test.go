package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
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

// A workbook with a title above its header, as reports exported from an ERP have.
func TestInspectXLSXTitleRow(t *testing.T) {
	t.Parallel()
	f := excelize.NewFile()
	require.NoError(t, f.SetCellValue("Sheet1", "A1", "Customer export 2024-03-01"))
	require.NoError(t, f.MergeCell("Sheet1", "A1", "C1"))
	require.NoError(t, f.SetSheetRow("Sheet1", "A3", &[]any{"Account", "Name", "City"}))
	require.NoError(t, f.SetSheetRow("Sheet1", "A4", &[]any{"C-1", "Ann", "Oslo"}))
	require.NoError(t, f.SetSheetRow("Sheet1", "A5", &[]any{"C-2", "Bob", "Rome"}))
	path := filepath.Join(t.TempDir(), "export.xlsx")
	require.NoError(t, f.SaveAs(path))
	require.NoError(t, f.Close())

	// Read as is, the title is taken for the header, and inspect says so.
	out, code := runCLI(t, "inspect", path, "--json")
	require.Equal(t, exitOK, code, out)
	var res inspection
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Equal(t, []string{"Customer export 2024-03-01"}, res.Header)
	assert.Contains(t, out, `"hints": [`)
	assert.Equal(t, 3, res.RowErrors)
	assert.Equal(t, []string{`the header is one column, "Customer export 2024-03-01": a title row above the header? header_row: 3?`}, res.Hints)
	out, code = runCLI(t, "inspect", path)
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, `Hint:    the header is one column, "Customer export 2024-03-01": a title row above the header? header_row: 3?`)

	for _, args := range [][]string{{"--header-row", "3"}, {"--skip-rows", "2"}, {"--header-row", "3", "--skip-rows", "2"}} {
		out, code := runCLI(t, append([]string{"inspect", path}, args...)...)
		require.Equal(t, exitOK, code, out)
		assert.Contains(t, out, "Header:  3 columns\nRows:    2 (0 with errors)\n", args)
		assert.Contains(t, out, "ROW  Account  Name  City\n4    C-1      Ann   Oslo\n5    C-2      Bob   Rome\n", args)
		assert.NotContains(t, out, "Hint:", args)
	}
}

func TestInspectCSVHints(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	title := filepath.Join(dir, "title.csv")
	require.NoError(t, os.WriteFile(title, []byte("Customer export\r\n\r\nAccount;Name\r\nC-1;Ann\r\n"), 0o600))
	out, code := runCLI(t, "inspect", title, "--json")
	require.Equal(t, exitOK, code, out)
	var res inspection
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Equal(t, []string{`the header is one column, "Customer export": a title row above the header? header_row: 3?`}, res.Hints,
		"the title has no delimiter, so ',' was taken and the records are one column each")
	out, code = runCLI(t, "inspect", title, "--header-row", "3", "--json")
	require.Equal(t, exitOK, code, out)
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Equal(t, []string{"Account", "Name"}, res.Header)
	assert.Equal(t, ";", res.Delimiter)
	assert.Empty(t, res.Hints)

	semi := filepath.Join(dir, "semi.csv")
	require.NoError(t, os.WriteFile(semi, []byte("Account;Name\nC-1;Ann\n"), 0o600))
	out, code = runCLI(t, "inspect", semi, "--delimiter", ",")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "Hint:       the header has one column containing ';': delimiter: ';'?\n")

	// A wide header is cut in the table, not in --json.
	var wide strings.Builder
	for i := range 50 {
		fmt.Fprintf(&wide, "c%d,", i+1)
	}
	path := filepath.Join(dir, "wide.csv")
	require.NoError(t, os.WriteFile(path, []byte(wide.String()+"\n"+strings.Repeat("x,", 50)+"\n"), 0o600))
	out, code = runCLI(t, "inspect", path)
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "LINE  c1  c2  c3  c4  c5  c6  c7  c8  c9  c10  c11  c12  c13  c14  c15  c16  c17  c18  c19  c20\n")
	assert.Contains(t, out, "(the first 20 of 51 columns; --json shows them all)")
}

func TestInspectHeaderRowUsage(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.csv")
	require.NoError(t, os.WriteFile(path, []byte("a,b\n1,2\n"), 0o600))
	for args, want := range map[string]string{
		"--header-row -1":              "--header-row -1: rows count from 1",
		"--skip-rows -2":               "--skip-rows -2: want 0 or more",
		"--header-row 3 --skip-rows 1": "--header-row 3 and --skip-rows 1 disagree: give one of them",
	} {
		out, code := runCLI(t, append([]string{"inspect", path}, strings.Fields(args)...)...)
		assert.Equal(t, exitUsage, code, "%s: %s", args, out)
		assert.Contains(t, out, want)
	}
	out, code := runCLI(t, "inspect", "--help")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "--header-row int")
	assert.Contains(t, out, "--skip-rows int")
}
