package emulator_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
)

func exportParams(group, le string) map[string]any {
	return map[string]any{"definitionGroupId": group, "packageName": "out", "executionId": "", "reExecute": false, "legalEntityId": le}
}

// exportedPackage polls GetExportedPackageUrl until it is non-empty and downloads it.
func (b *bundle) exportedPackage(id string, nested bool) *zip.Reader {
	b.t.Helper()
	var pkgURL string
	for range 5 {
		raw := b.value("GetExportedPackageUrl", map[string]string{"executionId": id})
		if nested {
			var v struct{ Value string }
			require.NoError(b.t, json.Unmarshal(raw, &v), string(raw))
			pkgURL = v.Value
		} else {
			require.NoError(b.t, json.Unmarshal(raw, &pkgURL))
		}
		if pkgURL != "" {
			break
		}
	}
	require.NotEmpty(b.t, pkgURL)
	resp := b.do(http.MethodGet, pkgURL, nil, nil, false)
	require.Equal(b.t, http.StatusOK, resp.StatusCode)
	data := readAll(b.t, resp)
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	require.NoError(b.t, err)
	return zr
}

func zipEntry(t testing.TB, zr *zip.Reader, name string) []byte {
	t.Helper()
	for _, f := range zr.File {
		if f.Name == name {
			rc, err := f.Open()
			require.NoError(t, err)
			defer rc.Close()
			data, err := io.ReadAll(rc)
			require.NoError(t, err)
			return data
		}
	}
	t.Fatalf("no %s in the package", name)
	return nil
}

func TestExportNeedsAProject(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	status, body := b.action("ExportToPackage", exportParams("NO-SUCH", "USMF"))
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, string(body), "NO-SUCH")

	// An import project is not an export project.
	id := b.importPackage(customersPackage(t, "IMP", [][]string{{"C1", "X", "10", "USD", "", ""}}), "IMP", "USMF", "")
	b.wait(id)
	status, _ = b.action("ExportToPackage", exportParams("IMP", "USMF"))
	assert.Equal(t, http.StatusBadRequest, status)
}

func TestExportBuildsARealPackage(t *testing.T) {
	t.Parallel()
	for _, nested := range []bool{false, true} {
		b := setup(t, emulator.Config{Quirks: emulator.Quirks{NestedValue: nested}})
		b.em.Seed("Customers V3", "USMF", []map[string]string{
			{"CUSTOMERACCOUNT": "C1", "ORGANIZATIONNAME": "Seeded, Inc.", "CUSTOMERGROUPID": "10", "SALESCURRENCYCODE": "USD"},
			{"CustomerAccount": "C2", "OrganizationName": "Second", "CustomerGroupId": "20", "SalesCurrencyCode": "EUR"},
		})
		b.em.Seed("Customers V3", "DAT", []map[string]string{{"CUSTOMERACCOUNT": "D1"}})
		b.em.AddExportProject(emulator.ExportProject{DefinitionGroup: "CUST-EXPORT", Entity: "Customers V3", LegalEntity: "USMF"})

		raw := b.value("ExportToPackage", exportParams("CUST-EXPORT", ""))
		var id string
		if nested {
			var v struct{ Value string }
			require.NoError(t, json.Unmarshal(raw, &v))
			id = v.Value
		} else {
			require.NoError(t, json.Unmarshal(raw, &id))
		}
		require.Equal(t, "Succeeded", b.wait(id))

		zr := b.exportedPackage(id, nested)
		manifest := decodeUTF16(t, zipEntry(t, zr, "Manifest.xml"))
		assert.Contains(t, manifest, `xmlns="`+dmNS+`"`)
		assert.Contains(t, manifest, "<EntityName>Customers V3</EntityName>")
		assert.Contains(t, manifest, "<InputFilePath>Customers V3.csv</InputFilePath>")
		assert.Less(t, strings.Index(manifest, "<DefinitionGroupName>"), strings.Index(manifest, "<PackageEntityList>"), "alphabetical order")
		header := decodeUTF16(t, zipEntry(t, zr, "PackageHeader.xml"))
		assert.Contains(t, header, "<PackageType>DefinitionGroup</PackageType>")

		data := decodeUTF16(t, zipEntry(t, zr, "Customers V3.csv"))
		lines := strings.Split(strings.TrimSuffix(data, "\r\n"), "\r\n")
		require.Len(t, lines, 3, data)
		assert.True(t, strings.HasPrefix(lines[0], "CUSTOMERACCOUNT,PARTYTYPE,ORGANIZATIONNAME,"))
		assert.True(t, strings.HasPrefix(lines[1], `C1,,"Seeded, Inc.",`), lines[1])
		assert.True(t, strings.HasPrefix(lines[2], "C2,,Second,"), lines[2])
	}
}

func TestExportPreviewFilterAndRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	rows := [][]string{
		{"C1", "One", "10", "USD", "", ""}, {"C2", "Two", "20", "USD", "", ""}, {"C3", "Three", "10", "USD", "", ""},
	}
	id := b.importPackage(customersPackage(t, "IN", rows), "IN", "USMF", "")
	require.Equal(t, "Succeeded", b.wait(id))

	// Admin API: an export project with a filter on the customer group.
	resp := b.do(http.MethodPost, "/_emulator/export-projects",
		[]byte(`{"definition_group":"OUT","entity":"CustomersV3","legal_entity":"USMF","filter":{"CUSTOMERGROUPID":"10"}}`), nil, false)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp.Body.Close()

	params := exportParams("OUT", "USMF")
	params["count"] = "1" // the Learn example passes a string
	id = b.str("ExportToPackagePreview", params)
	require.Equal(t, "Succeeded", b.wait(id))
	data := decodeUTF16(t, zipEntry(t, b.exportedPackage(id, false), "Customers V3.csv"))
	assert.Equal(t, 2, strings.Count(data, "\r\n"), "header and one row")

	id = b.str("ExportToPackageAsync", exportParams("OUT", "USMF"))
	require.Equal(t, "Succeeded", b.wait(id))
	zr := b.exportedPackage(id, false)
	data = decodeUTF16(t, zipEntry(t, zr, "Customers V3.csv"))
	assert.Contains(t, data, "C1,")
	assert.Contains(t, data, "C3,")
	assert.NotContains(t, data, "C2,")

	// The exported package imports again unchanged (into another company).
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		w, err := zw.Create(f.Name)
		require.NoError(t, err)
		_, err = w.Write(zipEntry(t, zr, f.Name))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	id = b.importPackage(buf.Bytes(), "REIMPORT", "DAT", "")
	require.Equal(t, "Succeeded", b.wait(id))
	assert.Len(t, b.em.Rows("Customers V3", "DAT"), 2)

	// An execution ID in use is refused, unless reExecute runs an export again.
	params = exportParams("OUT", "USMF")
	params["executionId"] = id // the import's
	status, _ := b.action("ExportToPackage", params)
	assert.Equal(t, http.StatusBadRequest, status)
	params["reExecute"] = true
	status, _ = b.action("ExportToPackage", params)
	assert.Equal(t, http.StatusBadRequest, status, "an import is not re-executed as an export")
	params["executionId"] = "EXPORT-ONCE"
	params["reExecute"] = false
	require.Equal(t, "EXPORT-ONCE", b.str("ExportToPackage", params))
	require.Equal(t, "Succeeded", b.wait("EXPORT-ONCE"))
	status, _ = b.action("ExportToPackage", params)
	assert.Equal(t, http.StatusBadRequest, status)
	params["reExecute"] = true
	require.Equal(t, "EXPORT-ONCE", b.str("ExportToPackage", params))
	require.Equal(t, "Succeeded", b.wait("EXPORT-ONCE"))
	n := 0
	for _, info := range b.em.Executions() {
		if info.ID == "EXPORT-ONCE" {
			n++
		}
	}
	assert.Equal(t, 1, n, "a re-run replaces the history entry")
	groups := b.query("/data/DataManagementDefinitionGroups", "OperationType eq 'Export'")
	require.Len(t, groups, 1)
	assert.Equal(t, "OUT", groups[0]["Name"])
}

func TestExportFromPackage(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	b.em.Seed("Vendors V2", "USMF", []map[string]string{{"VENDORACCOUNTNUMBER": "V1", "VENDORGROUPID": "10"}})
	template := buildPackage(t, pkgSpec{group: "VEND", entities: []entitySpec{{name: "Vendors V2", omitFile: true, noMaps: true}}})
	id := b.str("ExportFromPackage", importParams(b.upload(template), "VEND-EXPORT", "", "USMF"))
	require.Equal(t, "Succeeded", b.wait(id))
	data := decodeUTF16(t, zipEntry(t, b.exportedPackage(id, false), "Vendors V2.csv"))
	assert.Contains(t, data, "V1,")

	// The project now exists for ExportToPackage too.
	id = b.str("ExportToPackage", exportParams("VEND-EXPORT", "USMF"))
	assert.Equal(t, "Succeeded", b.wait(id))
}
