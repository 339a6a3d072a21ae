package config

import (
	"fmt"
	"math"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/dmfpipe/dmfpipe/exports/pathtemplate"
)

// The project modes and their choices (see the fields of Project).
const (
	ModePackage   = "package"
	ModeRecurring = "recurring"

	EnqueuePackage = "package"
	EnqueueFile    = "file"
	EnqueueSource  = "source"

	OnPartialDeliver = "deliver"
	OnPartialFail    = "fail"
	OnEmptyHeader    = "header"
	OnEmptySkip      = "skip"
	OnNoFileAck      = "ack"
	OnNoFileSkip     = "skip"
)

// MaxXLSXDataRows is the most data rows an xlsx sheet holds: Excel's 1,048,576 rows, the
// header aside.
const MaxXLSXDataRows = 1_048_575

// Recurring reports whether the project uses a recurring data job (mode: recurring).
func (p *Project) Recurring() bool { return p.Mode == ModeRecurring }

// ExportFormat is the format an export project writes: format.type, or the extension of
// destination.path ("" when neither tells).
func (p *Project) ExportFormat() string {
	if p.Format.Type != "" {
		return p.Format.Type
	}
	if p.Destination == nil {
		return ""
	}
	return FormatOfName(p.Destination.Path)
}

// FormatOfName is the export format a file name's extension names (".csv", ".xlsx",
// ".json", ".ndjson" or ".jsonl", with ".gz" after it), or "".
func FormatOfName(name string) string {
	name = strings.TrimSuffix(strings.ToLower(name), ".gz")
	switch path.Ext(name) {
	case ".csv", ".txt":
		return "csv"
	case ".xlsx":
		return "xlsx"
	case ".json":
		return "json"
	case ".ndjson", ".jsonl":
		return "ndjson"
	}
	return ""
}

// ActivityKey is an activity id as F&O compares it: lower case, without braces.
func ActivityKey(id string) string { return strings.ToLower(strings.Trim(strings.TrimSpace(id), "{}")) }

var guid = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func (c *Config) applyExportDefaults(p *Project) {
	if p.Mode == "" {
		p.Mode = ModePackage
	}
	if p.Kind == "import" && p.Recurring() && p.Enqueue == "" {
		p.Enqueue = EnqueuePackage
	}
	if p.Kind == "import" && p.Recurring() && p.Enqueue == EnqueueSource && p.Target != nil {
		// The file goes as given, once: its rows are one chunk.
		p.Target.ChunkRows = math.MaxInt32
	}
	if p.Kind != "export" {
		return
	}
	setString(&p.OnPartial, OnPartialDeliver)
	setString(&p.OnEmpty, OnEmptyHeader)
	setString(&p.OnNoFile, OnNoFileAck)
	setString(&p.Format.LineEnd, "crlf")
	if p.Format.BOM == nil {
		bom := strings.HasPrefix(strings.ToLower(p.Format.Encoding), "utf-16")
		p.Format.BOM = &bom
	}
}

