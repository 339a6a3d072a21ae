package exports_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/dmfpipe/dmfpipe/app"
	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/dmf/emulator"
	"github.com/dmfpipe/dmfpipe/exports"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/worker"
)

// bundle is one worker over its own database and emulator, with the three kinds of
// destination: a local folder, an SFTP server (OpenSSH, on this machine) and an Azurite
// container.
type bundle struct {
	t     testing.TB
	w     *worker.Worker
	em    *emulator.Emulator
	pool  *pgxpool.Pool
	foURL string
	cfg   *config.Config
	// local is the local connection's root; sftp the SFTP server's test folder.
	local string
	sftp  testsvc.SFTPServer
	// blob is the Azurite container of the blob connection.
	blob *container.Client
}

type opts struct {
	// projects are the YAML items of the config's projects; SFTPROOT stands for the SFTP
	// server's test folder.
	projects string
	emulator func(*emulator.Config)
	dmf      func(*dmf.Options)
	// sftp and blob add those connections (they need the services); smtp sends mail
	// to Mailpit.
	sftp, blob, smtp bool
	// poll is the environment's poll schedule.
	poll string
}

func setup(t testing.TB, o opts) *bundle {
	t.Helper()
	pool, _ := testsvc.MigratedDatabase(t)
	ec := emulator.Config{RandSeed: 11}
	if o.emulator != nil {
		o.emulator(&ec)
	}
	em := emulator.New(ec)
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	t.Cleanup(em.Close)
	b := &bundle{t: t, em: em, pool: pool, foURL: srv.URL, local: t.TempDir()}
	poll := o.poll
	if poll == "" {
		poll = "{ initial: 30ms, max: 100ms, deadline: 1m }"
	}
	yaml := "database: { url: \"postgres://unused\" }\nenvironments:\n" + testsvc.EmulatorEnvironment("emu", srv.URL, poll) +
		"connections:\n  out: { type: local, root: " + b.local + " }\n"
	if o.sftp {
		b.sftp = testsvc.SFTP(t)
		yaml += b.sftp.Connection("partner")
	}
	if o.blob {
		cs := testsvc.Azurite(t)
		name := testsvc.Name(t)
		c, err := container.NewClientFromConnectionString(cs, name, nil)
		require.NoError(t, err)
		_, err = c.Create(context.Background(), nil)
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = c.Delete(context.Background(), nil) })
		b.blob = c
		yaml += fmt.Sprintf("  landing: { type: azblob, connection_string: %q, container: %s }\n", cs, name)
	}
	if o.smtp {
		addr, _ := testsvc.Mailpit(t)
		host, port, err := net.SplitHostPort(addr)
		require.NoError(t, err)
		yaml += fmt.Sprintf("smtp: { host: %s, port: %s, tls: none, from: dmfpipe-exports@example.test }\n", host, port)
	}
	// SFTPROOT in a project stands for the SFTP server's test folder (the connection's
	// root is the server's /).
	yaml += "projects:\n" + strings.ReplaceAll(o.projects, "SFTPROOT", strings.TrimPrefix(b.sftp.Root, "/"))
	cfg, err := config.Load(testsvc.WriteConfig(t, yaml))
	require.NoError(t, err)
	b.cfg = cfg
	b.w = b.startWorker(t, o.dmf, "")
	return b
}

// startWorker starts a worker on the bundle's database, stopped when the test ends.
func (b *bundle) startWorker(t testing.TB, tune func(*dmf.Options), id string) *worker.Worker {
	t.Helper()
	log := testsvc.Log(t)
	a := app.New(b.cfg, app.Options{Logger: log, DMFOptions: testsvc.QuickDMF(tune)})
	require.Empty(t, a.CompileAll())
	w, err := worker.New(worker.Deps{Pool: b.pool, Parts: a, Logger: log, ID: id, Tune: testsvc.QuickRiver})
	require.NoError(t, err)
	testsvc.Serve(t, w)
	return w
}

// run starts an export job of project and waits for it to end.
func (b *bundle) run(t testing.TB, project string) exports.Summary {
	t.Helper()
	id, err := b.w.Exports().Start(t.Context(), project, "run_now", time.Time{})
	require.NoError(t, err)
	return b.wait(t, id)
}

