package exports

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/datapackage"
	"github.com/dmfpipe/dmfpipe/exports/pathtemplate"
	"github.com/dmfpipe/dmfpipe/exports/writer"
	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/ingest/reader"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/mapping"
)

// ContentError is a package that cannot be written as the project says, whatever the
// number of attempts: a data file that is not CSV or does not parse, a value the format
// cannot hold, a column the package lacks, entities that would share a file, a name
// taken by a file with other content. The job (or, for a recurring export, the message)
// fails with it; other errors of a delivery are retried.
type ContentError struct{ Err error }

func (e *ContentError) Error() string { return e.Err.Error() }
func (e *ContentError) Unwrap() error { return e.Err }

func contentErr(err error) error {
	var ce *ContentError
	if err == nil || errors.As(err, &ce) {
		return err
	}
	return &ContentError{Err: err}
}

// writeError classifies an error of a format writer: a value or table the format cannot
// hold is a ContentError; anything else failed writing to the destination.
func writeError(err error) error {
	var ve *writer.ValueError
	if errors.As(err, &ve) || errors.Is(err, writer.ErrOneTable) {
		return contentErr(err)
	}
	return err
}

// delivered is what writing one package produced.
type delivered struct {
	rows     int64
	files    []jobhistory.ExportFile // data files, in order
	manifest Manifest
}

// writePackage writes the package in pkg (size bytes) to the project's destination: the
// copy of the raw package when the project keeps one, each entity's data files (parts
// when split), then the run's manifest; each file is recorded once it is under its name.
// man carries the manifest's run fields. Run again after a crash, it writes the same
// bytes under the same names: a file already there with them counts as written.
func (s *Stages) writePackage(ctx context.Context, j *jobhistory.Job, p *Project, unit string, pkg *os.File, size int64, man Manifest) (delivered, error) {
	var out delivered
	dest, err := s.d.Destination(ctx, p.Destination.Connection)
	if err != nil {
		return out, err
	}
	defer dest.Close()
	vars := Vars(p, j, unit)
	put := fileWriter{s: s, dest: dest, j: j, unit: unit, conn: p.Destination.Connection}
	if p.Raw != nil {
		name, err := p.Raw.Render(vars)
		if err != nil {
			return out, contentErr(fmt.Errorf("destination.raw_package: %w", err))
		}
		f, err := put.write(ctx, name, jobhistory.ExportRaw, "", 0, func(w io.Writer) (int64, error) {
			_, err := io.Copy(w, io.NewSectionReader(pkg, 0, size))
			return 0, err
		})
		if err != nil {
			return out, err
		}
		raw := manifestFile(f)
		man.RawPackage = &raw
	}
	pr, err := datapackage.NewReader(pkg, size)
	if err != nil {
		return out, contentErr(fmt.Errorf("the package F&O exported: %w", err))
	}
	groups, err := planGroups(p, pr.Manifest.Entities)
	if err != nil {
		return out, err
	}
	for _, g := range groups {
		gw := groupWriter{fileWriter: put, p: p, pr: pr, g: g, vars: vars}
		if err := gw.write(ctx, &out, &man); err != nil {
			return out, err
		}
	}
	man.Format = p.Writer.Format
	for _, f := range out.files {
		man.Files = append(man.Files, manifestFile(f))
	}
	name, err := p.Manifest.Render(vars)
	if err != nil {
		return out, contentErr(fmt.Errorf("destination.manifest: %w", err))
	}
	body, err := man.Encode()
	if err != nil {
		return out, err
	}
	if _, err := put.write(ctx, name, jobhistory.ExportManifest, "", 0, func(w io.Writer) (int64, error) {
		_, err := w.Write(body)
		return 0, err
	}); err != nil {
		return out, err
	}
	out.manifest = man
	return out, nil
}

// group is the entities that go to one sequence of files: one entity's, or, when the
// path names no {entity}, every entity of the package (the sheets of one workbook).
type group struct {
	tmpl     *pathtemplate.Template
	entities []groupEntity
	// entity is the {entity} of the files' names ("" for a shared workbook).
	entity string
}

type groupEntity struct {
	pe  datapackage.Entity
	cfg *Entity
}

