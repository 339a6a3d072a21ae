package emulator

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/dmfpipe/dmfpipe/dmf/catalog"
)

// Data project operation types (DataManagementDefinitionGroups.OperationType).
const (
	opImport = "Import"
	opExport = "Export"
)

// ExportProject is an export data project: ExportToPackage on DefinitionGroup exports
// Entity's rows of LegalEntity (imported or seeded) as a data package.
type ExportProject struct {
	DefinitionGroup string `json:"definition_group"`
	// Entity is any catalog name of the entity to export.
	Entity string `json:"entity"`
	// Entities are more entities the project exports, after Entity, each a data file of
	// the package.
	Entities []string `json:"entities,omitempty"`
	// LegalEntity is used when ExportToPackage leaves legalEntityId empty. Defaults to
	// Config.DefaultLegalEntity.
	LegalEntity string `json:"legal_entity,omitempty"`
	// Filter keeps rows whose fields (staging or OData names) equal these values,
	// case-insensitively.
	Filter map[string]string `json:"filter,omitempty"`
}

// defGroup is a data project.
type defGroup struct {
	name        string
	description string
	operation   string
	created     time.Time
	entities    []string // export: entity names
	legalEntity string   // export: default company
	filter      map[string]string
}

// AddExportProject creates or replaces an export project. An entity unknown to the
// catalog makes its exports fail, as a broken project does in F&O.
func (e *Emulator) AddExportProject(p ExportProject) {
	le := strings.ToUpper(strings.TrimSpace(p.LegalEntity))
	e.mu.Lock()
	defer e.mu.Unlock()
	e.groups[strings.ToUpper(p.DefinitionGroup)] = &defGroup{
		name: p.DefinitionGroup, description: p.Entity + " export", operation: opExport, created: e.now(),
		entities: append([]string{p.Entity}, p.Entities...), legalEntity: le, filter: p.Filter,
	}
}

// useGroup records that an import used a data project, creating it from the manifest
// as F&O does. Importing into an export project is refused.
func (e *Emulator) useGroup(name, op, description string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := strings.ToUpper(name)
	if g, ok := e.groups[k]; ok {
		if g.operation != op {
			return fmt.Errorf("data project '%s' is an %s project", g.name, strings.ToLower(g.operation))
		}
		return nil
	}
	e.groups[k] = &defGroup{name: name, description: description, operation: op, created: e.now()}
	return nil
}

func (e *Emulator) group(name string) (*defGroup, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.groups[strings.ToUpper(strings.TrimSpace(name))]
	return g, ok
}

// writeExportValue answers ExportToPackage* and GetExportedPackageUrl, nested under the
// NestedValue quirk.
func (e *Emulator) writeExportValue(w http.ResponseWriter, r *http.Request, v string) {
	if e.cfg.Quirks.NestedValue {
		writeValue(w, r, edmString, map[string]string{"value": v})
		return
	}
	writeValue(w, r, edmString, v)
}

// exportSpec is what one export execution produces.
type exportSpec struct {
	entities    []string
	filter      map[string]string
	top         int64
	packageName string
}

// actionExport implements ExportToPackage, ExportToPackageAsync and ExportToPackagePreview.
func (e *Emulator) actionExport(w http.ResponseWriter, r *http.Request, a args, top int64) {
	e.exportCalls.Add(1)
	groupName := a.str("definitionGroupId")
	g, ok := e.group(groupName)
	if !ok || g.operation != opExport {
		writeODataError(w, http.StatusBadRequest, "",
			fmt.Sprintf("Data project '%s' doesn't exist or is not an export project. Create the export project first.", groupName))
		return
	}
	leParam := a.str("legalEntityId")
	if strings.TrimSpace(leParam) == "" {
		leParam = g.legalEntity
	}
	le, msg := e.legalEntity(leParam)
	if msg != "" {
		writeODataError(w, http.StatusBadRequest, "", msg)
		return
	}
	spec := exportSpec{entities: g.entities, filter: g.filter, top: top, packageName: a.str("packageName")}
	ex, msg := e.newExport(g.name, le, strings.TrimSpace(a.str("executionId")), a.b["reExecute"], spec)
	if msg != "" {
		writeODataError(w, http.StatusBadRequest, "", msg)
		return
	}
	go e.runExport(ex, spec)
	e.writeExportValue(w, r, ex.id)
}

