package explain_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/explain"
	"github.com/dmfpipe/dmfpipe/validate"
)

func TestError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   validate.Error
		// want: the title, a part of the text, and the field and code it names
		title, text, field, code string
	}{
		{"required", validate.Error{Field: "CUSTOMERGROUPID", Column: "Group", Rule: validate.RuleRequired, Msg: "a value is required"},
			"Value missing", "CUSTOMERGROUPID must have a value", "CUSTOMERGROUPID", ""},
		{"required by condition", validate.Error{Field: "ORGANIZATIONNAME", Rule: validate.RuleRequired, Msg: "required when PARTYTYPE is Organization"},
			"Value missing for this kind of record", "required when PARTYTYPE is Organization", "ORGANIZATIONNAME", ""},
		{"too long", validate.Error{Field: "CUSTOMERACCOUNT", Rule: validate.RuleMaxLength,
			Msg: `"` + "ABCDEFGHIJKLMNOPQRSTUVW" + `" is too long: ` + validate.LengthProblem(20, "ABCDEFGHIJKLMNOPQRSTUVW") + " (limit from rule)"},
			"Value too long", "more characters than F&O can store", "CUSTOMERACCOUNT", ""},
		{"not a date", validate.Error{Field: "TRANSDATE", Rule: validate.RuleType, Msg: validate.TypeProblem(catalog.TypeDate, nil, "31/01/2025")},
			"Not a date", "2025-01-31", "TRANSDATE", ""},
		{"not a decimal", validate.Error{Field: "CREDITLIMIT", Rule: validate.RuleType, Msg: validate.TypeProblem(catalog.TypeDecimal, nil, "1.234,50")},
			"Not a number", "1234.56", "CREDITLIMIT", ""},
		{"enum", validate.Error{Field: "PARTYTYPE", Rule: validate.RuleType, Msg: validate.TypeProblem(catalog.TypeEnum, []string{"Organization", "Person"}, "Company")},
			"Value not allowed", "Organization, Person", "PARTYTYPE", ""},
		{"one of", validate.Error{Field: "CUSTOMERGROUPID", Rule: validate.RuleOneOf, Msg: `"99" is not one of 10, 20, 30`},
			"Value not allowed", `"99" is not one of 10, 20, 30`, "CUSTOMERGROUPID", ""},
		{"pattern", validate.Error{Field: "EMAIL", Rule: validate.RulePattern, Msg: `"x" does not match .+@.+`},
			"Value in the wrong format", "does not match", "EMAIL", ""},
		{"min", validate.Error{Field: "QTY", Rule: validate.RuleMin, Msg: "-1 is below the minimum 0"}, "Value too small", "below the minimum 0", "QTY", ""},
		{"unique", validate.Error{Field: "CUSTOMERACCOUNT", Rule: validate.RuleUnique, Msg: "duplicate of line 4 (CUSTOMERACCOUNT, DATAAREAID)"},
			"Duplicate", "same CUSTOMERACCOUNT, DATAAREAID", "CUSTOMERACCOUNT", ""},
		{"lookup", validate.Error{Field: "CUSTOMERGROUPID", Rule: validate.RuleLookup, Msg: "'99' is not in groups"},
			"Unknown value", "not in the project's reference list", "CUSTOMERGROUPID", ""},
		{"ragged", validate.Error{Rule: "read.ragged_row", Msg: "4 fields, header has 3"}, "Wrong number of columns", "4 fields, header has 3", "", ""},
		{"encoding", validate.Error{Column: "Name", Rule: "read.invalid_encoding", Msg: "not valid UTF-8 (byte 0xE9)"},
			"Unreadable characters", "encoding", "", ""},
		{"unmapped", validate.Error{Field: "CUSTOMERGROUPID", Column: "Group", Rule: "map.unmapped", Msg: `"Retail " is not in the map (Retail, Wholesale)`},
			"No translation for this value", `"Retail " is not in the map`, "CUSTOMERGROUPID", ""},
		{"transform", validate.Error{Field: "TRANSDATE", Rule: "map.date", Msg: `parsing "13/13/2025"`}, "Conversion failed", `"date" step`, "TRANSDATE", ""},
		{"control char", validate.Error{Field: "NAME", Rule: "staging.control_char", Msg: "holds the control character U+001F"},
			"Invisible control character", "U+001F", "NAME", ""},

		// F&O's messages (the emulator's texts, which follow F&O's).
		{"F&O mandatory", validate.Error{Field: "CUSTOMERGROUPID", Rule: "fo", Msg: "Field 'Customer group' must be filled in."},
			"Value missing in F&O", "'Customer group'", "CUSTOMERGROUPID", ""},
		{"F&O one of", validate.Error{Rule: "fo", Msg: "At least one of the fields 'First name', 'Middle name', 'Last name' must be filled in."},
			"One of several values missing in F&O", "'First name', 'Middle name', 'Last name'", "", ""},
		{"F&O related table", validate.Error{Field: "CUSTOMERGROUPID", Rule: "fo",
			Msg: "The value '99' in field 'Customer group' is not found in the relating table 'Customer groups'."},
			"Unknown in F&O", "'99' is not one of the Customer groups", "CUSTOMERGROUPID", ""},
		{"F&O duplicate key", validate.Error{Rule: "fo", Msg: "Cannot create a record in Customers (CustTable). Customer account: C001. The record already exists."},
			"Duplicate key", "Customers (CustTable) with this key (Customer account: C001)", "", "DMF1959"},
		{"F&O conversion", validate.Error{Rule: "fo", Msg: `Data conversion failed. The data conversion for column "CREDITLIMIT" returned status value 2 and status text "The value could not be converted because of a potential loss of data.".`},
			"Value F&O cannot convert", "CREDITLIMIT", "CREDITLIMIT", ""},
		{"F&O truncated", validate.Error{Rule: "fo", Msg: `Data conversion failed. The data conversion for column "NAME" returned status value 4 and status text "Text was truncated or one or more characters had no match in the target code page.".`},
			"Value too long for F&O", "longer than F&O's field", "NAME", ""},
		{"DMF2018", validate.Error{Rule: "fo", Msg: "DMF2018: Column has invalid data. The row has 7 values and the header 6 columns."},
			"Invalid column data", "more or fewer values than the header", "", "DMF2018"},
		{"DMF2016", validate.Error{Field: "TRANSDATE", Rule: "fo", Msg: "DMF2016: Invalid date format in column TRANSDATE."},
			"Invalid date", "2025-01-31", "TRANSDATE", "DMF2016"},
		{"DMF1959", validate.Error{Rule: "fo", Msg: "DMF1959: Duplicate records found in the staging table."},
			"Duplicate key in the file", "same key", "", "DMF1959"},
		{"unknown DMF code", validate.Error{Rule: "fo", Msg: "DMF9999: Something new."}, "Refused by F&O (DMF9999)", "DMF9999: Something new.", "", "DMF9999"},
		{"voucher", validate.Error{Rule: "fo", Msg: "The transactions on voucher 000002 do not balance as per 1/31/2025. (accounting currency: 5.00 - reporting currency: 5.00)"},
			"Voucher does not balance", "do not add up", "", ""},
		{"listed in a file", validate.Error{Rule: "fo", Msg: "rejected by F&O: listed in the target error keys file of execution cust-1-1-1-ab"},
			"Refused by F&O", "target error keys file", "", ""},
		{"unknown F&O message", validate.Error{Field: "NAME", Rule: "fo", Msg: "Something F&O says."}, "Refused by F&O", "Something F&O says.", "NAME", ""},

		// Why rows were not imported.
		{"chunk failed", validate.Error{Rule: "not_imported", Msg: "not imported: chunk 3 failed: 503 Service Unavailable"},
			"Not imported: its package failed", "send it again with a retry", "", ""},
		{"poll deadline", validate.Error{Rule: "not_imported", Msg: "not imported: chunk 2 failed: execution x still Executing after 2h0m0s (poll deadline 2h): whether F&O imported its rows is unknown"},
			"Outcome unknown", "Look the record up in F&O", "", ""},
		{"job ended", validate.Error{Rule: "not_imported", Msg: "not imported: the job ended before F&O gave a verdict on this row"},
			"Not imported", "Nothing is wrong with its values", "", ""},
		{"canceled", validate.Error{Rule: "not_imported", Msg: "not imported: the job was canceled by alice before this row was sent"},
			"Not imported: canceled", "canceled by alice", "", ""},
		{"unknown rule", validate.Error{Rule: "custom", Msg: "odd"}, "Problem with this row", "odd", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			x := explain.Error(tc.in)
			assert.Equal(t, tc.title, x.Title)
			assert.Contains(t, x.Text, tc.text)
			assert.Equal(t, tc.field, x.Field)
			assert.Equal(t, tc.code, x.Code)
			assert.Equal(t, tc.in.Column, x.Column)
		})
	}
}

func TestMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ msg, title, code string }{
		{"DMF2025: The mapping of the data project is being changed by another import of the same project.", "Another import was running", "DMF2025"},
		{"DMF2022: Column 'X' of the mapping (field X) is not in the source file 'f'. The field(s) are not mapped.", "Column missing from the file", "DMF2022"},
		{"Results. 25 record(s) failed in target for entity 'Customers V3'.", "Records failed", ""},
		{"Selected file is not Unicode. Please select a Unicode file.", "File not in Unicode", ""},
		{"The value '99' in field 'Customer group' is not found in the relating table 'Customer groups'.", "Unknown in F&O", ""},
	} {
		x := explain.Message(tc.msg)
		assert.Equal(t, tc.title, x.Title, tc.msg)
		assert.Equal(t, tc.code, x.Code, tc.msg)
		assert.NotEmpty(t, x.Text)
	}
}
