package sftp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"

	pkgsftp "github.com/pkg/sftp"

	"github.com/dmfpipe/dmfpipe/ingest"
)

// An SFTP server as an ingest.Destination: a file is written under a TempName beside it,
// flushed to the server's disk where the server supports fsync@openssh.com, and renamed
// under its name with posix-rename@openssh.com (an atomic rename) once the name is seen
// free; servers without the extension get the plain SFTP rename, which OpenSSH refuses
// when the target exists. The rename is not retried when the connection drops under it:
// it may have happened, and the next attempt finds the file under its name.

// Create implements ingest.Destination.
func (s *Source) Create(ctx context.Context, name string) (ingest.PendingFile, error) {
	clean, err := ingest.CleanName(name)
	if err != nil {
		return nil, err
	}
	tmp := ingest.TempName(clean, ingest.NewTag())
	p := &pendingFile{s: s, name: clean, tmp: tmp}
	err = s.do(ctx, true, func(ss *session) error {
		if err := ss.sftp.MkdirAll(s.remote(path.Dir(clean))); err != nil {
			return fmt.Errorf("making folder %q: %w", path.Dir(clean), err)
		}
		f, err := ss.sftp.OpenFile(s.remote(tmp), os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
		if err != nil {
			return err
		}
		p.ss, p.f = ss, f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", clean, err)
	}
	p.w = bufio.NewWriterSize(p.f, 256<<10)
	return p, nil
}

type pendingFile struct {
	s         *Source
	ss        *session
	f         *pkgsftp.File
	w         *bufio.Writer
	name, tmp string
	done      bool
}

func (p *pendingFile) Write(b []byte) (int, error) {
	if p.done {
		return 0, fmt.Errorf("writing %s: %w", p.name, os.ErrClosed)
	}
	n, err := p.w.Write(b)
	if err != nil {
		return n, fmt.Errorf("writing %s: %w", p.name, err)
	}
	return n, nil
}

func (p *pendingFile) Commit(context.Context) error {
	if p.done {
		return fmt.Errorf("committing %s: %w", p.name, os.ErrClosed)
	}
	p.done = true
	c := p.ss.sftp
	fail := func(err error) error {
		p.f.Close()
		_ = c.Remove(p.s.remote(p.tmp))
		return fmt.Errorf("committing %s: %w", p.name, err)
	}
	if err := p.w.Flush(); err != nil {
		return fail(err)
	}
	if data, ok := c.HasExtension("fsync@openssh.com"); ok && data == "1" {
		if err := p.f.Sync(); err != nil {
			return fail(fmt.Errorf("flushing to the server's disk: %w", err))
		}
	}
	if err := p.f.Close(); err != nil {
		return fail(err)
	}
	from, to := p.s.remote(p.tmp), p.s.remote(p.name)
	// Renames into one name are serialised within the process (servers whose plain
	// rename replaces files exist); across processes the names of an export's files are
	// its own.
	p.s.moveMu.Lock()
	defer p.s.moveMu.Unlock()
	if _, err := c.Lstat(to); err == nil {
		_ = c.Remove(from)
		return fmt.Errorf("committing %s: it already exists; not replaced: %w", p.name, ingest.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
	var err error
	if _, ok := c.HasExtension("posix-rename@openssh.com"); ok {
		err = c.PosixRename(from, to)
	} else {
		err = c.Rename(from, to)
	}
	if err != nil {
		if _, serr := c.Lstat(to); serr == nil && !connLost(err) {
			_ = c.Remove(from)
			return fmt.Errorf("committing %s: it already exists; not replaced: %w", p.name, ingest.ErrExist)
		}
		return fmt.Errorf("committing %s: renaming %s: %w", p.name, path.Base(p.tmp), err)
	}
	return nil
}

func (p *pendingFile) Abort() error {
	if p.done {
		return nil
	}
	p.done = true
	p.f.Close()
	if err := p.ss.sftp.Remove(p.s.remote(p.tmp)); err != nil && !errors.Is(err, fs.ErrNotExist) && !connLost(err) {
		return fmt.Errorf("discarding %s: %w", p.name, err)
	}
	return nil
}

var _ ingest.Destination = (*Source)(nil)
