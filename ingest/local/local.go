// Package local is the ingest.Source of a folder on this machine (connection type
// "local").
//
// All access goes through an os.Root, so no name, symlink or ".." reaches outside the
// folder. Move hard-links the file under its new name and then removes the old one, because
// a link, unlike a rename, fails when the target exists: a file already in the archive is
// never replaced, even by a concurrent move. Where hard links are not supported (some
// network and FUSE filesystems) Move checks the target and renames, which leaves a small
// window in which two concurrent moves of same-named files could collide.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/ingest/pattern"
)

func init() {
	ingest.Register("local", func(_ context.Context, cn *config.Connection) (ingest.Source, error) {
		return New(cn.Root)
	})
}

// Source is a local folder.
type Source struct {
	root *os.Root
}

// New opens the folder root; it must exist.
func New(root string) (*Source, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("opening folder %s: %w", root, err)
	}
	return &Source{root: r}, nil
}

// fsName is the name of a cleaned relative path inside the os.Root.
func fsName(clean string) string {
	if clean == "" {
		return "."
	}
	return clean
}

// List implements ingest.Source.
func (s *Source) List(ctx context.Context, dir string, pat *pattern.Pattern) ([]ingest.FileInfo, error) {
	files, err := ingest.Glob(ctx, dir, pat, s.readDir)
	if err != nil {
		return nil, fmt.Errorf("listing %q: %w", dir, err)
	}
	return files, nil
}

func (s *Source) readDir(_ context.Context, dir string) ([]ingest.DirEntry, error) {
	f, err := s.root.Open(fsName(dir))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	out := make([]ingest.DirEntry, 0, len(entries))
	for _, e := range entries {
		var info fs.FileInfo
		if e.Type()&fs.ModeSymlink != 0 {
			// Follow links that stay inside the root; others are left out.
			info, err = s.root.Stat(path.Join(fsName(dir), e.Name()))
		} else {
			info, err = e.Info()
		}
		if err != nil {
			continue // vanished since ReadDir, or a link leading out of the root
		}
		if de, ok := ingest.EntryOf(e.Name(), info); ok {
			out = append(out, de)
		}
	}
	return out, nil
}

// Stat implements ingest.Source.
func (s *Source) Stat(_ context.Context, name string) (ingest.FileInfo, error) {
	clean, err := ingest.CleanName(name)
	if err != nil {
		return ingest.FileInfo{}, err
	}
	info, err := s.root.Stat(clean)
	if err != nil {
		return ingest.FileInfo{}, fmt.Errorf("stat %s: %w", clean, err)
	}
	if !info.Mode().IsRegular() {
		return ingest.FileInfo{}, fmt.Errorf("stat %s: not a file: %w", clean, ingest.ErrNotExist)
	}
	return ingest.FileInfo{Name: clean, Size: info.Size(), ModTime: info.ModTime()}, nil
}

// Open implements ingest.Source.
func (s *Source) Open(_ context.Context, name string) (io.ReadCloser, error) {
	clean, err := ingest.CleanName(name)
	if err != nil {
		return nil, err
	}
	f, err := s.root.Open(clean)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", clean, err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening %s: %w", clean, err)
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("opening %s: not a file: %w", clean, ingest.ErrNotExist)
	}
	return f, nil
}

// Move implements ingest.Source.
func (s *Source) Move(ctx context.Context, from, toDir string) (string, error) {
	src, dir, err := ingest.CleanMove(from, toDir)
	if err != nil {
		return "", err
	}
	if _, err := s.Stat(ctx, src); err != nil {
		return "", fmt.Errorf("moving %s: %w", src, err)
	}
	if err := s.root.MkdirAll(fsName(dir), 0o755); err != nil {
		return "", fmt.Errorf("moving %s: creating folder %q: %w", src, dir, err)
	}
	target, err := ingest.PlaceNumbered(src, dir, nil, func(target string) (bool, error) {
		return s.place(src, target)
	})
	if err != nil {
		return "", fmt.Errorf("moving %s to %q: %w", src, dir, err)
	}
	return target, nil
}

// place moves src to target unless target exists.
func (s *Source) place(src, target string) (bool, error) {
	err := s.root.Link(src, target)
	switch {
	case err == nil:
		if err := s.root.Remove(src); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("removing %s after linking it as %s: %w", src, target, err)
		}
		return true, nil
	case errors.Is(err, fs.ErrExist):
		return false, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, err
	}
	// No hard links here: check, then rename.
	if _, err := s.root.Lstat(target); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if err := s.root.Rename(src, target); err != nil {
		return false, err
	}
	return true, nil
}

// Close implements ingest.Source.
func (s *Source) Close() error { return s.root.Close() }

var _ ingest.Source = (*Source)(nil)
