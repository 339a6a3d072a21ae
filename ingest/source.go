package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/ingest/pattern"
)

// Source is one place files live: a local folder, an Azure Blob container or an SFTP
// server. Its methods are safe for concurrent use.
type Source interface {
	// List returns the files below dir whose path relative to dir matches pat, sorted by
	// Name. Folders are never listed. A missing dir is either no files or an error
	// wrapping ErrNotExist, depending on whether the backend has real folders.
	List(ctx context.Context, dir string, pat *pattern.Pattern) ([]FileInfo, error)
	// Stat describes one file; ErrNotExist when it is not there (or is a folder).
	Stat(ctx context.Context, name string) (FileInfo, error)
	// Open returns the file's content as a stream; nothing is read ahead beyond a buffer.
	// A read that cannot deliver the whole file fails with an error, never with an early
	// io.EOF. ErrNotExist when the file is not there.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// Move moves the file into the folder toDir, creating it, and returns its new name.
	// An existing file is never replaced: the moved file is numbered instead (see
	// NumberedName). ErrNotExist when the file is not there.
	Move(ctx context.Context, from, toDir string) (string, error)
	// Close releases connections; the Source is unusable afterwards.
	Close() error
}

// FileInfo describes one file of a Source.
type FileInfo struct {
	// Name is the path relative to the source root, with forward slashes and no leading
	// slash.
	Name string
	// Size is the length in bytes.
	Size int64
	// ModTime is the last modification time as the backend reports it (whole seconds over
	// SFTP).
	ModTime time.Time
	// ETag is the backend's version tag of the content; empty where there is none (local
	// folders, SFTP).
	ETag string
}

// SameVersion reports whether f and g describe the same version of a file: equal size,
// modification time and ETag.
func (f FileInfo) SameVersion(g FileInfo) bool {
	return f.Size == g.Size && f.ModTime.Equal(g.ModTime) && f.ETag == g.ETag
}

// ErrNotExist is the error (matched with errors.Is) for a file or folder that is not
// there, typically one that vanished between List and Open, Stat or Move. It is
// fs.ErrNotExist, so errors from the os and io/fs packages match it too.
var ErrNotExist = fs.ErrNotExist

// ErrInvalidPath is returned for a path that would leave the source root or cannot be
// used (a ".." element, a NUL byte). Patterns are checked when they are compiled
// (pattern.Parse).
var ErrInvalidPath = errors.New("invalid path")

// CleanPath turns a path given to a Source into its canonical relative form: forward
// slashes, no leading or trailing slash, no "." or empty elements; "" is the root. A ".."
// element or a NUL byte is ErrInvalidPath.
func CleanPath(p string) (string, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return "", fmt.Errorf("%q: NUL byte: %w", p, ErrInvalidPath)
	}
	for elem := range strings.SplitSeq(p, "/") {
		if elem == ".." {
			return "", fmt.Errorf("%q: \"..\" is not allowed: %w", p, ErrInvalidPath)
		}
	}
	clean := strings.Trim(path.Clean("/"+p), "/")
	return clean, nil
}

// CleanName is CleanPath for a file name, which cannot be the root.
func CleanName(name string) (string, error) {
	clean, err := CleanPath(name)
	if err != nil {
		return "", err
	}
	if clean == "" {
		return "", fmt.Errorf("%q: not a file name: %w", name, ErrInvalidPath)
	}
	return clean, nil
}

// CleanMove cleans the arguments of Source.Move: from is a file name (CleanName), toDir
// a folder (CleanPath).
func CleanMove(from, toDir string) (src, dir string, err error) {
	if src, err = CleanName(from); err != nil {
		return "", "", err
	}
	if dir, err = CleanPath(toDir); err != nil {
		return "", "", err
	}
	return src, dir, nil
}

// DirEntry is one entry of a folder as a backend reads it, for Glob.
type DirEntry struct {
	// Name is the base name.
	Name string
	// Dir is true for a folder; other entries that are not regular files must be left out
	// by the backend.
	Dir     bool
	Size    int64
	ModTime time.Time
	ETag    string
}

// EntryOf is the DirEntry of a file or folder called name that a backend with file
// system semantics describes with info; ok is false for an entry of another kind (a
// device, a socket, a link), which Glob must not see.
func EntryOf(name string, info fs.FileInfo) (e DirEntry, ok bool) {
	switch {
	case info.IsDir():
		return DirEntry{Name: name, Dir: true}, true
	case info.Mode().IsRegular():
		return DirEntry{Name: name, Size: info.Size(), ModTime: info.ModTime()}, true
	}
	return DirEntry{}, false
}