// newExport registers an export execution; msg is F&O's error when the ID is taken.
func (e *Emulator) newExport(group, le, id string, reExecute bool, spec exportSpec) (*execution, string) {
	if id == "" {
		id = e.generatedExecutionID(group)
	}
	ex := e.newExecution(id, group, le, KindExport)
	for _, name := range spec.entities {
		run := &entityRun{name: name, stagingStatus: entityNotRun, targetStatus: entityNotRun}
		if ent, ok := e.cat.Lookup(name); ok {
			run.ent, run.name = ent, ent.DMFName
		}
		ex.runs = append(ex.runs, run)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if old, dup := e.executions[strings.ToUpper(id)]; dup {
		if !reExecute || old.kind != KindExport {
			return nil, fmt.Sprintf("Execution ID '%s' already exists. Use a new execution ID, or reExecute to run an export again.", id)
		}
		// reExecute runs the export again under the same ID; the old run leaves history.
		old.cancel()
		e.execOrder = slices.DeleteFunc(e.execOrder, func(x *execution) bool { return x == old })
	}
	e.registerLocked(ex)
	return ex, ""
}

// runExport is an export execution: NotRun -> Executing -> package built -> terminal.
func (e *Emulator) runExport(ex *execution, spec exportSpec) {
	lock := e.groupLock(ex.group)
	lock.Lock()
	defer lock.Unlock()
	if !e.begin(ex, func() {}) {
		return
	}
	delay := e.cfg.ExecutionDelay
	pkg, err := e.buildExportPackage(ex, spec)
	switch {
	case err != nil:
		ex.addError("", "", err.Error())
	case len(ex.runs) == 0:
		// ExportFromPackage without execute: the project exists, nothing was exported.
	default:
		name := spec.packageName
		if name == "" {
			name = ex.id
		}
		if !strings.HasSuffix(strings.ToLower(name), ".zip") {
			name += ".zip"
		}
		blobName := "exports/" + ex.id + "/" + name
		e.blobs.put(blobName, pkg, "application/zip", e.now())
		ex.mu.Lock()
		ex.exportBlob = blobName
		ex.mu.Unlock()
	}
	if e.CurrentFaults().PartialExports {
		e.partialExport(ex)
	}
	if !ex.pause(delay) {
		e.cancelExecution(ex)
		return
	}
	ex.mu.Lock()
	ex.urlNotReadyLeft = e.CurrentFaults().ExportURLNotReady
	ex.mu.Unlock()
	status := ex.outcome()
	ex.setStatus(status, e.now())
	e.log.Info("export finished", "execution", ex.id, "group", ex.group, "legal_entity", ex.le, "status", status)
}

// buildExportPackage writes Manifest.xml, PackageHeader.xml (UTF-16 LE with BOM) and a
// CSV-Unicode file per entity.
func (e *Emulator) buildExportPackage(ex *execution, spec exportSpec) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var files []exportFile
	for _, run := range ex.runs {
		now := e.now()
		ex.mu.Lock()
		run.stagingStatus, run.stagingStart = entityExecuting, now
		ex.mu.Unlock()
		if run.ent == nil {
			msg := fmt.Sprintf("Entity '%s' of data project '%s' doesn't exist in this environment.", run.name, ex.group)
			ex.addError("", "", msg)
			ex.mu.Lock()
			run.fatal, run.stagingStatus, run.targetStatus = msg, entityError, entityError
			ex.mu.Unlock()
			continue
		}
		file := run.ent.DMFName + ".csv"
		fw, err := zw.Create(file)
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", file, err)
		}
		n, err := e.writeEntityCSV(fw, run.ent, ex.le, spec)
		if err != nil {
			msg := fmt.Sprintf("Export of entity '%s' failed: %v.", run.ent.DMFName, err)
			ex.addError("", "", msg)
			ex.mu.Lock()
			run.fatal, run.stagingStatus, run.targetStatus = msg, entityError, entityError
			ex.mu.Unlock()
			continue
		}
		files = append(files, exportFile{ent: run.ent, file: file})
		now = e.now()
		ex.mu.Lock()
		run.staged, run.inserted = n, n
		run.stagingStatus, run.stagingEnd = entityFinished, now
		run.targetStatus, run.targetStart, run.targetEnd = entityFinished, now, now
		ex.mu.Unlock()
	}
	for name, text := range map[string]string{
		manifestName:  exportManifest(ex.group, files),
		pkgHeaderName: packageHeader(ex.group),
	} {
		fw, err := zw.Create(name)
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", name, err)
		}
		if _, err := fw.Write(utf16LEWithBOM(text)); err != nil {
			return nil, fmt.Errorf("writing %s: %w", name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("closing package: %w", err)
	}
	return buf.Bytes(), nil
}

