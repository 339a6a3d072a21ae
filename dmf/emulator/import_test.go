package emulator_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
)

func TestImportGoodAndBadRows(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	rows := [][]string{
		{"C001", "Contoso, Ltd.", "10", "USD", "Organization", "1000.50"},
		{"C002", "Fabrikam", "99", "USD", "Organization", ""},      // unknown customer group (target)
		{"C003", "Litware", "20", "EUR", "Company", ""},            // bad enum (staging)
		{"C004", "", "30", "USD", "", "12,5"},                      // bad decimal (staging)
		{"C005", "", "30", "USD", "", ""},                          // no organization name (target)
		{"c001", "Contoso again", "10", "USD", "Organization", ""}, // duplicate key in the file
		{"C006", `Quote "Q" Inc`, "40", "GBP", "organization", ""},
	}
	id := b.importPackage(customersPackage(t, "CUST-IMPORT", rows), "CUST-IMPORT", "usmf", "cust-1")
	assert.Equal(t, "cust-1", id)
	require.Equal(t, "PartiallySucceeded", b.wait(id))

	got := b.em.Rows("Customers V3", "USMF")
	require.Len(t, got, 2)
	assert.Equal(t, map[string]string{
		"CUSTOMERACCOUNT": "C001", "ORGANIZATIONNAME": "Contoso, Ltd.", "CUSTOMERGROUPID": "10",
		"SALESCURRENCYCODE": "USD", "PARTYTYPE": "Organization", "CREDITLIMIT": "1000.50", "ONHOLDSTATUS": "No",
	}, got[0])
	assert.Equal(t, "Organization", got[1]["PARTYTYPE"], "enum names are stored in catalog spelling")
	assert.Equal(t, `Quote "Q" Inc`, got[1]["ORGANIZATIONNAME"])

	// GetExecutionErrors: each step's row messages in staging RecId order, then the
	// step's results line. RecordIds are staging RecIds, not positions in the file.
	errs := b.errors(id)
	require.Len(t, errs, 7)
	lossOfData := `returned status value 2 and status text "The value could not be converted because of a potential loss of data.".`
	assert.ElementsMatch(t, []string{
		`PARTYTYPE: Data conversion failed. The data conversion for column "PARTYTYPE" ` + lossOfData,
		`CREDITLIMIT: Data conversion failed. The data conversion for column "CREDITLIMIT" ` + lossOfData,
	}, fieldMessages(errs[:2]))
	assert.Equal(t, executionError{ErrorMessage: "Results. 2 record(s) failed in staging for entity 'Customers V3'."}, errs[2])
	assert.ElementsMatch(t, []string{
		"CUSTOMERGROUPID: The value '99' in field 'Customer group' is not found in the relating table 'Customer groups'.",
		"ORGANIZATIONNAME: Field 'Organization name' must be filled in.",
		": Cannot create a record in Customers (CustTable). Customer account: c001. The record already exists.",
	}, fieldMessages(errs[3:6]))
	assert.Equal(t, executionError{ErrorMessage: "Results. 3 record(s) failed in target for entity 'Customers V3'."}, errs[6])
	recIDs := map[int64]bool{}
	for _, step := range [][]executionError{errs[:2], errs[3:6]} {
		prev := int64(0)
		for _, e := range step {
			n, err := strconv.ParseInt(e.RecordID, 10, 64)
			require.NoError(t, err)
			assert.GreaterOrEqual(t, n, int64(5637144576))
			assert.Greater(t, n, prev, "by RecId within a step")
			prev = n
			recIDs[n] = true
		}
	}
	assert.Len(t, recIDs, 5, "one RecId per failed row")

	info, ok := b.em.Execution(id)
	require.True(t, ok)
	require.Len(t, info.Entities, 1)
	ent := info.Entities[0]
	assert.Equal(t, int64(7), ent.Staged)
	assert.Equal(t, int64(2), ent.StagingErrors)
	assert.Equal(t, int64(3), ent.TargetErrors)
	assert.Equal(t, int64(2), ent.Inserted)

	// Staging error file: the source rows that failed conversion, as CSV-Unicode.
	stagingURL := b.str("GetImportStagingErrorFileUrl", map[string]string{"executionId": id, "entityName": "Customers V3"})
	require.NotEmpty(t, stagingURL)
	resp := b.do(http.MethodGet, stagingURL, nil, nil, false)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	staging := decodeUTF16(t, readAll(t, resp))
	assert.Equal(t, csvText([]string{"CUSTOMERACCOUNT", "ORGANIZATIONNAME", "CUSTOMERGROUPID", "SALESCURRENCYCODE", "PARTYTYPE", "CREDITLIMIT"},
		[][]string{rows[2], rows[3]}), staging)

	// Target error keys: generation starts, the first poll finds it still generating.
	var generating bool
	require.NoError(t, json.Unmarshal(b.value("GenerateImportTargetErrorKeysFile", map[string]string{"executionId": id, "entityName": "customers v3"}), &generating))
	assert.True(t, generating)
	params := map[string]string{"executionId": id, "entityName": "Customers V3"}
	assert.Empty(t, b.str("GetImportTargetErrorKeysFileUrl", params))
	keysURL := b.str("GetImportTargetErrorKeysFileUrl", params)
	require.NotEmpty(t, keysURL)
	resp = b.do(http.MethodGet, keysURL, nil, nil, false)
	assert.Equal(t, "CUSTOMERACCOUNT\r\nc001\r\nC002\r\nC005\r\n", decodeUTF16(t, readAll(t, resp)), "in key order")
	assert.Empty(t, b.em.Stats().ProtocolViolations)
}

