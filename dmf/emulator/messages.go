package emulator

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/dmfpipe/dmfpipe/dmf/catalog"
)

// The texts of F&O's errors as GetExecutionErrors returns them. The package doc says
// which source each follows.

// msgMustBeFilledIn is F&O's mandatory-field message; it names the field by its label
// and no key value.
func msgMustBeFilledIn(ent *catalog.Entity, field string) string {
	return fmt.Sprintf("Field '%s' must be filled in.", fieldLabel(ent, field))
}

// msgOneMustBeFilledIn is the emulator's message for a rule that needs one of several
// fields (F&O's own text is not known).
func msgOneMustBeFilledIn(ent *catalog.Entity, fields []string) string {
	labels := make([]string, len(fields))
	for i, f := range fields {
		labels[i] = "'" + fieldLabel(ent, f) + "'"
	}
	return fmt.Sprintf("At least one of the fields %s must be filled in.", strings.Join(labels, ", "))
}

// msgNotInRelatedTable is F&O's message for a value missing from the table a field
// relates to: it names the field and the value, not the record.
func msgNotInRelatedTable(ent *catalog.Entity, field, value, table string) string {
	return fmt.Sprintf("The value '%s' in field '%s' is not found in the relating table '%s'.", value, fieldLabel(ent, field), table)
}

// msgRecordExists is the kernel's duplicate-key message, which names the key values:
// "Cannot create a record in Customers (CustTable). Customer account: C000123. The
// record already exists."
func msgRecordExists(ent *catalog.Entity, vals []string) string {
	tbl := rootTableOf(ent)
	labels := make([]string, len(ent.KeyFields))
	values := make([]string, len(ent.KeyFields))
	for i, k := range ent.KeyFields {
		labels[i] = fieldLabel(ent, k)
		values[i] = vals[ent.FieldIndex(k)]
	}
	return fmt.Sprintf("Cannot create a record in %s (%s). %s: %s. The record already exists.",
		tbl.label, tbl.name, strings.Join(labels, ", "), strings.Join(values, ", "))
}

// msgUnbalanced is the ledger's message for a voucher whose debits and credits differ.
func msgUnbalanced(voucher, transDate, difference string) string {
	return fmt.Sprintf("The transactions on voucher %s do not balance as per %s. (accounting currency: %s - reporting currency: %s)",
		voucher, transDate, difference, difference)
}

// SSIS statuses of a failed data conversion (DMF stages delimited files through SSIS).
const (
	ssisLossOfData = 2 // the value does not convert to the column's type
	ssisTruncated  = 4 // the text is longer than the column
)

// msgConversionFailed is SSIS's message for a source value that does not convert into
// its staging column: it names the column, not the value or the record.
func msgConversionFailed(column string, status int) string {
	text := "The value could not be converted because of a potential loss of data."
	if status == ssisTruncated {
		text = "Text was truncated or one or more characters had no match in the target code page."
	}
	return fmt.Sprintf("Data conversion failed. The data conversion for column \"%s\" returned status value %d and status text \"%s\".",
		column, status, text)
}

// msgColumnCount is DMF2018 for a row with too many or too few values.
func msgColumnCount(values, columns int) string {
	return fmt.Sprintf("DMF2018: Column has invalid data. The row has %d values and the header %d columns.", values, columns)
}

// msgStepResults is the execution-level line that closes a step with failed rows; it
// names no row.
func msgStepResults(failed int64, step, entity string) string {
	return fmt.Sprintf("Results. %d record(s) failed in %s for entity '%s'.", failed, step, entity)
}

// rootTable is the table F&O writes an entity's rows to, as its messages name it.
type rootTable struct{ label, name string }

// rootTables maps AOT entity names to their root data source (table label and name).
var rootTables = map[string]rootTable{
	"CUSTCUSTOMERV3ENTITY":          {"Customers", "CustTable"},
	"CUSTCUSTOMERBASEENTITY":        {"Customers", "CustTable"},
	"VENDVENDORV2ENTITY":            {"Vendors", "VendTable"},
	"ECORESRELEASEDPRODUCTV2ENTITY": {"Items", "InventTable"},
	"SALESORDERHEADERV2ENTITY":      {"Sales orders", "SalesTable"},
	"SALESORDERLINEV2ENTITY":        {"Order lines", "SalesLine"},
	"LEDGERJOURNALENTITY":           {"Journal lines", "LedgerJournalTrans"},
}

// rootTableOf falls back to the entity's own names for an entity of a custom catalog.
func rootTableOf(ent *catalog.Entity) rootTable {
	if t, ok := rootTables[strings.ToUpper(ent.AOTName)]; ok {
		return t
	}
	return rootTable{ent.DMFName, strings.TrimSuffix(ent.AOTName, "Entity")}
}

// fieldLabels are F&O's labels of the fields the emulator's messages name.
var fieldLabels = map[string]string{
	"CUSTOMERACCOUNT":               "Customer account",
	"CUSTOMERGROUPID":               "Customer group",
	"SALESCURRENCYCODE":             "Currency",
	"ORGANIZATIONNAME":              "Organization name",
	"NAME":                          "Name",
	"PERSONFIRSTNAME":               "First name",
	"PERSONMIDDLENAME":              "Middle name",
	"PERSONLASTNAME":                "Last name",
	"ADDRESSCOUNTRYREGIONID":        "Country/region",
	"VENDORACCOUNTNUMBER":           "Vendor account",
	"VENDORGROUPID":                 "Vendor group",
	"VENDORORGANIZATIONNAME":        "Organization name",
	"CURRENCYCODE":                  "Currency",
	"ITEMNUMBER":                    "Item number",
	"PRODUCTNUMBER":                 "Product number",
	"SALESORDERNUMBER":              "Sales order",
	"ORDERINGCUSTOMERACCOUNTNUMBER": "Customer account",
	"INVOICECUSTOMERACCOUNTNUMBER":  "Invoice account",
	"REQUESTEDSHIPPINGDATE":         "Requested ship date",
	"DELIVERYADDRESSLOCATIONID":     "Delivery address",
	"INVENTORYLOTID":                "Lot ID",
	"JOURNALBATCHNUMBER":            "Journal batch number",
	"LINENUMBER":                    "Line number",
	"VOUCHER":                       "Voucher",
	"TRANSDATE":                     "Date",
}

// fieldLabel is a field's label; a field without one is named after its OData name
// ("SalesTaxGroup" -> "Sales tax group").
func fieldLabel(ent *catalog.Entity, staging string) string {
	if l, ok := fieldLabels[strings.ToUpper(staging)]; ok {
		return l
	}
	f, ok := ent.Field(staging)
	if !ok || f.ODataName == "" {
		return staging
	}
	var b strings.Builder
	for i, r := range f.ODataName {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte(' ')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
