package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

// sendJSON sends a JSON body to the emulator's admin API and returns the answer's body.
func sendJSON(t *testing.T, method, u string, v any) []byte {
	t.Helper()
	body, err := json.Marshal(v)
	require.NoError(t, err)
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Less(t, resp.StatusCode, 300, "%s %s: %s", method, u, out)
	return out
}

// seedCustomers seeds n customers (accounts prefix000001...) into the emulator's USMF.
func (e *emulatorProc) seedCustomers(t *testing.T, prefix string, n int) {
	t.Helper()
	rows := make([]map[string]string, n)
	for i := range rows {
		rows[i] = map[string]string{"CUSTOMERACCOUNT": fmt.Sprintf("%s%06d", prefix, i+1), "ORGANIZATIONNAME": fmt.Sprintf("Customer %d, Ærø", i+1),
			"CUSTOMERGROUPID": []string{"10", "20", "30"}[i%3], "SALESCURRENCYCODE": "EUR", "ADDRESSCITY": "Amsterdam"}
	}
	sendJSON(t, http.MethodPost, e.url+"/_emulator/rows?"+url.Values{"entity": {entity}, "legal_entity": {legalEnt}}.Encode(), rows)
}

// exportTestConfig writes a configuration of the emulator's environment, the local
// connection "out" on a folder of the test's, the SFTP and Azurite connections when
// given, and the projects.
func exportTestConfig(t *testing.T, dbURL, emURL string, sftp *testsvc.SFTPServer, blob string, projects string) (cfg, out string) {
	t.Helper()
	out = t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "database: { url: %q }\nenvironments:\n%sconnections:\n  out: { type: local, root: %s }\n",
		dbURL, testsvc.EmulatorEnvironment("emu", emURL, "{ initial: 100ms, max: 500ms, deadline: 10m }"), out)
	if sftp != nil {
		b.WriteString(sftp.Connection("partner"))
	}
	if blob != "" {
		fmt.Fprintf(&b, "  landing: { type: azblob, connection_string: %q, container: %s }\n", testsvc.Azurite(t), blob)
	}
	b.WriteString("projects:\n" + projects)
	cfg = filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(b.String()), 0o600))
	return cfg, out
}

// exportSummary is what `pipeline export --json` prints.
type exportSummary struct {
	Job      int64  `json:"job"`
	Status   string `json:"status"`
	Rows     int64  `json:"rows"`
	Error    string `json:"error"`
	Files    []struct{ Kind, Path, SHA256 string }
	Messages []struct {
		CorrelationID string `json:"correlation_id"`
		Status        string
		Dequeues      int
		Files         int
		Rows          int64
	}
}

// runExport runs `pipeline export --json` to its end and returns its summary.
func runExport(t *testing.T, name, cfg, project string) exportSummary {
	t.Helper()
	p := start(t, name, "export", "-c", cfg, project, "--json")
	p.waitExit(t, 3*time.Minute)
	out, err := os.ReadFile(p.stdout)
	require.NoError(t, err)
	var s exportSummary
	require.NoError(t, json.Unmarshal(lastJSON(out), &s), "export printed %s", out)
	return s
}

const feedActivity = "9b1f7c2e-3d4a-4e5f-8a6b-7c8d9e0f1a2b"