// fieldMessages formats entries as "FIELD: message".
func fieldMessages(errs []executionError) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Field + ": " + e.ErrorMessage
	}
	return out
}

func TestReimportUpdatesInsteadOfDuplicating(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	rows := [][]string{
		{"C001", "Contoso", "10", "USD", "", ""},
		{"C002", "Fabrikam", "20", "USD", "", ""},
	}
	id := b.importPackage(customersPackage(t, "CUST", rows), "CUST", "USMF", "")
	require.Equal(t, "Succeeded", b.wait(id))

	rows[1][1] = "Fabrikam Renamed"
	id2 := b.importPackage(customersPackage(t, "CUST", append(rows, []string{"C003", "Tailspin", "30", "USD", "", ""})), "CUST", "USMF", "")
	require.Equal(t, "Succeeded", b.wait(id2))

	got := b.em.Rows("CustomersV3", "usmf")
	require.Len(t, got, 3, "a re-import never duplicates")
	assert.Equal(t, "Fabrikam Renamed", got[1]["ORGANIZATIONNAME"])
	stats := b.em.Stats()
	assert.Equal(t, int64(3), stats.Inserts)
	assert.Equal(t, int64(2), stats.Updates)
	assert.Equal(t, int64(2), stats.ImportCalls)

	// Another company is another table.
	id3 := b.importPackage(customersPackage(t, "CUST", rows[:1]), "CUST", "DAT", "")
	require.Equal(t, "Succeeded", b.wait(id3))
	assert.Len(t, b.em.Rows("Customers V3", "DAT"), 1)
	assert.Len(t, b.em.Rows("Customers V3", "USMF"), 3)
}

func TestImportFailsWhenNoRowIsValid(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	id := b.importPackage(customersPackage(t, "CUST", [][]string{{"C1", "X", "77", "USD", "", ""}}), "CUST", "USMF", "")
	assert.Equal(t, "Failed", b.wait(id))
	assert.Empty(t, b.em.Rows("Customers V3", "USMF"))
}