func setString(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

// mode checks mode, activity and enqueue, and that no two projects share a recurring
// data job of one environment (its queue would be drained by both).
func (k checker) mode(key string, p *Project, label string, jobs map[string]string) {
	switch p.Mode {
	case ModePackage:
		if _, set := k.c.positions[key+".activity"]; set {
			k.at(key+".activity", p.Pos, "project %s: activity belongs to mode: recurring", label)
		}
	case ModeRecurring:
		if p.Activity == "" {
			k.at(key+".mode", p.Pos, "project %s: mode recurring needs activity: the recurring data job's activity id (a GUID)", label)
		} else if !guid.MatchString(ActivityKey(p.Activity)) {
			k.at(key+".activity", p.Pos, "project %s: activity %q is not a GUID (copy it from F&O's Manage scheduled data jobs)", label, p.Activity)
		} else {
			job := p.Environment + "/" + ActivityKey(p.Activity)
			if prev, dup := jobs[job]; dup {
				k.at(key+".activity", p.Pos, "project %s: activity %s of environment %s is already project %s's", label, p.Activity, p.Environment, prev)
			}
			jobs[job] = label
		}
	default:
		k.at(key+".mode", p.Pos, "project %s: mode must be package or recurring, not %q", label, p.Mode)
	}
	if _, set := k.c.positions[key+".enqueue"]; set && (p.Kind != "import" || !p.Recurring()) {
		k.at(key+".enqueue", p.Pos, "project %s: enqueue belongs to recurring imports (mode: recurring)", label)
	}
	if p.Kind == "import" && p.Recurring() {
		if !slices.Contains([]string{EnqueuePackage, EnqueueFile, EnqueueSource}, p.Enqueue) {
			k.at(key+".enqueue", p.Pos, "project %s: enqueue must be package, file or source, not %q", label, p.Enqueue)
		}
		if p.Target != nil && p.Target.Lanes > 1 {
			k.at(key+".target.lanes", p.Pos, "project %s: lanes do not apply to recurring imports: F&O's recurring job processes the messages", label)
		}
		if _, set := k.c.positions[key+".target.chunk_rows"]; set && p.Enqueue == EnqueueSource {
			k.at(key+".target.chunk_rows", p.Pos, "project %s: chunk_rows does not apply to enqueue: source, which sends the file whole", label)
		}
	}
}

// exportFormatKeys are format keys that only imports read, and exportOnlyFormatKeys those
// only exports read.
var (
	importOnlyFormatKeys = []string{"skip_rows", "sheet", "header_row", "records"}
	exportOnlyFormatKeys = []string{"bom", "line_end"}
)

func (k checker) formatKeys(key string, p *Project, label string) {
	bad, belongs := importOnlyFormatKeys, "import"
	if p.Kind == "import" {
		bad, belongs = exportOnlyFormatKeys, "export"
	}
	for _, f := range bad {
		if _, set := k.c.positions[key+".format."+f]; set {
			k.at(key+".format."+f, p.Pos, "project %s: format.%s belongs to %s projects", label, f, belongs)
		}
	}
}

func (k checker) exportProject(key string, p *Project, label string) {
	for _, f := range []string{"source", "target", "mapping", "validate", "references", "on_errors"} {
		if _, set := k.c.positions[key+"."+f]; set {
			k.at(key+"."+f, p.Pos, "project %s: %s belongs to import projects", label, f)
		}
	}
	if !p.Recurring() {
		if p.DefinitionGroup == "" {
			k.at(key, p.Pos, "project %s: definition_group is required for exports (the export project in F&O)", label)
		}
		if p.LegalEntity == "" {
			k.at(key, p.Pos, "project %s: legal_entity is required for exports", label)
		}
		if _, set := k.c.positions[key+".on_no_file"]; set {
			k.at(key+".on_no_file", p.Pos, "project %s: on_no_file belongs to recurring exports (mode: recurring)", label)
		}
	} else if _, set := k.c.positions[key+".definition_group"]; set {
		k.at(key+".definition_group", p.Pos, "project %s: a recurring export dequeues from its activity; its data project is the recurring job's, not definition_group", label)
	}
	for _, c := range []struct{ key, v, a, b string }{
		{"on_partial", p.OnPartial, OnPartialDeliver, OnPartialFail},
		{"on_empty", p.OnEmpty, OnEmptyHeader, OnEmptySkip},
		{"on_no_file", p.OnNoFile, OnNoFileAck, OnNoFileSkip},
	} {
		if c.v != c.a && c.v != c.b {
			k.at(key+"."+c.key, p.Pos, "project %s: %s must be %s or %s, not %q", label, c.key, c.a, c.b, c.v)
		}
	}
	d := p.Destination
	if d == nil {
		k.at(key, p.Pos, "project %s: destination is required for exports", label)
		k.notify(key+".notify", p, label)
		return
	}
	k.connectionRef(key+".destination.connection", p.Pos, label, d.Connection)
	dk := key + ".destination"
	format := p.ExportFormat()
	switch {
	case format == "" && p.Format.Type == "":
		k.at(dk+".path", p.Pos, "project %s: the format cannot be told from destination.path %q: set format.type (csv, xlsx, json or ndjson)", label, d.Path)
	case format != "" && !slices.Contains(formatTypes[1:], format):
		// reported by format()
	}
	tmpl := k.pathTemplate(dk+".path", p, label, "destination.path", d.Path, true)
	for _, e := range p.Entities {
		if e.Path != "" {
			k.pathTemplate(fmt.Sprintf("%s.entities.%s.path", key, e.Name), p, label, "entities."+e.Name+".path", e.Path, true)
		}
	}
	if tmpl != nil {
		split := d.Split.Rows > 0 || d.Split.Bytes > 0
		if split && !tmpl.Has(pathtemplate.Part) {
			k.at(dk+".path", p.Pos, "project %s: destination.path needs {part}: the files are split", label)
		}
		if p.Recurring() && !tmpl.Has(pathtemplate.Execution) {
			k.at(dk+".path", p.Pos, "project %s: destination.path needs {execution} (the message's CorrelationId): every message of a recurring export writes files of its own", label)
		}
		if d.Manifest == "" && (tmpl.DirHas(pathtemplate.Entity) || tmpl.DirHas(pathtemplate.Part)) {
			k.at(dk+".path", p.Pos, "project %s: destination.path has {entity} or {part} in its folder: set destination.manifest", label)
		}
	}
	for _, extra := range []struct{ key, value string }{{"manifest", d.Manifest}, {"raw_package", d.RawPackage}} {
		if extra.value == "" {
			continue
		}
		t := k.pathTemplate(dk+"."+extra.key, p, label, "destination."+extra.key, extra.value, false)
		if t != nil && (t.Has(pathtemplate.Entity) || t.Has(pathtemplate.Part)) {
			k.at(dk+"."+extra.key, p.Pos, "project %s: destination.%s names one file a run: no {entity} or {part}", label, extra.key)
		}
	}
	if d.Split.Rows < 0 || d.Split.Bytes < 0 {
		k.at(dk+".split", p.Pos, "project %s: split bounds must not be negative", label)
	}
	if format == "xlsx" {
		if d.Split.Rows > MaxXLSXDataRows {
			k.at(dk+".split.rows", p.Pos, "project %s: split.rows %d is more than an xlsx sheet holds (%d data rows)", label, d.Split.Rows, MaxXLSXDataRows)
		}
		if d.Split.Bytes > 0 {
			k.at(dk+".split.bytes", p.Pos, "project %s: split.bytes does not apply to xlsx (split by rows)", label)
		}
		if d.Gzip {
			k.at(dk+".gzip", p.Pos, "project %s: gzip does not apply to xlsx, which is compressed already", label)
		}
	}
	if format != "csv" {
		for _, f := range []string{"delimiter", "encoding", "bom", "line_end"} {
			if _, set := k.c.positions[key+".format."+f]; set {
				k.at(key+".format."+f, p.Pos, "project %s: format.%s applies to csv, not %s", label, f, format)
			}
		}
	}
	if _, set := k.c.positions[key+".format.header"]; set && (format == "xlsx" || format == "json" || format == "ndjson") {
		k.at(key+".format.header", p.Pos, "project %s: format.header applies to csv (%s files always name their columns)", label, format)
	}
	enc := strings.ToLower(p.Format.Encoding)
	if *p.Format.BOM && enc != "" && enc != "utf-8" && !strings.HasPrefix(enc, "utf-16") {
		k.at(key+".format.bom", p.Pos, "project %s: %s has no byte order mark", label, p.Format.Encoding)
	}
	if p.Format.LineEnd != "crlf" && p.Format.LineEnd != "lf" {
		k.at(key+".format.line_end", p.Pos, "project %s: line_end must be crlf or lf, not %q", label, p.Format.LineEnd)
	}
	k.notify(key+".notify", p, label)
}

// pathTemplate reports a template that does not parse and returns it parsed.
func (k checker) pathTemplate(key string, p *Project, label, name, value string, required bool) *pathtemplate.Template {
	if value == "" {
		if required {
			k.at(key, p.Pos, "project %s: %s is required", label, name)
		}
		return nil
	}
	t, err := pathtemplate.Parse(value)
	if err != nil {
		k.at(key, p.Pos, "project %s: %s: %v", label, name, err)
		return nil
	}
	return t
}
