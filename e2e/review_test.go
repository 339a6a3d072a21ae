package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

// exitStatus waits for the process to exit and returns its exit status.
func (p *proc) exitStatus(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s", p.name, timeout)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(t, p.err, "%s", p.name)
	return 0
}

// cli runs the pipeline binary to its end and returns its stdout and exit status.
func cli(t *testing.T, name string, args ...string) (string, int) {
	t.Helper()
	p := start(t, name, args...)
	code := p.exitStatus(t, 120*time.Second)
	out, err := os.ReadFile(p.stdout)
	require.NoError(t, err)
	return string(out), code
}

// The CLI twins of the console's review loop against the emulator: a job that ended
// partially succeeded, rows fixed (one by hand, F&O's rejections in bulk), one set
// aside, the fixed rows resubmitted; the job ends succeeded and F&O holds every row it
// should, once.
func TestReviewFixAndResubmitFromTheCLI(t *testing.T) {
	t.Parallel()
	const project = "customers-review"
	srv := testsvc.SFTP(t)
	dbURL := testsvc.Database(t)
	em := startEmulator(t)
	cfg := writeConfig(t, configOpts{dbURL: dbURL, emulatorURL: em.url, sftp: srv, project: project, chunkRows: 100, lanes: 2})
	migrate(t, cfg)

	dir := filepath.Join(srv.Root, "in")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	f, err := os.Create(filepath.Join(dir, "customers_review.csv"))
	require.NoError(t, err)
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "Account,Name,Group")
	for i := 1; i <= 250; i++ {
		group := [...]string{"10", "20", "30"}[i%3]
		switch i {
		case 10:
			group = "" // invalid by our rules
		case 20, 130, 240, 50:
			group = "99" // not a customer group of F&O's
		}
		fmt.Fprintf(w, "R%07d,Customer %d,%s\n", i, i, group)
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())

	out, code := cli(t, "run", "run", "-c", cfg, project, "--json")
	require.Equal(t, 2, code, "partially succeeded:\n%s", out)
	var sum struct {
		Job    int64
		Status string
		Counts struct{ Invalid, Imported, Rejected int64 }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &sum), out)
	require.Equal(t, "partially_succeeded", sum.Status)
	assert.EqualValues(t, 1, sum.Counts.Invalid)
	assert.EqualValues(t, 4, sum.Counts.Rejected)
	assert.EqualValues(t, 245, sum.Counts.Imported)
	job := fmt.Sprint(sum.Job)

	out, code = cli(t, "edit-row", "staging", "edit", job, "-c", cfg, "--row", "10", "--set", "CUSTOMERGROUPID=20")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "1 row edited")
	assert.Contains(t, out, "1 fixed, 0 still invalid")

	out, code = cli(t, "reject", "staging", "reject", job, "-c", cfg, "--row", "50", "--reason", "the customer left")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "1 row set aside")

	// An imported row is not open: it is left alone, and the command says why.
	out, code = cli(t, "edit-imported", "staging", "edit", job, "-c", cfg, "--row", "1", "--set", "CUSTOMERGROUPID=20")
	assert.Equal(t, 1, code, out)

	out, code = cli(t, "edit-bulk", "staging", "edit", job, "-c", cfg, "--rule", "fo", "--set", "CUSTOMERGROUPID=30", "--json")
	require.Equal(t, 0, code, out)
	var edit struct {
		Entry struct {
			Actor, Action string
			Rows          int64
		}
		Outcomes map[string]int64
	}
	require.NoError(t, json.Unmarshal([]byte(out), &edit), out)
	assert.Equal(t, "edit", edit.Entry.Action)
	assert.EqualValues(t, 3, edit.Entry.Rows, "F&O's three other rejections")
	assert.Equal(t, map[string]int64{"fixed": 3}, edit.Outcomes)
	if u, err := user.Current(); err == nil {
		assert.Equal(t, u.Username, edit.Entry.Actor, "the CLI acts as the OS user")
	}

	out, code = cli(t, "resubmit", "staging", "resubmit", job, "-c", cfg, "--json")
	require.Equal(t, 0, code, "succeeded:\n%s", out)
	var after struct {
		Status string
		Chunks int
		Counts struct{ Imported, Skipped int64 }
	}
	require.NoError(t, json.Unmarshal([]byte(lastJSON([]byte(out))), &after), out)
	assert.Equal(t, "succeeded", after.Status)
	assert.EqualValues(t, 249, after.Counts.Imported)
	assert.EqualValues(t, 1, after.Counts.Skipped)
	assert.Equal(t, 4, after.Chunks, "three chunks, then one of the new attempt")

	accounts := em.accounts(t)
	assert.Len(t, accounts, 249)
	seen := map[string]bool{}
	for _, a := range accounts {
		assert.False(t, seen[a], "account %s twice", a)
		seen[a] = true
	}
	for _, a := range []string{"R0000010", "R0000020", "R0000130", "R0000240"} {
		assert.True(t, seen[a], "fixed row %s is in F&O", a)
	}
	assert.False(t, seen["R0000050"], "the row set aside is not")
	st := em.stats(t)
	assert.Zero(t, st.Updates, "no row reached F&O twice")
	assert.EqualValues(t, 249, st.Inserts)
	assert.Empty(t, st.ProtocolViolations)

	// The job's timeline says who did what; an ended job cannot be canceled, and has
	// nothing left to retry.
	out, code = cli(t, "show", "jobs", "show", job, "-c", cfg)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "attempt 2 by")
	assert.True(t, strings.Contains(out, "set aside by") && strings.Contains(out, "edited by"), out)
	_, code = cli(t, "cancel", "jobs", "cancel", job, "-c", cfg)
	assert.Equal(t, 1, code)
	_, code = cli(t, "retry", "jobs", "retry", job, "-c", cfg)
	assert.Equal(t, 1, code)
}
