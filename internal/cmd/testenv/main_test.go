package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/devstack"
)

func TestEnvFileQuotesForTheShell(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"B_VAR": `it's "quoted" $HOME ; rm -rf / \n`,
		"A_VAR": "plain",
	}
	file := filepath.Join(t.TempDir(), "env")
	require.NoError(t, os.WriteFile(file, envFile(vars), 0o644))
	assert.True(t, strings.HasPrefix(string(envFile(vars)), "export A_VAR='plain'\n"), "sorted")

	out, err := exec.Command("sh", "-c", `. "$1" && printf '%s|%s' "$A_VAR" "$B_VAR"`, "sh", file).Output()
	require.NoError(t, err)
	assert.Equal(t, vars["A_VAR"]+"|"+vars["B_VAR"], string(out))
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	only, cmd, err := parseFlags("run", []string{"--only", "postgres,sshd", "--", "go", "test", "--only"}, true)
	require.NoError(t, err)
	assert.Equal(t, []string{"postgres", "sshd"}, only)
	assert.Equal(t, []string{"go", "test", "--only"}, cmd)

	only, _, err = parseFlags("up", nil, false)
	require.NoError(t, err)
	assert.Equal(t, serviceNames, only)

	_, _, err = parseFlags("up", []string{"--only", "redis"}, false)
	require.ErrorContains(t, err, `unknown service "redis"`)
	_, _, err = parseFlags("run", []string{"--only", "postgres"}, true)
	require.ErrorContains(t, err, "needs a command")
	_, _, err = parseFlags("up", []string{"extra"}, false)
	require.Error(t, err)
}

// fakeRepo is a directory that FindRepo takes for a checkout, so that the test's state
// stays apart from the real .testenv.
func fakeRepo(t *testing.T) devstack.Repo {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "go.mod"), []byte("module github.com/dmfpipe/dmfpipe\n"), 0o644))
	repo, err := devstack.FindRepo(root)
	require.NoError(t, err)
	return repo
}

// printEnv is a command that writes PIPELINE_TEST_DATABASE_URL to out and exits with 3.
func printEnv(out string) []string {
	return []string{"sh", "-c", `printf '%s' "$` + devstack.EnvDatabaseURL + `" > "$1"; exit 3`, "sh", out}
}

func TestRunStartsUsesAndStopsWhatItStarted(t *testing.T) {
	t.Parallel()
	skipIfNoPostgres(t)
	repo := fakeRepo(t)
	te := &testenv{repo: repo}
	out := filepath.Join(t.TempDir(), "out")

	code := te.runCmd([]string{"postgres"}, printEnv(out))
	assert.Equal(t, 3, code, "the command's exit code")
	url, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(url), "postgres://postgres@127.0.0.1:"), string(url))

	st, err := loadState(repo)
	require.NoError(t, err)
	assert.Empty(t, st.Services, "stopped after the run")
	assert.Empty(t, st.Runs)
	assert.NoFileExists(t, statePath(repo))
}

func TestRunReusesWhatUpStarted(t *testing.T) {
	t.Parallel()
	skipIfNoPostgres(t)
	repo := fakeRepo(t)
	te := &testenv{repo: repo}
	require.NoError(t, te.upCmd(t.Context(), []string{"postgres"}))
	t.Cleanup(func() { _ = te.downCmd() })
	st, err := loadState(repo)
	require.NoError(t, err)
	require.Contains(t, st.Services, "postgres")
	pg := st.Services["postgres"]
	env, err := os.ReadFile(envPath(repo))
	require.NoError(t, err)
	assert.Contains(t, string(env), "export "+devstack.EnvDatabaseURL+"='"+pg.Service.Env()[devstack.EnvDatabaseURL]+"'\n")

	out := filepath.Join(t.TempDir(), "out")
	assert.Equal(t, 3, te.runCmd([]string{"postgres"}, printEnv(out)))
	url, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, pg.Service.Env()[devstack.EnvDatabaseURL], string(url), "the running one is reused")
	assert.True(t, pg.Service.Running(), "left running after the run")

	require.NoError(t, te.downCmd())
	assert.False(t, pg.Service.Running())
	assert.NoDirExists(t, pg.Dir)
	assert.NoFileExists(t, envPath(repo))
	assert.NoFileExists(t, statePath(repo))
}

func TestDatabaseURLFromTheEnvironmentReplacesPostgres(t *testing.T) {
	t.Parallel()
	repo := fakeRepo(t)
	const given = "postgres://someone@127.0.0.1:1/elsewhere?sslmode=disable"
	te := &testenv{repo: repo, databaseURL: given}
	out := filepath.Join(t.TempDir(), "out")
	assert.Equal(t, 3, te.runCmd([]string{"postgres"}, printEnv(out)))
	url, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, given, string(url))
	assert.NoFileExists(t, statePath(repo), "nothing was started")
}

func skipIfNoPostgres(t *testing.T) {
	t.Helper()
	if _, err := devstack.FindPostgresBin(); err != nil && !isCI(os.Getenv("CI")) {
		t.Skip(err)
	}
}
