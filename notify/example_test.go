package notify_test

import (
	"fmt"

	"github.com/dmfpipe/dmfpipe/notify"
)

func ExampleShouldNotify() {
	job := notify.Job{
		Project: "customers-nightly",
		ID:      42,
		Status:  notify.StatusPartiallySucceeded,
		Counts:  notify.Counts{Read: 1000, Invalid: 7, Rejected: 5, Imported: 988},
	}
	// The project's notify.on; empty means failure and partial.
	if notify.ShouldNotify(nil, job.Status) {
		fmt.Println(job.Subject())
	}
	fmt.Println(notify.ShouldNotify([]string{"failure"}, job.Status))
	// Output:
	// [dmfpipe] customers-nightly: partially succeeded (7 rows invalid, 5 rejected by F&O)
	// false
}
