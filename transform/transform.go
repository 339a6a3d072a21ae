package transform

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
)

// Func transforms one value. rec is the current source record, for transforms that read
// other columns.
type Func func(v string, rec []string) (string, error)

// Error is a transform configuration problem, located in the config file.
type Error struct {
	Pos config.Position
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// ValueError is a value a transform cannot convert (a date that matches no layout, a
// number with stray characters). Callers turn it into a row error of rule "map."+Name.
type ValueError struct {
	Name string
	Msg  string
}

func (e *ValueError) Error() string { return e.Msg }

// MissingColumnError is a column a transform reads that the header lacks.
type MissingColumnError struct{ Column string }

func (e *MissingColumnError) Error() string {
	return fmt.Sprintf("column %q is not in the file", e.Column)
}

// Step is one compiled transform.
type Step struct {
	// Name is the transform's name as written.
	Name string
	// Pos is where the transform was written.
	Pos config.Position
	// columns are the names of source columns (or literal texts) the step reads.
	columns []string
	// literalOK allows a name in columns that the header lacks: it is taken as text.
	literalOK bool
	bind      func(idx []int) Func
}

// Columns lists the source columns the step reads besides the field's own value.
func (s *Step) Columns() []string { return slices.Clone(s.columns) }

// Bind resolves the step's columns with resolve (a name to a record index, or false when
// the header lacks it) and returns the step's function.
func (s *Step) Bind(resolve func(name string) (int, bool)) (Func, error) {
	idx := make([]int, len(s.columns))
	for i, c := range s.columns {
		j, ok := resolve(c)
		if !ok && !s.literalOK {
			return nil, &MissingColumnError{Column: c}
		}
		if !ok {
			j = -1
		}
		idx[i] = j
	}
	return s.bind(idx), nil
}

// Names lists every transform name Compile knows.
func Names() []string {
	names := make([]string, 0, len(compilers))
	for n := range compilers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

type compiler func(a *args, field *catalog.Field) (func(idx []int) Func, []string, error)

var compilers map[string]compiler

func init() {
	compilers = map[string]compiler{
		"trim":          pure(noArgs(strings.TrimSpace)),
		"upper":         pure(noArgs(strings.ToUpper)),
		"lower":         pure(noArgs(strings.ToLower)),
		"title":         pure(noArgs(title)),
		"replace":       pure(compileReplace),
		"regex_replace": pure(compileRegexReplace),
		"substring":     pure(compileSubstring),
		"pad_left":      pure(compilePad(true)),
		"pad_right":     pure(compilePad(false)),
		"truncate":      pure(compileTruncate),
		"split":         pure(compileSplit),
		"date":          pure(compileDate),
		"datetime":      pure(compileDateTime),
		"number":        pure(compileNumber),
		"boolean":       pure(compileBoolean),
		"enum":          pure(compileEnum),
		"concat":        compileConcat,
		"coalesce":      compileCoalesce,
	}
}

// Compile compiles one configured transform for a target field (nil when the field is
// not in the catalog). A problem is an *Error located at the transform or its argument.
func Compile(t *config.Transform, field *catalog.Field) (*Step, error) {
	c, ok := compilers[t.Name]
	if !ok {
		return nil, &Error{Pos: t.Pos, Msg: fmt.Sprintf("unknown transform %q (known: %s)", t.Name, strings.Join(Names(), ", "))}
	}
	a := &args{name: t.Name, pos: t.Pos, node: &t.Args}
	bind, cols, err := c(a, field)
	if err != nil {
		return nil, err
	}
	if err := a.unused(); err != nil {
		return nil, err
	}
	return &Step{Name: t.Name, Pos: t.Pos, columns: cols, literalOK: t.Name == "concat", bind: bind}, nil
}

// pure adapts a transform that reads only its own value.
func pure(c func(a *args, field *catalog.Field) (func(string) (string, error), error)) compiler {
	return func(a *args, field *catalog.Field) (func(idx []int) Func, []string, error) {
		fn, err := c(a, field)
		if err != nil {
			return nil, nil, err
		}
		keepEmpty := a.name != "boolean"
		f := func(v string, _ []string) (string, error) {
			if v == "" && keepEmpty {
				return "", nil
			}
			return fn(v)
		}
		return func([]int) Func { return f }, nil, nil
	}
}

func noArgs(fn func(string) string) func(*args, *catalog.Field) (func(string) (string, error), error) {
	return func(a *args, _ *catalog.Field) (func(string) (string, error), error) {
		if err := a.none(); err != nil {
			return nil, err
		}
		return func(v string) (string, error) { return fn(v), nil }, nil
	}
}

// args reads a transform's YAML arguments, reporting problems at their line.
type args struct {
	name string
	pos  config.Position
	node *yaml.Node
	used map[string]bool
}

func (a *args) errf(n *yaml.Node, format string, v ...any) error {
	pos := a.pos
	if n != nil && n.Line > 0 {
		pos.Line = n.Line
	}
	return &Error{Pos: pos, Msg: a.name + ": " + fmt.Sprintf(format, v...)}
}

func (a *args) present() bool { return a.node.Kind != 0 && a.node.Tag != "!!null" }

func (a *args) none() error {
	if a.present() {
		return a.errf(a.node, "takes no arguments")
	}
	return nil
}

// mapping checks that the arguments are a mapping (or absent when optional).
func (a *args) mapping(required bool) error {
	if !a.present() {
		if required {
			return a.errf(nil, "needs arguments, e.g. {%s: {...}}", a.name)
		}
		return nil
	}
	if a.node.Kind != yaml.MappingNode {
		return a.errf(a.node, "arguments must be a mapping")
	}
	a.used = map[string]bool{}
	return nil
}

func (a *args) get(key string) *yaml.Node {
	if a.node.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(a.node.Content); i += 2 {
		if a.node.Content[i].Value == key {
			a.used[key] = true
			return a.node.Content[i+1]
		}
	}
	return nil
}

func (a *args) unused() error {
	if a.used == nil || a.node.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(a.node.Content); i += 2 {
		if k := a.node.Content[i]; !a.used[k.Value] {
			return a.errf(k, "unknown argument %q", k.Value)
		}
	}
	return nil
}

func (a *args) str(key string, required bool, def string) (string, error) {
	n := a.get(key)
	if n == nil {
		if required {
			return "", a.errf(a.node, "%s is required", key)
		}
		return def, nil
	}
	if n.Kind != yaml.ScalarNode {
		return "", a.errf(n, "%s must be a string", key)
	}
	return n.Value, nil
}

func (a *args) integer(key string, required bool, def int) (int, error) {
	n := a.get(key)
	if n == nil {
		if required {
			return 0, a.errf(a.node, "%s is required", key)
		}
		return def, nil
	}
	i, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return 0, a.errf(n, "%s must be an integer", key)
	}
	return i, nil
}

func (a *args) strings(n *yaml.Node, what string) ([]string, error) {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []string{n.Value}, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, a.errf(n, "%s must be a list of strings", what)
	}
	out := make([]string, 0, len(n.Content))
	for _, item := range n.Content {
		if item.Kind != yaml.ScalarNode {
			return nil, a.errf(item, "%s must be a list of strings", what)
		}
		out = append(out, item.Value)
	}
	return out, nil
}
