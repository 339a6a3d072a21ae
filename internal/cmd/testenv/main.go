package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dmfpipe/dmfpipe/internal/devstack"
)

const usage = `usage:
  testenv up [--only postgres,azurite,mailpit,sshd,chromium]
  testenv down
  testenv run [--only ...] -- CMD ARGS...
  testenv env
`

func main() {
	os.Exit(mainCode(os.Args[1:]))
}

// mainCode runs a subcommand and returns the exit code.
func mainCode(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	wd, err := os.Getwd()
	if err != nil {
		return fail(err)
	}
	repo, err := devstack.FindRepo(wd)
	if err != nil {
		return fail(err)
	}
	t := &testenv{repo: repo, ci: isCI(os.Getenv("CI")), databaseURL: os.Getenv(devstack.EnvDatabaseURL)}
	switch args[0] {
	case "up":
		only, _, err := parseFlags("up", args[1:], false)
		if err != nil {
			return usageError(err)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := t.upCmd(ctx, only); err != nil {
			return fail(err)
		}
	case "down":
		if len(args) > 1 {
			return usageError(errors.New("down takes no arguments"))
		}
		if err := t.downCmd(); err != nil {
			return fail(err)
		}
	case "run":
		only, cmd, err := parseFlags("run", args[1:], true)
		if err != nil {
			return usageError(err)
		}
		return t.runCmd(only, cmd)
	case "env":
		b, err := os.ReadFile(envPath(repo))
		if err != nil {
			return fail(fmt.Errorf("no environment yet (run testenv up): %w", err))
		}
		os.Stdout.Write(b)
	default:
		return usageError(fmt.Errorf("unknown command %q", args[0]))
	}
	return 0
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "testenv:", err)
	return 1
}

func usageError(err error) int {
	fmt.Fprintf(os.Stderr, "testenv: %v\n%s", err, usage)
	return 2
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "testenv: "+format+"\n", args...)
}

func isCI(v string) bool {
	ci, _ := strconv.ParseBool(v)
	return ci
}