func TestManifestVariants(t *testing.T) {
	t.Parallel()
	header := []string{"CUSTOMERACCOUNT", "ORGANIZATIONNAME", "CUSTOMERGROUPID", "SALESCURRENCYCODE"}
	rows := [][]string{{"V1", "Variant", "10", "USD"}}
	for _, c := range []struct {
		name string
		spec pkgSpec
	}{
		{"utf-16 le", pkgSpec{encoding: "utf16le"}},
		{"utf-16 be", pkgSpec{encoding: "utf16be"}},
		{"utf-8 with bom", pkgSpec{encoding: "utf8bom"}},
		{"utf-8", pkgSpec{encoding: "utf8"}},
		{"reverse element order", pkgSpec{reverse: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, emulator.Config{})
			spec := c.spec
			spec.group = "VARIANT"
			spec.entities = []entitySpec{{name: "customers v3", header: header, rows: rows}}
			id := b.importPackage(buildPackage(t, spec), "VARIANT", "USMF", "")
			require.Equal(t, "Succeeded", b.wait(id))
			assert.Len(t, b.em.Rows("Customers V3", "USMF"), 1)
		})
	}
}

func TestPackageProblems(t *testing.T) {
	t.Parallel()
	header := []string{"CUSTOMERACCOUNT", "ORGANIZATIONNAME", "CUSTOMERGROUPID", "SALESCURRENCYCODE"}
	rows := [][]string{{"P1", "Problem", "10", "USD"}}
	rejected := []struct {
		name string
		spec pkgSpec
		msg  string
	}{
		{"wrong namespace", pkgSpec{namespace: "http://example.com/other", entities: []entitySpec{{name: "Customers V3", header: header, rows: rows}}}, "namespace"},
		{"unknown entity", pkgSpec{entities: []entitySpec{{name: "Customers V9", header: header, rows: rows}}}, "doesn't exist in the target environment"},
		{"missing data file", pkgSpec{entities: []entitySpec{{name: "Customers V3", header: header, rows: rows, omitFile: true}}}, "was not found in the data package"},
		{"read-only entity", pkgSpec{entities: []entitySpec{{name: "Inventory on-hand by warehouse V2", header: []string{"ITEMNUMBER"}}}}, "read-only"},
	}
	b := setup(t, emulator.Config{})
	for _, c := range rejected {
		c.spec.group = "BAD"
		status, body := b.action("ImportFromPackage", importParams(b.upload(buildPackage(t, c.spec)), "BAD", "", "USMF"))
		assert.Equal(t, http.StatusBadRequest, status, c.name)
		var e struct {
			Error struct {
				Message    string `json:"message"`
				InnerError struct {
					Message string `json:"message"`
				} `json:"innererror"`
			} `json:"error"`
		}
		require.NoError(t, json.Unmarshal(body, &e), c.name)
		assert.Contains(t, e.Error.Message, c.msg, c.name)
		assert.Equal(t, e.Error.Message, e.Error.InnerError.Message, c.name)
	}

	status, _ := b.action("ImportFromPackage", importParams(b.srv.URL+"/devstoreaccount1/dmf/never-uploaded.zip", "BAD", "", "USMF"))
	assert.Equal(t, http.StatusBadRequest, status, "package not uploaded")
	status, _ = b.action("ImportFromPackage", importParams(b.upload([]byte("not a zip")), "BAD", "", "USMF"))
	assert.Equal(t, http.StatusBadRequest, status, "not a zip")
	status, _ = b.action("ImportFromPackage", importParams(b.upload(customersPackage(t, "BAD", rows)), "BAD", "", "TOOLONG"))
	assert.Equal(t, http.StatusBadRequest, status, "legal entity longer than 4 characters")
	assert.Empty(t, b.em.Executions(), "rejected packages create no execution")
}

func TestTargetEntityFallback(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	pkg := buildPackage(t, pkgSpec{group: "AOT", entities: []entitySpec{{
		name: "Debitoren V3", target: "CustCustomerV3Entity", file: "data.csv",
		header: []string{"CUSTOMERACCOUNT", "ORGANIZATIONNAME", "CUSTOMERGROUPID", "SALESCURRENCYCODE"},
		rows:   [][]string{{"A1", "Aot", "10", "USD"}},
	}}})
	id := b.importPackage(pkg, "AOT", "USMF", "")
	require.Equal(t, "Succeeded", b.wait(id))
	assert.Len(t, b.em.Rows("Customers V3", "USMF"), 1)
}

