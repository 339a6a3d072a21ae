package config

import (
	"fmt"
	"sort"
	"strings"
)

// Position is a place in a config file.
type Position struct {
	File string
	Line int
}

func (p Position) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Severity says whether a Problem makes a config unusable.
type Severity uint8

const (
	// SeverityError is a mistake in the config: Load fails when it finds one. The zero value.
	SeverityError Severity = iota
	// SeverityWarning is a finding that does not fail Load. Today that is only a secret this
	// environment does not have (an unset ${env:NAME}, a ${file:PATH} that does not exist)
	// when [Loader.OptionalSecrets] is set.
	SeverityWarning
)

func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// Problem is one thing wrong with a config, located at a file and line. Msg names keys,
// variables and files, never a secret's value.
type Problem struct {
	Position
	Msg string
	// Severity is SeverityError unless the problem is one a load option turned into a warning.
	Severity Severity
}

// String is "FILE:LINE: msg", or "FILE:LINE: warning: msg" for a warning.
func (p Problem) String() string {
	if p.Severity == SeverityWarning {
		return p.Position.String() + ": warning: " + p.Msg
	}
	return p.Position.String() + ": " + p.Msg
}

// Problems is every problem found in a config, in file and line order. Load returns it as
// its error, when at least one is an error, so that a user sees all mistakes at once;
// warnings then come in the same list, in their place.
type Problems []Problem

func (ps *Problems) add(file string, line int, msg string) {
	*ps = append(*ps, Problem{Position: Position{File: file, Line: line}, Msg: msg})
}

func (ps *Problems) warn(file string, line int, msg string) {
	*ps = append(*ps, Problem{Position: Position{File: file, Line: line}, Msg: msg, Severity: SeverityWarning})
}

// HasErrors reports whether any of the problems is a SeverityError.
func (ps Problems) HasErrors() bool {
	for _, p := range ps {
		if p.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Warnings returns the problems of SeverityWarning, in order.
func (ps Problems) Warnings() Problems {
	var ws Problems
	for _, p := range ps {
		if p.Severity == SeverityWarning {
			ws = append(ws, p)
		}
	}
	return ws
}

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func (ps Problems) sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].File != ps[j].File {
			return ps[i].File < ps[j].File
		}
		return ps[i].Line < ps[j].Line
	})
}
