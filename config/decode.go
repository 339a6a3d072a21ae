package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// nodeDecoder is implemented by types that decode themselves from a YAML node.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

// decoder is a strict YAML-to-struct decoder that keeps going after a problem, so that
// one pass reports every unknown key, wrong type and missing secret with its line.
type decoder struct {
	file     string
	problems *Problems
	expand   func(s string) (string, error)
	// keys records where each decoded key stood, by dotted path, for later validation
	// messages ("projects[2].environment" -> line 40).
	keys map[string]Position
	// unresolved holds the paths whose ${...} reference failed, so that validation does not
	// report the same value again as missing.
	unresolved map[string]bool
	// optionalSecrets reports a reference to an unset variable or a missing file as a
	// warning (Loader.OptionalSecrets).
	optionalSecrets bool
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.problems.add(d.file, n.Line, fmt.Sprintf(format, args...))
}

// scalar returns the expanded text of a scalar node, reporting other kinds of node.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "%s: expected %s, got %s", path, want, kindName(n))
		return "", false
	}
	v, err := d.expand(n.Value)
	if err != nil {
		if d.optionalSecrets && isNotSet(err) {
			d.problems.warn(d.file, n.Line, fmt.Sprintf("%s: %v", path, err))
		} else {
			d.errorf(n, "%s: %v", path, err)
		}
		d.unresolved[path] = true
		return "", false
	}
	return v, true
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	default:
		return "an alias"
	}
}

var nodeDecoderType = reflect.TypeFor[nodeDecoder]()

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if v.Kind() == reflect.Pointer {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(nodeDecoderType) {
		v.Addr().Interface().(nodeDecoder).decodeNode(d, n, path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if s, ok := d.scalar(n, path, "true or false"); ok {
			b, err := strconv.ParseBool(s)
			if err != nil {
				d.errorf(n, "%s: expected true or false, got %q", path, s)
				return
			}
			v.SetBool(b)
		}
	case reflect.Int:
		if s, ok := d.scalar(n, path, "an integer"); ok {
			i, err := strconv.Atoi(s)
			if err != nil {
				d.errorf(n, "%s: expected an integer, got %q", path, s)
				return
			}
			v.SetInt(int64(i))
		}
	case reflect.Float64:
		if s, ok := d.scalar(n, path, "a number"); ok {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				d.errorf(n, "%s: expected a number, got %q", path, s)
				return
			}
			v.SetFloat(f)
		}
	default:
		panic(fmt.Sprintf("config: no decoder for %s", v.Type()))
	}
}

// structFields maps yaml keys to field indexes.
func structFields(t reflect.Type) map[string]int {
	fields := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("yaml")
		if tag == "" || tag == "-" {
			continue
		}
		fields[strings.Split(tag, ",")[0]] = i
	}
	return fields
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		d.errorf(n, "%s: expected a mapping, got %s", orTop(path), kindName(n))
		return
	}
	if f := v.FieldByName("Pos"); f.IsValid() && f.Type() == reflect.TypeFor[Position]() && f.IsZero() {
		f.Set(reflect.ValueOf(Position{File: d.file, Line: n.Line}))
	}
	fields := structFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Value == "<<" { // YAML merge key: fields of the referenced mapping(s)
			d.decodeMerge(val, v, path)
			continue
		}
		key := joinPath(path, k.Value)
		idx, ok := fields[k.Value]
		if !ok {
			d.errorf(k, "%s: unknown key%s", key, suggest(k.Value, fields))
			continue
		}
		if seen[k.Value] {
			d.errorf(k, "%s: duplicate key", key)
			continue
		}
		seen[k.Value] = true
		// A key set in two files is a conflict; lists and mappings instead add up.
		if prev, ok := d.keys[key]; ok && prev.File != d.file && val.Kind == yaml.ScalarNode {
			d.errorf(k, "%s: already set at %s", key, prev)
			continue
		}
		d.keys[key] = Position{File: d.file, Line: k.Line}
		d.decode(val, v.Field(idx), key)
	}
}

func (d *decoder) decodeMerge(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.SequenceNode {
		for _, m := range n.Content {
			d.decodeMerge(m, v, path)
		}
		return
	}
	d.decodeStruct(n, v, path)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected a mapping, got %s", path, kindName(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := joinPath(path, k.Value)
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			d.errorf(k, "%s: keys must be non-empty names", path)
			continue
		}
		if v.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
			d.errorf(k, "%s: already defined at %s", key, d.keys[key])
			continue
		}
		d.keys[key] = Position{File: d.file, Line: k.Line}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, elem, key)
		if elem.Kind() == reflect.Pointer && elem.IsNil() {
			elem.Set(reflect.New(elem.Type().Elem())) // "name:" with no body is an empty entry
		}
		if elem.Kind() == reflect.Pointer {
			if f := elem.Elem().FieldByName("Name"); f.IsValid() && f.Kind() == reflect.String {
				f.SetString(k.Value)
			}
			if f := elem.Elem().FieldByName("Pos"); f.IsValid() && f.Type() == reflect.TypeFor[Position]() {
				f.Set(reflect.ValueOf(Position{File: d.file, Line: k.Line}))
			}
		}
		v.SetMapIndex(reflect.ValueOf(k.Value), elem)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s: expected a list, got %s", path, kindName(n))
		return
	}
	// Lists append, so that the projects of a folder of config files add up.
	start := v.Len()
	s := reflect.AppendSlice(v, reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content)))
	for i, item := range n.Content {
		d.decode(item, s.Index(start+i), fmt.Sprintf("%s[%d]", path, start+i))
	}
	v.Set(s)
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orTop(path string) string {
	if path == "" {
		return "config"
	}
	return path
}

// suggest names the closest known key when the unknown one looks like a typo.
func suggest(key string, fields map[string]int) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	if best := Closest(key, names); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// Closest returns the candidate within an edit distance of 2 of name (the first of the
// nearest), or "" when none is that close: the "did you mean" of a typo.
func Closest(name string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if dist := levenshtein(name, c); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// reflectValue returns the addressable struct behind a pointer.
func reflectValue(p any) reflect.Value { return reflect.ValueOf(p).Elem() }
