package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/dmfpipe/dmfpipe/internal/devstack"
)

// serviceNames lists the services in start order.
var serviceNames = []string{"postgres", "azurite", "mailpit", "sshd", "chromium"}

// newService returns the unstarted service called name.
func newService(repo devstack.Repo, name string) (devstack.Service, error) {
	switch name {
	case "postgres":
		return devstack.NewPostgres(""), nil
	case "azurite":
		return repo.NewAzurite(), nil
	case "mailpit":
		return repo.NewMailpit(), nil
	case "sshd":
		return devstack.NewSSHD(), nil
	case "chromium":
		return devstack.NewChromium(), nil
	}
	return nil, fmt.Errorf("unknown service %q (known: %s)", name, strings.Join(serviceNames, ", "))
}

// entry is a service testenv started.
type entry struct {
	// Dir is the temp directory made for the service, removed when it stops.
	Dir string
	// Kept is set for services started or reused by `up`: they run until `down`. The
	// others were started by `run` and stop when the last run using them ends.
	Kept    bool
	Service devstack.Service
}

// state is the content of .testenv/state.json.
type state struct {
	Services map[string]*entry
	// Runs are the `testenv run` processes using the services.
	Runs []devstack.Process
}

type stateJSON struct {
	Services map[string]entryJSON `json:"services"`
	Runs     []devstack.Process   `json:"runs,omitempty"`
}

type entryJSON struct {
	Dir     string          `json:"dir"`
	Kept    bool            `json:"kept"`
	Service json.RawMessage `json:"service"`
}

func statePath(repo devstack.Repo) string { return filepath.Join(repo.StateDir(), "state.json") }
func envPath(repo devstack.Repo) string   { return filepath.Join(repo.StateDir(), "env") }

// loadState reads the state file; a missing file is an empty state.
func loadState(repo devstack.Repo) (*state, error) {
	st := &state{Services: map[string]*entry{}}
	b, err := os.ReadFile(statePath(repo))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state: %w", err)
	}
	var raw stateJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("reading %s: %w", statePath(repo), err)
	}
	st.Runs = raw.Runs
	for name, e := range raw.Services {
		svc, err := newService(repo, name)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", statePath(repo), err)
		}
		if err := json.Unmarshal(e.Service, svc); err != nil {
			return nil, fmt.Errorf("reading %s: service %s: %w", statePath(repo), name, err)
		}
		st.Services[name] = &entry{Dir: e.Dir, Kept: e.Kept, Service: svc}
	}
	return st, nil
}

// save writes the state file, or removes it when nothing is left to remember.
func (st *state) save(repo devstack.Repo) error {
	if len(st.Services) == 0 && len(st.Runs) == 0 {
		if err := os.Remove(statePath(repo)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing state: %w", err)
		}
		return nil
	}
	raw := stateJSON{Services: map[string]entryJSON{}, Runs: st.Runs}
	for name, e := range st.Services {
		svc, err := json.Marshal(e.Service)
		if err != nil {
			return fmt.Errorf("saving state of %s: %w", name, err)
		}
		raw.Services[name] = entryJSON{Dir: e.Dir, Kept: e.Kept, Service: svc}
	}
	b, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	return writeFileAtomic(statePath(repo), append(b, '\n'))
}

// env returns the variables of every service in the state, with override (variables set
// by the caller that replace a service, i.e. PIPELINE_TEST_DATABASE_URL) on top.
func (st *state) env(override map[string]string) map[string]string {
	vars := map[string]string{}
	for _, e := range st.Services {
		for k, v := range e.Service.Env() {
			vars[k] = v
		}
	}
	for k, v := range override {
		vars[k] = v
	}
	return vars
}

// pruneRuns drops the run processes that are gone.
func (st *state) pruneRuns() {
	st.Runs = slices.DeleteFunc(st.Runs, func(r devstack.Process) bool { return !r.Alive() })
}

// removeRun drops p and every run process that is gone.
func (st *state) removeRun(p devstack.Process) {
	st.Runs = slices.DeleteFunc(st.Runs, func(r devstack.Process) bool {
		return r.PID == p.PID && r.StartTicks == p.StartTicks || !r.Alive()
	})
}

// envFile renders vars as sorted `export NAME='value'` lines.
func envFile(vars map[string]string) []byte {
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(vars[k]))
	}
	return []byte(b.String())
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
