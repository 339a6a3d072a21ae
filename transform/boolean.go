package transform

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/dmfpipe/dmfpipe/dmf/catalog"
)

// F&O's NoYes enum value names.
const (
	Yes = "Yes"
	No  = "No"
)

var booleans = map[string]string{
	"yes": Yes, "y": Yes, "1": Yes, "true": Yes, "t": Yes, "on": Yes, "x": Yes,
	"ja": Yes, "j": Yes, "oui": Yes, "o": Yes, "si": Yes, "sí": Yes,
	"no": No, "n": No, "0": No, "false": No, "f": No, "off": No, "": No,
	"nein": No, "non": No,
}

func compileBoolean(a *args, _ *catalog.Field) (func(string) (string, error), error) {
	if err := a.none(); err != nil {
		return nil, err
	}
	return func(v string) (string, error) {
		if b, ok := booleans[strings.ToLower(strings.TrimSpace(v))]; ok {
			return b, nil
		}
		return "", &ValueError{Name: "boolean", Msg: fmt.Sprintf("%q is not a yes/no value", v)}
	}, nil
}

// compileEnum maps values to the target enum's value names: through map (keys matched
// case-insensitively), then by a case-insensitive match against the catalog's values.
func compileEnum(a *args, field *catalog.Field) (func(string) (string, error), error) {
	if err := a.mapping(false); err != nil {
		return nil, err
	}
	var enumValues []string
	if field != nil && field.Type == catalog.TypeEnum {
		enumValues = field.EnumValues
	}
	canon := func(v string) (string, bool) {
		for _, e := range enumValues {
			if strings.EqualFold(e, v) {
				return e, true
			}
		}
		return "", false
	}
	table := map[string]string{}
	var keys []string // as written, for messages
	if n := a.get("map"); n != nil {
		if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
			return nil, a.errf(n, "map must be a mapping of source values to enum values")
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			target := val.Value
			if enumValues != nil {
				c, ok := canon(target)
				if !ok {
					return nil, a.errf(val, "%q is not a value of %s (values: %s)", target, field.StagingName, strings.Join(enumValues, ", "))
				}
				target = c
			}
			table[strings.ToLower(k.Value)] = target
			keys = append(keys, k.Value)
		}
	} else if enumValues == nil {
		return nil, a.errf(nil, "needs a map, or a target field that is an enum")
	}
	return func(v string) (string, error) {
		v = strings.TrimSpace(v)
		if t, ok := table[strings.ToLower(v)]; ok {
			return t, nil
		}
		if c, ok := canon(v); ok {
			return c, nil
		}
		allowed := append(slices.Clone(keys), enumValues...)
		return "", &ValueError{Name: "enum", Msg: fmt.Sprintf("%q is not one of %s", v, strings.Join(allowed, ", "))}
	}, nil
}
