package imports

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/staging"
)

func TestJudge(t *testing.T) {
	t.Parallel()
	account := []KeyField{{Name: "CUSTOMERACCOUNT", Label: "CustomerAccount"}}
	customers := []KeyedRow{{No: 1, Key: []string{"C000001"}}, {No: 2, Key: []string{"C000002"}},
		{No: 5, Key: []string{"c000005 "}}, {No: 9, Key: []string{"C000009"}}}
	keysFile := func(keys ...string) ErrorFile {
		f := ErrorFile{Kind: dmf.TargetErrorKeysFile, Header: []string{"CUSTOMERACCOUNT"}}
		for _, k := range keys {
			f.Records = append(f.Records, []string{k})
		}
		return f
	}
	exists := func(acct string) string {
		return "Cannot create a record in Customers (CustTable). Customer account: " + acct + ". The record already exists."
	}
	journal := []KeyField{{Name: "JOURNALBATCHNUMBER", Label: "JournalBatchNumber"}, {Name: "LINENUMBER", Label: "LineNumber"}}
	lines := []KeyedRow{{No: 1, Key: []string{"GJ-001", "1"}}, {No: 2, Key: []string{"GJ-001", "2"}}, {No: 3, Key: []string{"GJ-002", "1"}}}

	for _, tc := range []struct {
		name   string
		answer Answer
		keys   []KeyField
		rows   []KeyedRow
		want   Verdict
	}{
		{
			name:   "succeeded",
			answer: Answer{Execution: "x", Status: dmf.StatusSucceeded},
			keys:   account, rows: customers,
			want: Verdict{},
		},
		{
			name: "keys file and messages naming keys; record ids are not positions",
			answer: Answer{Execution: "x", Status: dmf.StatusPartiallySucceeded,
				Messages: []dmf.ExecutionError{
					// RecordId 5637144577 would be "the first row" if it were a position: it is not used.
					{RecordID: "5637144577", Field: "", Message: exists("C000009")},
					{RecordID: "5637150023", Field: "CustomerGroupId", Message: "Customer group 'XX' does not exist. Customer account: c000005"},
					{RecordID: "0", Message: "Results. 3 record(s) failed"},
					{RecordID: "5637150024", Message: exists("C999999")},
				},
				Files: []ErrorFile{keysFile("C000009", "C000005", "C000002")}},
			keys: account, rows: customers,
			want: Verdict{Rejected: 3,
				Errors: []staging.RowError{
					{Row: 9, Message: exists("C000009")},
					{Row: 5, Field: "CustomerGroupId", Message: "Customer group 'XX' does not exist. Customer account: c000005"},
					{Row: 2, Message: "rejected by F&O: listed in the target error keys file of execution x"},
				},
				Unplaced: []string{"Results. 3 record(s) failed", exists("C999999")}},
		},
		{
			name: "a message naming two rows goes on neither",
			answer: Answer{Execution: "x", Status: dmf.StatusPartiallySucceeded,
				Messages: []dmf.ExecutionError{{Message: "Accounts C000001 and C000002 are merged"}}},
			keys: account, rows: customers,
			want: Verdict{Unplaced: []string{"Accounts C000001 and C000002 are merged"}},
		},
		{
			name: "a key inside a longer word is not named",
			answer: Answer{Execution: "x", Status: dmf.StatusPartiallySucceeded,
				Messages: []dmf.ExecutionError{{Message: "Account C0000011 is blocked"}}},
			keys: account, rows: customers,
			want: Verdict{Unplaced: []string{"Account C0000011 is blocked"}},
		},
		{
			name: "composite keys, digits only count with their field named",
			answer: Answer{Execution: "x", Status: dmf.StatusPartiallySucceeded,
				Messages: []dmf.ExecutionError{
					{Message: "Results. 2 record(s) failed in GJ-001"},
					{Field: "ACCOUNT", Message: "Journal batch number GJ-001, Line number 2: the account is missing"},
					{Message: "Voucher for GJ-002 LineNumber: 1 is out of balance"},
				}},
			keys: journal, rows: lines,
			want: Verdict{Rejected: 2,
				Errors: []staging.RowError{
					{Row: 2, Field: "ACCOUNT", Message: "Journal batch number GJ-001, Line number 2: the account is missing"},
					{Row: 3, Message: "Voucher for GJ-002 LineNumber: 1 is out of balance"},
				},
				Unplaced: []string{"Results. 2 record(s) failed in GJ-001"}},
		},
		{
			name: "staging error file rows by their key column, duplicates all rejected",
			answer: Answer{Execution: "x", Status: dmf.StatusPartiallySucceeded,
				Files: []ErrorFile{{Kind: dmf.StagingErrorFile, Header: []string{"NAME", "CustomerAccount"},
					Records: [][]string{{"Anna", "C000001"}}}}},
			keys: account, rows: append(customers, KeyedRow{No: 12, Key: []string{"C000001"}}),
			want: Verdict{Rejected: 2, Errors: []staging.RowError{
				{Row: 1, Message: "rejected by F&O: listed in the staging error file of execution x"},
				{Row: 12, Message: "rejected by F&O: listed in the staging error file of execution x"},
			}},
		},
		{
			name: "a file without the key column cannot be matched",
			answer: Answer{Execution: "x", Status: dmf.StatusPartiallySucceeded,
				Files: []ErrorFile{{Kind: dmf.TargetErrorKeysFile, Header: []string{"NAME"}, Records: [][]string{{"Anna"}}}}},
			keys: account, rows: customers,
			want: Verdict{Unplaced: []string{"the target error keys file has no CUSTOMERACCOUNT column: its 1 rows could not be matched"}},
		},
		{
			name: "failed without naming a row: nothing was imported",
			answer: Answer{Execution: "x", Status: dmf.StatusFailed,
				Messages: []dmf.ExecutionError{{Message: "The data project could not be read"}}},
			keys: account, rows: customers,
			want: Verdict{Unplaced: []string{"The data project could not be read"},
				NotImported: "not imported: execution x ended Failed without naming a row: The data project could not be read"},
		},
		{
			name: "failed naming some rows: the others are not imported either",
			answer: Answer{Execution: "x", Status: dmf.StatusFailed,
				Files: []ErrorFile{keysFile("C000001")}},
			keys: account, rows: customers,
			want: Verdict{Rejected: 1,
				Errors:      []staging.RowError{{Row: 1, Message: "rejected by F&O: listed in the target error keys file of execution x"}},
				NotImported: "not imported: execution x ended Failed and F&O named other rows, not this one"},
		},
		{
			name:   "canceled",
			answer: Answer{Execution: "x", Status: dmf.StatusCanceled},
			keys:   account, rows: customers,
			want: Verdict{NotImported: "not imported: execution x ended Canceled without naming a row"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Judge(tc.answer, tc.keys, tc.rows))
		})
	}
}

func TestWords(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"Customer", "account", "C000123", "The", "record", "already", "exists"},
		words(`Customer account: C000123. The record already exists.`))
	assert.Equal(t, []string{"group", "XX", "US-001", "A.B"}, words(`group 'XX' (US-001) "A.B".`))
	assert.Equal(t, "Customer Account", splitCamel("CustomerAccount"))
	assert.Equal(t, "Journal Batch Number", splitCamel("JournalBatchNumber"))
	assert.Equal(t, "Sales Order ID", splitCamel("SalesOrderID"))
}
