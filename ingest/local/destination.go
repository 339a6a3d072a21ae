package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"

	"github.com/dmfpipe/dmfpipe/ingest"
)

// A local folder as an ingest.Destination: a file is written under a TempName beside it,
// synced, and hard-linked under its name (a link, unlike a rename, fails when the name is
// taken), then the temporary name is removed and the folder synced. Where hard links are
// not supported the name is checked and the file renamed, as Move does.

// Create implements ingest.Destination.
func (s *Source) Create(_ context.Context, name string) (ingest.PendingFile, error) {
	clean, err := ingest.CleanName(name)
	if err != nil {
		return nil, err
	}
	dir := path.Dir(clean)
	if err := s.root.MkdirAll(fsName(cleanDir(dir)), 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: making folder %q: %w", clean, dir, err)
	}
	tmp := ingest.TempName(clean, ingest.NewTag())
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", clean, err)
	}
	return &pendingFile{s: s, f: f, w: bufio.NewWriterSize(f, 256<<10), name: clean, tmp: tmp}, nil
}

// cleanDir is path.Dir's answer as a cleaned relative folder ("" for the root).
func cleanDir(dir string) string {
	if dir == "." {
		return ""
	}
	return dir
}

type pendingFile struct {
	s         *Source
	f         *os.File
	w         *bufio.Writer
	name, tmp string
	done      bool
}

func (p *pendingFile) Write(b []byte) (int, error) {
	if p.done {
		return 0, fmt.Errorf("writing %s: %w", p.name, os.ErrClosed)
	}
	return p.w.Write(b)
}

func (p *pendingFile) Commit(context.Context) error {
	if p.done {
		return fmt.Errorf("committing %s: %w", p.name, os.ErrClosed)
	}
	p.done = true
	fail := func(err error) error {
		p.f.Close()
		_ = p.s.root.Remove(p.tmp)
		return fmt.Errorf("committing %s: %w", p.name, err)
	}
	if err := p.w.Flush(); err != nil {
		return fail(err)
	}
	if err := p.f.Sync(); err != nil {
		return fail(err)
	}
	if err := p.f.Close(); err != nil {
		_ = p.s.root.Remove(p.tmp)
		return fmt.Errorf("committing %s: %w", p.name, err)
	}
	placed, err := p.s.place(p.tmp, p.name)
	if err != nil || !placed {
		_ = p.s.root.Remove(p.tmp)
		if err == nil {
			err = fmt.Errorf("%s already exists; not replaced: %w", p.name, ingest.ErrExist)
		}
		return fmt.Errorf("committing %s: %w", p.name, err)
	}
	// The new name is only durable once its folder is.
	if d, err := p.s.root.Open(fsName(cleanDir(path.Dir(p.name)))); err == nil {
		serr := d.Sync()
		d.Close()
		if serr != nil && !errors.Is(serr, fs.ErrInvalid) {
			return fmt.Errorf("committing %s: syncing its folder: %w", p.name, serr)
		}
	}
	return nil
}

func (p *pendingFile) Abort() error {
	if p.done {
		return nil
	}
	p.done = true
	p.f.Close()
	if err := p.s.root.Remove(p.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("discarding %s: %w", p.name, err)
	}
	return nil
}

var _ ingest.Destination = (*Source)(nil)
