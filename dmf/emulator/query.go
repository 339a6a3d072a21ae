package emulator

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// pageSize is F&O's server-driven OData page size.
const pageSize = 10000

// filterCond is one `Field eq 'value'` of an OData $filter. A value with '*' is a
// wildcard, F&O's spelling of contains/startswith (dmf-api.md §5.5).
type filterCond struct {
	field, value string
}

// parseFilter parses the $filter subset F&O clients use: eq comparisons joined by and.
func parseFilter(s string) ([]filterCond, error) {
	toks, err := tokenizeFilter(s)
	if err != nil {
		return nil, err
	}
	var conds []filterCond
	for i := 0; i < len(toks); {
		if i+2 >= len(toks) || toks[i].str || !strings.EqualFold(toks[i+1].text, "eq") || toks[i+1].str {
			return nil, fmt.Errorf("expected 'Field eq value' at %q", joinTokens(toks[i:]))
		}
		conds = append(conds, filterCond{field: toks[i].text, value: toks[i+2].text})
		i += 3
		if i < len(toks) {
			if toks[i].str || !strings.EqualFold(toks[i].text, "and") {
				return nil, fmt.Errorf("only 'and' can join comparisons, found %q", toks[i].text)
			}
			i++
			if i == len(toks) {
				return nil, fmt.Errorf("the filter ends with 'and'")
			}
		}
	}
	return conds, nil
}

type filterToken struct {
	text string
	str  bool // a quoted literal
}

func tokenizeFilter(s string) ([]filterToken, error) {
	var toks []filterToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '\'':
			var b strings.Builder
			i++
			for {
				if i >= len(s) {
					return nil, fmt.Errorf("unterminated string literal")
				}
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			toks = append(toks, filterToken{text: b.String(), str: true})
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '\'' {
				if s[j] == '(' || s[j] == ')' {
					return nil, fmt.Errorf("functions and parentheses are not supported; use 'Field eq value'")
				}
				j++
			}
			toks = append(toks, filterToken{text: s[i:j]})
			i = j
		}
	}
	return toks, nil
}

func joinTokens(toks []filterToken) string {
	parts := make([]string, len(toks))
	for i, t := range toks {
		parts[i] = t.text
	}
	return strings.Join(parts, " ")
}

// matchValue compares case-insensitively; '*' matches any run of characters.
func matchValue(have, want string) bool {
	have, want = strings.ToLower(have), strings.ToLower(want)
	if !strings.Contains(want, "*") {
		return have == want
	}
	parts := strings.Split(want, "*")
	if !strings.HasPrefix(have, parts[0]) {
		return false
	}
	have = have[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(have, p)
		if i < 0 {
			return false
		}
		have = have[i+len(p):]
	}
	return strings.HasSuffix(have, parts[len(parts)-1])
}