type exportFile struct {
	ent  *catalog.Entity
	file string
}

// writeEntityCSV writes the entity's rows (filtered, at most spec.top when > 0) with a
// header of staging names, and returns the row count.
func (e *Emulator) writeEntityCSV(w io.Writer, ent *catalog.Entity, le string, spec exportSpec) (int64, error) {
	type cond struct {
		field int
		value string
	}
	var conds []cond
	for name, v := range spec.filter {
		i := ent.FieldIndex(name)
		if i < 0 {
			return 0, fmt.Errorf("filter field '%s' does not exist", name)
		}
		conds = append(conds, cond{i, v})
	}
	header := make([]string, len(ent.Fields))
	for i, f := range ent.Fields {
		header[i] = f.StagingName
	}
	var n int64
	err := writeCSVUnicode(w, header, func(write func([]string) error) error {
		t, ok := e.rows.lookup(ent, le)
		if !ok {
			return nil
		}
		var werr error
		t.each(func(vals []string) bool {
			for _, c := range conds {
				if !strings.EqualFold(vals[c.field], c.value) {
					return true
				}
			}
			if werr = write(vals); werr != nil {
				return false
			}
			n++
			return spec.top <= 0 || n < spec.top
		})
		return werr
	})
	return n, err
}

func utf16LEWithBOM(s string) []byte {
	units := utf16.Encode([]rune(s))
	out := make([]byte, 2+2*len(units))
	out[0], out[1] = 0xFF, 0xFE
	for i, u := range units {
		out[2+2*i], out[3+2*i] = byte(u), byte(u>>8)
	}
	return out
}

func packageHeader(group string) string {
	return `<?xml version="1.0" encoding="utf-16"?>
<DataManagementPackageHeader xmlns:i="` + xsiNamespace + `" xmlns="` + dmNamespace + `">
  <Description>` + xmlEscape(group) + `</Description>
  <ManifestType>Microsoft.Dynamics.AX.Framework.Tools.DataManagement.Serialization.DataManagementPackageManifest</ManifestType>
  <PackageType>DefinitionGroup</PackageType>
  <PackageVersion>2</PackageVersion>
</DataManagementPackageHeader>`
}

// exportManifest writes a manifest the way F&O serialises it: elements in alphabetical
// order, one EntityMap per exported field.
func exportManifest(group string, files []exportFile) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-16"?>
<DataManagementPackageManifest xmlns:i="` + xsiNamespace + `" xmlns="` + dmNamespace + `">
  <DefinitionGroupName>` + xmlEscape(group) + `</DefinitionGroupName>
  <Description>` + xmlEscape(group) + `</Description>
  <PackageEntityList>
`)
	for i, f := range files {
		b.WriteString("    <DataManagementPackageEntityData>\n")
		b.WriteString("      <DefaultRefreshType>FullPush</DefaultRefreshType>\n")
		b.WriteString("      <Disable>false</Disable>\n")
		b.WriteString("      <EntityMapList>\n")
		for _, fld := range f.ent.Fields {
			fmt.Fprintf(&b, `        <EntityMap>
          <ArrayIndex>0</ArrayIndex>
          <EntityField>%s</EntityField>
          <EntityFieldConversionList i:nil="true" />
          <IsAutoDefault>false</IsAutoDefault>
          <IsAutoGenerated>false</IsAutoGenerated>
          <IsDefaultValueEqualNull>false</IsDefaultValueEqualNull>
          <UseTextQualifier>false</UseTextQualifier>
          <XMLField>%s</XMLField>
        </EntityMap>
`, fld.StagingName, fld.StagingName)
		}
		b.WriteString("      </EntityMapList>\n")
		fmt.Fprintf(&b, `      <EntityName>%s</EntityName>
      <EntityTransformList i:nil="true" />
      <ExcelSheetName />
      <ExecutionUnit>1</ExecutionUnit>
      <FailExecutionUnitOnError>false</FailExecutionUnitOnError>
      <FailLevelOnError>false</FailLevelOnError>
      <InputFilePath>%s</InputFilePath>
      <LevelInExecutionUnit>1</LevelInExecutionUnit>
      <QueryFilter i:nil="true" />
      <RunBusinessLogic>false</RunBusinessLogic>
      <RunBusinessValidation>false</RunBusinessValidation>
      <SampleFilePath />
      <SequenceInLevel>%d</SequenceInLevel>
      <SourceFormat>%s</SourceFormat>
      <TargetEntity>%s</TargetEntity>
      <ValidationStatus>Yes</ValidationStatus>
    </DataManagementPackageEntityData>
