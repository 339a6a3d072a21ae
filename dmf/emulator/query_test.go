package emulator_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
)

func (b *bundle) query(path string, filter string) []map[string]any {
	b.t.Helper()
	if filter != "" {
		path += "?$filter=" + url.QueryEscape(filter)
	}
	resp := b.do(http.MethodGet, path, nil, nil, true)
	body := readAll(b.t, resp)
	require.Equal(b.t, http.StatusOK, resp.StatusCode, string(body))
	var page struct {
		Context string           `json:"@odata.context"`
		Value   []map[string]any `json:"value"`
	}
	require.NoError(b.t, json.Unmarshal(body, &page))
	require.NotEmpty(b.t, page.Context)
	return page.Value
}

func TestExecutionLookupAfterALostResponse(t *testing.T) {
	t.Parallel()
	// The execution record exists as soon as ImportFromPackage accepted the package, even
	// while it waits; a client whose response got lost finds it by definition group.
	b := setup(t, emulator.Config{ExecutionDelay: time.Hour})
	pkgURL := b.upload(customersPackage(t, "LOST", [][]string{{"L1", "Lost", "10", "USD", "", ""}}))
	id := b.str("ImportFromPackageAsync", importParams(pkgURL, "LOST-PROJECT", "LOST-PROJECT-job1-chunk1-1", "USMF"))

	recs := b.query("/data/DataManagementExecutionJobDetails", "DefinitionGroupId eq 'LOST-PROJECT'")
	require.Len(t, recs, 1)
	rec := recs[0]
	assert.Equal(t, id, rec["JobId"])
	assert.Equal(t, "Customers V3", rec["EntityName"])
	assert.Equal(t, "NotRun", rec["StagingStatus"])
	assert.Equal(t, "Customers V3.csv", rec["FilePath"])
	assert.Equal(t, "Yes", rec["ExecuteTargetStep"])
	for _, f := range []string{"StagingStartDateTime", "TargetRecordsCreatedCount", "TargetRecordsUpdatedCount", "SequenceNumber", "RunBusinessLogic"} {
		assert.Contains(t, rec, f)
	}

	assert.Len(t, b.query("/data/DataManagementExecutionJobDetails", "DefinitionGroupId eq 'LOST-PROJECT' and JobId eq '"+id+"'"), 1)
	assert.Empty(t, b.query("/data/DataManagementExecutionJobDetails", "DefinitionGroupId eq 'OTHER'"))
	assert.Len(t, b.query("/data/DataManagementExecutionJobDetails", "JobId eq '*-job1-*'"), 1)

	groups := b.query("/data/DataManagementDefinitionGroups", "Name eq 'lost-project'")
	require.Len(t, groups, 1)
	assert.Equal(t, "Import", groups[0]["OperationType"])

	resp := b.do(http.MethodGet, "/data/DataManagementExecutionJobDetails?$filter="+url.QueryEscape("contains(JobId,'x')"), nil, nil, true)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp.Body.Close()
	resp = b.do(http.MethodGet, "/data/DataManagementExecutionJobDetails?$filter="+url.QueryEscape("Nope eq 'x'"), nil, nil, true)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp.Body.Close()
}

func TestDataEntitiesMetadata(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	all := b.query("/metadata/DataEntities", "")
	assert.Len(t, all, 8)
	cust := b.query("/metadata/DataEntities", "Name eq 'CustCustomerV3Entity'")
	require.Len(t, cust, 1)
	assert.Equal(t, "CustomersV3", cust[0]["PublicCollectionName"])
	assert.Equal(t, "CustomerV3", cust[0]["PublicEntityName"])
	assert.Equal(t, false, cust[0]["IsReadOnly"])
	assert.Len(t, b.query("/metadata/DataEntities", "Name eq '*cust*'"), 2, "wildcards mean contains")
	onHand := b.query("/metadata/DataEntities", "PublicCollectionName eq 'WarehousesOnHandV2'")
	require.Len(t, onHand, 1)
	assert.Equal(t, true, onHand[0]["IsReadOnly"])

	resp := b.do(http.MethodGet, "/metadata/DataEntities?$select=Name&$top=2", nil, nil, true)
	var page struct{ Value []map[string]any }
	require.NoError(t, json.Unmarshal(readAll(t, resp), &page))
	require.Len(t, page.Value, 2)
	assert.Len(t, page.Value[0], 1)
}

