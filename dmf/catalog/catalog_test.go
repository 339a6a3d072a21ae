package catalog_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf/catalog"
)

func TestDefaultHasRequiredEntities(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	for _, name := range []string{
		"Customers V3", "Customer definitions", "Vendors V2", "Released products V2",
		"Sales order headers V2", "Sales order lines V2", "General journal",
		"Inventory on-hand by warehouse V2",
	} {
		e, ok := c.Lookup(name)
		require.True(t, ok, name)
		assert.Equal(t, name, e.DMFName)
		assert.NotEmpty(t, e.KeyFields, name)
		for _, k := range e.KeyFields {
			_, ok := e.Field(k)
			assert.True(t, ok, "%s key %s", name, k)
		}
	}
	assert.Len(t, c.Entities(), 8)
}

func TestLookupByAnyName(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	for _, name := range []string{"customers v3", "CUSTCUSTOMERV3ENTITY", "CustomersV3", "customerv3", " Customers V3 "} {
		e, ok := c.Lookup(name)
		require.True(t, ok, name)
		assert.Equal(t, "CustCustomerV3Entity", e.AOTName)
	}
	_, ok := c.Lookup("Customers V4")
	assert.False(t, ok)

	gj, ok := c.Lookup("LedgerJournalEntity")
	require.True(t, ok)
	assert.Empty(t, gj.PublicCollection, "General journal has no OData exposure")
	assert.Equal(t, []string{"JOURNALBATCHNUMBER", "LINENUMBER"}, gj.KeyFields)

	oh, ok := c.Lookup("WarehousesOnHandV2")
	require.True(t, ok)
	assert.True(t, oh.ReadOnly)
}

func TestFieldMetadata(t *testing.T) {
	t.Parallel()
	cust, _ := catalog.Default().Lookup("Customers V3")

	f, ok := cust.Field("customeraccount")
	require.True(t, ok)
	assert.Equal(t, "CUSTOMERACCOUNT", f.StagingName)
	assert.Equal(t, 20, f.MaxLen)
	assert.True(t, f.Mandatory)

	f, ok = cust.Field("PartyType") // OData name
	require.True(t, ok)
	assert.Equal(t, catalog.TypeEnum, f.Type)
	assert.Equal(t, []string{"Organization", "Person"}, f.EnumValues)
	assert.Equal(t, "Organization", f.Default)

	f, _ = cust.Field("CUSTOMERGROUPID")
	require.NotNil(t, f.Ref)
	groups, ok := catalog.Default().ReferenceList(f.Ref.List)
	require.True(t, ok)
	assert.Subset(t, groups, []string{"10", "20", "30", "40", "80", "90"})

	_, ok = cust.Field("SALECURRENCYCODE") // the doc typo is not a field
	assert.False(t, ok)
	assert.Equal(t, -1, cust.FieldIndex("nope"))

	lines, _ := catalog.Default().Lookup("Sales order lines V2")
	lot, _ := lines.Field("INVENTORYLOTID")
	assert.True(t, lot.AutoGenerate)
	so, _ := lines.Field("SALESORDERNUMBER")
	require.NotNil(t, so.Ref)
	assert.Equal(t, "Sales order headers V2", so.Ref.Entity)
}

func TestParseRejectsInconsistentData(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"bad json":        `{`,
		"unknown key":     `{"entities":[{"dmf_name":"X","aot_name":"XEntity","key_fields":["A"],"fields":[{"staging_name":"B","type":"string"}]}]}`,
		"lower case name": `{"entities":[{"dmf_name":"X","aot_name":"XEntity","key_fields":["a"],"fields":[{"staging_name":"a","type":"string"}]}]}`,
		"bad type":        `{"entities":[{"dmf_name":"X","aot_name":"XEntity","key_fields":["A"],"fields":[{"staging_name":"A","type":"money"}]}]}`,
		"enum default":    `{"entities":[{"dmf_name":"X","aot_name":"XEntity","key_fields":["A"],"fields":[{"staging_name":"A","type":"enum","enum_values":["P"],"default":"Q"}]}]}`,
		"unknown list":    `{"entities":[{"dmf_name":"X","aot_name":"XEntity","key_fields":["A"],"fields":[{"staging_name":"A","type":"string","ref":{"list":"Nope","label":"n"}}]}]}`,
		"duplicate name":  `{"entities":[{"dmf_name":"X","aot_name":"XEntity","key_fields":["A"],"fields":[{"staging_name":"A","type":"string"}]},{"dmf_name":"x","aot_name":"YEntity","key_fields":["A"],"fields":[{"staging_name":"A","type":"string"}]}]}`,
	}
	for name, data := range cases {
		_, err := catalog.Parse([]byte(data))
		assert.Error(t, err, name)
	}
	_, err := catalog.Parse([]byte(`{"entities":[{"dmf_name":"X","aot_name":"XEntity","key_fields":["A"],"fields":[{"staging_name":"A","type":"string"}]}]}`))
	assert.NoError(t, err)
}
