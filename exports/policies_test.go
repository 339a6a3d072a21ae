package exports_test

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/dmfpipe/dmfpipe/dmf/datapackage"
	"github.com/dmfpipe/dmfpipe/dmf/emulator"
	"github.com/dmfpipe/dmfpipe/exports"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// Split by rows, gzip, a copy of the raw package and a manifest whose counts and digests
// match the files; columns renamed and transformed with the mapping language.
func TestSplitGzipRawPackageManifestAndColumns(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{projects: exportProject("split", "", "", `    destination:
      connection: out
      path: "split/{entity}-{part:3}.csv"
      split: { rows: 400 }
      gzip: true
      raw_package: "split/raw/{execution}.zip"
      manifest: "split/{project}.manifest.json"
    format: { delimiter: ";", line_end: lf }
    entities:
      Customers V3:
        columns:
          Account: CUSTOMERACCOUNT
          Name:    { from: ORGANIZATIONNAME, transforms: [upper] }
          Group:   { from: CUSTOMERGROUPID, map: { "10": Retail, "20": Wholesale }, default: Other, unmapped: default }
`)})
	seedCustomers(b.em, "S", 1000)
	b.em.AddExportProject(emulator.ExportProject{DefinitionGroup: "EXP-CUST", Entity: "Customers V3"})
	s := b.run(t, "split")
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	assert.EqualValues(t, 1000, s.Rows)

	var data []exports.FileSummary
	for _, f := range s.Files {
		if f.Kind == jobhistory.ExportData {
			data = append(data, f)
		}
	}
	require.Len(t, data, 3, "400 + 400 + 200 rows")
	var all [][]string
	for i, f := range data {
		assert.Equal(t, "out:split/Customers V3-"+[]string{"001", "002", "003"}[i]+".csv.gz", f.Path)
		assert.Equal(t, []int64{400, 400, 200}[i], f.Rows)
		raw := readLocal(t, b.local, relPath(f.Path))
		assertDigest(t, f, raw)
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		require.NoError(t, err)
		text, err := io.ReadAll(zr)
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
		assert.Equal(t, "Account;Name;Group", lines[0], "every part has the header")
		assert.NotContains(t, string(text), "\r\n", "line_end: lf")
		for _, l := range lines[1:] {
			all = append(all, strings.SplitN(l, ";", 3))
		}
	}
	require.Len(t, all, 1000)
	assert.Equal(t, []string{"S000001", "CUSTOMER 1", "Retail"}, all[0], "columns renamed, transformed, mapped")
	assert.Equal(t, []string{"S000002", "CUSTOMER 2", "Wholesale"}, all[1])
	assert.Equal(t, []string{"S000003", "CUSTOMER 3", "Other"}, all[2])

	raw := file(t, s, jobhistory.ExportRaw)
	assert.Equal(t, "out:split/raw/"+s.Execution+".zip", raw.Path)
	pkg, err := datapackage.Open(filepath.Join(b.local, relPath(raw.Path)))
	require.NoError(t, err)
	defer pkg.Close()
	assert.Equal(t, "Customers V3", pkg.Manifest.Entities[0].EntityName, "the raw package is F&O's zip")

	var man exports.Manifest
	require.NoError(t, json.Unmarshal(readLocal(t, b.local, "split/split.manifest.json"), &man))
	require.Len(t, man.Files, 3)
	for i, f := range man.Files {
		assert.Equal(t, relPath(data[i].Path), f.Path)
		assert.Equal(t, data[i].SHA256, f.SHA256)
		assert.Equal(t, i+1, f.Part)
	}
	require.NotNil(t, man.RawPackage)
	assert.Equal(t, raw.SHA256, man.RawPackage.SHA256)
	rawBytes := readLocal(t, b.local, relPath(raw.Path))
	assert.Equal(t, hex.EncodeToString(sha256Of(rawBytes)), man.RawPackage.SHA256)
}

