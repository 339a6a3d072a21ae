package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/mapping"
)

func TestEntitiesList(t *testing.T) {
	t.Parallel()
	cat := catalog.Default()
	out, code := runCLI(t, "entities")
	require.Equal(t, exitOK, code, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, len(cat.Entities())+2, out)
	assert.Regexp(t, `^LABEL \(target\.entity\) +AOT NAME +ODATA ENTITY +ODATA COLLECTION +FIELDS +READ-ONLY +KEY$`, lines[0])
	for i, e := range cat.Entities() {
		want := fmt.Sprintf(`^%s +%s +%s +%s +%d +%s +%s$`, regexp.QuoteMeta(e.DMFName), e.AOTName, orDash(e.PublicEntity),
			orDash(e.PublicCollection), len(e.Fields), yesNo(e.ReadOnly), regexp.QuoteMeta(strings.Join(e.KeyFields, ", ")))
		assert.Regexp(t, want, lines[i+1])
	}
	assert.Equal(t, fmt.Sprintf("%d entities; `pipeline entities NAME` shows one's fields", len(cat.Entities())), lines[len(lines)-1])

	out, code = runCLI(t, "entities", "--json")
	require.Equal(t, exitOK, code, out)
	var list []entitySummary
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	require.Len(t, list, len(cat.Entities()))
	for i, e := range cat.Entities() {
		assert.Equal(t, summarize(e), list[i])
	}
	assert.Contains(t, out, `"label": "Customers V3"`)
}

func TestEntitiesShowOne(t *testing.T) {
	t.Parallel()
	cust, ok := catalog.Default().Lookup("Customers V3")
	require.True(t, ok)
	out, code := runCLI(t, "entities", "Customers V3")
	require.Equal(t, exitOK, code, out)
	for _, want := range []string{
		"Customers V3\n  target.entity:  Customers V3\n  AOT name:       CustCustomerV3Entity\n",
		"  OData:          CustomerV3 (collection CustomersV3)\n",
		"  Key:            CUSTOMERACCOUNT\n",
		"Also required:\n  ORGANIZATIONNAME when PARTYTYPE is Organization\n" +
			"  one of PERSONFIRSTNAME, PERSONMIDDLENAME, PERSONLASTNAME when PARTYTYPE is Person\n" +
			"  ADDRESSCOUNTRYREGIONID when ADDRESSDESCRIPTION is not empty\n",
	} {
		assert.Contains(t, out, want)
	}
	for _, f := range cust.Fields {
		assert.Regexp(t, `(?m)^`+f.StagingName+` +`+f.ODataName+` +`+string(f.Type)+`\b`, out)
	}
	assert.Regexp(t, `(?m)^CUSTOMERACCOUNT +CustomerAccount +string +20 +yes$`, out)
	assert.Regexp(t, `(?m)^PARTYTYPE +PartyType +enum +Organization +Organization, Person$`, out)
	assert.Regexp(t, `(?m)^CUSTOMERGROUPID +CustomerGroupId +string +10 +yes +one of Customer groups \(10, 20, 30, 40, 80, 90\)$`, out)
	assert.NotRegexp(t, `(?m) $`, out, "no trailing blanks")

	// The same entity by AOT name, OData collection name and an unquoted label in any case.
	for _, args := range [][]string{{"custcustomerv3entity"}, {"CustomersV3"}, {"customers", "v3"}} {
		again, code := runCLI(t, append([]string{"entities"}, args...)...)
		require.Equal(t, exitOK, code, again)
		assert.Equal(t, out, again, args)
	}

	out, code = runCLI(t, "entities", "Customers V3", "--json")
	require.Equal(t, exitOK, code, out)
	var d entityDetail
	require.NoError(t, json.Unmarshal([]byte(out), &d))
	assert.Equal(t, summarize(cust), d.entitySummary)
	assert.Equal(t, cust.Fields, d.Fields)
	assert.Equal(t, cust.Rules, d.Rules)
	assert.Equal(t, mapping.Required(cust), d.RequiredInMapping)
	groups, _ := catalog.Default().ReferenceList("CustomerGroups")
	assert.Equal(t, map[string][]string{"CustomerGroups": groups}, d.ReferenceLists)

	out, code = runCLI(t, "entities", "General journal")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "  OData:          none (not exposed as an OData entity)\n")
	assert.Regexp(t, `(?m)^JOURNALBATCHNUMBER +JournalBatchNumber +string +20 +auto$`, out)
	assert.Contains(t, out, "Balance (rows with the same JOURNALBATCHNUMBER and VOUCHER):\n"+
		"  the sum of DEBITAMOUNT equals the sum of CREDITAMOUNT\n"+
		"  a row with OFFSETACCOUNTDISPLAYVALUE set balances itself\n")

	out, code = runCLI(t, "entities", "WarehousesOnHandV2")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "  Read-only:      yes: it can be exported, not imported\n")
	assert.NotContains(t, out, "A mapping to start from", "a read-only entity cannot be imported")
}

