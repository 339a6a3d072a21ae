package validate

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
)

// Row rule names (Error.Rule).
const (
	RuleRequired  Rule = "required"
	RuleMaxLength Rule = "max_length"
	RuleMin       Rule = "min"
	RuleMax       Rule = "max"
	RuleOneOf     Rule = "one_of"
	RulePattern   Rule = "pattern"
	RuleType      Rule = "type"
	RuleUnique    Rule = "unique"
	RuleLookup    Rule = "lookup"
)

// LookupSpec is a set rule: Field's value must be one of Values (the reference list
// named Reference). Empty values pass.
type LookupSpec struct {
	Field     string
	Reference string
	Values    []string
}

// RowRules are a project's per-row rules compiled for a row layout (the mapping's
// fields). Check is safe for concurrent use.
type RowRules struct {
	fields  []string
	checks  []*fieldCheck
	conds   []condRule
	unique  [][]string
	lookups []LookupSpec
	pool    sync.Pool // *whenState
	hasWhen bool
}

// fieldCheck is every check on one field under one condition (nil when: always).
type fieldCheck struct {
	idx        int
	field      string
	when       *vm.Program
	required   bool
	typ        catalog.FieldType
	enum       []string
	maxLen     int
	maxLenBy   string // "catalog" or "rule", for the message
	min, max   *string
	numeric    bool
	oneOf      []string
	pattern    matcher
	patternSrc string
	// steps are the value rules this field has, in checking order: a row checks only
	// what was configured.
	steps []Rule
	// plain is set when only required and a length limit apply: Check passes most
	// values of such a field inline, without the general path.
	plain bool
}

// valueRules is the order value rules are checked in, after required and type.
var valueRules = [...]Rule{RuleMaxLength, RuleMin, RuleMax, RuleOneOf, RulePattern}

func (fc *fieldCheck) plan() {
	fc.steps = fc.steps[:0]
	for _, r := range valueRules {
		set := false
		switch r {
		case RuleMaxLength:
			set = fc.maxLen > 0
		case RuleMin:
			set = fc.min != nil
		case RuleMax:
			set = fc.max != nil
		case RuleOneOf:
			set = fc.oneOf != nil
		case RulePattern:
			set = fc.pattern != nil
		}
		if set {
			fc.steps = append(fc.steps, r)
		}
	}
	fc.plain = fc.when == nil && !typeChecked(fc.typ) &&
		(len(fc.steps) == 0 || len(fc.steps) == 1 && fc.steps[0] == RuleMaxLength)
}

// passes reports whether a plain field's value passes without a closer look: present
// when required, and within the length limit in bytes (so in characters).
func (fc *fieldCheck) passes(v string) bool {
	if v == "" {
		return !fc.required
	}
	return fc.maxLen <= 0 || len(v) <= fc.maxLen
}

// condRule is a catalog conditional requirement over row indexes (-1: not mapped).
type condRule struct {
	rule    catalog.Rule
	when    int
	whenDef string
	all     []int
	any     []int
}

type whenState struct {
	row     map[string]string
	env     map[string]any
	machine vm.VM
}

