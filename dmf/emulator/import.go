package emulator

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dmfpipe/dmfpipe/dmf/catalog"
)

// legalEntity normalises a legalEntityId / company parameter.
// msg is set (F&O's error text) when the company cannot exist.
func (e *Emulator) legalEntity(s string) (le, msg string) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "" {
		return e.cfg.DefaultLegalEntity, ""
	}
	if len(s) > 4 {
		return "", fmt.Sprintf("Company '%s' does not exist. A legal entity ID has at most 4 characters.", s)
	}
	return s, ""
}

// projectArgs are an action's data project (definitionGroupId) and legal entity
// (legalEntityId); ok is false when it was answered 400 for a missing project or an
// unknown company.
func (e *Emulator) projectArgs(w http.ResponseWriter, a args) (group, le string, ok bool) {
	group = strings.TrimSpace(a.str("definitionGroupId"))
	if group == "" {
		writeODataError(w, http.StatusBadRequest, "", "The definitionGroupId parameter must name a data project.")
		return "", "", false
	}
	le, msg := e.legalEntity(a.str("legalEntityId"))
	if msg != "" {
		writeODataError(w, http.StatusBadRequest, "", msg)
		return "", "", false
	}
	return group, le, true
}

// actionImport implements ImportFromPackage and ImportFromPackageAsync. The synchronous
// form returns once the package is staged, like F&O; the async form returns at once.
func (e *Emulator) actionImport(w http.ResponseWriter, r *http.Request, a args, async bool) {
	e.importCalls.Add(1)
	pkgURL, id := a.str("packageUrl"), strings.TrimSpace(a.str("executionId"))
	group, le, ok := e.projectArgs(w, a)
	if !ok {
		return
	}
	if prev, exists := e.execution(id); id != "" && exists {
		e.answerReusedID(w, r, prev, pkgURL)
		return
	}
	name, ok := blobNameFromURL(pkgURL)
	if !ok {
		writeODataError(w, http.StatusBadRequest, "", "Unable to download the data package from '"+pkgURL+"'. Use the BlobUrl returned by GetAzureWriteUrl.")
		return
	}
	b, ok := e.blobs.get(name)
	if !ok {
		writeODataError(w, http.StatusBadRequest, "", "Unable to download the data package: the blob '"+name+"' does not exist. Upload it to the BlobUrl first.")
		return
	}
	m, err := openPackage(b.data, e.cat, true)
	if err != nil {
		writeODataError(w, http.StatusBadRequest, "", err.Error())
		return
	}
	if err := e.useGroup(group, opImport, m.Description); err != nil {
		writeODataError(w, http.StatusBadRequest, "", err.Error())
		return
	}
	if id == "" {
		id = e.generatedExecutionID(group)
	}
	ex := e.newExecution(id, group, le, KindImport)
	ex.packageURL, ex.execute = pkgURL, a.b["execute"]
	for _, me := range m.Entities {
		ex.runs = append(ex.runs, &entityRun{me: me, ent: me.entity, name: me.entity.DMFName,
			stagingStatus: entityNotRun, targetStatus: entityNotRun})
	}

	e.mu.Lock()
	if prev, dup := e.executions[strings.ToUpper(id)]; dup {
		e.mu.Unlock()
		e.answerReusedID(w, r, prev, pkgURL)
		return
	}
	e.registerLocked(ex)
	gk := strings.ToUpper(group)
	if e.activeStaging[gk] > 0 {
		e.mu.Unlock()
		e.violation("ImportFromPackage for definition group %q while another import of it is still staging", group)
		ex.failConcurrent = e.CurrentFaults().FailConcurrentImports
		e.mu.Lock()
	}
	e.activeStaging[gk]++
	ex.trackedStaging = true
	e.mu.Unlock()

	go e.runImport(ex)
	if !async {
		select {
		case <-ex.staged:
		case <-r.Context().Done():
			return
		}
	}
	writeValue(w, r, edmString, id)
}

