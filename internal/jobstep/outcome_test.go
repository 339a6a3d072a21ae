package jobstep

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf"
)

func TestOutcomes(t *testing.T) {
	t.Parallel()
	var se *SnoozeError
	require.ErrorAs(t, Snooze(0), &se)
	require.Equal(t, 10*time.Millisecond, se.After, "a snooze waits at least 10ms")
	require.ErrorAs(t, Snooze(time.Second), &se)
	require.Equal(t, time.Second, se.After)

	cause := errors.New("bad package")
	var pe *PermanentError
	require.ErrorAs(t, Permanent(cause), &pe)
	require.ErrorIs(t, Permanent(cause), cause)
	require.Equal(t, "bad package", Permanent(cause).Error())

	require.False(t, Attempt{N: 1, Max: 3}.Last())
	require.True(t, Attempt{N: 3, Max: 3}.Last())
}

func TestRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&dmf.HTTPError{StatusCode: 400}, true},
		{fmt.Errorf("sending: %w", &dmf.HTTPError{StatusCode: 404}), true},
		{&dmf.HTTPError{StatusCode: 499}, true},
		{&dmf.HTTPError{StatusCode: 408}, false},
		{&dmf.HTTPError{StatusCode: 429}, false},
		{&dmf.HTTPError{StatusCode: 500}, false},
		{&dmf.HTTPError{StatusCode: 302}, false},
		{context.DeadlineExceeded, false},
		{nil, false},
	} {
		require.Equal(t, tc.want, Refused(tc.err), "%v", tc.err)
	}
}

func TestStatusSeen(t *testing.T) {
	t.Parallel()
	notFound := &dmf.HTTPError{StatusCode: 400, Message: "Execution details for execution ID 'x' were not found."}
	require.Equal(t, "Executing", StatusSeen(dmf.StatusExecuting, nil))
	require.Equal(t, "NotFound", StatusSeen("", notFound))
	require.Equal(t, "", StatusSeen("", &dmf.HTTPError{StatusCode: 500}))
}