func TestDataFileRules(t *testing.T) {
	t.Parallel()
	header := []string{"CUSTOMERACCOUNT", "ORGANIZATIONNAME", "CUSTOMERGROUPID", "SALESCURRENCYCODE"}
	rows := [][]string{{"D1", "Data, \"quoted\"\r\nmultiline", "10", "USD"}}
	utf8CSV := []byte(csvText(header, rows))
	lfCSV := encodeText(strings.ReplaceAll(csvText(header, rows[:0]), "\r\n", "\n")+"D1,Data,10,USD\n", "utf16le")
	cases := []struct {
		name    string
		lenient bool
		entity  entitySpec
		status  string
		rows    int
		errText string
	}{
		{"utf-16 with quoting", false, entitySpec{header: header, rows: rows}, "Succeeded", 1, ""},
		{"utf-8 data is not Unicode", false, entitySpec{data: utf8CSV}, "Failed", 0, "not Unicode"},
		{"utf-8 data when lenient", true, entitySpec{data: utf8CSV}, "Succeeded", 1, ""},
		{"LF line endings", false, entitySpec{data: lfCSV}, "Failed", 0, "CRLF"},
		{"empty map stages nothing", false, entitySpec{header: header, rows: rows, noMaps: true}, "Succeeded", 0, ""},
		{"mapped column missing", false, entitySpec{header: header, rows: rows, maps: [][2]string{{"ACCOUNT", "CUSTOMERACCOUNT"}}}, "Failed", 0, "DMF2022"},
		{"renamed columns", false, entitySpec{header: []string{"Account", "Name", "Group", "Currency"}, rows: rows,
			maps: [][2]string{{"Account", "CUSTOMERACCOUNT"}, {"Name", "ORGANIZATIONNAME"}, {"Group", "CUSTOMERGROUPID"}, {"Currency", "SALESCURRENCYCODE"}}}, "Succeeded", 1, ""},
		{"unsupported format", false, entitySpec{header: header, rows: rows, sourceFormat: "EXCEL"}, "Failed", 0, "not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, emulator.Config{Quirks: emulator.Quirks{LenientUTF8: c.lenient}})
			e := c.entity
			e.name = "Customers V3"
			if e.header == nil && e.data != nil {
				e.header = header
			}
			id := b.importPackage(buildPackage(t, pkgSpec{group: "FILE", entities: []entitySpec{e}}), "FILE", "USMF", "")
			require.Equal(t, c.status, b.wait(id))
			got := b.em.Rows("Customers V3", "USMF")
			assert.Len(t, got, c.rows)
			if c.rows > 0 && e.data == nil {
				assert.Equal(t, rows[0][1], got[0]["ORGANIZATIONNAME"])
			}
			if c.errText != "" {
				errs := b.errors(id)
				require.NotEmpty(t, errs)
				assert.Contains(t, errs[0].ErrorMessage, c.errText)
			}
		})
	}
}

func TestExecutionIDs(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	rows := [][]string{{"E1", "Ids", "10", "USD", "", ""}}
	url := b.upload(customersPackage(t, "IDS", rows))
	id := b.str("ImportFromPackage", importParams(url, "IDS", "", "USMF"))
	assert.Regexp(t, `^IDS-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-[0-9A-F]{32}$`, id)
	require.Equal(t, "Succeeded", b.wait(id))

	// The same ID with the same package is a no-op.
	assert.Equal(t, id, b.str("ImportFromPackage", importParams(url, "IDS", id, "USMF")))
	assert.Len(t, b.em.Executions(), 1)
	assert.Equal(t, int64(1), b.em.Stats().Executions)
	assert.Equal(t, int64(1), b.em.Stats().Inserts)

	// With another package it is refused.
	other := b.upload(customersPackage(t, "IDS", rows))
	status, body := b.action("ImportFromPackage", importParams(other, "IDS", id, "USMF"))
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, string(body), "already exists")
	v := b.em.Stats().ProtocolViolations
	require.Len(t, v, 1)
	assert.Contains(t, v[0], "reused")
}