// answerReusedID handles a client-chosen executionId that already exists (dmf-api.md
// §6.3): the same package is a no-op answering the same ID, another package is a 400.
func (e *Emulator) answerReusedID(w http.ResponseWriter, r *http.Request, prev *execution, pkgURL string) {
	if prev.kind == KindImport && prev.packageURL == pkgURL {
		writeValue(w, r, edmString, prev.id)
		return
	}
	e.violation("execution ID %q reused for a different package", prev.id)
	writeODataError(w, http.StatusBadRequest, "",
		fmt.Sprintf("Execution ID '%s' already exists for another data package. Use a new execution ID.", prev.id))
}

// finishStaging releases a synchronous ImportFromPackage and the concurrency tracking.
func (e *Emulator) finishStaging(ex *execution) {
	ex.stagedOnce.Do(func() {
		close(ex.staged)
		if ex.trackedStaging {
			e.mu.Lock()
			e.activeStaging[strings.ToUpper(ex.group)]--
			e.mu.Unlock()
		}
	})
}

// runImport is an import execution: NotRun -> Executing -> staging and target -> terminal.
func (e *Emulator) runImport(ex *execution) {
	defer e.finishStaging(ex)
	delay := e.cfg.ExecutionDelay
	if ex.failConcurrent {
		ex.setStatus(StatusExecuting, e.now())
		ex.addError("", "", "DMF2025: The mapping of the data project is being changed by another import of the same project. "+
			"Concurrent imports of one project need 'Enhanced parallel package import' on Framework parameters.")
		e.endRuns(ex, entityError)
		e.finishStaging(ex)
		ex.pause(delay)
		ex.setStatus(StatusFailed, e.now())
		return
	}
	lock := e.groupLock(ex.group)
	lock.Lock()
	defer lock.Unlock()
	if !e.begin(ex, func() { e.finishStaging(ex) }) {
		return
	}
	for _, run := range ex.runs {
		if ex.ctx.Err() != nil {
			break
		}
		e.importEntity(ex, run)
	}
	e.finishStaging(ex)
	if ex.ctx.Err() != nil || !ex.pause(delay) {
		e.cancelExecution(ex)
		return
	}
	status := ex.outcome()
	ex.setStatus(status, e.now())
	e.log.Info("import finished", "execution", ex.id, "group", ex.group, "legal_entity", ex.le, "status", status)
}

// begin starts ex once its group is free (the caller holds its groupLock): after the
// execution delay it is Executing, and true is returned. It returns false, ex ended
// Canceled, when ex is canceled meanwhile, or when the StuckExecuting fault keeps it
// Executing until it is canceled (stuck runs first).
func (e *Emulator) begin(ex *execution, stuck func()) bool {
	if !ex.pause(e.cfg.ExecutionDelay) {
		e.cancelExecution(ex)
		return false
	}
	ex.setStatus(StatusExecuting, e.now())
	if e.CurrentFaults().StuckExecuting {
		stuck()
		<-ex.ctx.Done()
		e.cancelExecution(ex)
		return false
	}
	return true
}

func (e *Emulator) cancelExecution(ex *execution) {
	e.endRuns(ex, entityCanceled)
	ex.setStatus(StatusCanceled, e.now())
}

// endRuns marks entities that have not finished with status s.
func (e *Emulator) endRuns(ex *execution, s string) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	for _, r := range ex.runs {
		if r.stagingStatus == entityNotRun || r.stagingStatus == entityExecuting {
			r.stagingStatus = s
		}
		if r.targetStatus == entityNotRun || r.targetStatus == entityExecuting {
			if ex.execute || ex.kind == KindExport {
				r.targetStatus = s
			}
		}
	}
}