func (b *bundle) wait(t testing.TB, id int64) exports.Summary {
	t.Helper()
	// A guard against a hang, not a measure of speed: a loaded machine (the whole suite
	// at once on 2 cores) has taken 80 s to write a 100k-row workbook to Azurite.
	deadline := time.Now().Add(4 * time.Minute)
	for {
		s, err := b.w.Exports().Summary(t.Context(), id)
		require.NoError(t, err)
		if s.Done() {
			return s
		}
		if time.Now().After(deadline) {
			b.logJob(t, id)
			t.Fatalf("export job %d did not end: %+v", id, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logJob logs a job's timeline.
func (b *bundle) logJob(t testing.TB, id int64) {
	events, err := jobhistory.NewStore(b.pool).Events(context.Background(), id)
	if err != nil {
		t.Logf("events: %v", err)
		return
	}
	for _, e := range events {
		t.Logf("%s %-16s %-5s %s", e.At.Format("15:04:05.000"), e.Stage, e.Level, e.Message)
	}
}

// events returns the messages of a job's timeline.
func (b *bundle) events(t testing.TB, id int64) []string {
	t.Helper()
	events, err := jobhistory.NewStore(b.pool).Events(t.Context(), id)
	require.NoError(t, err)
	var out []string
	for _, e := range events {
		out = append(out, e.Message)
	}
	return out
}

// seedCustomers puts n customers of legal entity USMF into the emulator: accounts
// prefix000001..., names with the characters that break writers every 7th row.
func seedCustomers(em *emulator.Emulator, prefix string, n int) {
	rows := make([]map[string]string, n)
	for i := range rows {
		name := fmt.Sprintf("Customer %d", i+1)
		switch i % 7 {
		case 3:
			name = fmt.Sprintf(`Contoso, "North" %d`, i+1)
		case 5:
			name = fmt.Sprintf("Ærø 日本 %d", i+1)
		}
		rows[i] = map[string]string{
			"CUSTOMERACCOUNT": fmt.Sprintf("%s%06d", prefix, i+1), "ORGANIZATIONNAME": name,
			"CUSTOMERGROUPID": []string{"10", "20", "30"}[i%3], "SALESCURRENCYCODE": "EUR", "PARTYTYPE": "Organization",
			"ADDRESSCITY": "Amsterdam",
		}
	}
	em.Seed("Customers V3", "USMF", rows)
}

// table is rows of a file as field → value maps with the empty values left out, as the
// emulator's Rows gives them, sorted by key.
type table []map[string]string

func rowsOf(header []string, recs [][]string) table {
	out := make(table, 0, len(recs))
	for _, r := range recs {
		m := map[string]string{}
		for i, v := range r {
			if v != "" && i < len(header) {
				m[header[i]] = v
			}
		}
		out = append(out, m)
	}
	return out.sorted()
}

func (t table) sorted() table {
	slices.SortFunc(t, func(a, b map[string]string) int { return strings.Compare(a["CUSTOMERACCOUNT"], b["CUSTOMERACCOUNT"]) })
	return t
}

func readCSVTable(t testing.TB, data []byte) table {
	t.Helper()
	cr := csv.NewReader(bytes.NewReader(data))
	recs, err := cr.ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, recs)
	return rowsOf(recs[0], recs[1:])
}

func readNDJSONTable(t testing.TB, data []byte) table {
	t.Helper()
	var out table
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]string
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		for k, v := range m {
			if v == "" {
				delete(m, k)
			}
		}
		out = append(out, m)
	}
	require.NoError(t, sc.Err())
	return out.sorted()
}

func readXLSXTable(t testing.TB, data []byte, sheet string) table {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	require.NoError(t, err)
	defer f.Close()
	recs, err := f.GetRows(sheet)
	require.NoError(t, err)
	require.NotEmpty(t, recs)
	return rowsOf(recs[0], recs[1:])
}

// blobData reads a blob of the bundle's container.
func (b *bundle) blobData(t testing.TB, name string) []byte {
	t.Helper()
	resp, err := b.blob.NewBlobClient(name).DownloadStream(t.Context(), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return data
}

// file returns the one file of kind of a job, and its connection-relative path.
func file(t testing.TB, s exports.Summary, kind string) exports.FileSummary {
	t.Helper()
	var found []exports.FileSummary
	for _, f := range s.Files {
		if f.Kind == kind {
			found = append(found, f)
		}
	}
	require.Len(t, found, 1, "files: %+v", s.Files)
	return found[0]
}

// relPath is a summary path without its connection.
func relPath(p string) string {
	_, rest, _ := strings.Cut(p, ":")
	return rest
}

func readLocal(t testing.TB, root, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	require.NoError(t, err)
	return data
}

var _ = assert.Equal