// serveQuery answers an OData collection GET with $filter, $select, $top, $skip and
// server-driven paging.
func serveQuery(w http.ResponseWriter, r *http.Request, context string, records []map[string]any) {
	if r.Method != http.MethodGet {
		writeODataError(w, http.StatusMethodNotAllowed, "", "The resource only supports GET.")
		return
	}
	q := r.URL.Query()
	conds, err := parseFilter(q.Get("$filter"))
	if err != nil {
		writeODataError(w, http.StatusBadRequest, "", "The query specified in the URI is not valid. "+err.Error())
		return
	}
	var out []map[string]any
	for _, rec := range records {
		keep := true
		for _, c := range conds {
			v, ok := rec[c.field]
			if !ok {
				writeODataError(w, http.StatusBadRequest, "", fmt.Sprintf("The query specified in the URI is not valid. Could not find a property named '%s'.", c.field))
				return
			}
			keep = keep && matchValue(fmt.Sprint(v), c.value)
		}
		if keep {
			out = append(out, rec)
		}
	}
	skip, _ := strconv.Atoi(q.Get("$skip"))
	top, errTop := strconv.Atoi(q.Get("$top"))
	if skip > len(out) {
		skip = len(out)
	}
	out = out[skip:]
	if errTop == nil && top >= 0 && top < len(out) {
		out = out[:top]
	}
	next := ""
	if len(out) > pageSize {
		out = out[:pageSize]
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("$skip", strconv.Itoa(skip+pageSize))
		if errTop == nil {
			nq.Set("$top", strconv.Itoa(top-pageSize))
		}
		next = baseURL(r) + r.URL.Path + "?" + nq.Encode()
	}
	if sel := q.Get("$select"); sel != "" {
		fields := strings.FieldsFunc(sel, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
		for i, rec := range out {
			s := map[string]any{}
			for _, f := range fields {
				if v, ok := rec[f]; ok {
					s[f] = v
				}
			}
			out[i] = s
		}
	}
	if out == nil {
		out = []map[string]any{}
	}
	body := map[string]any{"@odata.context": context, "value": out}
	if next != "" {
		body["@odata.nextLink"] = next
	}
	w.Header().Set("OData-Version", "4.0")
	writeJSON(w, http.StatusOK, body)
}

func noYes(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

// serveDefinitionGroups answers GET /data/DataManagementDefinitionGroups.
func (e *Emulator) serveDefinitionGroups(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	var recs []map[string]any
	for _, g := range e.groups {
		recs = append(recs, map[string]any{
			"Name": g.name, "Description": g.description, "OperationType": g.operation,
			"ProjectCategory": "Project", "GenerateDataPackage": noYes(g.operation == opExport),
		})
	}
	e.mu.Unlock()
	sortRecords(recs, "Name")
	serveQuery(w, r, baseURL(r)+"/data/$metadata#DataManagementDefinitionGroups", recs)
}

// serveJobDetails answers GET /data/DataManagementExecutionJobDetails: one record per
// entity of every execution, so a client can find an execution whose ImportFromPackage
// response it lost (dmf-api.md §2.8).
func (e *Emulator) serveJobDetails(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	list := append([]*execution{}, e.execOrder...)
	e.mu.Unlock()
	var recs []map[string]any
	for _, ex := range list {
		ex.mu.Lock()
		for i, run := range ex.runs {
			rec := map[string]any{
				"DefinitionGroupId": ex.group, "JobId": ex.id, "EntityName": run.name,
				"SourceFormat": csvUnicode, "FilePath": "", "ExcelSheetName": "",
				"ExecutionUnit": 1, "LevelInExecutionUnit": 1, "SequenceInLevel": i + 1, "SequenceNumber": i + 1,
				"StagingStatus": run.stagingStatus, "TargetStatus": run.targetStatus,
				"StagingStartDateTime": nullDate(run.stagingStart), "StagingEndDateTime": nullDate(run.stagingEnd),
				"TargetStartDateTime": nullDate(run.targetStart), "TargetEndDateTime": nullDate(run.targetEnd),
				"StagingRecordsCreatedCount":       run.staged - run.stagingErrors,
				"StagingRecordsToBeProcessedCount": run.staged,
				"TargetRecordsCreatedCount":        run.inserted,
				"TargetRecordsUpdatedCount":        run.updated,
				"NumberOfRowsToSkip":               0, "ParallelTaskCount": 1,
				"RunBusinessLogic": "No", "RunBusinessValidation": "No",
				"FailExecutionUnitOnError": "No", "FailLevelOnError": "No", "IgnoreError": "No",
				"CreateErrorFile": "Yes", "FirstRowIsHeader": "Yes",
				"ExecuteTargetStep": noYes(ex.execute || ex.kind == KindExport),
			}
			if me := run.me; me != nil {
				rec["FilePath"] = me.InputFilePath
				rec["SourceFormat"] = me.SourceFormat
				rec["ExecutionUnit"], rec["LevelInExecutionUnit"], rec["SequenceInLevel"] = me.ExecutionUnit, me.LevelInExecutionUnit, me.SequenceInLevel
				rec["RunBusinessLogic"], rec["RunBusinessValidation"] = noYes(me.RunBusinessLogic), noYes(me.RunBusinessValidation)
			}
			recs = append(recs, rec)
		}
		ex.mu.Unlock()
	}
	serveQuery(w, r, baseURL(r)+"/data/$metadata#DataManagementExecutionJobDetails", recs)
}

// serveDataEntities answers GET /metadata/DataEntities from the catalog. Name is the AOT
// name; LabelId carries the DMF label text.
func (e *Emulator) serveDataEntities(w http.ResponseWriter, r *http.Request) {
	var recs []map[string]any
	for _, ent := range e.cat.Entities() {
		recs = append(recs, map[string]any{
			"Name": ent.AOTName, "PublicEntityName": ent.PublicEntity, "PublicCollectionName": ent.PublicCollection,
			"LabelId": ent.DMFName, "EntityCategory": ent.Category, "IsReadOnly": ent.ReadOnly,
			"DataServiceEnabled": ent.PublicCollection != "", "DataManagementEnabled": true,
		})
	}
	serveQuery(w, r, baseURL(r)+"/metadata/$metadata#DataEntities", recs)
}

func sortRecords(recs []map[string]any, field string) {
	slices.SortFunc(recs, func(a, b map[string]any) int {
		return strings.Compare(fmt.Sprint(a[field]), fmt.Sprint(b[field]))
	})
}
