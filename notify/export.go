package notify

import "strconv"

// Export is what an export job wrote, for its notification.
type Export struct {
	// Rows is the number of data rows written; Files the data files.
	Rows  int64
	Files int
	// Messages counts the recurring messages the job handled (0 for a package export).
	Messages int
	// Destination names where the files went: "connection:folder".
	Destination string
}

func (e *Export) subject(st Status) string {
	if st == StatusFailed {
		return ""
	}
	return " (" + rows(e.Rows) + " exported in " + strconv.Itoa(e.Files) + " files)"
}

func (e *Export) facts(add func(name, value string)) {
	add("Rows exported", count(e.Rows))
	add("Files", strconv.Itoa(e.Files))
	if e.Messages > 0 {
		add("Messages", strconv.Itoa(e.Messages))
	}
	add("Destination", e.Destination)
}