func TestImportWithoutExecuteStopsAfterStaging(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	params := importParams(b.upload(customersPackage(t, "STAGE", [][]string{{"S1", "Staged", "10", "USD", "", ""}})), "STAGE", "", "USMF")
	params["execute"] = false
	id := b.str("ImportFromPackageAsync", params)
	require.Equal(t, "Succeeded", b.wait(id))
	assert.Empty(t, b.em.Rows("Customers V3", "USMF"))
	info, _ := b.em.Execution(id)
	assert.Equal(t, int64(1), info.Entities[0].Staged)
	assert.Equal(t, "NotRun", info.Entities[0].TargetStatus)
}

func TestGeneralJournal(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	header := []string{"JOURNALNAME", "JOURNALBATCHNUMBER", "LINENUMBER", "VOUCHER", "TRANSDATE", "ACCOUNTTYPE", "ACCOUNTDISPLAYVALUE", "CURRENCYCODE", "DEBITAMOUNT", "CREDITAMOUNT"}
	rows := [][]string{
		{"GenJrn", "PLACEHOLDER1", "1", "V1", "2025-01-31", "Ledger", "401100---", "GBP", "10", "0"},
		{"GenJrn", "PLACEHOLDER1", "2", "V1", "1/31/2025", "Ledger", "110110---", "GBP", "0", "10.00"},
		{"GenJrn", "PLACEHOLDER1", "3", "V2", "2025-01-31", "Ledger", "401100---", "GBP", "5", "0"}, // unbalanced
	}
	pkg := buildPackage(t, pkgSpec{group: "GJ", entities: []entitySpec{{name: "General journal", header: header, rows: rows}}})
	id := b.importPackage(pkg, "GJ", "USMF", "")
	require.Equal(t, "PartiallySucceeded", b.wait(id))
	got := b.em.Rows("General journal", "USMF")
	require.Len(t, got, 2)
	assert.Equal(t, "000001", got[0]["JOURNALBATCHNUMBER"], "placeholders get numbers")
	assert.Equal(t, got[0]["JOURNALBATCHNUMBER"], got[1]["JOURNALBATCHNUMBER"])
	assert.Equal(t, got[0]["VOUCHER"], got[1]["VOUCHER"])
	assert.Equal(t, "2025-01-31", got[1]["TRANSDATE"], "dates are stored as ISO")
	errs, lines := splitErrors(b.errors(id))
	require.Len(t, errs, 1)
	assert.Equal(t, "The transactions on voucher 000002 do not balance as per 1/31/2025. (accounting currency: 5.00 - reporting currency: 5.00)",
		errs[0].ErrorMessage, "the voucher's number replaced its placeholder")
	assert.Empty(t, errs[0].Field)
	assert.Equal(t, []string{"Results. 1 record(s) failed in target for entity 'General journal'."}, lines)

	// A re-import creates a new batch: journals are not idempotent.
	id = b.importPackage(buildPackage(t, pkgSpec{group: "GJ", entities: []entitySpec{{name: "General journal", header: header, rows: rows[:2]}}}), "GJ", "USMF", "")
	require.Equal(t, "Succeeded", b.wait(id))
	got = b.em.Rows("General journal", "USMF")
	require.Len(t, got, 4)
	assert.Equal(t, "000002", got[2]["JOURNALBATCHNUMBER"])
}

