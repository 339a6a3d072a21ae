package reader

import (
	"path"
	"path/filepath"

	"github.com/dmfpipe/dmfpipe/config"
)

// OptionsFor returns the options that read file (a path or a name; its extension picks
// the format when the config names none) the way a project's format says.
func OptionsFor(f config.Format, file string) (Options, error) {
	format, err := ParseFormat(f.Type)
	if err != nil {
		return Options{}, err
	}
	opts := Options{
		Format:    format,
		FileName:  path.Base(filepath.ToSlash(file)),
		Delimiter: f.Delimiter,
		Encoding:  f.Encoding,
		NoHeader:  f.Header != nil && !*f.Header,
		SkipRows:  f.SkipRows,
		Sheet:     f.Sheet,
		HeaderRow: f.HeaderRow,
		Records:   f.Records,
	}
	if f.HeaderRow == 1 && f.SkipRows > 0 {
		opts.HeaderRow = 0 // the config default; let the reader count from SkipRows
	}
	return opts, nil
}