`, xmlEscape(f.ent.DMFName), xmlEscape(f.file), i+1, csvUnicode, f.ent.AOTName)
	}
	b.WriteString(`  </PackageEntityList>
  <ProjectCategory>0</ProjectCategory>
  <RulesData i:nil="true" />
</DataManagementPackageManifest>`)
	return b.String()
}

// partialExport marks one record of each exported entity as failed in staging, as F&O
// reports an export whose records partly failed: PartiallySucceeded, with the package.
func (e *Emulator) partialExport(ex *execution) {
	ex.mu.Lock()
	var names []string
	for _, run := range ex.runs {
		if run.ent != nil && run.fatal == "" {
			run.stagingErrors++
			names = append(names, run.ent.DMFName)
		}
	}
	ex.mu.Unlock()
	for _, name := range names {
		ex.addError("", "", fmt.Sprintf("Results. 1 record(s) failed in staging for entity '%s'.", name))
	}
}

// notReadyForms are the answers clients meet from GetExportedPackageUrl before the
// package is there (ExportURLNotReady cycles through them).
var notReadyForms = []string{"", "''", "00000000-0000-0000-0000-000000000000"}

// actionExportedPackageURL implements GetExportedPackageUrl: "" until the package is
// materialised. Like F&O right after Succeeded, the first call after the export ends
// answers "" once more, and with Faults.ExportURLNotReady more calls answer "", "”" or
// a zero GUID; clients poll until the URL is there.
func (e *Emulator) actionExportedPackageURL(w http.ResponseWriter, r *http.Request, a args) {
	ex, ok := e.execution(a.str("executionId"))
	url := ""
	if ok && ex.kind == KindExport {
		ex.mu.Lock()
		done := ex.status == StatusSucceeded || ex.status == StatusPartiallySucceeded
		switch {
		case !done || ex.exportBlob == "":
		case !ex.exportPolled:
			ex.exportPolled = true
		case ex.urlNotReadyLeft > 0:
			url = notReadyForms[ex.urlNotReadyServed%len(notReadyForms)]
			ex.urlNotReadyLeft--
			ex.urlNotReadyServed++
		default:
			url = e.sasURL(baseURL(r), ex.exportBlob, "r")
		}
		ex.mu.Unlock()
	}
	e.writeExportValue(w, r, url)
}

// actionExportFromPackage implements ExportFromPackage: the uploaded package is the
// project template. The data project becomes an export project of the package's
// entities; with execute the export runs at once.
func (e *Emulator) actionExportFromPackage(w http.ResponseWriter, r *http.Request, a args) {
	e.exportCalls.Add(1)
	group, le, ok := e.projectArgs(w, a)
	if !ok {
		return
	}
	name, ok := blobNameFromURL(a.str("packageUrl"))
	var b *blob
	if ok {
		b, ok = e.blobs.get(name)
	}
	if !ok {
		writeODataError(w, http.StatusBadRequest, "", "Unable to download the data package from '"+a.str("packageUrl")+"'.")
		return
	}
	m, err := openPackage(b.data, e.cat, false)
	if err != nil {
		writeODataError(w, http.StatusBadRequest, "", err.Error())
		return
	}
	g := &defGroup{name: group, description: m.Description, operation: opExport, created: e.now(), legalEntity: le}
	for _, me := range m.Entities {
		g.entities = append(g.entities, me.entity.DMFName)
	}
	e.mu.Lock()
	if old, ok := e.groups[strings.ToUpper(group)]; ok && old.operation != opExport && !a.b["overwrite"] {
		e.mu.Unlock()
		writeODataError(w, http.StatusBadRequest, "", fmt.Sprintf("Data project '%s' is an import project; set overwrite to replace it.", group))
		return
	}
	e.groups[strings.ToUpper(group)] = g
	e.mu.Unlock()
	spec := exportSpec{entities: g.entities}
	if !a.b["execute"] {
		spec.entities = nil // only the project is created
	}
	ex, msg := e.newExport(group, le, strings.TrimSpace(a.str("executionId")), false, spec)
	if msg != "" {
		writeODataError(w, http.StatusBadRequest, "", msg)
		return
	}
	go e.runExport(ex, spec)
	writeValue(w, r, edmString, ex.id)
}