// The acceptance test: a recurring export killed (SIGKILL) after a message's files
// are written and before its ack, started again, delivers each message's file exactly
// once: the message is acknowledged from its stored dequeue body, never downloaded or
// written again.
func TestRecurringExportKilledBetweenWriteAndAck(t *testing.T) {
	t.Parallel()
	dbURL := testsvc.Database(t)
	em := startEmulator(t, "--export-project", "FEED="+entity, "--recurring-export", feedActivity+"=FEED",
		"--visibility-timeout", "2s", "--fault-ack-failures", "1000000")
	em.seedCustomers(t, "K", 2000)
	var queued struct {
		CorrelationIDs []string `json:"correlation_ids"`
	}
	require.NoError(t, json.Unmarshal(sendJSON(t, http.MethodPost, em.url+"/_emulator/recurring-jobs/"+feedActivity+"/messages?count=3", nil), &queued))
	require.Len(t, queued.CorrelationIDs, 3)
	cfg, out := exportTestConfig(t, dbURL, em.url, nil, "", fmt.Sprintf(`  - name: feed
    kind: export
    environment: emu
    mode: recurring
    activity: %s
    destination: { connection: out, path: "feed/{execution}/customers.csv" }
`, feedActivity))
	migrate(t, cfg)
	db := openDB(t, dbURL)

	first := start(t, "export-1", "export", "-c", cfg, "feed")
	// The first message's files are durable (its manifest comes last) and its ack fails
	// over and over: kill it there.
	first.waitWhile(t, 60*time.Second, func() bool {
		var status string
		err := db.QueryRow(t.Context(), `SELECT status FROM recurring_messages WHERE correlation_id = $1`, queued.CorrelationIDs[0]).Scan(&status)
		return err == nil && status == "written"
	})
	first.kill()
	assert.FileExists(t, filepath.Join(out, "feed", queued.CorrelationIDs[0], "customers.csv"))
	assert.Zero(t, em.stats(t).Acked, "killed before any ack got through")

	sendJSON(t, http.MethodPut, em.url+"/_emulator/faults", map[string]any{})
	time.Sleep(2500 * time.Millisecond) // past the visibility timeout: F&O would hand it out again
	s := runExport(t, "export-2", cfg, "feed")
	require.Equal(t, "succeeded", s.Status, s.Error)
	require.Len(t, s.Messages, 3)
	for i, m := range s.Messages {
		assert.Equal(t, queued.CorrelationIDs[i], m.CorrelationID)
		assert.Equal(t, "acked", m.Status)
		assert.Equal(t, 1, m.Files)
		assert.EqualValues(t, 2000, m.Rows)
	}
	var dataFiles int
	require.NoError(t, db.QueryRow(t.Context(), `SELECT count(*) FROM export_files WHERE kind = 'data'`).Scan(&dataFiles))
	assert.Equal(t, 3, dataFiles, "one data file a message, across both runs")
	for _, corr := range queued.CorrelationIDs {
		assert.Equal(t, []string{"customers.csv", "feed_" + corr + ".manifest.json"}, listDir(t, filepath.Join(out, "feed", corr)))
	}
	st := em.stats(t)
	assert.EqualValues(t, 3, st.Acked)
	assert.EqualValues(t, 3, st.Requests["connector.download"], "no message downloaded twice")
	assert.Empty(t, st.ProtocolViolations)
	var jobs int
	require.NoError(t, db.QueryRow(t.Context(), `SELECT count(*) FROM jobs WHERE project = 'feed'`).Scan(&jobs))
	assert.Equal(t, 1, jobs, "the second run resumed the job")
}

