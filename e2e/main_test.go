package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

// pipelineBin is the `pipeline` binary TestMain built.
var pipelineBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// The tests mostly wait for cron ticks and child processes: run them all at once
	// unless -parallel says otherwise.
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		if err := flag.Set("test.parallel", "8"); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: setting -test.parallel:", err)
			return 1
		}
	}
	dir, err := os.MkdirTemp("", "dmfpipe-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	pipelineBin = filepath.Join(dir, "pipeline")
	build := exec.Command("go", "build", "-o", pipelineBin, "github.com/dmfpipe/dmfpipe/cmd/pipeline")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the pipeline binary:", err)
		return 1
	}
	return m.Run()
}

// proc is a running `pipeline` process whose output goes to files.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr string // paths of the output files
	done           chan struct{}
	err            error // the exit error, set when done is closed
}

// logTail is how much of each output file a failing test prints.
const logTail = 8 << 10

// start runs the pipeline binary with args. The process is stopped when the test ends
// (SIGTERM, then SIGKILL after a few seconds); if the test failed, the tails of its
// stdout and stderr are printed.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return startEnv(t, name, nil, args...)
}

// startEnv is start with env ("KEY=value") added to the process's environment.
func startEnv(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	dir := t.TempDir()
	p := &proc{
		name:   name,
		stdout: filepath.Join(dir, name+".stdout"),
		stderr: filepath.Join(dir, name+".stderr"),
		done:   make(chan struct{}),
	}
	outF, err := os.Create(p.stdout)
	require.NoError(t, err)
	errF, err := os.Create(p.stderr)
	require.NoError(t, err)
	p.cmd = exec.Command(pipelineBin, args...)
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout, p.cmd.Stderr = outF, errF
	p.cmd.SysProcAttr = sysProcAttr()
	require.NoError(t, p.cmd.Start(), "starting %s", name)
	go func() {
		p.err = p.cmd.Wait()
		outF.Close()
		errF.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- %s (%s) stdout:\n%s", name, strings.Join(args, " "), tail(p.stdout))
			t.Logf("--- %s stderr:\n%s", name, tail(p.stderr))
		}
	})
	return p
}

// stop ends the process: SIGTERM, and SIGKILL if it has not exited 5 s later.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill ends the process at once, as a crash would.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// waitExit waits for the process to exit and fails the test unless it exited with 0.
// waitWhile waits, while p runs, until cond holds; p ending first fails the test at once
// (what it was waited for cannot come any more).
func (p *proc) waitWhile(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case <-p.done:
			t.Fatalf("%s ended (%v) before the condition was met", p.name, p.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *proc) waitExit(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.done:
		require.NoError(t, p.err, "%s failed; stderr:\n%s", p.name, tail(p.stderr))
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s", p.name, timeout)
	}
}

// waitOutput waits until the process's stdout matches re and returns the submatches.
func (p *proc) waitOutput(t *testing.T, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if out, err := os.ReadFile(p.stdout); err == nil {
			if m := re.FindStringSubmatch(string(out)); m != nil {
				return m
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before printing %s", p.name, p.err, re)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %s within %s", p.name, re, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	if len(b) > logTail {
		b = b[len(b)-logTail:]
	}
	return string(b)
}

// emulatorProc is a `pipeline emulator` process.
type emulatorProc struct {
	*proc
	url string
}

var emulatorBase = regexp.MustCompile(`base URL\s+(http://\S+)`)

// startEmulator runs the emulator on a free loopback port with the extra flags.
func startEmulator(t *testing.T, flags ...string) *emulatorProc {
	t.Helper()
	p := start(t, "emulator", append([]string{"emulator", "--addr", "127.0.0.1:0"}, flags...)...)
	return &emulatorProc{proc: p, url: p.waitOutput(t, emulatorBase, 30*time.Second)[1]}
}

// stats returns the emulator's counters.
func (e *emulatorProc) stats(t *testing.T) emulator.Stats {
	t.Helper()
	var s emulator.Stats
	getJSON(t, e.url+"/_emulator/stats", &s)
	return s
}

// accounts returns the customer accounts of the emulator's Customers V3 rows in USMF.
func (e *emulatorProc) accounts(t *testing.T) []string {
	t.Helper()
	var rows []struct {
		Account string `json:"CUSTOMERACCOUNT"`
	}
	getJSON(t, e.url+"/_emulator/rows?"+url.Values{"entity": {entity}, "legal_entity": {legalEnt}}.Encode(), &rows)
	accounts := make([]string, len(rows))
	for i, r := range rows {
		accounts[i] = r.Account
	}
	return accounts
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s", u)
	require.NoError(t, json.NewDecoder(bufio.NewReader(resp.Body)).Decode(v), "GET %s", u)
}

// The target of every test project.
const (
	entity   = "Customers V3"
	legalEnt = "USMF"
)

// configOpts are what differ between the tests' configurations.
type configOpts struct {
	dbURL       string
	emulatorURL string
	sftp        testsvc.SFTPServer
	project     string
	chunkRows   int
	lanes       int
	// notifyTo, when set, sends an email on every outcome to this address through
	// Mailpit.
	notifyTo string
}

// writeConfig writes a configuration with one scheduled (`* * * * *`) import project
// reading ROOT/in on the SFTP server, archiving to ROOT/archive, and returns its path.
func writeConfig(t *testing.T, o configOpts) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "database: { url: %q }\nconsole: { addr: \"127.0.0.1:0\" }\nenvironments:\n%sconnections:\n%s",
		o.dbURL, testsvc.EmulatorEnvironment("emu", o.emulatorURL, "{ initial: 250ms, max: 1s, deadline: 10m }"), o.sftp.Connection("drop"))
	if o.notifyTo != "" {
		smtpAddr, _ := testsvc.Mailpit(t)
		smtpHost, smtpPort, err := net.SplitHostPort(smtpAddr)
		require.NoError(t, err)
		fmt.Fprintf(&b, "smtp: { host: %s, port: %s, tls: none, from: dmfpipe-e2e@example.test }\n", smtpHost, smtpPort)
	}
	fmt.Fprintf(&b, `projects:
  - name: %[1]s
    kind: import
    environment: emu
    schedule: "* * * * *"
    source: { connection: drop, path: %[2]s/in, pattern: "*.csv", min_age: 1s, archive: %[2]s/archive, errors: %[2]s/failed }
    format: { type: csv, delimiter: ",", encoding: utf-8 }
    target: { entity: %[3]s, legal_entity: %[4]s, definition_group: E2E-CUST, chunk_rows: %[5]d, lanes: %[6]d }
    mapping:
      CUSTOMERACCOUNT:   { from: Account, transforms: [trim, upper] }
      ORGANIZATIONNAME:  { from: Name }
      CUSTOMERGROUPID:   { from: Group }
      SALESCURRENCYCODE: { const: EUR }
      PARTYTYPE:         { const: Organization }
    validate:
      - { field: CUSTOMERACCOUNT, required: true, max_length: 20, unique: true }
      - { field: CUSTOMERGROUPID, required: true }
`, o.project, o.sftp.Root, entity, legalEnt, o.chunkRows, o.lanes)
	if o.notifyTo != "" {
		fmt.Fprintf(&b, "    notify: { email: [%s], on: [success, partial, failure] }\n", o.notifyTo)
	}
	path := filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	return path
}

