package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFindPostgresBin(t *testing.T) {
	t.Parallel()
	lib := t.TempDir()
	for _, version := range []string{"9.6", "15", "16", "17"} {
		dir := filepath.Join(lib, version, "bin")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for _, tool := range []string{"initdb", "pg_ctl", "postgres"} {
			if version == "17" && tool == "postgres" {
				continue // an incomplete install (client only) is not a candidate
			}
			require.NoError(t, os.WriteFile(filepath.Join(dir, tool), []byte("#!/bin/sh\n"), 0o755))
		}
	}
	notOnPath := func(string) (string, error) { return "", exec.ErrNotFound }

	got, err := findPostgresBin(notOnPath, lib)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(lib, "16", "bin"), got, "newest complete version, compared as numbers")

	// initdb on PATH, a symlink into 9.6, wins over the newest.
	pathDir := t.TempDir()
	require.NoError(t, os.Symlink(filepath.Join(lib, "9.6", "bin", "initdb"), filepath.Join(pathDir, "initdb")))
	got, err = findPostgresBin(func(string) (string, error) { return filepath.Join(pathDir, "initdb"), nil }, lib)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(lib, "9.6", "bin"), got)

	_, err = findPostgresBin(notOnPath, filepath.Join(lib, "missing"))
	require.ErrorIs(t, err, ErrNotInstalled)
}

func TestProcessIdentity(t *testing.T) {
	t.Parallel()
	self, err := ProcessOf(os.Getpid())
	require.NoError(t, err)
	assert.True(t, self.Alive())
	recycled := self
	recycled.StartTicks++
	assert.False(t, recycled.Alive(), "same PID, other start time: another process")

	cmd := exec.Command("true")
	p, err := spawn(cmd, filepath.Join(t.TempDir(), "log"))
	require.NoError(t, err)
	require.True(t, p.waitExit(readyTimeout))
	assert.False(t, (&Process{PID: p.PID, StartTicks: p.StartTicks}).Alive(), "ended process seen from its state")
}

func TestFindRepo(t *testing.T) {
	t.Parallel()
	wd, err := os.Getwd()
	require.NoError(t, err)
	repo, err := FindRepo(filepath.Join(wd, "..", "..", "tools", "mailpit"))
	require.NoError(t, err)
	assert.Equal(t, filepath.Clean(filepath.Join(wd, "..", "..")), repo.Root, "tools/mailpit/go.mod is not the main module")
	_, err = FindRepo(t.TempDir())
	require.Error(t, err)
}

// serviceDir makes a directory for a service under the system temp dir, which (unlike
// t.TempDir's parent) the unprivileged user that runs PostgreSQL for root can reach.
func serviceDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "devstack-test-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// lifecycle starts svc, checks it with use, then stops it through a copy read back from
// its JSON state, as another process (testenv down) would.
func lifecycle[S Service](t *testing.T, svc S, fresh func() S, use func(t *testing.T, svc S)) {
	t.Helper()
	err := svc.Start(context.Background(), serviceDir(t))
	if errors.Is(err, ErrNotInstalled) {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); !ci {
			t.Skip(err)
		}
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Stop() })
	require.True(t, svc.Running())
	use(t, svc)

	state, err := json.Marshal(svc)
	require.NoError(t, err)
	copied := fresh()
	require.NoError(t, json.Unmarshal(state, copied))
	require.True(t, copied.Running(), "running as seen from the state")
	require.NoError(t, copied.Stop())
	assert.False(t, copied.Running())
	assert.False(t, svc.Running())
	require.NoError(t, copied.Stop(), "stopping twice")
}

func TestPostgresLifecycle(t *testing.T) {
	t.Parallel()
	lifecycle(t, NewPostgres(""), func() *Postgres { return &Postgres{} }, func(t *testing.T, p *Postgres) {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, p.URL())
		require.NoError(t, err)
		defer conn.Close(ctx)
		var fsync, maxConns, listen string
		require.NoError(t, conn.QueryRow(ctx,
			`SELECT current_setting('fsync'), current_setting('max_connections'), current_setting('listen_addresses')`).
			Scan(&fsync, &maxConns, &listen))
		assert.Equal(t, "off", fsync)
		assert.Equal(t, "200", maxConns)
		assert.Equal(t, "127.0.0.1", listen)
		assert.Equal(t, p.URL(), p.Env()[EnvDatabaseURL])
	})
}

func TestAzuriteLifecycle(t *testing.T) {
	t.Parallel()
	repo := testRepo(t)
	lifecycle(t, repo.NewAzurite(), func() *Azurite { return &Azurite{} }, func(t *testing.T, a *Azurite) {
		assert.Contains(t, a.ConnectionString(), "BlobEndpoint=http://"+loopback(a.Port)+"/devstoreaccount1;")
	})
}

func TestMailpitLifecycle(t *testing.T) {
	t.Parallel()
	repo := testRepo(t)
	lifecycle(t, repo.NewMailpit(), func() *Mailpit { return &Mailpit{} }, func(t *testing.T, m *Mailpit) {
		require.NoError(t, m.ready(context.Background()))
		assert.NotEqual(t, m.SMTPPort, m.HTTPPort)
	})
}

func TestSSHDLifecycle(t *testing.T) {
	t.Parallel()
	lifecycle(t, NewSSHD(), func() *SSHD { return &SSHD{} }, func(t *testing.T, s *SSHD) {
		require.NoError(t, s.banner(context.Background()))
		known, err := os.ReadFile(s.KnownHostsPath())
		require.NoError(t, err)
		assert.Contains(t, string(known), "[127.0.0.1]:"+strconv.Itoa(s.Port)+" ssh-ed25519 ")
		for _, key := range []string{s.KeyPath(), filepath.Join(s.Dir, "host_ed25519")} {
			fi, err := os.Stat(key)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), key)
		}
	})
}

func testRepo(t *testing.T) Repo {
	t.Helper()
	wd, err := os.Getwd()
	require.NoError(t, err)
	repo, err := FindRepo(wd)
	require.NoError(t, err)
	return repo
}

func TestPostgresAsRootNeedsADirectoryNobodyReaches(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("only root hands the cluster to another user")
	}
	private := t.TempDir()
	require.NoError(t, os.Chmod(private, 0o700))
	dir := filepath.Join(private, "pg")
	require.NoError(t, os.Mkdir(dir, 0o700))
	err := NewPostgres("").Start(context.Background(), dir)
	require.ErrorContains(t, err, "must be reachable by \"nobody\"")
}

// Chromium is found (or installed as root) and starts headless.
func TestChromiumIsFoundAndRuns(t *testing.T) {
	t.Parallel()
	c := NewChromium()
	err := c.Start(t.Context(), "")
	if errors.Is(err, ErrNotInstalled) {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); !ci {
			t.Skip(err)
		}
	}
	require.NoError(t, err)
	require.True(t, c.Running())
	assert.Equal(t, c.Path, c.Env()[EnvChromium])
	out, err := exec.CommandContext(t.Context(), c.Path, "--headless", "--no-sandbox", "--disable-gpu",
		"--dump-dom", "data:text/html,<p>dmfpipe</p>").Output()
	require.NoError(t, err)
	assert.Contains(t, string(out), "<p>dmfpipe</p>")
}