// importEntity stages one entity's data file and, when the execution executes, writes
// the valid rows to the target.
func (e *Emulator) importEntity(ex *execution, run *entityRun) {
	ex.mu.Lock()
	run.stagingStatus, run.stagingStart = entityExecuting, e.now()
	if ex.execute {
		run.targetStatus, run.targetStart = entityExecuting, e.now()
	}
	ex.mu.Unlock()

	ld := &loader{e: e, ex: ex, run: run, ent: run.ent}
	fatal := ld.load()
	ld.report(fatal)
	now := e.now()
	ex.mu.Lock()
	defer ex.mu.Unlock()
	run.fatal = fatal
	run.stagingEnd = now
	run.stagingStatus = entityFinished
	if fatal != "" || run.stagingErrors > 0 {
		run.stagingStatus = entityError
	}
	if ex.execute {
		run.targetEnd = now
		run.targetStatus = entityFinished
		if fatal != "" || run.targetErr > 0 {
			run.targetStatus = entityError
		}
	}
}

// loader runs one entity of an import.
type loader struct {
	e   *Emulator
	ex  *execution
	run *entityRun
	ent *catalog.Entity
	tbl *table

	cols         []colMap
	mapped       []bool // fields the mapping fills
	generated    []bool // fields taking a number sequence value
	placeholders map[int]map[string]string
	seen         map[string]struct{}
	lists        map[string]map[string]bool
	pending      []pendingRow

	// rows counts the data rows read. stagingMsgs and targetMsgs are the row messages
	// of the two steps; once the entity is done and its rows have their staging
	// RecIds, report lists them. dropped counts those beyond the cap.
	rows                    int
	stagingMsgs, targetMsgs []rowMessage
	dropped                 int
}

type colMap struct{ col, field int }

type pendingRow struct {
	pos  int
	key  string
	vals []string
}

type fieldError struct{ field, msg string }

// rowMessage is a GetExecutionErrors entry of the data row at pos.
type rowMessage struct {
	pos int
	fieldError
}

// note keeps the messages of one row for report.
func (ld *loader) note(msgs *[]rowMessage, pos int, errs []fieldError) {
	for _, fe := range errs {
		if len(ld.stagingMsgs)+len(ld.targetMsgs) >= maxErrorsPerExecution {
			ld.dropped++
			continue
		}
		*msgs = append(*msgs, rowMessage{pos, fe})
	}
}

// report numbers the staged rows and adds the entity's messages to the execution as
// F&O lists them: each step's row messages by staging RecId, then the step's results
// line, then a failure of the whole entity.
func (ld *loader) report(fatal string) {
	ld.ex.mu.Lock()
	stagingFailed, targetFailed := ld.run.stagingErrors, ld.run.targetErr
	ld.ex.mu.Unlock()
	ids := ld.e.recIDs.stage(ld.ent.AOTName, ld.rows)
	var out []ExecutionError
	add := func(msgs []rowMessage, failed int64, step string) {
		slices.SortStableFunc(msgs, func(a, b rowMessage) int { return cmp.Compare(ids.of(a.pos), ids.of(b.pos)) })
		for _, m := range msgs {
			out = append(out, ExecutionError{RecordID: strconv.FormatInt(ids.of(m.pos), 10), Field: m.field, ErrorMessage: m.msg})
		}
		if failed > 0 {
			out = append(out, ExecutionError{ErrorMessage: msgStepResults(failed, step, ld.ent.DMFName)})
		}
	}
	add(ld.stagingMsgs, stagingFailed, "staging")
	add(ld.targetMsgs, targetFailed, "target")
	if fatal != "" {
		out = append(out, ExecutionError{ErrorMessage: fatal})
	}
	ld.ex.addErrors(out, ld.dropped)
	ld.stagingMsgs, ld.targetMsgs = nil, nil
}

