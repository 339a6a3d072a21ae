package devstack

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// modulePath is the main module's path, which marks the root of a checkout.
const modulePath = "github.com/dmfpipe/dmfpipe"

// Repo is a dmfpipe checkout: where the stack finds its pinned tools and keeps its state.
type Repo struct {
	Root string
}

// FindRepo returns the checkout containing dir: the nearest directory at or above dir
// whose go.mod declares the main module (tools/mailpit has a go.mod of its own).
func FindRepo(dir string) (Repo, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return Repo{}, err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if declaresMainModule(filepath.Join(d, "go.mod")) {
			return Repo{Root: d}, nil
		}
		if filepath.Dir(d) == d {
			return Repo{}, fmt.Errorf("no go.mod of module %s at or above %s", modulePath, dir)
		}
	}
}

func declaresMainModule(goMod string) bool {
	f, err := os.Open(goMod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(name), `"`) == modulePath
		}
	}
	return false
}

// StateDir returns .testenv, the git-ignored directory for the stack's state and builds.
func (r Repo) StateDir() string { return filepath.Join(r.Root, ".testenv") }

// NewAzurite returns an Azurite installed from tools/azurite.
func (r Repo) NewAzurite() *Azurite {
	return NewAzurite(filepath.Join(r.Root, "tools", "azurite"))
}

// NewMailpit returns a Mailpit built from tools/mailpit into .testenv/bin/mailpit.
func (r Repo) NewMailpit() *Mailpit {
	return NewMailpit(filepath.Join(r.Root, "tools", "mailpit"), filepath.Join(r.StateDir(), "bin", "mailpit"))
}
