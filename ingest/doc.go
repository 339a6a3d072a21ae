// Package ingest owns where import files come from and when one may be taken: the Source
// interface over the outside systems that hold files (a local folder, an Azure Blob
// container, an SFTP server), the stability rule that keeps half-written uploads from being
// read, and the content hash computed while a file is read. Which files were already
// imported is recorded by package jobhistory (the ledger); the file formats are package
// ingest/reader.
//
// # Sources
//
// A Source is one connection of the config. Backends live in sub-packages (ingest/local,
// ingest/azblob, ingest/sftp) and register themselves with this package when imported, the
// way database/sql drivers do, so that OpenSource can build any of them from a
// config.Connection without this package depending on every SDK:
//
//	import (
//		_ "github.com/dmfpipe/dmfpipe/ingest/azblob"
//		_ "github.com/dmfpipe/dmfpipe/ingest/local"
//		_ "github.com/dmfpipe/dmfpipe/ingest/sftp"
//	)
//
// Every backend passes the same conformance suite, ingest/sourcetest.
//
// # Names
//
// A file's Name is its path relative to the source root with forward slashes and no
// leading slash ("in/orders 1.csv"). Paths given to a Source (folders, names) are read the
// same way; a leading slash is allowed and means the root, and no path may contain a ".."
// element, so nothing outside the root is reachable (ErrInvalidPath). What the root is
// depends on the backend: the local folder, the container, or the SFTP server's "/".
//
// List matches a compiled pattern (package ingest/pattern: path.Match syntax per folder
// level, plus {name} captures) against the path below the listed folder: "*.csv" matches
// files directly in it, "*/orders_*.csv" files one folder down. There is no "**": each
// folder level is one pattern element, so a listing never walks a whole tree.
//
// Move never overwrites. When the destination folder already holds a file of that name,
// the moved file is numbered before its extension: "orders.csv" becomes "orders-1.csv",
// then "orders-2.csv"; only the last extension counts ("a.tar.gz" becomes "a.tar-1.gz"),
// and a name without one, or starting with its only dot, is numbered at its end (".env"
// becomes ".env-1"). See NumberedName.
//
// # Stability
//
// A Watcher decides when a listed file may be taken: once its size, modification time and
// ETag are unchanged across two listings at least min_age apart. The rule itself is Settle,
// a pure function from the previous sightings (each file's version and when that version
// was first listed), a listing, the time and min_age to the next sightings, the stable
// files and how long until the next may be. A file that leaves the listing is forgotten; a
// changed one waits again.
//
// The Watcher keeps the sightings in a SightingStore, which supplies the clock as well:
// package jobhistory keeps them in Postgres and reads the database's clock, so that a wait
// one node started is finished by whichever node lists the project next, and survives a
// restart, however much the nodes' clocks differ. This package holds no SQL.
//
// # Content hash
//
// HashingReader computes a file's SHA-256 in the same pass as the format reader parses it;
// the ledger uses the hash to recognise content that was already imported under any name.
package ingest