// load reads the data file; it returns a message when the whole entity fails.
func (ld *loader) load() string {
	me, ent := ld.run.me, ld.ent
	if !strings.EqualFold(me.SourceFormat, csvUnicode) {
		return fmt.Sprintf("Source format '%s' of entity '%s' is not supported by the emulator; use %s.", me.SourceFormat, ent.DMFName, csvUnicode)
	}
	if len(me.Maps) == 0 {
		return "" // F&O stages nothing, silently, without a mapping
	}
	f, err := me.open()
	if err != nil {
		return fmt.Sprintf("The file '%s' could not be read: %v", me.InputFilePath, err)
	}
	defer f.Close()
	text, ok := decodeCSVUnicode(f, me.utf8OK || ld.e.cfg.Quirks.LenientUTF8)
	if !ok {
		return fmt.Sprintf("%s: '%s'.", msgNotUnicode, me.InputFilePath)
	}
	cr := newCSVReader(text)
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return fmt.Sprintf("The file '%s' is empty; the first row must hold the column names.", me.InputFilePath)
	}
	if err != nil {
		return csvFailure(me, err)
	}
	ld.run.header = slices.Clone(header)
	if msg := ld.mapColumns(ld.run.header); msg != "" {
		return msg
	}
	ld.tbl = ld.e.rows.table(ent, ld.ex.le)
	ld.seen = map[string]struct{}{}
	rowNum := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return csvFailure(me, err)
		}
		if len(rec) == 1 && rec[0] == "" {
			continue // blank line
		}
		rowNum++
		ld.rows = rowNum
		if rowNum%1024 == 0 && ld.ex.ctx.Err() != nil {
			return ""
		}
		ld.row(rec, rowNum)
	}
	ld.flushBalanced()
	return ""
}

func csvFailure(me *manifestEntity, err error) string {
	return fmt.Sprintf("The file '%s' could not be parsed: %v. The mapping may be incorrect for the source file.", me.InputFilePath, err)
}

// mapColumns links header columns to entity fields through the manifest's EntityMap.
func (ld *loader) mapColumns(header []string) string {
	ent := ld.ent
	n := len(ent.Fields)
	ld.mapped, ld.generated = make([]bool, n), make([]bool, n)
	for i, f := range ent.Fields {
		ld.generated[i] = f.AutoGenerate
	}
	cols := map[string]int{}
	for i, h := range header {
		k := strings.ToUpper(strings.TrimSpace(h))
		if _, dup := cols[k]; !dup {
			cols[k] = i
		}
	}
	for _, m := range ld.run.me.Maps {
		fi := ent.FieldIndex(m.EntityField)
		if fi < 0 {
			return fmt.Sprintf("Field '%s' in the mapping does not exist in entity '%s'.", m.EntityField, ent.DMFName)
		}
		if m.IsAutoGenerated {
			ld.generated[fi] = true
		}
		col, ok := cols[strings.ToUpper(strings.TrimSpace(m.XMLField))]
		if !ok {
			if m.IsAutoGenerated || m.IsAutoDefault {
				continue
			}
			return fmt.Sprintf("DMF2022: Column '%s' of the mapping (field %s) is not in the source file '%s'. The field(s) are not mapped.",
				m.XMLField, ent.Fields[fi].StagingName, ld.run.me.InputFilePath)
		}
		ld.cols = append(ld.cols, colMap{col: col, field: fi})
		ld.mapped[fi] = true
	}
	return ""
}

// row processes one data row: source-to-staging conversion, then (when executing) the
// staging-to-target checks and the upsert.
func (ld *loader) row(rec []string, rowNum int) {
	ex, run, ent := ld.ex, ld.run, ld.ent
	vals := make([]string, len(ent.Fields))
	var errs []fieldError
	if len(rec) != len(run.header) {
		errs = append(errs, fieldError{"", msgColumnCount(len(rec), len(run.header))})
	} else {
		for _, c := range ld.cols {
			vals[c.field] = rec[c.col]
		}
		for i, f := range ent.Fields {
			if !ld.mapped[i] || vals[i] == "" {
				continue
			}
			norm, msg := normalizeValue(f, vals[i])
			if msg != "" {
				errs = append(errs, fieldError{f.StagingName, msg})
				continue
			}
			vals[i] = norm
		}
	}
	if len(errs) > 0 {
		ld.note(&ld.stagingMsgs, rowNum, errs)
		ex.mu.Lock()
		run.staged++
		run.stagingErrors++
		run.stagingErrRows = append(run.stagingErrRows, slices.Clone(rec))
		ex.mu.Unlock()
		return
	}
	ex.mu.Lock()
	run.staged++
	ex.mu.Unlock()
	if !ex.execute {
		return
	}
	key, errs := ld.targetChecks(vals)
	if len(errs) > 0 {
		ld.targetFailed(rowNum, vals, errs)
		return
	}
	if ent.Balance != nil {
		ld.pending = append(ld.pending, pendingRow{pos: rowNum, key: key, vals: vals})
		return
	}
	ld.write(key, vals)
}