// parseFlags parses --only and, for run, the command after "--".
func parseFlags(name string, args []string, wantCommand bool) (only, command []string, err error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	onlyFlag := fs.String("only", "", "comma-separated services to start: "+strings.Join(serviceNames, ","))
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	only = slices.Clone(serviceNames)
	if *onlyFlag != "" {
		only = nil
		for name := range strings.SplitSeq(*onlyFlag, ",") {
			name = strings.TrimSpace(name)
			if !slices.Contains(serviceNames, name) {
				return nil, nil, fmt.Errorf("unknown service %q (known: %s)", name, strings.Join(serviceNames, ", "))
			}
			only = append(only, name)
		}
	}
	switch {
	case wantCommand && fs.NArg() == 0:
		return nil, nil, errors.New("run needs a command after --")
	case !wantCommand && fs.NArg() > 0:
		return nil, nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return only, fs.Args(), nil
}

type testenv struct {
	repo devstack.Repo
	ci   bool
	// databaseURL is PIPELINE_TEST_DATABASE_URL from the environment: when set, it is
	// used and no PostgreSQL is started.
	databaseURL string
}

// lock takes .testenv/lock, waiting for another testenv that holds it.
func (t *testenv) lock() (unlock func(), err error) {
	if err := os.MkdirAll(t.repo.StateDir(), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(t.repo.StateDir(), "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); errors.Is(err, syscall.EWOULDBLOCK) {
		logf("waiting for another testenv to finish starting or stopping services")
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}

func (t *testenv) override() map[string]string {
	if t.databaseURL == "" {
		return nil
	}
	return map[string]string{devstack.EnvDatabaseURL: t.databaseURL}
}

func (t *testenv) writeEnv(st *state) error {
	return writeFileAtomic(envPath(t.repo), envFile(st.env(t.override())))
}

func (t *testenv) upCmd(ctx context.Context, only []string) error {
	return t.locked(func(st *state) error {
		t.prune(st)
		for _, e := range st.Services {
			e.Kept = true
		}
		upErr := t.start(ctx, st, only, true)
		if err := st.save(t.repo); err != nil {
			return err
		}
		if err := t.writeEnv(st); err != nil {
			return err
		}
		if upErr != nil {
			return fmt.Errorf("%w (services that did start keep running: testenv down stops them)", upErr)
		}
		logf("environment in %s", envPath(t.repo))
		return nil
	})
}

// locked runs fn on the saved state while holding the state's lock.
func (t *testenv) locked(fn func(st *state) error) error {
	unlock, err := t.lock()
	if err != nil {
		return err
	}
	defer unlock()
	st, err := loadState(t.repo)
	if err != nil {
		return err
	}
	return fn(st)
}

func (t *testenv) downCmd() error {
	return t.locked(func(st *state) error {
		st.pruneRuns()
		if len(st.Runs) > 0 {
			logf("stopping services that %d running `testenv run` still use", len(st.Runs))
		}
		err := t.stop(st, func(*entry) bool { return true })
		st.Runs = nil
		if saveErr := st.save(t.repo); saveErr != nil {
			return saveErr
		}
		if rmErr := os.Remove(envPath(t.repo)); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
			return rmErr
		}
		return err
	})
}

// runCmd starts what is missing, runs command and stops what no run uses any more.
func (t *testenv) runCmd(only, command []string) int {
	self, err := devstack.ProcessOf(os.Getpid())
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu    sync.Mutex
		child *os.Process
	)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	go func() {
		for sig := range signals {
			cancel()
			mu.Lock()
			if child != nil {
				_ = child.Signal(sig)
			}
			mu.Unlock()
		}
	}()

	vars, err := t.runUp(ctx, self, only)
	code := 1
	if err != nil {
		logf("%v", err)
	} else {
		cmd := exec.Command(command[0], command[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.Env = os.Environ()
		for k, v := range vars {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		mu.Lock()
		err = cmd.Start()
		child = cmd.Process
		mu.Unlock()
		if err != nil {
			logf("%v", err)
		} else {
			code = exitCode(cmd.Wait())
		}
	}
	if err := t.runDown(self); err != nil {
		logf("%v", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// runUp registers the run and starts the missing services, which are not kept.
func (t *testenv) runUp(ctx context.Context, self devstack.Process, only []string) (vars map[string]string, err error) {
	err = t.locked(func(st *state) error {
		t.prune(st)
		st.Runs = append(st.Runs, self)
		upErr := t.start(ctx, st, only, false)
		if err := st.save(t.repo); err != nil {
			return err
		}
		if err := t.writeEnv(st); err != nil {
			return err
		}
		vars = st.env(t.override())
		return upErr
	})
	return vars, err
}

// runDown unregisters the run and, when no other run is left, stops the services that
// runs started.
func (t *testenv) runDown(self devstack.Process) error {
	return t.locked(func(st *state) error {
		st.removeRun(self)
		var stopErr error
		if len(st.Runs) == 0 {
			stopErr = t.stop(st, func(e *entry) bool { return !e.Kept })
		}
		if err := st.save(t.repo); err != nil {
			return err
		}
		if err := t.writeEnv(st); err != nil {
			return err
		}
		return stopErr
	})
}

// prune drops the services whose process is gone or whose port no longer answers, and
// the runs that ended.
func (t *testenv) prune(st *state) {
	st.pruneRuns()
	for name, e := range st.Services {
		if e.Service.Running() {
			continue
		}
		logf("%s is no longer running; it will be started anew", name)
		if err := e.Service.Stop(); err != nil {
			logf("%v", err)
		}
		if err := os.RemoveAll(e.Dir); err != nil {
			logf("removing %s: %v", e.Dir, err)
		}
		delete(st.Services, name)
	}
}

// start starts, at the same time, the services of only that are not in st, saving st
// after each. A tool that is missing and may not be installed is a warning unless in CI.
func (t *testenv) start(ctx context.Context, st *state, only []string, kept bool) error {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for _, name := range only {
		if name == "postgres" && t.databaseURL != "" {
			logf("%s is set: using it instead of starting postgres", devstack.EnvDatabaseURL)
			continue
		}
		if _, ok := st.Services[name]; ok {
			logf("%s: reusing the running one", name)
			continue
		}
		wg.Go(func() {
			e, err := t.startOne(ctx, name, kept)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				st.Services[name] = e
				if err := st.save(t.repo); err != nil {
					errs = append(errs, err)
				}
			case errors.Is(err, devstack.ErrNotInstalled) && !t.ci:
				logf("WARNING: %v\ntestenv: tests that need %s will be skipped", err, name)
			default:
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (t *testenv) startOne(ctx context.Context, name string, kept bool) (*entry, error) {
	svc, err := newService(t.repo, name)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "dmfpipe-"+name+"-")
	if err != nil {
		return nil, err
	}
	began := time.Now()
	if err := svc.Start(ctx, dir); err != nil {
		_ = svc.Stop()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	logf("%s: started in %.1fs", name, time.Since(began).Seconds())
	return &entry{Dir: dir, Kept: kept, Service: svc}, nil
}

// stop stops the services that match and removes their directories.
func (t *testenv) stop(st *state, match func(*entry) bool) error {
	var errs []error
	for _, name := range serviceNames {
		e, ok := st.Services[name]
		if !ok || !match(e) {
			continue
		}
		if err := e.Service.Stop(); err != nil {
			errs = append(errs, err)
		}
		if err := os.RemoveAll(e.Dir); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", e.Dir, err))
		}
		delete(st.Services, name)
		logf("%s: stopped", name)
	}
	return errors.Join(errs...)
}

// exitCode turns the result of Wait into an exit code, 128+N for a signal as shells do.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		logf("%v", err)
		return 1
	}
	if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return exitErr.ExitCode()
}
