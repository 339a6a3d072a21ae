package devstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// unprivilegedUser runs PostgreSQL when the stack runs as root.
const unprivilegedUser = "nobody"

// Postgres is a throwaway PostgreSQL cluster tuned for tests: no fsync, trust
// authentication, 127.0.0.1 only, the unix socket inside its data directory.
type Postgres struct {
	// BinDir holds initdb, pg_ctl and postgres. Empty: FindPostgresBin at Start.
	BinDir string `json:"bin_dir"`
	// Dir is the directory given to Start; the cluster is in Dir/data.
	Dir string `json:"dir"`
	// Port is the TCP port on 127.0.0.1.
	Port int `json:"port"`
	// RunAs is the user the cluster runs as: empty for the current user, "nobody" when
	// started by root.
	RunAs string `json:"run_as,omitempty"`
	// Process is the postmaster.
	Process Process `json:"process"`
}

// NewPostgres returns a Postgres that will use the binaries in binDir, or find them when
// binDir is empty.
func NewPostgres(binDir string) *Postgres {
	return &Postgres{BinDir: binDir}
}

// URL returns the URL of the postgres database as the postgres superuser.
func (p *Postgres) URL() string {
	return fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", loopback(p.Port))
}

// Env returns EnvDatabaseURL.
func (p *Postgres) Env() map[string]string {
	return map[string]string{EnvDatabaseURL: p.URL()}
}

// Running reports whether the postmaster is alive and its port answers.
func (p *Postgres) Running() bool {
	return p.Process.Alive() && portAnswers(p.Port)
}

// Start creates the cluster in dir/data (unless one is there) and starts it.
func (p *Postgres) Start(ctx context.Context, dir string) error {
	if p.BinDir == "" {
		bin, err := FindPostgresBin()
		if err != nil {
			return err
		}
		p.BinDir = bin
	}
	p.Dir = dir
	if os.Geteuid() == 0 {
		p.RunAs = unprivilegedUser
	}
	cred, err := p.credential()
	if err != nil {
		return err
	}
	if cred != nil {
		if err := reachable(filepath.Dir(dir)); err != nil {
			return fmt.Errorf("postgres: %s must be reachable by %q since PostgreSQL refuses to run as root: %w",
				dir, p.RunAs, err)
		}
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("postgres: handing %s to %q: %w", dir, p.RunAs, err)
		}
	}
	data := p.dataDir()
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		initdb := p.command(ctx, cred, "initdb", "-D", data, "-U", "postgres", "--auth=trust",
			"--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
		if err := runLogged(initdb); err != nil {
			return fmt.Errorf("postgres: initdb: %w", err)
		}
	}
	return retryExited(func() error {
		port, err := freePort()
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		return p.run(ctx, cred, port)
	})
}

// Restart stops the cluster (fast shutdown: every session ends), waits down, and starts
// it again on the same port, as a database restart or a failover looks to its clients.
func (p *Postgres) Restart(ctx context.Context, down time.Duration) error {
	if err := p.Stop(); err != nil {
		return err
	}
	t := time.NewTimer(down)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	cred, err := p.credential()
	if err != nil {
		return err
	}
	return p.run(ctx, cred, p.Port)
}

// run starts the postmaster on port and waits until it answers.
func (p *Postgres) run(ctx context.Context, cred *syscall.Credential, port int) error {
	p.Port = port
	logPath := filepath.Join(p.Dir, "postgres.log")
	// exec.Command, not CommandContext: the server outlives ctx.
	cmd := p.command(context.Background(), cred, "postgres", "-D", p.dataDir(),
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+p.dataDir(),
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
	)
	var err error
	p.Process, err = spawn(cmd, logPath)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := waitReady(ctx, &p.Process, logPath, p.ping); err != nil {
		_ = p.Process.terminate()
		return fmt.Errorf("postgres on port %d: %w", port, err)
	}
	return nil
}

// Stop shuts the cluster down with `pg_ctl stop -m fast`.
func (p *Postgres) Stop() error {
	if !p.Process.Alive() {
		return nil
	}
	cred, err := p.credential()
	if err != nil {
		return err
	}
	stop := p.command(context.Background(), cred, "pg_ctl", "stop", "-D", p.dataDir(), "-m", "fast", "-w", "-t", "60")
	stopErr := runLogged(stop)
	if !p.Process.waitExit(10 * time.Second) {
		if err := p.Process.terminate(); err != nil {
			return fmt.Errorf("postgres: %w (pg_ctl: %v)", err, stopErr)
		}
	}
	if stopErr != nil {
		return fmt.Errorf("postgres: %w", stopErr)
	}
	return nil
}

func (p *Postgres) dataDir() string { return filepath.Join(p.Dir, "data") }

// ping checks that the server accepts a connection and answers a query.
func (p *Postgres) ping(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, p.URL())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// command builds a command for one of the PostgreSQL binaries, run with cred when set, in
// the cluster's directory (the user may not be able to enter the current one) and without
// the caller's PG* variables.
func (p *Postgres) command(ctx context.Context, cred *syscall.Credential, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(p.BinDir, name), args...)
	cmd.Dir = p.Dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	return cmd
}

// credential returns the credential of RunAs, or nil to run as the current user.
func (p *Postgres) credential() (*syscall.Credential, error) {
	if p.RunAs == "" {
		return nil, nil
	}
	u, err := user.Lookup(p.RunAs)
	if err != nil {
		return nil, fmt.Errorf("postgres: running as root needs the %q user: %w", p.RunAs, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres: uid of %q: %w", p.RunAs, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres: gid of %q: %w", p.RunAs, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// reachable checks that every directory from dir up to / lets others through.
func reachable(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s is not searchable by other users (mode %v)", dir, fi.Mode().Perm())
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

// FindPostgresBin returns the directory holding initdb, pg_ctl and postgres: the one of
// initdb on PATH (symlinks resolved), else the newest /usr/lib/postgresql/*/bin.
func FindPostgresBin() (string, error) {
	return findPostgresBin(exec.LookPath, "/usr/lib/postgresql")
}

func findPostgresBin(lookPath func(string) (string, error), libDir string) (string, error) {
	if initdb, err := lookPath("initdb"); err == nil {
		if resolved, err := filepath.EvalSymlinks(initdb); err == nil {
			if dir := filepath.Dir(resolved); hasPostgresTools(dir) {
				return dir, nil
			}
		}
	}
	entries, err := os.ReadDir(libDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("postgres: listing %s: %w", libDir, err)
	}
	best, bestVersion := "", []int(nil)
	for _, e := range entries {
		version, ok := parseVersion(e.Name())
		dir := filepath.Join(libDir, e.Name(), "bin")
		if !ok || !hasPostgresTools(dir) {
			continue
		}
		if best == "" || compareVersions(version, bestVersion) > 0 {
			best, bestVersion = dir, version
		}
	}
	if best == "" {
		return "", fmt.Errorf("postgres: initdb, pg_ctl and postgres are neither on PATH nor in %s/*/bin "+
			"(install the PostgreSQL server, e.g. apt-get install postgresql): %w", libDir, ErrNotInstalled)
	}
	return best, nil
}

func hasPostgresTools(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// parseVersion parses a dotted version such as "15" or "9.6".
func parseVersion(s string) ([]int, bool) {
	var v []int
	for part := range strings.SplitSeq(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil, false
		}
		v = append(v, n)
	}
	return v, true
}

func compareVersions(a, b []int) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] - b[i]
		}
	}
	return len(a) - len(b)
}