func TestSalesOrderLinesNeedTheirHeader(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	hdr := entitySpec{name: "Sales order headers V2", sequence: 1,
		header: []string{"SALESORDERNUMBER", "ORDERINGCUSTOMERACCOUNTNUMBER", "INVOICECUSTOMERACCOUNTNUMBER", "REQUESTEDSHIPPINGDATE"},
		rows:   [][]string{{"SO-1", "C001", "C001", "2025-02-01"}}}
	lines := entitySpec{name: "Sales order lines V2", sequence: 2,
		header: []string{"SALESORDERNUMBER", "ITEMNUMBER", "DELIVERYADDRESSLOCATIONID", "REQUESTEDSHIPPINGDATE", "ORDEREDSALESQUANTITY"},
		rows: [][]string{
			{"SO-1", "A0001", "000001", "2025-02-01", "2"},
			{"SO-1", "A0002", "000001", "2025-02-01", "1.5"},
			{"SO-2", "A0001", "000001", "2025-02-01", "1"}, // no such order
		}}
	// Lines first in the zip, headers first by sequence: sequencing decides.
	id := b.importPackage(buildPackage(t, pkgSpec{group: "SO", entities: []entitySpec{lines, hdr}}), "SO", "USMF", "")
	require.Equal(t, "PartiallySucceeded", b.wait(id))
	assert.Len(t, b.em.Rows("Sales order headers V2", "USMF"), 1)
	got := b.em.Rows("Sales order lines V2", "USMF")
	require.Len(t, got, 2)
	assert.NotEqual(t, got[0]["INVENTORYLOTID"], got[1]["INVENTORYLOTID"], "lot IDs come from a number sequence")
	errs, results := splitErrors(b.errors(id))
	require.Len(t, errs, 1)
	assert.Equal(t, "SALESORDERNUMBER", errs[0].Field)
	assert.Equal(t, "The value 'SO-2' in field 'Sales order' is not found in the relating table 'Sales orders'.", errs[0].ErrorMessage)
	assert.Equal(t, []string{"Results. 1 record(s) failed in target for entity 'Sales order lines V2'."}, results)
}

func TestUnescapedErrorsQuirk(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{Quirks: emulator.Quirks{UnescapedErrors: true}})
	id := b.importPackage(customersPackage(t, "Q", [][]string{{"Q1", "Quirk", "10", "USD", "Company", ""}}), "Q", "USMF", "")
	require.Equal(t, "Failed", b.wait(id))
	raw := b.str("GetExecutionErrors", map[string]string{"executionId": id})
	var strict []executionError
	assert.Error(t, json.Unmarshal([]byte(raw), &strict), "the quirk breaks strict parsers: %s", raw)
	assert.Contains(t, raw, `"ErrorMessage":"Data conversion failed. The data conversion for column "PARTYTYPE" returned`)
}

func TestUnknownAndInvalidParameters(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	status, body := b.action("GetExecutionIdByMessageId", map[string]string{"messageId": "x"})
	assert.Equal(t, http.StatusBadRequest, status, "the parameter is _messageId")
	assert.Contains(t, string(body), "not a valid parameter")
	status, _ = b.action("ImportFromPackage", map[string]any{"packageUrl": "x", "definitionGroupId": "G", "executionId": "",
		"execute": "yes", "overwrite": true, "legalEntityId": "USMF"})
	assert.Equal(t, http.StatusBadRequest, status, "execute must be a JSON boolean")
	status, _ = b.action("NoSuchAction", map[string]string{})
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, "Unknown", b.str("GetExecutionSummaryStatus", map[string]string{"executionId": "never"}))
	assert.Equal(t, "[]", b.str("GetExecutionErrors", map[string]string{"executionId": "never"}))
	assert.Len(t, b.em.Stats().ProtocolViolations, 1)
}

// badGroupRows is a Customers V3 file of n rows in which the rows at the indexes of bad
// have a customer group that does not exist.
func badGroupRows(prefix string, n int, bad map[int]bool) [][]string {
	rows := make([][]string, n)
	for i := range rows {
		group := []string{"10", "20", "30"}[i%3]
		if bad[i] {
			group = "99"
		}
		rows[i] = []string{fmt.Sprintf("%s%06d", prefix, i), fmt.Sprintf("Customer %d", i), group, "USD", "Organization", ""}
	}
	return rows
}

// recordIDs parses the RecordIds of row messages.
func recordIDs(t *testing.T, errs []executionError) []int64 {
	t.Helper()
	out := make([]int64, len(errs))
	for i, e := range errs {
		n, err := strconv.ParseInt(e.RecordID, 10, 64)
		require.NoError(t, err, e.RecordID)
		out[i] = n
	}
	return out
}

