package dmf

import "strings"

// ExecutionStatus is a DMFExecutionSummaryStatus value (dmf-api.md §2.5).
type ExecutionStatus string

// The execution statuses F&O documents. Any other string is kept as received and
// treated as not terminal.
const (
	StatusUnknown            ExecutionStatus = "Unknown"
	StatusNotRun             ExecutionStatus = "NotRun"
	StatusExecuting          ExecutionStatus = "Executing"
	StatusSucceeded          ExecutionStatus = "Succeeded"
	StatusPartiallySucceeded ExecutionStatus = "PartiallySucceeded"
	StatusFailed             ExecutionStatus = "Failed"
	StatusCanceled           ExecutionStatus = "Canceled"
)

var executionStatuses = []ExecutionStatus{StatusUnknown, StatusNotRun, StatusExecuting, StatusSucceeded,
	StatusPartiallySucceeded, StatusFailed, StatusCanceled}

// ParseExecutionStatus maps s case-insensitively onto a documented status; an
// unrecognised value is returned trimmed but otherwise unchanged.
func ParseExecutionStatus(s string) ExecutionStatus {
	s = strings.TrimSpace(s)
	for _, st := range executionStatuses {
		if strings.EqualFold(s, string(st)) {
			return st
		}
	}
	return ExecutionStatus(s)
}

// Terminal reports whether the execution has finished. Unknown is terminal (RIS
// treats it as a failure); unrecognised values are not.
func (s ExecutionStatus) Terminal() bool {
	switch s {
	case StatusUnknown, StatusSucceeded, StatusPartiallySucceeded, StatusFailed, StatusCanceled:
		return true
	}
	return false
}

// Known reports whether s is one of the documented statuses.
func (s ExecutionStatus) Known() bool {
	for _, st := range executionStatuses {
		if s == st {
			return true
		}
	}
	return false
}

// MessageStatus is a recurring-integration message status (dmf-api.md §3.6).
type MessageStatus string

// The message statuses, in Microsoft's documented spelling. ParseMessageStatus maps
// the spellings RIS uses onto these.
const (
	MessageEnqueued             MessageStatus = "Enqueued"
	MessageDequeued             MessageStatus = "Dequeued"
	MessageDownloaded           MessageStatus = "Downloaded"
	MessageAcked                MessageStatus = "Acked"
	MessagePreprocessing        MessageStatus = "Preprocessing"
	MessageProcessing           MessageStatus = "Processing"
	MessageProcessed            MessageStatus = "Processed"
	MessagePreProcessingError   MessageStatus = "PreProcessingError"
	MessageProcessedWithErrors  MessageStatus = "ProcessedWithErrors"
	MessagePostProcessingFailed MessageStatus = "PostProcessingFailed"
)

var messageStatuses = map[string]MessageStatus{
	"enqueued":             MessageEnqueued,
	"dequeued":             MessageDequeued,
	"downloaded":           MessageDownloaded,
	"acked":                MessageAcked,
	"preprocessing":        MessagePreprocessing, // also RIS's "PreProcessing"
	"processing":           MessageProcessing,
	"processed":            MessageProcessed,
	"preprocessingerror":   MessagePreProcessingError,
	"processedwitherrors":  MessageProcessedWithErrors,
	"postprocessingfailed": MessagePostProcessingFailed,
	"postprocessingerror":  MessagePostProcessingFailed, // RIS's spelling
	// RIS's DataJobState spellings (the legacy job status, dmf-api.md §3.5)
	"preprocesserror":  MessagePreProcessingError,
	"postprocesserror": MessagePostProcessingFailed,
	"inprocess":        MessageProcessing,
}

// ParseMessageStatus maps s case-insensitively onto a documented status, treating
// RIS's spellings (PreProcessing, PostProcessingError; PreProcessError,
// PostProcessError and InProcess of its job states) as equivalent; an
// unrecognised value is returned trimmed but otherwise unchanged.
func ParseMessageStatus(s string) MessageStatus {
	s = strings.TrimSpace(s)
	if st, ok := messageStatuses[strings.ToLower(s)]; ok {
		return st
	}
	return MessageStatus(s)
}

// Terminal reports whether the message will not change any more. Acked ends an
// export message; the processed and error states end an import message.
func (s MessageStatus) Terminal() bool {
	switch s {
	case MessageAcked, MessageProcessed, MessagePreProcessingError, MessageProcessedWithErrors, MessagePostProcessingFailed:
		return true
	}
	return false
}
