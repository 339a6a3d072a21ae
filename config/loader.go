package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Loader reads config files. It replaces ${env:NAME} and ${file:PATH} references in config values.
// ${env:NAME:-fallback} uses fallback when NAME is unset or empty; $${ writes a literal ${.
// Errors name the variable or file, never a value.
type Loader struct {
	// LookupEnv reads environment variables. Defaults to os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// ReadFile reads secret files. Defaults to os.ReadFile.
	ReadFile func(string) ([]byte, error)
	// OptionalSecrets reports a reference this environment cannot resolve, an unset
	// ${env:NAME} without fallback or a ${file:PATH} that does not exist, as a
	// SeverityWarning instead of an error. The value stays empty and the rest of the config
	// is validated as if it were set; Load succeeds when warnings are its only problems and
	// lists them in Config.Warnings. It is for checking a config where its secrets do not
	// live (`pipeline check` in CI): such a Config must not be used to connect. Other
	// failures (unreadable file, malformed reference) stay errors. Defaults to false: every
	// reference must resolve.
	OptionalSecrets bool
}

// notSetError is a reference to a variable or file this environment does not have; the
// one failure OptionalSecrets turns into a warning.
type notSetError struct{ msg string }

func (e *notSetError) Error() string { return e.msg }

func isNotSet(err error) bool {
	var ns *notSetError
	return errors.As(err, &ns)
}

func (e Loader) withDefaults() Loader {
	if e.LookupEnv == nil {
		e.LookupEnv = os.LookupEnv
	}
	if e.ReadFile == nil {
		e.ReadFile = os.ReadFile
	}
	return e
}

// expand expands s; relative ${file:} paths are taken from dir.
func (e Loader) expand(s, dir string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' { // $${ is an escaped ${
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unclosed ${ in value")
		}
		ref := s[i+2 : i+end]
		v, err := e.resolve(ref, dir)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		s = s[i+end+1:]
	}
}

func (e Loader) resolve(ref, dir string) (string, error) {
	kind, arg, ok := strings.Cut(ref, ":")
	switch {
	case ok && kind == "env":
		name, fallback, hasFallback := strings.Cut(arg, ":-")
		if name == "" {
			return "", fmt.Errorf("${env:} needs a variable name")
		}
		if v, ok := e.LookupEnv(name); ok && v != "" {
			return v, nil
		}
		if hasFallback {
			return fallback, nil
		}
		return "", &notSetError{"environment variable " + name + " is not set"}
	case ok && kind == "file":
		if arg == "" {
			return "", fmt.Errorf("${file:} needs a path")
		}
		path := arg
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		data, err := e.ReadFile(path)
		if err != nil {
			if os.IsNotExist(err) {
				return "", &notSetError{"secret file " + path + " does not exist"}
			}
			return "", fmt.Errorf("reading secret file %s: %v", path, unwrapPathError(err))
		}
		return strings.TrimRight(string(data), "\r\n"), nil
	default:
		return "", fmt.Errorf("unknown reference ${%s}: use ${env:NAME} or ${file:PATH}", truncate(ref, 40))
	}
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Load reads a config file, or every *.yaml and *.yml file of a folder, with secrets from
// the process environment and the file system. The error, when the config has problems,
// is a Problems listing each of them with its file and line.
func Load(path string) (*Config, error) { return Loader{}.Load(path) }

// Load reads a config file or folder; see the package function Load. A file that is not
// valid YAML yields only its syntax errors (of every such file) and a nil Config: checking
// the rest of a half-read config would report keys that are merely unreadable as missing.
// Otherwise the Config comes back even with problems, for callers that report more.
func (l Loader) Load(path string) (*Config, error) {
	l = l.withDefaults()
	files, err := configFiles(path)
	if err != nil {
		return nil, err
	}
	docs, problems, err := parseFiles(files)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, problems
	}
	cfg := &Config{Files: files}
	d := &decoder{problems: &problems, keys: map[string]Position{}, unresolved: map[string]bool{}, optionalSecrets: l.OptionalSecrets}
	root := reflect.ValueOf(cfg).Elem()
	for i, doc := range docs {
		if len(doc.Content) == 0 {
			continue // an empty file
		}
		dir := filepath.Dir(files[i])
		d.file = files[i]
		d.expand = func(s string) (string, error) { return l.expand(s, dir) }
		d.decode(doc, root, "")
	}
	cfg.positions = d.keys
	cfg.applyDefaults()
	cfg.validate(&problems, d.unresolved)
	problems.sort()
	cfg.Warnings = problems.Warnings()
	if problems.HasErrors() {
		return cfg, problems
	}
	return cfg, nil
}

// parseFiles reads and parses every file, collecting the syntax errors of all of them.
func parseFiles(files []string) ([]*yaml.Node, Problems, error) {
	docs := make([]*yaml.Node, len(files))
	var problems Problems
	for i, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, fmt.Errorf("reading config: %w", err)
		}
		docs[i] = new(yaml.Node)
		if err := yaml.Unmarshal(data, docs[i]); err != nil {
			problems.add(file, yamlErrorLine(err), yamlErrorMsg(err))
		}
	}
	return docs, problems, nil
}

// configFiles lists the files a config path stands for.
func configFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(path, pattern))
		if err != nil {
			return nil, err
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("reading config: no *.yaml or *.yml files in %s", path)
	}
	sort.Strings(files)
	return files, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlErrorLine digs the line number out of a yaml.v3 syntax error.
func yamlErrorLine(err error) int {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

func yamlErrorMsg(err error) string {
	msg := yamlLineRE.ReplaceAllString(err.Error(), "")
	return "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")
}