// Entities whose path has no {entity} share one workbook, a sheet each; an entity with
// no rows gets a header-only sheet (on_empty: header) or none (skip).
func TestWorkbookOfSeveralEntitiesAndEmptyEntities(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{projects: exportProject("book", "out", "book/master-{time}.xlsx", "") +
		exportProject("book-skip", "out", "skip/master.xlsx", "    on_empty: skip\n") +
		exportProject("csv-empty", "out", "empty/{entity}.csv", "    on_empty: skip\n")})
	seedCustomers(b.em, "W", 50)
	b.em.Seed("Vendors V2", "USMF", []map[string]string{{"VENDORACCOUNTNUMBER": "V1", "VENDORGROUPID": "10", "CURRENCYCODE": "USD"}})
	b.em.AddExportProject(emulator.ExportProject{DefinitionGroup: "EXP-CUST", Entity: "Customers V3", Entities: []string{"Vendors V2", "Sales order headers V2"}})

	s := b.run(t, "book")
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	f := file(t, s, jobhistory.ExportData)
	wb, err := excelize.OpenFile(filepath.Join(b.local, relPath(f.Path)))
	require.NoError(t, err)
	defer wb.Close()
	assert.Equal(t, []string{"Customers V3", "Vendors V2", "Sales order headers V2"}, wb.GetSheetList())
	rows, err := wb.GetRows("Sales order headers V2")
	require.NoError(t, err)
	require.Len(t, rows, 1, "no orders: the header alone")
	assert.Equal(t, "SALESORDERNUMBER", rows[0][0])
	assert.EqualValues(t, 51, f.Rows)

	s = b.run(t, "book-skip")
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	wb2, err := excelize.OpenFile(filepath.Join(b.local, relPath(file(t, s, jobhistory.ExportData).Path)))
	require.NoError(t, err)
	defer wb2.Close()
	assert.Equal(t, []string{"Customers V3", "Vendors V2"}, wb2.GetSheetList(), "on_empty: skip leaves the empty entity out")

	s = b.run(t, "csv-empty")
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	var names []string
	for _, f := range s.Files {
		if f.Kind == jobhistory.ExportData {
			names = append(names, relPath(f.Path))
		}
	}
	assert.Equal(t, []string{"empty/Customers V3.csv", "empty/Vendors V2.csv"}, names)
	var man exports.Manifest
	require.NoError(t, json.Unmarshal(readLocal(t, b.local, relPath(file(t, s, jobhistory.ExportManifest).Path)), &man))
	assert.Equal(t, exports.ManifestEntity{Entity: "Sales order headers V2", Rows: 0, Skipped: "empty"}, man.Entities[2])
}

// PartiallySucceeded delivers and flags the job (on_partial: deliver) or fails it and
// writes nothing (fail). Not-ready URLs ("", "”", a zero GUID) and "not found" right
// after the request are waited out.
func TestPartialExportsAndNotReadyAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{emulator: func(c *emulator.Config) {
		c.Faults = emulator.Faults{PartialExports: true, ExportURLNotReady: 4, NotFoundAfterImport: 2}
	}, projects: exportProject("deliver", "out", "partial/{project}.csv", "") +
		exportProject("strict", "out", "strict/{project}.csv", "    on_partial: fail\n")})
	seedCustomers(b.em, "P", 20)
	b.em.AddExportProject(emulator.ExportProject{DefinitionGroup: "EXP-CUST", Entity: "Customers V3"})

	s := b.run(t, "deliver")
	require.Equal(t, jobhistory.JobPartiallySucceeded, s.Status, s.Error)
	assert.Equal(t, "PartiallySucceeded", s.DMFStatus)
	assert.EqualValues(t, 20, s.Rows)
	assert.Contains(t, strings.Join(b.events(t, s.ID), "\n"), "1 record(s) failed in staging", "F&O's errors on the timeline")
	var man exports.Manifest
	require.NoError(t, json.Unmarshal(readLocal(t, b.local, relPath(file(t, s, jobhistory.ExportManifest).Path)), &man))
	assert.Equal(t, "PartiallySucceeded", man.Status, "the manifest flags it too")
	st := b.em.Stats()
	assert.GreaterOrEqual(t, st.Requests["GetExportedPackageUrl"], int64(6), "the not-ready answers were waited out")
	assert.Empty(t, st.ProtocolViolations)

	s = b.run(t, "strict")
	require.Equal(t, jobhistory.JobFailed, s.Status)
	assert.Contains(t, s.Error, "ended PartiallySucceeded")
	assert.Empty(t, s.Files, "nothing written")
	_, err := os.Stat(filepath.Join(b.local, "strict"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// An existing file is never replaced: a name taken by other content fails the job and
// leaves the file; one holding the same bytes (an earlier attempt's) counts as written.
func TestExistingFilesAreNeverReplaced(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{projects: exportProject("fixed", "", "", "    destination: { connection: out, path: fixed/customers.csv, manifest: \"fixed/{execution}.json\" }\n")})
	seedCustomers(b.em, "F", 10)
	b.em.AddExportProject(emulator.ExportProject{DefinitionGroup: "EXP-CUST", Entity: "Customers V3"})
	s := b.run(t, "fixed")
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	first := readLocal(t, b.local, "fixed/customers.csv")

	// The same rows again: the same bytes under the same name count as written.
	s = b.run(t, "fixed")
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)

	// Different rows: the name is taken by other content.
	seedCustomers(b.em, "G", 1)
	s = b.run(t, "fixed")
	require.Equal(t, jobhistory.JobFailed, s.Status)
	assert.Contains(t, s.Error, "fixed/customers.csv already exists with other content; not replaced")
	assert.Equal(t, first, readLocal(t, b.local, "fixed/customers.csv"), "untouched")
	entries, err := os.ReadDir(filepath.Join(b.local, "fixed"))
	require.NoError(t, err)
	for _, e := range entries {
		assert.False(t, strings.HasSuffix(e.Name(), ".dmfpipe-partial"), "no temporary file left: %s", e.Name())
	}
}