// planGroups sorts a package's entities into the files they go to, in package order;
// disabled entities are left out, skipped ones kept (for the manifest).
func planGroups(p *Project, entities []datapackage.Entity) ([]*group, error) {
	var groups []*group
	shared := map[string]*group{}
	for _, pe := range entities {
		if pe.Disable {
			continue
		}
		cfg := p.Entity(pe.EntityName)
		tmpl := p.PathOf(cfg)
		if tmpl.Has(pathtemplate.Entity) {
			groups = append(groups, &group{tmpl: tmpl, entity: pe.EntityName, entities: []groupEntity{{pe, cfg}}})
			continue
		}
		g, ok := shared[tmpl.String()]
		if !ok {
			g = &group{tmpl: tmpl}
			shared[tmpl.String()] = g
			groups = append(groups, g)
		}
		g.entities = append(g.entities, groupEntity{pe, cfg})
	}
	if p.Writer.Format == writer.XLSX {
		return groups, nil
	}
	for _, g := range groups {
		var names []string
		for _, e := range g.entities {
			if e.cfg == nil || !e.cfg.Skip {
				names = append(names, e.pe.EntityName)
			}
		}
		if len(names) > 1 {
			return nil, contentErr(fmt.Errorf("path %q has no {entity}: entities %s would share one %s file; add {entity} to the path, or give the entities paths of their own",
				g.tmpl, strings.Join(names, ", "), p.Writer.Format))
		}
	}
	return groups, nil
}

// fileWriter writes and records the files of one unit.
type fileWriter struct {
	s    *Stages
	dest ingest.Destination
	j    *jobhistory.Job
	unit string
	conn string
}

// write writes one whole file with fill (which reports the data rows it wrote), commits
// it and records it.
func (fw fileWriter) write(ctx context.Context, name, kind, entity string, part int, fill func(io.Writer) (int64, error)) (jobhistory.ExportFile, error) {
	f, err := fw.create(ctx, name)
	if err != nil {
		return jobhistory.ExportFile{}, err
	}
	rows, err := fill(f)
	if err != nil {
		f.abort()
		return jobhistory.ExportFile{}, err
	}
	return fw.commit(ctx, f, kind, entity, part, rows)
}

// pendingFile is a file being written, with its digest and size.
type pendingFile struct {
	name string
	pf   ingest.PendingFile
	h    hash.Hash
	n    int64
}

func (f *pendingFile) Write(b []byte) (int, error) {
	n, err := f.pf.Write(b)
	f.h.Write(b[:n])
	f.n += int64(n)
	return n, err
}

func (f *pendingFile) abort() { _ = f.pf.Abort() }

func (fw fileWriter) create(ctx context.Context, name string) (*pendingFile, error) {
	pf, err := fw.dest.Create(ctx, name)
	if errors.Is(err, ingest.ErrInvalidPath) {
		return nil, contentErr(err)
	}
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", name, err)
	}
	return &pendingFile{name: name, pf: pf, h: sha256.New()}, nil
}

// commit publishes a file and records it. A name already taken by the same bytes (the
// file an earlier attempt of the step committed) counts as committed; by other bytes, it
// is a ContentError: an existing file is never replaced.
func (fw fileWriter) commit(ctx context.Context, f *pendingFile, kind, entity string, part int, rows int64) (jobhistory.ExportFile, error) {
	sum := f.h.Sum(nil)
	err := f.pf.Commit(ctx)
	if errors.Is(err, ingest.ErrExist) {
		same, serr := sameContent(ctx, fw.dest, f.name, sum, f.n)
		switch {
		case serr != nil:
			return jobhistory.ExportFile{}, fmt.Errorf("reading %s, which already exists: %w", f.name, serr)
		case !same:
			return jobhistory.ExportFile{}, contentErr(fmt.Errorf("%s already exists with other content; not replaced (name files apart with {time} or {execution} in the path)", f.name))
		}
		err = nil
	}
	if err != nil {
		return jobhistory.ExportFile{}, err
	}
	ef := jobhistory.ExportFile{JobID: fw.j.ID, Unit: fw.unit, Kind: kind, Entity: entity, Part: part, Connection: fw.conn,
		Path: f.name, Rows: rows, Bytes: f.n, SHA256: sum}
	if err := fw.s.hist(fw.s.d.DB).RecordExportFile(ctx, ef); err != nil {
		return ef, err
	}
	fw.s.d.Metrics.file(kind, rows, f.n)
	return ef, nil
}

// sameContent reports whether the file name holds size bytes with digest sum.
func sameContent(ctx context.Context, dest ingest.Destination, name string, sum []byte, size int64) (bool, error) {
	fi, err := dest.Stat(ctx, name)
	if err != nil {
		return false, err
	}
	if fi.Size != size {
		return false, nil
	}
	rc, err := dest.Open(ctx, name)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return false, err
	}
	return bytes.Equal(h.Sum(nil), sum), nil
}

// groupWriter writes one group's entities into parts.
type groupWriter struct {
	fileWriter
	p    *Project
	pr   *datapackage.Reader
	g    *group
	vars pathtemplate.Vars

	part    *partFile
	partNo  int
	entRows int64
}