// targetChecks applies defaults and number sequences, then checks mandatory fields,
// conditional rules, foreign keys and key uniqueness within the file.
func (ld *loader) targetChecks(vals []string) (string, []fieldError) {
	ent := ld.ent
	var errs []fieldError
	for i, f := range ent.Fields {
		if vals[i] == "" && f.Default != "" {
			vals[i] = f.Default
		}
	}
	for i, f := range ent.Fields {
		if f.Mandatory && vals[i] == "" && !(ld.generated[i] && !f.AutoGenerate) {
			errs = append(errs, fieldError{f.StagingName, msgMustBeFilledIn(ent, f.StagingName)})
		}
	}
	if len(errs) > 0 {
		return "", errs
	}
	for i := range ent.Fields {
		if ld.generated[i] {
			vals[i] = ld.number(i, vals[i])
		}
	}
	for _, rule := range ent.Rules {
		errs = append(errs, checkRule(ent, rule, vals)...)
	}
	for i, f := range ent.Fields {
		if f.Ref != nil && vals[i] != "" && !ld.refExists(f.Ref, vals[i]) {
			errs = append(errs, fieldError{f.StagingName, msgNotInRelatedTable(ent, f.StagingName, vals[i], f.Ref.Label)})
		}
	}
	key := rowKey(ent, vals)
	if len(errs) == 0 {
		if _, dup := ld.seen[key]; dup {
			errs = append(errs, fieldError{"", msgRecordExists(ent, vals)})
		} else {
			ld.seen[key] = struct{}{}
		}
	}
	return key, errs
}

// number replaces a placeholder (or an empty value) with the field's next number; the
// same placeholder gets the same number within the execution.
func (ld *loader) number(field int, placeholder string) string {
	if placeholder == "" {
		return ld.tbl.nextNumber(field)
	}
	if ld.placeholders == nil {
		ld.placeholders = map[int]map[string]string{}
	}
	m := ld.placeholders[field]
	if m == nil {
		m = map[string]string{}
		ld.placeholders[field] = m
	}
	k := strings.ToUpper(placeholder)
	if n, ok := m[k]; ok {
		return n
	}
	n := ld.tbl.nextNumber(field)
	m[k] = n
	return n
}

func checkRule(ent *catalog.Entity, rule catalog.Rule, vals []string) []fieldError {
	when := vals[ent.FieldIndex(rule.WhenField)]
	applies := rule.WhenNotEmpty && when != "" || rule.WhenEquals != "" && strings.EqualFold(when, rule.WhenEquals)
	if !applies {
		return nil
	}
	var errs []fieldError
	for _, f := range rule.RequireAll {
		if vals[ent.FieldIndex(f)] == "" {
			errs = append(errs, fieldError{f, msgMustBeFilledIn(ent, f)})
		}
	}
	if len(rule.RequireAny) > 0 {
		some := false
		for _, f := range rule.RequireAny {
			some = some || vals[ent.FieldIndex(f)] != ""
		}
		if !some {
			errs = append(errs, fieldError{rule.RequireAny[0], msgOneMustBeFilledIn(ent, rule.RequireAny)})
		}
	}
	return errs
}