// migrate runs `pipeline migrate up` to completion.
func migrate(t *testing.T, cfg string) {
	t.Helper()
	start(t, "migrate", "migrate", "up", "-c", cfg).waitExit(t, 60*time.Second)
}

var serving = regexp.MustCompile(`health and metrics on (http://\S+)`)

// startServe runs `pipeline serve` and waits until it reports ready.
func startServe(t *testing.T, name, cfg string) *proc {
	t.Helper()
	p := start(t, name, "serve", "-c", cfg)
	base := p.waitOutput(t, serving, 60*time.Second)[1]
	resp, err := http.Get(base + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s /readyz", name)
	return p
}

// customersCSV writes n customers (accounts prefix000001...) to dir/name, complete
// before it appears under its name.
func customersCSV(t *testing.T, dir, name, prefix string, n int) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	tmp := filepath.Join(dir, "."+name+".part")
	f, err := os.Create(tmp)
	require.NoError(t, err)
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "Account,Name,Group")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(w, "%s%07d,Customer %d,%s\n", prefix, i, i, [...]string{"10", "20", "30"}[i%3])
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())
	require.NoError(t, os.Rename(tmp, filepath.Join(dir, name)))
}

// openDB connects to the test's database.
func openDB(t *testing.T, dbURL string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// jobRow is a row of the jobs table.
type jobRow struct {
	ID           int64
	Trigger      string
	ScheduledFor *time.Time
	Status       string
	RowsRead     int64
	RowsImported int64
	Chunks       int
	Error        *string
	// Duration is from the job's start to its end (zero while it runs).
	Duration time.Duration
}

func jobs(t *testing.T, db *pgxpool.Pool, project string) []jobRow {
	t.Helper()
	rows, err := db.Query(t.Context(), `SELECT id, trigger, scheduled_for, status, rows_read, rows_imported,
		chunks_total, error, COALESCE(EXTRACT(EPOCH FROM finished_at - started_at), 0) FROM jobs WHERE project = $1 ORDER BY id`, project)
	require.NoError(t, err)
	defer rows.Close()
	var out []jobRow
	for rows.Next() {
		var (
			j    jobRow
			secs float64
		)
		require.NoError(t, rows.Scan(&j.ID, &j.Trigger, &j.ScheduledFor, &j.Status, &j.RowsRead, &j.RowsImported,
			&j.Chunks, &j.Error, &secs))
		j.Duration = time.Duration(secs * float64(time.Second))
		out = append(out, j)
	}
	require.NoError(t, rows.Err())
	return out
}

var finished = map[string]bool{"succeeded": true, "partially_succeeded": true, "failed": true, "canceled": true, "skipped": true}

// waitJobs waits until project has n jobs and all have ended, and returns them.
func waitJobs(t *testing.T, db *pgxpool.Pool, project string, n int, timeout time.Duration) []jobRow {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		js := jobs(t, db, project)
		done := len(js) >= n
		for _, j := range js {
			done = done && finished[j.Status]
		}
		if done {
			return js
		}
		if time.Now().After(deadline) {
			t.Fatalf("project %s: want %d finished jobs within %s, have %+v", project, n, timeout, js)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// mailpitMessage is a message of Mailpit's search API.
type mailpitMessage struct {
	Subject string
	To      []struct{ Address string }
}

// waitMail waits for the messages sent to addr and returns them.
func waitMail(t *testing.T, addr string, timeout time.Duration) []mailpitMessage {
	t.Helper()
	_, api := testsvc.Mailpit(t)
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	for {
		var res struct{ Messages []mailpitMessage }
		getJSON(t, api+"/api/v1/search?"+url.Values{"query": {"to:" + addr}}.Encode(), &res)
		if len(res.Messages) > 0 {
			return res.Messages
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no mail to %s within %s", addr, timeout)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// listDir returns the names in dir, without hidden files.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names
}
