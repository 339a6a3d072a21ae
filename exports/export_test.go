package exports_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
	"github.com/dmfpipe/dmfpipe/exports"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// exportProject is the YAML item of a package export of EXP-CUST writing to path of conn
// (both "": rest has the destination).
func exportProject(name, conn, path, rest string) string {
	dest := ""
	if path != "" {
		dest = fmt.Sprintf("    destination: { connection: %s, path: %q }\n", conn, path)
	}
	return fmt.Sprintf(`  - name: %s
    kind: export
    environment: emu
    definition_group: EXP-CUST
    legal_entity: USMF
%s%s`, name, dest, rest)
}

// The acceptance test: an export of 100k customers lands as CSV on SFTP, XLSX in
// Azurite and NDJSON locally, each holding exactly the rows the emulator holds.
func TestExport100kCustomersToSFTPBlobAndLocal(t *testing.T) {
	t.Parallel()
	const n = 100_000
	b := setup(t, opts{sftp: true, blob: true, projects: exportProject("cust-csv", "partner", "SFTPROOT/exports/{date}/customers-{time}.csv", "") +
		exportProject("cust-xlsx", "landing", "exports/{project}/customers-{execution}.xlsx", "") +
		exportProject("cust-ndjson", "out", "{project}/{date}/{entity}.ndjson", "")})
	seedCustomers(b.em, "C", n)
	b.em.AddExportProject(emulator.ExportProject{DefinitionGroup: "EXP-CUST", Entity: "Customers V3", LegalEntity: "USMF"})
	want := table(b.em.Rows("Customers V3", "USMF")).sorted()
	require.Len(t, want, n)

	var wg sync.WaitGroup
	sums := map[string]exports.Summary{}
	var mu sync.Mutex
	for _, p := range []string{"cust-csv", "cust-xlsx", "cust-ndjson"} {
		wg.Go(func() {
			s := b.run(t, p)
			mu.Lock()
			sums[p] = s
			mu.Unlock()
		})
	}
	wg.Wait()
	for p, s := range sums {
		require.Equal(t, jobhistory.JobSucceeded, s.Status, "%s: %s", p, s.Error)
		assert.EqualValues(t, n, s.Rows, p)
		assert.Equal(t, "Succeeded", s.DMFStatus)
	}

	csvFile := file(t, sums["cust-csv"], jobhistory.ExportData)
	csvData := readLocal(t, "/", relPath(csvFile.Path))
	assert.Equal(t, want, readCSVTable(t, csvData), "the CSV on SFTP holds the emulator's rows")
	assertDigest(t, csvFile, csvData)

	xlsxFile := file(t, sums["cust-xlsx"], jobhistory.ExportData)
	xlsxData := b.blobData(t, relPath(xlsxFile.Path))
	assert.Equal(t, want, readXLSXTable(t, xlsxData, "Customers V3"), "the workbook in Azurite holds the emulator's rows")
	assertDigest(t, xlsxFile, xlsxData)

	ndFile := file(t, sums["cust-ndjson"], jobhistory.ExportData)
	assert.Equal(t, "cust-ndjson/"+strings.SplitN(relPath(ndFile.Path), "/", 3)[1]+"/Customers V3.ndjson", relPath(ndFile.Path))
	ndData := readLocal(t, b.local, relPath(ndFile.Path))
	assert.Equal(t, want, readNDJSONTable(t, ndData), "the NDJSON file holds the emulator's rows")
	assertDigest(t, ndFile, ndData)

	// Each run's manifest lists its file with the rows and the digest read back.
	var man exports.Manifest
	require.NoError(t, json.Unmarshal(b.blobData(t, relPath(file(t, sums["cust-xlsx"], jobhistory.ExportManifest).Path)), &man))
	require.Len(t, man.Files, 1)
	assert.Equal(t, relPath(xlsxFile.Path), man.Files[0].Path)
	assert.EqualValues(t, n, man.Files[0].Rows)
	assert.Equal(t, hex.EncodeToString(sha256Of(xlsxData)), man.Files[0].SHA256)
	assert.Equal(t, []exports.ManifestEntity{{Entity: "Customers V3", Rows: n}}, man.Entities)
	assert.Equal(t, "Succeeded", man.Status)
	assert.Equal(t, sums["cust-xlsx"].Execution, man.Execution)
	st := b.em.Stats()
	assert.Empty(t, st.ProtocolViolations, "no bearer token on SAS URLs, no eager polls")
	assert.EqualValues(t, 3, st.Requests["ExportToPackageAsync"], "the Async action, once per export")
	assert.Zero(t, st.Requests["ExportToPackage"])
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func assertDigest(t testing.TB, f exports.FileSummary, data []byte) {
	t.Helper()
	assert.Equal(t, hex.EncodeToString(sha256Of(data)), f.SHA256, f.Path)
	assert.EqualValues(t, len(data), f.Bytes, f.Path)
}
