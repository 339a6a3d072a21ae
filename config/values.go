package config

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Secret is a config value that must never be printed: String, GoString, Format (every
// verb), LogValue and the JSON and YAML encodings show "[redacted]" instead of the value.
type Secret struct{ value string }

// NewSecret wraps a plain value.
func NewSecret(v string) Secret { return Secret{value: v} }

// Value returns the secret in clear, for the one place that sends it.
func (s Secret) Value() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

const redacted = "[redacted]"

func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return s.String() }

// Format keeps every verb, %x and %d included, to the redacted text.
func (s Secret) Format(f fmt.State, verb rune) { formatShown(f, verb, s.String()) }

// LogValue keeps log/slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON never writes the value.
func (s Secret) MarshalJSON() ([]byte, error) { return strconv.AppendQuote(nil, s.String()), nil }

// MarshalYAML never writes the value.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// formatShown formats the printable stand-in of a secret as fmt would a string.
func formatShown(f fmt.State, verb rune, shown string) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, shown)
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), shown)
}

// SecretURL is a Secret holding a URL whose path and query carry the credential, as
// Teams and Slack webhook URLs do. It prints as its scheme and host only
// ("https://example.webhook.office.com"), or "[redacted]" when the value is no absolute
// URL; Value returns it whole.
type SecretURL struct{ Secret }

// NewSecretURL wraps a plain URL.
func NewSecretURL(v string) SecretURL { return SecretURL{Secret{value: v}} }

// String is the scheme and host, without user info, path, query or fragment.
func (s SecretURL) String() string {
	if s.value == "" {
		return ""
	}
	u, err := url.Parse(s.value)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return redacted
	}
	return u.Scheme + "://" + u.Host
}

// GoString keeps %#v to the scheme and host.
func (s SecretURL) GoString() string { return s.String() }

// Format keeps every verb to the scheme and host.
func (s SecretURL) Format(f fmt.State, verb rune) { formatShown(f, verb, s.String()) }

// LogValue keeps log/slog to the scheme and host.
func (s SecretURL) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON writes the scheme and host only.
func (s SecretURL) MarshalJSON() ([]byte, error) { return strconv.AppendQuote(nil, s.String()), nil }

// MarshalYAML writes the scheme and host only.
func (s SecretURL) MarshalYAML() (any, error) { return s.String(), nil }

func (s *Secret) decodeNode(d *decoder, n *yaml.Node, path string) {
	if v, ok := d.scalar(n, path, "a string"); ok {
		s.value = v
	}
}

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

func (dur *Duration) decodeNode(d *decoder, n *yaml.Node, path string) {
	s, ok := d.scalar(n, path, "a duration")
	if !ok {
		return
	}
	v, err := ParseDuration(s)
	if err != nil {
		d.errorf(n, "%s: %v", path, err)
		return
	}
	*dur = Duration(v)
}

// ParseDuration reads Go durations ("90s", "1h30m") and whole days ("30d").
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q (use e.g. 90s, 5m, 2h or 30d)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid duration %q (use e.g. 90s, 5m, 2h or 30d)", s)
	}
	return v, nil
}

// decodeNode reads the mapping block: entity field names to their mapping, in file order.
func (m *Mapping) decodeNode(d *decoder, n *yaml.Node, path string) {
	*m = append(*m, decodeFieldMappings(d, n, path, "entity fields", "field", strings.ToUpper)...)
}

// decodeNode reads an export's columns: output column names to their mapping, in file
// order, names kept as written.
func (c *Columns) decodeNode(d *decoder, n *yaml.Node, path string) {
	*c = append(*c, decodeFieldMappings(d, n, path, "columns", "column", func(s string) string { return s })...)
}

// decodeFieldMappings reads a mapping block whose keys name what is mapped (normalized
// by name: entity fields are upper case), in file order; a key mapped twice (regardless
// of case) is an error.
func decodeFieldMappings(d *decoder, n *yaml.Node, path, what, one string, name func(string) string) []*FieldMapping {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected a mapping of %s, got %s", path, what, kindName(n))
		return nil
	}
	var out []*FieldMapping
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := joinPath(path, k.Value)
		field := name(k.Value)
		if seen[strings.ToUpper(field)] {
			d.errorf(k, "%s: %s mapped twice", key, one)
			continue
		}
		seen[strings.ToUpper(field)] = true
		d.keys[key] = Position{File: d.file, Line: k.Line}
		fm := &FieldMapping{Field: field, Pos: Position{File: d.file, Line: k.Line}}
		if val.Kind == yaml.ScalarNode && val.Tag != "!!null" {
			// shorthand: FIELD: "Source column"
			if s, ok := d.scalar(val, key, "a column name"); ok {
				fm.From = s
			}
		} else {
			d.decode(val, reflectValue(fm), key)
		}
		out = append(out, fm)
	}
	return out
}

func (b *ByteSize) decodeNode(d *decoder, n *yaml.Node, path string) {
	s, ok := d.scalar(n, path, "a size")
	if !ok {
		return
	}
	v, err := ParseByteSize(s)
	if err != nil {
		d.errorf(n, "%s: %v", path, err)
		return
	}
	*b = ByteSize(v)
}

// ParseByteSize reads a size: a whole number of bytes, or one with a unit (KB, MB, GB are
// powers of 1000; KiB, MiB, GiB of 1024).
func ParseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q (use e.g. 1048576, 64KiB, 200MB or 1GB)", s)
	}
	return n * mult, nil
}

// decodeNode reads "trim" or {name: args}.
func (t *Transform) decodeNode(d *decoder, n *yaml.Node, path string) {
	t.Pos = Position{File: d.file, Line: n.Line}
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag != "!!null":
		t.Name = n.Value
	case n.Kind == yaml.MappingNode && len(n.Content) == 2:
		t.Name = n.Content[0].Value
		t.Args = *n.Content[1]
	default:
		d.errorf(n, "%s: expected a transform name or {name: arguments}, got %s", path, kindName(n))
	}
}