// CompileRowRules compiles p's validation rules, plus the catalog's types, lengths,
// mandatory fields and conditional requirements, for rows laid out as fields (upper-case
// staging names). Reference files of lookup rules are read here. Problems are returned as
// config.Problems.
func CompileRowRules(p *config.Project, fields []string, cat *catalog.Catalog) (*RowRules, error) {
	var probs config.Problems
	add := func(pos config.Position, format string, args ...any) {
		probs = append(probs, config.Problem{Position: pos, Msg: fmt.Sprintf("project %s: ", p.Name) + fmt.Sprintf(format, args...)})
	}
	if p.Target == nil {
		add(p.Pos, "target.entity is required")
		return nil, probs
	}
	ent, ok := cat.Lookup(p.Target.Entity)
	if !ok {
		add(p.Pos, "entity %q is not in the catalog", p.Target.Entity)
		return nil, probs
	}
	rr := &RowRules{fields: slices.Clone(fields)}
	index := func(name string) int {
		cf, ok := ent.Field(name)
		if !ok {
			return -1
		}
		return slices.Index(fields, cf.StagingName)
	}
	base := make([]*fieldCheck, len(fields))
	for i, name := range fields {
		fc := &fieldCheck{idx: i, field: name}
		if cf, ok := ent.Field(name); ok {
			fc.required = cf.Mandatory && !cf.AutoGenerate && cf.Default == ""
			fc.typ, fc.enum = cf.Type, cf.EnumValues
			fc.maxLen, fc.maxLenBy = cf.MaxLen, "the catalog"
		}
		base[i] = fc
		rr.checks = append(rr.checks, fc)
	}
	refs := map[string]*config.Reference{}
	for _, r := range p.References {
		refs[r.Name] = r
	}
	for _, r := range p.Validate {
		i := index(r.Field)
		if r.Field == "" {
			add(r.Pos, "validation rule without field")
			continue
		}
		if i < 0 {
			if _, known := ent.Field(r.Field); !known {
				add(r.Pos, "validate: %s", UnknownFieldProblem(ent, r.Field))
			} else {
				add(r.Pos, "validate: field %s is not mapped", r.Field)
			}
			continue
		}
		fc := base[i]
		if r.When != "" {
			prog, err := compileWhen(r.When)
			if err != nil {
				add(r.Pos, "validate %s: when: %v", fields[i], err)
				continue
			}
			fc = &fieldCheck{idx: i, field: fields[i], when: prog}
			rr.checks = append(rr.checks, fc)
			rr.hasWhen = true
		}
		if err := fc.apply(r); err != nil {
			add(r.Pos, "validate %s: %v", fields[i], err)
		}
		if r.Unique {
			if r.When != "" {
				add(r.Pos, "validate %s: unique applies to the whole file and takes no when", fields[i])
			}
			rr.unique = append(rr.unique, []string{fields[i]})
		}
		if r.Lookup != "" {
			ref, ok := refs[r.Lookup]
			if !ok {
				continue // reported by config validation
			}
			values, err := referenceValues(ref)
			if err != nil {
				add(r.Pos, "validate %s: lookup %s: %v", fields[i], r.Lookup, err)
				continue
			}
			rr.lookups = append(rr.lookups, LookupSpec{Field: fields[i], Reference: ref.Name, Values: values})
		}
	}
	for _, cr := range ent.Rules {
		c := condRule{rule: cr, when: index(cr.WhenField)}
		if cf, ok := ent.Field(cr.WhenField); ok {
			c.whenDef = cf.Default
		}
		for _, n := range cr.RequireAll {
			c.all = append(c.all, index(n))
		}
		for _, n := range cr.RequireAny {
			c.any = append(c.any, index(n))
		}
		rr.conds = append(rr.conds, c)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	for _, fc := range rr.checks {
		fc.plan()
	}
	if rr.hasWhen {
		rr.pool.New = func() any {
			row := make(map[string]string, len(fields))
			return &whenState{row: row, env: map[string]any{"row": row}}
		}
	}
	return rr, nil
}

func (fc *fieldCheck) apply(r *config.Rule) error {
	if r.Required {
		fc.required = true
	}
	if r.Type != "" {
		switch t := catalog.FieldType(r.Type); t {
		case catalog.TypeString, catalog.TypeDecimal, catalog.TypeInt, catalog.TypeDate, catalog.TypeDateTime:
			fc.typ = t
		case catalog.TypeEnum:
			if fc.typ != catalog.TypeEnum && fc.enum == nil {
				return errors.New("type enum needs an enum field in the catalog (use one_of for other lists)")
			}
			fc.typ = t
		default:
			return fmt.Errorf("type must be string, int, decimal, date, datetime or enum, not %q", r.Type)
		}
	}
	if r.MaxLength < 0 {
		return errors.New("max_length must not be negative")
	}
	if r.MaxLength > 0 && (fc.maxLen == 0 || r.MaxLength < fc.maxLen) {
		fc.maxLen, fc.maxLenBy = r.MaxLength, "the rule"
	}
	fc.numeric = fc.typ == catalog.TypeDecimal || fc.typ == catalog.TypeInt
	for _, b := range []*string{r.Min, r.Max} {
		if b == nil {
			continue
		}
		if msg := TypeProblem(fc.typ, fc.enum, *b); msg != "" {
			return fmt.Errorf("min/max: %s", msg)
		}
	}
	fc.min, fc.max = r.Min, r.Max
	if len(r.OneOf) > 0 {
		fc.oneOf = slices.Clone(r.OneOf)
	}
	if r.Pattern != "" {
		m, err := compilePattern(r.Pattern)
		if err != nil {
			return fmt.Errorf("invalid pattern: %v", err)
		}
		fc.pattern, fc.patternSrc = m, r.Pattern
	}
	return nil
}

// UniqueFields lists the field sets that must be unique within a file, one per unique rule.
func (rr *RowRules) UniqueFields() [][]string {
	out := make([][]string, len(rr.unique))
	for i, u := range rr.unique {
		out[i] = slices.Clone(u)
	}
	return out
}

// Lookups lists the lookup rules with their reference values.
func (rr *RowRules) Lookups() []LookupSpec { return slices.Clone(rr.lookups) }

// Fields is the row layout the rules were compiled for.
func (rr *RowRules) Fields() []string { return slices.Clone(rr.fields) }

// Check appends the row's rule failures to dst and returns it. rowNo and line locate
// the errors; callers fill in Column and Sheet. A field that already has an error of this
// row at the end of dst (a failed transform) is not checked again.
func (rr *RowRules) Check(row []string, rowNo, line int64, dst []Error) []Error {
	failed := dst
	var ws *whenState
	for _, fc := range rr.checks {
		if fc.idx >= len(row) || hasError(failed, rowNo, fc.field) {
			continue
		}
		if fc.when != nil {
			if ws == nil {
				ws = rr.pool.Get().(*whenState)
				for i, f := range rr.fields {
					if i < len(row) {
						ws.row[f] = row[i]
					}
				}
			}
			out, err := ws.machine.Run(fc.when, ws.env)
			if err != nil {
				dst = append(dst, Error{Row: rowNo, Line: line, Field: fc.field, Rule: "when", Msg: "condition failed: " + err.Error()})
				continue
			}
			if b, ok := out.(bool); !ok || !b {
				continue
			}
		}
		v := row[fc.idx]
		if fc.plain && fc.passes(v) {
			continue
		}
		msg, rule := fc.check(v)
		for msg != "" {
			dst = append(dst, Error{Row: rowNo, Line: line, Field: fc.field, Rule: rule, Msg: msg})
			if rule == RuleRequired || rule == RuleType {
				break // the other rules say nothing useful about a missing or ill-typed value
			}
			msg, rule = fc.after(v, rule)
		}
	}
	if ws != nil {
		rr.pool.Put(ws)
	}
	for i := range rr.conds {
		dst = rr.conds[i].check(row, rowNo, line, dst)
	}
	return dst
}

// hasError reports whether errs ends with an error of row rowNo on field: a row's
// errors are appended together, and dst may hold the errors of many rows before them
// (a whole batch), which are not looked at.
func hasError(errs []Error, rowNo int64, field string) bool {
	for i := len(errs) - 1; i >= 0 && errs[i].Row == rowNo; i-- {
		if errs[i].Field == field {
			return true
		}
	}
	return false
}

// check returns the first failure of v (message and rule), or "" when v passes.
// Messages are only formatted on failure: valid rows cost no allocation.
func (fc *fieldCheck) check(v string) (string, Rule) {
	if v == "" {
		if fc.required {
			return "a value is required", RuleRequired
		}
		return "", ""
	}
	if msg := TypeProblem(fc.typ, fc.enum, v); msg != "" {
		return msg, RuleType
	}
	return fc.after(v, "")
}

// after runs the checks that follow rule (all of them for ""), returning the first failure.
func (fc *fieldCheck) after(v string, rule Rule) (string, Rule) {
	started := rule == ""
	for _, r := range fc.steps {
		if !started {
			started = r == rule
			continue
		}
		if msg := fc.run(r, v); msg != "" {
			return msg, r
		}
	}
	return "", ""
}

func (fc *fieldCheck) run(r Rule, v string) string {
	switch r {
	case RuleMaxLength:
		if msg := LengthProblem(fc.maxLen, v); msg != "" {
			return fmt.Sprintf("%q is too long: %s (limit from %s)", v, msg, fc.maxLenBy)
		}
	case RuleMin:
		if fc.min != nil && fc.compare(v, *fc.min) < 0 {
			return fmt.Sprintf("%s is below the minimum %s", v, *fc.min)
		}
	case RuleMax:
		if fc.max != nil && fc.compare(v, *fc.max) > 0 {
			return fmt.Sprintf("%s is above the maximum %s", v, *fc.max)
		}
	case RuleOneOf:
		if fc.oneOf != nil && !slices.Contains(fc.oneOf, v) {
			return fmt.Sprintf("%q is not one of %s", v, strings.Join(fc.oneOf, ", "))
		}
	case RulePattern:
		if fc.pattern != nil && !fc.pattern.MatchString(v) {
			return fmt.Sprintf("%q does not match %s", v, fc.patternSrc)
		}
	}
	return ""
}

func (fc *fieldCheck) compare(a, b string) int {
	if fc.numeric {
		return CompareDecimal(a, b)
	}
	return strings.Compare(a, b)
}

func (c *condRule) value(row []string, i int) string {
	if i < 0 || i >= len(row) {
		return ""
	}
	return row[i]
}

func (c *condRule) check(row []string, rowNo, line int64, dst []Error) []Error {
	w := c.value(row, c.when)
	if w == "" {
		w = c.whenDef
	}
	r := &c.rule
	if !((r.WhenEquals != "" && strings.EqualFold(w, r.WhenEquals)) || (r.WhenNotEmpty && w != "")) {
		return dst
	}
	for k, i := range c.all {
		if c.value(row, i) == "" {
			dst = append(dst, Error{Row: rowNo, Line: line, Field: r.RequireAll[k], Rule: RuleRequired,
				Msg: fmt.Sprintf("required when %s is %s", r.WhenField, w)})
		}
	}
	if len(c.any) == 0 {
		return dst
	}
	for _, i := range c.any {
		if c.value(row, i) != "" {
			return dst
		}
	}
	return append(dst, Error{Row: rowNo, Line: line, Field: r.RequireAny[0], Rule: RuleRequired,
		Msg: fmt.Sprintf("one of %s is required when %s is %s", strings.Join(r.RequireAny, ", "), r.WhenField, w)})
}

// CompareDecimal compares two decimal strings (as TypeProblem accepts them) by value,
// on their digits.
func CompareDecimal(a, b string) int {
	na, a := cutSign(a)
	nb, b := cutSign(b)
	if na != nb {
		if isZero(a) && isZero(b) {
			return 0
		}
		if na {
			return -1
		}
		return 1
	}
	c := compareAbs(a, b)
	if na {
		return -c
	}
	return c
}

// cutSign removes the sign TypeProblem allows in front of a number.
func cutSign(s string) (neg bool, rest string) {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		return s[0] == '-', s[1:]
	}
	return false, s
}

