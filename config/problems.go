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

// Problem is one thing wrong with a config, located at a file and line.
type Problem struct {
	Position
	Msg string
}

func (p Problem) String() string { return p.Position.String() + ": " + p.Msg }

// Problems is every problem found in a config, in file and line order. Load returns it as
// its error so that a user sees all mistakes at once.
type Problems []Problem

func (ps *Problems) add(file string, line int, msg string) {
	*ps = append(*ps, Problem{Position: Position{File: file, Line: line}, Msg: msg})
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
