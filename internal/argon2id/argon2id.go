// Package argon2id hashes and checks passwords with Argon2id (RFC 9106) in the PHC string
// format that other tools write and read:
//
//	$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>
//
// with the salt and the hash in unpadded standard base64. The console's users carry such
// a hash in the config (console.users[].password_hash); `pipeline console hash-password`
// writes one.
package argon2id

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are the cost of a hash.
type Params struct {
	// Memory is in KiB; Time is the number of passes; Threads the parallelism.
	Memory  uint32
	Time    uint32
	Threads uint8
	// SaltLen and KeyLen are in bytes.
	SaltLen uint32
	KeyLen  uint32
}

// Default is RFC 9106's second recommended option (64 MiB, 3 passes, 4 lanes), about
// 0.1 s on a laptop core: slow for a guesser, quick enough for a login.
var Default = Params{Memory: 64 * 1024, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}

// Bounds on what Parse accepts, so that a hash written by hand cannot make each login
// cost minutes or gigabytes.
const (
	maxMemory  = 1 << 20 // KiB: 1 GiB
	maxTime    = 64
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 128
)

// ErrFormat is returned (wrapped) for a string that is not an Argon2id PHC hash.
var ErrFormat = errors.New("not an argon2id hash")

// Hash returns the PHC string of password with a new random salt.
func Hash(password string, p Params) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hashing a password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return encode(p, salt, key), nil
}

func encode(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Hashed is a parsed PHC string.
type Hashed struct {
	Params
	salt, key []byte
}

// Parse reads a PHC string; the error says what is wrong with it (never echoing it).
func Parse(phc string) (*Hashed, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" {
		return nil, fmt.Errorf("%w: want $argon2id$v=19$m=...,t=...,p=...$salt$hash", ErrFormat)
	}
	if parts[1] != "argon2id" {
		return nil, fmt.Errorf("%w: the algorithm is %q, want argon2id", ErrFormat, parts[1])
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, fmt.Errorf("%w: version %q, want v=%d", ErrFormat, parts[2], argon2.Version)
	}
	h := &Hashed{}
	seen := map[string]bool{}
	for kv := range strings.SplitSeq(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || seen[k] {
			return nil, fmt.Errorf("%w: parameters %q, want m=<KiB>,t=<passes>,p=<lanes>", ErrFormat, parts[3])
		}
		seen[k] = true
		switch k {
		case "m":
			h.Memory = uint32(n)
		case "t":
			h.Time = uint32(n)
		case "p":
			if n > 255 {
				return nil, fmt.Errorf("%w: p=%d is above 255", ErrFormat, n)
			}
			h.Threads = uint8(n)
		default:
			return nil, fmt.Errorf("%w: unknown parameter %q", ErrFormat, k)
		}
	}
	switch {
	case len(seen) != 3:
		return nil, fmt.Errorf("%w: parameters %q, want m=<KiB>,t=<passes>,p=<lanes>", ErrFormat, parts[3])
	case h.Threads < 1 || h.Time < 1:
		return nil, fmt.Errorf("%w: t and p must be at least 1", ErrFormat)
	case h.Memory < 8*uint32(h.Threads):
		return nil, fmt.Errorf("%w: m must be at least 8 KiB per lane", ErrFormat)
	case h.Memory > maxMemory || h.Time > maxTime:
		return nil, fmt.Errorf("%w: m=%d,t=%d costs too much per login (at most m=%d, t=%d)", ErrFormat, h.Memory, h.Time, maxMemory, maxTime)
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) < minSaltLen || len(h.salt) > maxSaltLen {
		return nil, fmt.Errorf("%w: the salt must be %d to %d bytes of unpadded base64", ErrFormat, minSaltLen, maxSaltLen)
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) < minKeyLen || len(h.key) > maxKeyLen {
		return nil, fmt.Errorf("%w: the hash must be %d to %d bytes of unpadded base64", ErrFormat, minKeyLen, maxKeyLen)
	}
	h.SaltLen, h.KeyLen = uint32(len(h.salt)), uint32(len(h.key))
	return h, nil
}

// Check reports whether password is the one hashed, in time that does not depend on
// where the two differ.
func (h *Hashed) Check(password string) bool {
	key := argon2.IDKey([]byte(password), h.salt, h.Time, h.Memory, h.Threads, h.KeyLen)
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

// String is the PHC string.
func (h *Hashed) String() string { return encode(h.Params, h.salt, h.key) }