// isZero reports whether a number without sign has only zeros.
func isZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' && s[i] != '.' {
			return false
		}
	}
	return true
}

func compareAbs(a, b string) int {
	ai, af, _ := strings.Cut(a, ".")
	bi, bf, _ := strings.Cut(b, ".")
	ai, bi = strings.TrimLeft(ai, "0"), strings.TrimLeft(bi, "0")
	if len(ai) != len(bi) {
		if len(ai) < len(bi) {
			return -1
		}
		return 1
	}
	if c := strings.Compare(ai, bi); c != 0 {
		return c
	}
	// The fractions digit by digit, a missing digit being 0.
	for i := range max(len(af), len(bf)) {
		x, y := byte('0'), byte('0')
		if i < len(af) {
			x = af[i]
		}
		if i < len(bf) {
			y = bf[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// fieldPatcher lets a when: condition name fields as plain identifiers: NAME is row["NAME"].
type fieldPatcher struct{}

func (fieldPatcher) Visit(node *ast.Node) {
	if id, ok := (*node).(*ast.IdentifierNode); ok && id.Value != "row" {
		ast.Patch(node, &ast.MemberNode{Node: &ast.IdentifierNode{Value: "row"}, Property: &ast.StringNode{Value: strings.ToUpper(id.Value)}})
	}
}

func compileWhen(src string) (*vm.Program, error) {
	return expr.Compile(src, expr.Env(map[string]any{"row": map[string]string{}}), expr.AsBool(), expr.Patch(fieldPatcher{}))
}

// referenceValues reads a reference list: its values, or its file (one value per line,
// or the first column of a CSV file).
func referenceValues(ref *config.Reference) ([]string, error) {
	if len(ref.Values) > 0 {
		return slices.Clone(ref.Values), nil
	}
	f, err := os.Open(ref.File)
	if err != nil {
		return nil, fmt.Errorf("reading reference file: %w", err)
	}
	defer f.Close()
	var values []string
	if strings.EqualFold(filepath.Ext(ref.File), ".csv") {
		r := csv.NewReader(bufio.NewReader(f))
		r.FieldsPerRecord = -1
		for {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("reading reference file %s: %w", ref.File, err)
			}
			if len(rec) > 0 && strings.TrimSpace(rec[0]) != "" {
				values = append(values, strings.TrimSpace(rec[0]))
			}
		}
		return values, nil
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v := strings.TrimSpace(sc.Text()); v != "" {
			values = append(values, v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading reference file %s: %w", ref.File, err)
	}
	return values, nil
}
