// Package lockkey names every Postgres advisory lock dmfpipe takes, in one place, so that
// no two locks share a key by accident and a lock is spelled the same wherever it is taken.
//
// The keys are text hashed by the server (hashtextextended), namespaced "dmfpipe.<what>/";
// two keep older spellings so that nodes of the previous release and of this one exclude
// each other during a rolling deploy: the migration lock (a fixed number) and the
// definition-group lock (hashtext of "<environment>/<group>").
package lockkey

import (
	"strconv"
)

// Key is one advisory lock key: an expression of one bound parameter and the parameter.
type Key struct {
	text  string
	fixed int64
	kind  kind
}

type kind uint8

const (
	wide   kind = iota // hashtextextended(text, 0)
	narrow             // hashtext(text), 32 bits
	number             // a fixed bigint
)

// SQL is the key as an SQL expression of parameter $n, e.g. "hashtextextended($1, 0)".
func (k Key) SQL(n int) string {
	p := "$" + strconv.Itoa(n)
	switch k.kind {
	case narrow:
		return "hashtext(" + p + "::text)"
	case number:
		return p + "::bigint"
	}
	return "hashtextextended(" + p + "::text, 0)"
}

// Arg is the parameter of the key's SQL expression.
func (k Key) Arg() any {
	if k.kind == number {
		return k.fixed
	}
	return k.text
}

// String names the key for logs and errors.
func (k Key) String() string {
	if k.kind == number {
		return strconv.FormatInt(k.fixed, 10)
	}
	return k.text
}

// Migrations is held while the schema is migrated (session lock): "dmfpipe" in ASCII.
func Migrations() Key { return Key{fixed: 0x646d6670697065, kind: number} }

// Node is held by a live node (a River client) on a connection of its own for as long as
// it works jobs: free means the node is dead (session lock).
func Node(id string) Key { return Key{text: "dmfpipe.node/" + id} }

// Discover serialises the takes of one project's files (transaction lock).
func Discover(project string) Key { return Key{text: "dmfpipe.discover/" + project} }

// Chunks serialises the ends of one job's chunks, so that the last one to end sees the
// others (transaction lock).
func Chunks(job int64) Key { return Key{text: "dmfpipe.chunks/" + strconv.FormatInt(job, 10)} }

// Group serialises the ImportFromPackage calls into one definition group of one F&O
// environment across nodes: F&O does not support concurrent imports into one data
// project (session lock, held for the call).
func Group(environment, group string) Key { return Key{text: environment + "/" + group, kind: narrow} }

// Content serialises the duplicate check of one content hash of one project in the file
// ledger (transaction lock); hexSum is the SHA-256 in lower-case hex.
func Content(project, hexSum string) Key { return Key{text: project + "/" + hexSum} }