func TestOtherActions(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	id := b.importPackage(customersPackage(t, "OTHER", [][]string{{"O1", "Other", "10", "USD", "", ""}}), "OTHER", "USMF", "")
	require.Equal(t, "Succeeded", b.wait(id))

	var list []map[string]any
	require.NoError(t, json.Unmarshal(b.value("GetEntityExecutionSummaryStatusList", map[string]string{"executionId": id}), &list))
	require.Len(t, list, 1)
	assert.Equal(t, "Customers V3", list[0]["EntityName"])
	assert.Equal(t, float64(1), list[0]["TargetRecords"])

	page := b.str("GetExecutionSummaryPageUrl", map[string]string{"executionId": id})
	resp := b.do(http.MethodGet, page, nil, nil, false)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp.Body.Close()

	resp = b.do(http.MethodPost, actionBase+"InitializeDataManagement", []byte(`{}`), map[string]string{"Content-Type": "application/json"}, true)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp.Body.Close()

	// No errors: no error files.
	assert.Empty(t, b.str("GetImportStagingErrorFileUrl", map[string]string{"executionId": id, "entityName": "Customers V3"}))
	var generating bool
	require.NoError(t, json.Unmarshal(b.value("GenerateImportTargetErrorKeysFile", map[string]string{"executionId": id, "entityName": "Customers V3"}), &generating))
	assert.False(t, generating)
	assert.Empty(t, b.str("GetImportTargetErrorKeysFileUrl", map[string]string{"executionId": id, "entityName": "Customers V3"}))

	var deleted bool
	require.NoError(t, json.Unmarshal(b.value("DeleteExecutionHistoryJob", map[string]string{"executionId": id}), &deleted))
	assert.True(t, deleted)
	assert.Equal(t, "Unknown", b.str("GetExecutionSummaryStatus", map[string]string{"executionId": id}))
	assert.Len(t, b.em.Rows("Customers V3", "USMF"), 1, "deleting history keeps the data")
}

func TestAdminAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	resp := b.do(http.MethodPost, "/_emulator/rows?entity=Vendors%20V2&legal_entity=USMF",
		[]byte(`[{"VENDORACCOUNTNUMBER":"V1","VENDORGROUPID":"10"},{"VendorAccountNumber":"v1","CurrencyCode":"EUR"}]`), nil, false)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp.Body.Close()

	resp = b.do(http.MethodGet, "/_emulator/rows?entity=VendVendorV2Entity&legal_entity=usmf", nil, nil, false)
	var rows []map[string]string
	require.NoError(t, json.Unmarshal(readAll(t, resp), &rows))
	assert.Equal(t, []map[string]string{{"VENDORACCOUNTNUMBER": "v1", "VENDORGROUPID": "10", "CURRENCYCODE": "EUR"}}, rows,
		"keys compare case-insensitively; an update replaces the fields it sets")

	resp = b.do(http.MethodPost, "/_emulator/rows?entity=Nope", []byte(`[]`), nil, false)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp.Body.Close()

	resp = b.do(http.MethodPost, "/_emulator/recurring-jobs", []byte(`{"activity_id":"{ABC}","direction":"export","definition_group":"OUT","interval":"1h"}`), nil, false)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp.Body.Close()
	resp = b.do(http.MethodPost, "/_emulator/recurring-jobs/abc/run", nil, nil, false)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp.Body.Close()
	resp = b.do(http.MethodPost, "/_emulator/recurring-jobs", []byte(`{"activity_id":"x","direction":"sideways"}`), nil, false)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp.Body.Close()

	id := b.importPackage(customersPackage(t, "ADM", [][]string{{"A1", "Adm", "10", "USD", "", ""}}), "ADM", "USMF", "")
	b.wait(id)
	resp = b.do(http.MethodGet, "/_emulator/executions", nil, nil, false)
	var execs []emulator.ExecutionInfo
	require.NoError(t, json.Unmarshal(readAll(t, resp), &execs))
	require.Len(t, execs, 1)
	assert.Equal(t, id, execs[0].ID)
	assert.Equal(t, "Succeeded", execs[0].Status)

	resp = b.do(http.MethodGet, "/_emulator/stats", nil, nil, false)
	var stats emulator.Stats
	require.NoError(t, json.Unmarshal(readAll(t, resp), &stats))
	assert.Equal(t, int64(1), stats.ImportCalls)
	assert.Equal(t, int64(1), stats.Inserts)

	resp = b.do(http.MethodPut, "/_emulator/faults", []byte(`{"rate_429":0.5,"retry_after":"2s","unknown":1}`), nil, false)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "unknown fields are refused")
	resp.Body.Close()
	resp = b.do(http.MethodPut, "/_emulator/faults", []byte(`{"rate_429":0.5,"retry_after":"2s"}`), nil, false)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp.Body.Close()
	assert.Equal(t, emulator.Faults{Rate429: 0.5, RetryAfter: 2 * time.Second}, b.em.CurrentFaults())
}
