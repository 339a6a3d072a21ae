package testsvc

import (
	"testing"

	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// AnswerStatus records a status call of execution id as the stages make one: claimed in
// its poll schedule (the execution having seen calls before it), then answered.
func AnswerStatus(t testing.TB, s *jobhistory.Store, id string, seen int, status string, final bool, msg string) {
	t.Helper()
	claimed, err := s.ClaimPoll(t.Context(), id, seen)
	if err != nil || !claimed {
		t.Fatalf("claiming status call %d of execution %s: claimed %v, %v", seen+1, id, claimed, err)
	}
	if err := s.RecordAnswer(t.Context(), id, status, final, msg); err != nil {
		t.Fatalf("recording the answer to status call %d of execution %s: %v", seen+1, id, err)
	}
}
