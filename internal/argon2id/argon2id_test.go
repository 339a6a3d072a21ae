package argon2id_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/argon2id"
)

// cheap keeps the tests fast; the format is the same at any cost.
var cheap = argon2id.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashChecksOnlyItsPassword(t *testing.T) {
	t.Parallel()
	phc, err := argon2id.Hash("correct horse", cheap)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(phc, "$argon2id$v=19$m=64,t=1,p=1$"), phc)
	h, err := argon2id.Parse(phc)
	require.NoError(t, err)
	assert.True(t, h.Check("correct horse"))
	assert.False(t, h.Check("correct horse "))
	assert.False(t, h.Check(""))
	assert.Equal(t, phc, h.String())

	again, err := argon2id.Hash("correct horse", cheap)
	require.NoError(t, err)
	assert.NotEqual(t, phc, again, "a new salt each time")
}

// A hash written by the reference implementation (libargon2's argon2id_hash_encoded,
// as its CLI `echo -n password | argon2 somesalt -id -t 2 -m 16 -p 4 -l 24 -e` does).
func TestParseReadsOtherToolsHashes(t *testing.T) {
	t.Parallel()
	h, err := argon2id.Parse("$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$F1jG2CV3/Nr+yRuIsPKw0J9r4s7cJHBU")
	require.NoError(t, err)
	assert.Equal(t, argon2id.Params{Memory: 65536, Time: 2, Threads: 4, SaltLen: 8, KeyLen: 24}, h.Params)
	assert.True(t, h.Check("password"))
}

func TestParseRefusesWhatIsNotAnArgon2idHash(t *testing.T) {
	t.Parallel()
	for phc, want := range map[string]string{
		"":                              "want $argon2id$",
		"hunter2":                       "want $argon2id$",
		"$2b$12$abcdefghijklmnopqrstuv": "want $argon2id$",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$" + strings.Repeat("A", 43):       "algorithm is \"argon2i\"",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$" + strings.Repeat("A", 43):      "version",
		"$argon2id$v=19$m=64,t=1$c2FsdHNhbHQ$" + strings.Repeat("A", 43):          "want m=<KiB>",
		"$argon2id$v=19$m=64,t=1,p=1,x=2$c2FsdHNhbHQ$" + strings.Repeat("A", 43):  "unknown parameter",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$" + strings.Repeat("A", 43):      "at least 1",
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$" + strings.Repeat("A", 43): "costs too much",
		"$argon2id$v=19$m=64,t=1,p=1$c2Fs$" + strings.Repeat("A", 43):             "salt",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$AAAA":                            "hash must be",
	} {
		_, err := argon2id.Parse(phc)
		require.ErrorIs(t, err, argon2id.ErrFormat, phc)
		assert.ErrorContains(t, err, want, phc)
	}
}