// partFile is one part being written.
type partFile struct {
	*pendingFile
	gz     *gzip.Writer
	count  *countingWriter
	w      writer.Writer
	rows   int64
	entity string // the entity whose rows it holds first, for the record
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

func (gw *groupWriter) write(ctx context.Context, out *delivered, man *Manifest) (err error) {
	defer func() {
		if err != nil && gw.part != nil {
			gw.part.abort()
		}
	}()
	limits := Limits{Rows: int64(gw.p.Destination.Split.Rows), Bytes: int64(gw.p.Destination.Split.Bytes)}
	for _, e := range gw.g.entities {
		name := e.pe.EntityName
		if e.cfg != nil && e.cfg.Skip {
			man.Entities = append(man.Entities, ManifestEntity{Entity: name, Skipped: "configured"})
			continue
		}
		rows, err := gw.write1(ctx, e, limits, out)
		if err != nil {
			return err
		}
		me := ManifestEntity{Entity: name, Rows: rows}
		if rows == 0 && gw.p.OnEmpty == config.OnEmptySkip {
			me.Skipped = "empty"
		}
		man.Entities = append(man.Entities, me)
		out.rows += rows
	}
	return gw.closePart(ctx, out)
}

// write1 writes one entity's rows, starting new parts as the limits say.
func (gw *groupWriter) write1(ctx context.Context, e groupEntity, limits Limits, out *delivered) (int64, error) {
	name := e.pe.EntityName
	rows, err := gw.pr.Rows(e.pe)
	if err != nil {
		return 0, contentErr(fmt.Errorf("entity %s: %w", name, err))
	}
	defer rows.Close()
	columns := rows.Columns()
	var bound *mapping.Bound
	if e.cfg != nil && e.cfg.Columns != nil {
		if bound, err = e.cfg.Columns.Bind(columns); err != nil {
			return 0, contentErr(fmt.Errorf("entity %s: entities.%s.columns name fields its data file lacks:\n%w", name, e.cfg.Name, err))
		}
		columns = bound.Fields()
	}
	var (
		n      int64
		mapped []string
		begun  bool
	)
	begin := func() error {
		if gw.part == nil {
			if err := gw.openPart(ctx, name); err != nil {
				return err
			}
		}
		begun = true
		return writeError(gw.part.w.Begin(name, columns))
	}
	for {
		rec, err := rows.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, contentErr(fmt.Errorf("entity %s: %w", name, err))
		}
		if gw.part != nil && begun && limits.Full(gw.part.rows, gw.part.count.n) {
			if err := gw.closePart(ctx, out); err != nil {
				return n, err
			}
			begun = false
		}
		if !begun {
			if err := begin(); err != nil {
				return n, err
			}
		}
		vals := rec
		if bound != nil {
			row, verrs := bound.Apply(reader.Record{Values: rec, Loc: reader.Location{Line: int(n) + 2}}, n+1, mapped)
			if len(verrs) > 0 {
				msgs := make([]string, len(verrs))
				for i := range verrs {
					msgs[i] = verrs[i].Error()
				}
				return n, contentErr(fmt.Errorf("entity %s, row %d: %s", name, n+1, strings.Join(msgs, "; ")))
			}
			vals, mapped = row, row
		}
		if err := gw.part.w.Row(vals); err != nil {
			return n, writeError(err)
		}
		gw.part.rows++
		n++
	}
	if n == 0 && !begun && gw.p.OnEmpty != config.OnEmptySkip {
		if err := begin(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// openPart starts the group's next part.
func (gw *groupWriter) openPart(ctx context.Context, entity string) error {
	gw.partNo++
	v := gw.vars
	v.Entity, v.Part = gw.g.entity, gw.partNo
	name, err := FileName(gw.g.tmpl, v, gw.p.Destination.Gzip)
	if err != nil {
		return contentErr(err)
	}
	f, err := gw.create(ctx, name)
	if err != nil {
		return err
	}
	part := &partFile{pendingFile: f, entity: entity}
	var sink io.Writer = f
	if gw.p.Destination.Gzip {
		// No name and no time in the header: the same rows give the same bytes.
		part.gz = gzip.NewWriter(f)
		sink = part.gz
	}
	part.count = &countingWriter{w: sink}
	w, err := writer.New(part.count, gw.p.Writer)
	if err != nil {
		f.abort()
		return contentErr(err)
	}
	part.w = w
	gw.part = part
	return nil
}

// closePart finishes, commits and records the part being written, if any.
func (gw *groupWriter) closePart(ctx context.Context, out *delivered) error {
	part := gw.part
	if part == nil {
		return nil
	}
	gw.part = nil
	if err := part.w.Close(); err != nil {
		part.abort()
		return writeError(err)
	}
	if part.gz != nil {
		if err := part.gz.Close(); err != nil {
			part.abort()
			return err
		}
	}
	entity := gw.g.entity
	if entity == "" {
		entity = part.entity
	}
	f, err := gw.commit(ctx, part.pendingFile, jobhistory.ExportData, entity, gw.partNo, part.rows)
	if err != nil {
		return err
	}
	out.files = append(out.files, f)
	return nil
}