// The mapping printed to start from passes `check` for every entity that can be imported.
func TestEntitiesStarterMappingChecks(t *testing.T) {
	t.Parallel()
	for _, e := range catalog.Default().Entities() {
		if e.ReadOnly {
			continue
		}
		t.Run(e.AOTName, func(t *testing.T) {
			t.Parallel()
			out, code := runCLI(t, "entities", e.DMFName)
			require.Equal(t, exitOK, code, out)
			_, starter, ok := strings.Cut(out, "A mapping to start from (each from names a column of your file; docs/mapping.md has every key):\n")
			require.True(t, ok, out)
			file := writeImportConfig(t, "  - name: starter\n"+importProjectKeys+indentLines(starter, "  "))
			out, code = runCLI(t, "check", "-c", file)
			assert.Equal(t, exitOK, code, "%s\n%s", starter, out)
			for _, name := range mapping.Required(e) {
				assert.Regexp(t, `(?m)^    `+name+`: +\{ from: \w+ \}$`, starter)
			}
		})
	}
}

// importProjectKeys are the keys of an import project that writeImportConfig's
// environment and connection make valid, after its name.
const importProjectKeys = `    kind: import
    environment: e
    source: { connection: c, path: in }
`

// writeImportConfig writes a config of one environment e and one local connection c
// with the given projects (YAML list items) and returns its path.
func writeImportConfig(t *testing.T, projects string) string {
	t.Helper()
	return testsvc.WriteConfig(t, testsvc.OfflineConfig+"projects:\n"+projects)
}

func indentLines(s, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString(prefix + line)
	}
	return b.String()
}

func TestEntitiesUnknownName(t *testing.T) {
	t.Parallel()
	out, code := runCLI(t, "entities", "customer", "v2")
	assert.Equal(t, exitUsage, code)
	assert.Equal(t, "pipeline: \"customer v2\" is not an entity of the catalog; did you mean Customers V3? (pipeline entities lists them)\n", out)

	out, code = runCLI(t, "entities", "sales order")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, out, "did you mean Sales order headers V2 or Sales order lines V2?")

	out, code = runCLI(t, "entities", "Purchase orders")
	assert.Equal(t, exitUsage, code)
	assert.Equal(t, "pipeline: \"Purchase orders\" is not an entity of the catalog (pipeline entities lists them)\n", out)
}

func TestEntitiesHelp(t *testing.T) {
	t.Parallel()
	out, code := runCLI(t, "entities", "--help")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "Usage:\n  pipeline entities [NAME] [flags]")
	assert.Contains(t, out, `pipeline entities "Customers V3"`)
	assert.Contains(t, out, "--json")
}

// `pipeline help mapping` prints docs/mapping.md; `pipeline --help` lists it.
func TestHelpMapping(t *testing.T) {
	t.Parallel()
	out, code := runCLI(t, "help", "mapping")
	require.Equal(t, exitOK, code, out)
	assert.True(t, strings.HasPrefix(out, "# The mapping language\n"), out[:min(len(out), 200)])
	for _, want := range []string{"### `from`", "### `coalesce`", "### `lookup`", "## Errors"} {
		assert.Contains(t, out, want)
	}
	out, code = runCLI(t, "--help")
	require.Equal(t, exitOK, code, out)
	assert.Regexp(t, `Additional help topics:\n  pipeline mapping +The mapping language`, out)
	assert.Regexp(t, `(?m)^  entities +List the entities`, out)
}

