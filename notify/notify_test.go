package notify_test

import (
	"time"

	"github.com/dmfpipe/dmfpipe/notify"
)

// partialJob is a job that ended with rows waiting in staging.
func partialJob() notify.Job {
	return notify.Job{
		Project: "customers-nightly",
		ID:      42,
		Trigger: "schedule",
		Status:  notify.StatusPartiallySucceeded,
		File:    "/outbound/customers/customers_20261125.csv",
		Counts: notify.Counts{
			Read: 200000, Staged: 200000, Invalid: 7, Uploaded: 199993, Imported: 199988, Rejected: 5,
		},
		Chunks:   20,
		Started:  time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC),
		Duration: 3*time.Minute + 12*time.Second + 400*time.Millisecond,
		Errors: []notify.RowError{
			{Line: 12, Column: "Account No", Field: "CUSTOMERACCOUNT", Rule: "required", Message: "is required"},
			{Line: 40, Column: "Group", Field: "CUSTOMERGROUPID", Rule: "one_of", Message: `"99" is not one of 10, 20, 30`},
			{Line: 977, Field: "CUSTOMERACCOUNT", Rule: "fo", Message: "Customer group <Retail & Co> does not exist"},
		},
		ConsoleURL: "https://dmf.example.com/",
	}
}
