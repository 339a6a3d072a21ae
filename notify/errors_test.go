package notify_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/dmfpipe/dmfpipe/notify"
)

func TestIsPermanent(t *testing.T) {
	t.Parallel()
	perm := &notify.Error{Channel: notify.ChannelEmail, Permanent: true, Code: 550, Err: errors.New("550 no such user")}
	temp := &notify.Error{Channel: notify.ChannelWebhook, Code: 503, Err: errors.New("503 Service Unavailable")}

	assert.False(t, notify.IsPermanent(nil))
	assert.False(t, notify.IsPermanent(errors.New("anything else")))
	assert.True(t, notify.IsPermanent(perm))
	assert.False(t, notify.IsPermanent(temp))
	assert.True(t, notify.IsPermanent(fmt.Errorf("notifying job 42: %w", perm)), "wrapped")
	assert.True(t, notify.IsPermanent(errors.Join(perm, perm)), "every joined error permanent")
	assert.False(t, notify.IsPermanent(errors.Join(perm, temp)), "one transient: retry")
	assert.False(t, notify.IsPermanent(fmt.Errorf("wrapped: %w", errors.Join(perm, temp))))
	assert.Equal(t, "email: 550 no such user", perm.Error())
	assert.ErrorIs(t, fmt.Errorf("x: %w", perm), perm.Err, "Unwrap")
}