func (ld *loader) refExists(ref *catalog.Ref, v string) bool {
	if ref.List != "" {
		if ld.lists == nil {
			ld.lists = map[string]map[string]bool{}
		}
		set, ok := ld.lists[ref.List]
		if !ok {
			values, _ := ld.e.cat.ReferenceList(ref.List)
			set = map[string]bool{}
			for _, x := range values {
				set[strings.ToUpper(x)] = true
			}
			ld.lists[ref.List] = set
		}
		return set[strings.ToUpper(v)]
	}
	target, ok := ld.e.cat.Lookup(ref.Entity)
	if !ok {
		return false
	}
	t, ok := ld.e.rows.lookup(target, ld.ex.le)
	return ok && t.has(strings.ToUpper(v))
}

func keyValues(ent *catalog.Entity, vals []string) []string {
	out := make([]string, len(ent.KeyFields))
	for i, k := range ent.KeyFields {
		out[i] = vals[ent.FieldIndex(k)]
	}
	return out
}

func (ld *loader) targetFailed(pos int, vals []string, errs []fieldError) {
	ld.note(&ld.targetMsgs, pos, errs)
	ld.ex.mu.Lock()
	ld.run.targetErr++
	ld.run.targetErrKeys = append(ld.run.targetErrKeys, keyValues(ld.ent, vals))
	ld.ex.mu.Unlock()
}

func (ld *loader) write(key string, vals []string) {
	updated := ld.tbl.upsert(key, vals, ld.mapped)
	ld.ex.mu.Lock()
	if updated {
		ld.run.updated++
	} else {
		ld.run.inserted++
	}
	ld.ex.mu.Unlock()
	if updated {
		ld.e.updates.Add(1)
	} else {
		ld.e.inserts.Add(1)
	}
}

// flushBalanced checks the balance rule (debits equal credits per voucher) over the
// buffered rows and writes the groups that balance.
func (ld *loader) flushBalanced() {
	b := ld.ent.Balance
	if b == nil || len(ld.pending) == 0 {
		return
	}
	ent := ld.ent
	type sums struct{ debit, credit big.Rat }
	groups := map[string]*sums{}
	groupOf := func(vals []string) string {
		parts := make([]string, len(b.GroupBy))
		for i, g := range b.GroupBy {
			parts[i] = strings.ToUpper(vals[ent.FieldIndex(g)])
		}
		return strings.Join(parts, "\x1f")
	}
	self := -1
	if b.SelfBalancedBy != "" {
		self = ent.FieldIndex(b.SelfBalancedBy)
	}
	di, ci := ent.FieldIndex(b.Debit), ent.FieldIndex(b.Credit)
	for _, p := range ld.pending {
		g := groupOf(p.vals)
		s := groups[g]
		if s == nil {
			s = &sums{}
			groups[g] = s
		}
		if self >= 0 && p.vals[self] != "" {
			continue
		}
		addDecimal(&s.debit, p.vals[di])
		addDecimal(&s.credit, p.vals[ci])
	}
	for _, p := range ld.pending {
		s := groups[groupOf(p.vals)]
		if s.debit.Cmp(&s.credit) == 0 {
			ld.write(p.key, p.vals)
			continue
		}
		var diff big.Rat
		diff.Sub(&s.debit, &s.credit)
		voucher := p.vals[ent.FieldIndex(b.GroupBy[len(b.GroupBy)-1])]
		ld.targetFailed(p.pos, p.vals, []fieldError{{"", msgUnbalanced(voucher, usDate(ent, p.vals), diff.FloatString(2))}})
	}
	ld.pending = nil
}

func addDecimal(sum *big.Rat, v string) {
	if v == "" {
		return
	}
	var x big.Rat
	if _, ok := x.SetString(strings.TrimPrefix(v, "+")); ok {
		sum.Add(sum, &x)
	}
}

// usDate is a row's TRANSDATE as en-US F&O shows a date (M/d/yyyy), or "" without one.
func usDate(ent *catalog.Entity, vals []string) string {
	i := ent.FieldIndex("TRANSDATE")
	if i < 0 {
		return ""
	}
	t, err := time.Parse("2006-01-02", vals[i])
	if err != nil {
		return vals[i]
	}
	return t.Format("1/2/2006")
}
