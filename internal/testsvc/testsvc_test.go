package testsvc_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/smtp"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/jackc/pgx/v5"
	"github.com/pkg/sftp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/dmfpipe/dmfpipe/internal/devstack"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

func TestDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var dbURL string
	t.Run("usable", func(t *testing.T) {
		dbURL = testsvc.Database(t)
		other := testsvc.Database(t)
		require.NotEqual(t, dbURL, other)

		conn, err := pgx.Connect(ctx, dbURL)
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, `CREATE TABLE item (id int PRIMARY KEY, name text NOT NULL)`)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, `INSERT INTO item VALUES (1, 'one'), (2, 'two')`)
		require.NoError(t, err)
		var (
			db    string
			count int
		)
		require.NoError(t, conn.QueryRow(ctx, `SELECT current_database(), count(*) FROM item`).Scan(&db, &count))
		u, err := url.Parse(dbURL)
		require.NoError(t, err)
		assert.Equal(t, strings.TrimPrefix(u.Path, "/"), db)
		assert.Equal(t, 2, count)
	})
	if dbURL == "" {
		t.Skip("no database")
	}

	// The subtest ended, so its database was dropped (its connection still open is no
	// obstacle: WITH (FORCE)).
	conn, err := pgx.Connect(ctx, os.Getenv(devstack.EnvDatabaseURL))
	require.NoError(t, err)
	defer conn.Close(ctx)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	var exists bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`,
		strings.TrimPrefix(u.Path, "/")).Scan(&exists))
	assert.False(t, exists, "database of the finished test still exists")
}

func TestAzurite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client, err := azblob.NewClientFromConnectionString(testsvc.Azurite(t), nil)
	require.NoError(t, err)
	container := testsvc.Name(t)
	_, err = client.CreateContainer(ctx, container, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = client.DeleteContainer(context.Background(), container, nil) })

	body := []byte("id,name\n1,one\n")
	_, err = client.UploadBuffer(ctx, container, "in/items.csv", body, nil)
	require.NoError(t, err)
	resp, err := client.DownloadStream(ctx, container, "in/items.csv", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, body, got)
}

func TestMailpit(t *testing.T) {
	t.Parallel()
	smtpAddr, apiURL := testsvc.Mailpit(t)
	to := testsvc.Name(t) + "@example.test"
	subject := "dmfpipe test " + testsvc.Name(t)
	msg := "From: pipeline@example.test\r\nTo: " + to + "\r\nSubject: " + subject + "\r\n\r\nJob finished.\r\n"
	// Any user and password is accepted; net/smtp sends PLAIN without TLS only to loopback.
	auth := smtp.PlainAuth("", "pipeline", "secret", "127.0.0.1")
	require.NoError(t, smtp.SendMail(smtpAddr, auth, "pipeline@example.test", []string{to}, []byte(msg)))

	// Mailpit stores the message just after the SMTP transaction ends: poll briefly.
	var found *mailpitMessage
	for deadline := time.Now().Add(10 * time.Second); found == nil && time.Now().Before(deadline); {
		found = findMessage(t, apiURL, subject)
		if found == nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	require.NotNil(t, found, "message not listed by %s/api/v1/messages", apiURL)
	require.Len(t, found.To, 1)
	assert.Equal(t, to, found.To[0].Address)
}

type mailpitMessage struct {
	Subject string
	To      []struct{ Address string }
}

func findMessage(t *testing.T, apiURL, subject string) *mailpitMessage {
	t.Helper()
	resp, err := http.Get(apiURL + "/api/v1/messages?limit=500")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var list struct{ Messages []mailpitMessage }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	for i := range list.Messages {
		if list.Messages[i].Subject == subject {
			return &list.Messages[i]
		}
	}
	return nil
}

func TestSFTP(t *testing.T) {
	t.Parallel()
	srv := testsvc.SFTP(t)
	keyPEM, err := os.ReadFile(srv.KeyPath)
	require.NoError(t, err)
	signer, err := ssh.ParsePrivateKey(keyPEM)
	require.NoError(t, err)
	hostKeys, err := knownhosts.New(srv.KnownHosts)
	require.NoError(t, err)
	config := &ssh.ClientConfig{
		User:            srv.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys,
		Timeout:         10 * time.Second,
	}

	t.Run("host key checked", func(t *testing.T) {
		// A known_hosts file with another key for the address must make the dial fail.
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		other, err := ssh.NewPublicKey(pub)
		require.NoError(t, err)
		wrong := filepath.Join(t.TempDir(), "known_hosts")
		require.NoError(t, os.WriteFile(wrong,
			[]byte(knownhosts.Line([]string{knownhosts.Normalize(srv.Addr)}, other)+"\n"), 0o644))
		wrongHostKeys, err := knownhosts.New(wrong)
		require.NoError(t, err)
		bad := *config
		bad.HostKeyCallback = wrongHostKeys
		_, err = ssh.Dial("tcp", srv.Addr, &bad)
		require.Error(t, err)
	})

	conn, err := ssh.Dial("tcp", srv.Addr, config)
	require.NoError(t, err)
	defer conn.Close()
	client, err := sftp.NewClient(conn)
	require.NoError(t, err)
	defer client.Close()

	remote := path.Join(srv.Root, "in", "items.csv")
	require.NoError(t, client.MkdirAll(path.Dir(remote)))
	f, err := client.Create(remote)
	require.NoError(t, err)
	_, err = f.Write([]byte("id,name\n1,one\n"))
	require.NoError(t, err)
	require.NoError(t, f.Close())

	r, err := client.Open(remote)
	require.NoError(t, err)
	defer r.Close()
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, "id,name\n1,one\n", string(got))
	entries, err := client.ReadDir(path.Dir(remote))
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "items.csv", entries[0].Name())
}

// fakeTB records what require does when a variable is missing. Like testing.T, Fatal and
// Skip end the goroutine.
type fakeTB struct {
	testing.TB
	failed, skipped string
}

func (f *fakeTB) Helper()        {}
func (f *fakeTB) Fatal(a ...any) { f.failed = fmt.Sprint(a...); runtime.Goexit() }
func (f *fakeTB) Skip(a ...any)  { f.skipped = fmt.Sprint(a...); runtime.Goexit() }

func TestMissingServiceFailsInCIAndSkipsOtherwise(t *testing.T) {
	for _, tc := range []struct {
		ci       string
		wantFail bool
	}{
		{ci: "true", wantFail: true},
		{ci: "1", wantFail: true},
		{ci: "", wantFail: false},
		{ci: "false", wantFail: false},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			t.Setenv(devstack.EnvSMTPAddr, "127.0.0.1:1")
			t.Setenv(devstack.EnvMailpitURL, "")
			f := &fakeTB{}
			done := make(chan struct{})
			go func() {
				defer close(done)
				testsvc.Mailpit(f)
				t.Error("Mailpit returned although a variable is unset")
			}()
			<-done
			msg := f.skipped
			if tc.wantFail {
				msg = f.failed
				assert.Empty(t, f.skipped)
			} else {
				assert.Empty(t, f.failed)
			}
			assert.Contains(t, msg, devstack.EnvMailpitURL)
			assert.NotContains(t, msg, devstack.EnvSMTPAddr, "only the unset variable is named")
			assert.Contains(t, msg, "make test")
		})
	}
}

func TestName(t *testing.T) {
	t.Parallel()
	t.Run("Sub Test/with_odd*chars AND a name long enough to be cut somewhere", func(t *testing.T) {
		a, b := testsvc.Name(t), testsvc.Name(t)
		assert.NotEqual(t, a, b)
		assert.Regexp(t, `^t[a-z0-9]+(-[a-z0-9]+)*$`, a, "valid as a blob container name: no double or trailing hyphen")
		assert.LessOrEqual(t, len(a), 48)
	})
}
