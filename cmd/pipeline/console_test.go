package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/argon2id"
)

func hashPassword(t *testing.T, stdin string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetArgs([]string{"console", "hash-password"})
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(context.Background())
	code := exitCode(err, &out, "text")
	return out.String(), code
}

func TestConsoleHashPassword(t *testing.T) {
	out, code := hashPassword(t, "correct horse battery staple\n")
	require.Equal(t, 0, code, out)
	h, err := argon2id.Parse(strings.TrimSpace(out))
	require.NoError(t, err, out)
	assert.True(t, h.Check("correct horse battery staple"), "the line's end is not part of the password")
	assert.Equal(t, argon2id.Default.Memory, h.Params.Memory)

	out, code = hashPassword(t, "short\n")
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, "at least 12")
}