func TestRecordIDsAreStagingRecIDsNotPositions(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{RandSeed: 20250131})
	bad := map[int]bool{}
	var badPositions []int64 // 1-based data row numbers
	var badKeys []string
	for i := range 25 {
		idx := 13 + i*197
		bad[idx] = true
		badPositions = append(badPositions, int64(idx+1))
		badKeys = append(badKeys, fmt.Sprintf("C%06d", idx))
	}
	rows := badGroupRows("C", 5000, bad)
	id := b.importPackage(customersPackage(t, "BIG", rows), "BIG", "USMF", "")
	require.Equal(t, "PartiallySucceeded", b.wait(id))
	assert.Len(t, b.em.Rows("Customers V3", "USMF"), 5000-25)

	errs, results := splitErrors(b.errors(id))
	assert.Equal(t, []string{"Results. 25 record(s) failed in target for entity 'Customers V3'."}, results)
	require.Len(t, errs, 25)
	for _, e := range errs {
		assert.Equal(t, "CUSTOMERGROUPID", e.Field)
		assert.Equal(t, "The value '99' in field 'Customer group' is not found in the relating table 'Customer groups'.", e.ErrorMessage,
			"the message names the field and the value, not the customer")
	}
	ids := recordIDs(t, errs)
	assert.True(t, slices.IsSorted(ids), "listed by RecId")
	assert.Len(t, slices.Compact(slices.Clone(ids)), 25)
	for _, pos := range badPositions {
		assert.NotContains(t, ids, 5637144576+pos, "a RecordId is not base+position")
	}
	offsets := map[int64]bool{}
	for i, pos := range badPositions {
		offsets[ids[i]-pos] = true
	}
	assert.Greater(t, len(offsets), 1, "no base makes the RecordIds positions: %v", ids)

	// The target error keys file names exactly the failed rows, by key.
	params := map[string]string{"executionId": id, "entityName": "Customers V3"}
	var has bool
	require.NoError(t, json.Unmarshal(b.value("GenerateImportTargetErrorKeysFile", params), &has))
	require.True(t, has)
	var keysURL string
	for keysURL == "" {
		keysURL = b.str("GetImportTargetErrorKeysFileUrl", params)
	}
	resp := b.do(http.MethodGet, keysURL, nil, nil, false)
	assert.Equal(t, csvText([]string{"CUSTOMERACCOUNT"}, columnRows(badKeys)), decodeUTF16(t, readAll(t, resp)))
	assert.Empty(t, b.str("GetImportStagingErrorFileUrl", params), "nothing failed source-to-staging")
}

func columnRows(values []string) [][]string {
	out := make([][]string, len(values))
	for i, v := range values {
		out[i] = []string{v}
	}
	return out
}

func TestRecordIDsAreNeverReused(t *testing.T) {
	t.Parallel()
	bad := map[int]bool{0: true, 1: true, 250: true, 799: true, 800: true, 1499: true}
	run := func(seed uint64) [][]int64 {
		b := setup(t, emulator.Config{RandSeed: seed})
		var out [][]int64
		for _, le := range []string{"USMF", "USMF", "DAT"} {
			id := b.importPackage(customersPackage(t, "REUSE", badGroupRows("R", 1500, bad)), "REUSE", le, "")
			require.Equal(t, "PartiallySucceeded", b.wait(id))
			errs, _ := splitErrors(b.errors(id))
			require.Len(t, errs, len(bad))
			out = append(out, recordIDs(t, errs))
		}
		return out
	}
	got := run(99)
	seen := map[int64]bool{}
	for _, ids := range got {
		for _, n := range ids {
			assert.False(t, seen[n], "RecordId %d reused by another execution (staging tables share one sequence across executions and companies)", n)
			seen[n] = true
		}
	}
	assert.Equal(t, got, run(99), "deterministic for a RandSeed")
	assert.NotEqual(t, got, run(100))
}
