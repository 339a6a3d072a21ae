package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"

	"gopkg.in/yaml.v3"
)

// Fingerprint is a short hash of the project's settings, the same however they are
// written (key order, comments, layout, which file of a folder config, line numbers):
// nodes that share a database compare it to tell whether they run a project alike.
// Secrets count by name, not by value, so rotating one changes nothing.
func (p *Project) Fingerprint() string {
	b, err := json.Marshal(canonical(reflect.ValueOf(p)))
	if err != nil {
		// Every value of a Project is plain data: this cannot happen.
		panic(fmt.Sprintf("config: fingerprint of project %s: %v", p.Name, err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

var (
	positionType = reflect.TypeFor[Position]()
	nodeType     = reflect.TypeFor[yaml.Node]()
	marshaler    = reflect.TypeFor[json.Marshaler]()
)

// canonical is v as plain maps, lists and scalars, without positions; a YAML node (a
// transform's arguments) as the value it holds.
func canonical(v reflect.Value) any {
	if v.Type().Implements(marshaler) && v.Kind() != reflect.Pointer {
		return v.Interface()
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return canonical(v.Elem())
	case reflect.Struct:
		switch v.Type() {
		case positionType:
			return nil
		case nodeType:
			n := v.Interface().(yaml.Node)
			var x any
			if err := n.Decode(&x); err != nil {
				return n.Value
			}
			return x
		}
		out := map[string]any{}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() || f.Type == positionType {
				continue
			}
			out[f.Name] = canonical(v.Field(i))
		}
		return out
	case reflect.Slice, reflect.Array:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = canonical(v.Index(i))
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		for it := v.MapRange(); it.Next(); {
			out[fmt.Sprint(it.Key().Interface())] = canonical(it.Value())
		}
		return out
	}
	return v.Interface()
}
