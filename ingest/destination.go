package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path"

	"github.com/dmfpipe/dmfpipe/config"
)

// Destination is one place export files go: a local folder, an Azure Blob container or an
// SFTP server, the same connections files are read from. A file is written in a temporary
// form and appears under its name only when committed, at once and complete, so that a
// reader never sees half a file; an existing file is never replaced. Its methods are safe
// for concurrent use.
//
// Every backend's Source is its Destination too: Open and Stat are the Source's.
type Destination interface {
	// Create starts writing the file name, creating its folders. Nothing appears under
	// name until the file is committed. Concurrent writers of one name do not mix their
	// bytes: each has a temporary form of its own, and one commit wins.
	Create(ctx context.Context, name string) (PendingFile, error)
	// Open returns a committed file's content as a stream; ErrNotExist when it is not there.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// Stat describes a committed file; ErrNotExist when it is not there.
	Stat(ctx context.Context, name string) (FileInfo, error)
	// Close releases connections; the Destination is unusable afterwards.
	Close() error
}

// PendingFile is a file being written to a Destination. It is not safe for concurrent
// use.
type PendingFile interface {
	// Write appends to the file's temporary form.
	io.Writer
	// Commit makes what was written durable and publishes it under the file's name, in
	// one step. When a file of that name already exists it fails with an error wrapping
	// ErrExist, replacing nothing, and discards what was written.
	Commit(ctx context.Context) error
	// Abort discards what was written. It does nothing after Commit.
	Abort() error
}

// ErrExist is the error (matched with errors.Is) of a commit whose name is taken. It is
// fs.ErrExist.
var ErrExist = fs.ErrExist

// TempName is the temporary name of a file being written to a Destination that renames
// (local folders, SFTP): beside it, hidden, and not ending in the file's own extension,
// so that a reader listing "*.csv" never picks it up. tag tells concurrent writers apart.
// A crash leaves the temporary file behind, hidden; the next attempt writes its own.
func TempName(name, tag string) string {
	return path.Join(path.Dir(name), "."+path.Base(name)+"."+tag+TempSuffix)
}

// TempSuffix ends every TempName.
const TempSuffix = ".dmfpipe-partial"

// NewTag returns a random tag for TempName.
func NewTag() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// OpenDestination builds the Destination of a config connection: the Source of its
// backend (see OpenSource), which every backend also makes a Destination.
func OpenDestination(ctx context.Context, cn *config.Connection) (Destination, error) {
	src, err := OpenSource(ctx, cn)
	if err != nil {
		return nil, err
	}
	d, ok := src.(Destination)
	if !ok {
		src.Close()
		return nil, fmt.Errorf("connection %s: %s connections cannot be written to", cn.Name, cn.Type)
	}
	return d, nil
}
