package app

import (
	"sync"

	"github.com/dmfpipe/dmfpipe/config"
)

// compiled holds the compiled projects of one kind, once per process, and the problems of
// those that do not compile (they are not compiled again).
type compiled[P any] struct {
	mu       sync.Mutex
	projects map[string]P
	problems map[string]config.Problems
}

// get returns the project name, compiling it with compile the first time.
func (c *compiled[P]) get(name string, compile func() (P, config.Problems)) (P, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var none P
	if p, ok := c.projects[name]; ok {
		return p, nil
	}
	if probs, ok := c.problems[name]; ok {
		return none, probs
	}
	if c.projects == nil {
		c.projects, c.problems = map[string]P{}, map[string]config.Problems{}
	}
	p, probs := compile()
	if len(probs) > 0 {
		c.problems[name] = probs
		return none, probs
	}
	c.projects[name] = p
	return p, nil
}