// `check` answers a field the entity lacks, in a mapping or a rule, and an unknown
// entity, with the closest names, located as config errors are.
func TestCheckSuggestsNames(t *testing.T) {
	t.Parallel()
	file := writeImportConfig(t, "  - name: p\n"+importProjectKeys+`    target: { entity: Customers V3, legal_entity: USMF, definition_group: G }
    mapping:
      CUSTOMERACOUNT:    { from: A }
      CustomerGroupID:   { const: "10" }
      SALESCURRENCYCODE: { const: EUR }
      ORGANIZATIONNAME:  { from: Name }
      ACCOUNT:           { from: B }
    validate:
      - { field: SALESCURENCYCODE, required: true }
  - name: q
`+importProjectKeys+`    target: { entity: Customer V3, legal_entity: USMF, definition_group: G }
    mapping:
      CUSTOMERACCOUNT: { from: A }
`)
	out, code := runCLI(t, "check", "-c", file)
	assert.Equal(t, exitUsage, code)
	assert.Equal(t, []string{
		file + ":12: project p: CUSTOMERACOUNT is not a field of Customers V3; did you mean CUSTOMERACCOUNT?",
		file + ":12: project p: mandatory field CUSTOMERACCOUNT of Customers V3 is not mapped (add it to mapping, with from, const or default)",
		file + ":16: project p: ACCOUNT is not a field of Customers V3; did you mean CUSTOMERACCOUNT or INVOICEACCOUNT?",
		file + ":18: project p: validate: SALESCURENCYCODE is not a field of Customers V3; did you mean SALESCURRENCYCODE?",
		file + `:19: project q: entity "Customer V3" is not in the catalog; did you mean Customers V3? (known: Customers V3, Customer definitions, Vendors V2, Released products V2, Sales order headers V2, Sales order lines V2, General journal, Inventory on-hand by warehouse V2)`,
	}, strings.Split(strings.TrimSpace(out), "\n"))
}

// `dmf entities` shows the catalog label a config needs beside the live names.
func TestDMFEntitiesLabels(t *testing.T) {
	t.Parallel()
	_, cfg := startEmulator(t)
	out, code := runCLI(t, "dmf", "entities", "-c", cfg)
	require.Equal(t, exitOK, code, out)
	assert.Regexp(t, `(?m)^NAME +LABEL \(target\.entity\) +PUBLIC ENTITY +COLLECTION +CATEGORY +READ-ONLY$`, out)
	assert.Regexp(t, `(?m)^CustCustomerV3Entity +Customers V3 +CustomerV3 +CustomersV3 +Master +false$`, out)
	n := len(catalog.Default().Entities())
	assert.Contains(t, out, fmt.Sprintf("%d entities, %d of them in dmfpipe's catalog (a label: usable as target.entity)\n", n, n))

	out, code = runCLI(t, "dmf", "entities", "-c", cfg, "--filter", "on-hand", "--json")
	require.Equal(t, exitOK, code, out)
	var list []liveEntity
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	require.Len(t, list, 1)
	assert.Equal(t, "InventWarehouseOnHandV2Entity", list[0].Name)
	assert.Equal(t, "Inventory on-hand by warehouse V2", list[0].Label)
	assert.True(t, list[0].IsReadOnly)
}

func TestCatalogLabel(t *testing.T) {
	t.Parallel()
	cat := catalog.Default()
	assert.Equal(t, "Vendors V2", catalogLabel(cat, dmf.DataEntity{Name: "VendVendorV2Entity", LabelID: "@SYS1"}))
	assert.Equal(t, "Vendors V2", catalogLabel(cat, dmf.DataEntity{Name: "VendVendorV3Entity", PublicCollectionName: "VendorsV2"}),
		"found by an OData name when the AOT name is unknown")
	assert.Equal(t, "", catalogLabel(cat, dmf.DataEntity{Name: "AssetMajorTypeEntity", LabelID: "Fixed asset major type"}))
}