// The acceptance test: a `pipeline export` killed (SIGKILL) while it writes a file
// leaves nothing under the file's final name, on a local folder, an SFTP server and Blob
// storage (where the blocks staged so far stay uncommitted); run again, it finishes the
// job, and its file is byte for byte the one a clean run writes.
func TestExportKilledMidWriteLeavesNoFileAndReruns(t *testing.T) {
	t.Parallel()
	dbURL := testsvc.Database(t)
	em := startEmulator(t, "--export-project", "BIG="+entity)
	em.seedCustomers(t, "M", 200_000)
	srv := testsvc.SFTP(t)
	cs := testsvc.Azurite(t)
	containerName := testsvc.Name(t)
	blob, err := container.NewClientFromConnectionString(cs, containerName, nil)
	require.NoError(t, err)
	_, err = blob.Create(context.Background(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = blob.Delete(context.Background(), nil) })
	project := func(name, conn, path string) string {
		return fmt.Sprintf(`  - name: %s
    kind: export
    environment: emu
    definition_group: BIG
    legal_entity: USMF
    destination: { connection: %s, path: %q, manifest: "%s/{execution}.json" }
`, name, conn, path, filepath.Dir(path))
	}
	sftpDir := strings.TrimPrefix(srv.Root, "/") + "/mid"
	cfg, out := exportTestConfig(t, dbURL, em.url, &srv, containerName,
		project("mid-local", "out", "mid/{execution}/customers.csv")+
			project("mid-sftp", "partner", sftpDir+"/{execution}/customers.csv")+
			project("mid-blob", "landing", "mid/{execution}/customers.xlsx"))
	migrate(t, cfg)
	db := openDB(t, dbURL)

	for _, tc := range []struct {
		project string
		// writing reports whether a file is being written (under its temporary name
		// or, on Blob, as uncommitted blocks); final lists the data files under their
		// final names.
		writing func() bool
		final   func() []string
		read    func(path string) []byte
	}{
		{"mid-local", func() bool {
			return len(glob(t, filepath.Join(out, "mid", "*", ".customers.csv.*.dmfpipe-partial"))) > 0
		},
			func() []string { return glob(t, filepath.Join(out, "mid", "*", "customers.csv")) },
			func(p string) []byte { return readFile(t, filepath.Join(out, p)) }},
		{"mid-sftp", func() bool {
			return len(glob(t, filepath.Join(srv.Root, "mid", "*", ".customers.csv.*.dmfpipe-partial"))) > 0
		},
			func() []string { return glob(t, filepath.Join(srv.Root, "mid", "*", "customers.csv")) },
			func(p string) []byte { return readFile(t, "/"+p) }},
		{"mid-blob", func() bool { return len(blobNames(t, blob, true)) > len(blobNames(t, blob, false)) },
			func() []string { return filter(blobNames(t, blob, false), ".xlsx") },
			func(p string) []byte { return readBlob(t, blob, p) }},
	} {
		t.Run(tc.project, func(t *testing.T) {
			first := start(t, tc.project+"-1", "export", "-c", cfg, tc.project)
			// A guard against a hang, not a measure of speed: the whole suite at once on
			// 2 cores has taken minutes to reach the write of 200k rows.
			first.waitWhile(t, 5*time.Minute, tc.writing)
			first.kill()
			assert.Empty(t, tc.final(), "nothing under the final name after a kill mid-write")

			again := runExport(t, tc.project+"-2", cfg, tc.project)
			require.Equal(t, "succeeded", again.Status, again.Error)
			var jobs int
			require.NoError(t, db.QueryRow(t.Context(), `SELECT count(*) FROM jobs WHERE project = $1`, tc.project).Scan(&jobs))
			assert.Equal(t, 1, jobs, "the rerun resumed the killed job")
			assert.EqualValues(t, 200_000, again.Rows)
			require.Len(t, tc.final(), 1)
			clean := runExport(t, tc.project+"-3", cfg, tc.project)
			require.Equal(t, "succeeded", clean.Status, clean.Error)
			require.Len(t, tc.final(), 2)
			rerun, fresh := dataPath(t, again), dataPath(t, clean)
			assert.NotEqual(t, rerun, fresh)
			assert.True(t, bytes.Equal(tc.read(rerun), tc.read(fresh)), "the rerun's file is byte-identical to a clean run's")
			assert.Equal(t, sha(again), sha(clean))
		})
	}
}

func dataPath(t *testing.T, s exportSummary) string {
	t.Helper()
	for _, f := range s.Files {
		if f.Kind == "data" {
			_, p, _ := strings.Cut(f.Path, ":")
			return p
		}
	}
	t.Fatalf("no data file in %+v", s)
	return ""
}

func sha(s exportSummary) string {
	for _, f := range s.Files {
		if f.Kind == "data" {
			return f.SHA256
		}
	}
	return ""
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	require.NoError(t, err)
	return m
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// blobNames lists the container's blobs, with those that only have uncommitted blocks
// when uncommitted is set.
func blobNames(t *testing.T, c *container.Client, uncommitted bool) []string {
	t.Helper()
	var names []string
	pager := c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Include: container.ListBlobsInclude{UncommittedBlobs: uncommitted}})
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		require.NoError(t, err)
		for _, b := range page.Segment.BlobItems {
			names = append(names, *b.Name)
		}
	}
	return names
}

func filter(names []string, suffix string) []string {
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, suffix) {
			out = append(out, n)
		}
	}
	return out
}

func readBlob(t *testing.T, c *container.Client, name string) []byte {
	t.Helper()
	resp, err := c.NewBlobClient(name).DownloadStream(context.Background(), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}