// ReadDirFunc reads one folder (a cleaned relative path, "" for the root). A missing
// folder is an error wrapping ErrNotExist.
type ReadDirFunc func(ctx context.Context, dir string) ([]DirEntry, error)

// Glob implements List for backends with real folders: it reads dir, then only the
// sub-folders whose names match the pattern's folder elements, level by level. A
// sub-folder that vanishes during the walk is skipped; a missing dir is an error.
func Glob(ctx context.Context, dir string, pat *pattern.Pattern, readDir ReadDirFunc) ([]FileInfo, error) {
	dir, err := CleanPath(dir)
	if err != nil {
		return nil, err
	}
	depth := pat.Depth()
	var files []FileInfo
	var walk func(d string, level int) error
	walk = func(d string, level int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		entries, err := readDir(ctx, d)
		if err != nil {
			if level > 0 && errors.Is(err, ErrNotExist) {
				return nil
			}
			return err
		}
		last := level == depth-1
		for _, e := range entries {
			if e.Dir == last || !pat.MatchElement(level, e.Name) {
				continue
			}
			p := path.Join(d, e.Name)
			if last {
				files = append(files, FileInfo{Name: p, Size: e.Size, ModTime: e.ModTime, ETag: e.ETag})
			} else if err := walk(p, level+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(dir, 0); err != nil {
		return nil, err
	}
	SortFiles(files)
	return files, nil
}

// SortFiles sorts files by Name, the order List returns.
func SortFiles(files []FileInfo) {
	slices.SortFunc(files, func(a, b FileInfo) int { return strings.Compare(a.Name, b.Name) })
}

// NumberedName returns the n-th alternative of a base name for Move: name itself for 0,
// otherwise n inserted before the last extension ("orders.csv" → "orders-2.csv"), or
// appended when there is no extension or the name starts with its only dot (".env" →
// ".env-2").
func NumberedName(name string, n int) string {
	if n == 0 {
		return name
	}
	ext := path.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	if stem == "" {
		stem, ext = name, ""
	}
	return stem + "-" + strconv.Itoa(n) + ext
}

// MaxNumberedNames bounds how many numbered names Move tries before giving up.
const MaxNumberedNames = 100000

// PlaceNumbered runs the no-overwrite loop of Move for the file from (a cleaned name) and
// the cleaned folder toDir: it calls place with each NumberedName of from's base name in
// toDir in turn, skipping the base names in taken (what the backend knows is already in
// toDir), until place reports the file placed. place returns false without an error when
// the target turned out to exist (another mover won the race), and the next number is
// tried. A file moved into its own folder stays where it is.
func PlaceNumbered(from, toDir string, taken map[string]bool, place func(target string) (bool, error)) (string, error) {
	base := path.Base(from)
	if path.Join(toDir, base) == from {
		return from, nil
	}
	for n := range MaxNumberedNames {
		candidate := NumberedName(base, n)
		if taken[candidate] {
			continue
		}
		target := path.Join(toDir, candidate)
		placed, err := place(target)
		if err != nil {
			return "", err
		}
		if placed {
			return target, nil
		}
	}
	return "", fmt.Errorf("moving %s to %q: %d files of that name already there", base, toDir, MaxNumberedNames)
}

// Opener builds a Source for one connection of the config. Backends register one per
// connection type with Register.
type Opener func(ctx context.Context, cn *config.Connection) (Source, error)

var (
	openersMu sync.RWMutex
	openers   = map[string]Opener{}
)

// Register makes a backend available to OpenSource for connections of type typ. It is
// called from the backend package's init and panics when typ is registered twice.
func Register(typ string, open Opener) {
	openersMu.Lock()
	defer openersMu.Unlock()
	if _, dup := openers[typ]; dup {
		panic("ingest: source type " + typ + " registered twice")
	}
	openers[typ] = open
}

// OpenSource builds the Source of a config connection with the backend registered for its
// type (see the package documentation for the imports that register them).
func OpenSource(ctx context.Context, cn *config.Connection) (Source, error) {
	openersMu.RLock()
	open, ok := openers[cn.Type]
	openersMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("connection %s: no source backend for type %q is linked in (import github.com/dmfpipe/dmfpipe/ingest/%s)",
			cn.Name, cn.Type, cn.Type)
	}
	src, err := open(ctx, cn)
	if err != nil {
		return nil, fmt.Errorf("connection %s: %w", cn.Name, err)
	}
	return src, nil
}
