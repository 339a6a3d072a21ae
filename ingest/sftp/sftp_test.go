package sftp_test

import (
	"context"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/ingest/pattern"
	"github.com/dmfpipe/dmfpipe/ingest/sftp"
	"github.com/dmfpipe/dmfpipe/ingest/sourcetest"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

// breakable is a directory Helper whose Break drops the source's connections.
type breakable struct {
	sourcetest.Helper
	brk func()
}

func (b breakable) Break() { b.brk() }

func newSource(t *testing.T, opts sftp.Options) *sftp.Source {
	t.Helper()
	src, err := sftp.New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, src.Close()) })
	return src
}

// inProcess returns a source on a new in-process server whose root is a temp folder.
func inProcess(t *testing.T) (*sftp.Source, *server, string) {
	srv := startServer(t)
	root := t.TempDir()
	src := newSource(t, sftp.Options{
		Addr: srv.addr, User: "tester", PrivateKey: config.NewSecret(srv.clientKeyPEM("")),
		KnownHosts: srv.knownHosts(srv.hostKeys[0].PublicKey()), Root: root,
	})
	return src, srv, root
}

func TestConformanceInProcess(t *testing.T) {
	t.Parallel()
	sourcetest.Run(t, func(t *testing.T) (ingest.Source, sourcetest.Helper) {
		src, srv, root := inProcess(t)
		return src, breakable{Helper: sourcetest.Dir(t, root), brk: srv.Break}
	})
}

func TestConformanceOpenSSH(t *testing.T) {
	t.Parallel()
	sourcetest.Run(t, func(t *testing.T) (ingest.Source, sourcetest.Helper) {
		srv := testsvc.SFTP(t)
		key, err := os.ReadFile(srv.KeyPath)
		require.NoError(t, err)
		conns := &sourcetest.Conns{}
		src := newSource(t, sftp.Options{
			Addr: srv.Addr, User: srv.User, PrivateKey: config.NewSecret(string(key)),
			KnownHosts: srv.KnownHosts, Root: srv.Root, Dial: conns.Dial,
		})
		return src, breakable{Helper: sourcetest.Dir(t, srv.Root), brk: conns.CloseAll}
	})
}

// OpenSource connects at once, with paths relative to the server's root.
func TestOpenSourceFromConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testsvc.SFTP(t)
	key, err := os.ReadFile(srv.KeyPath)
	require.NoError(t, err)
	sourcetest.Dir(t, srv.Root).Put("in/a.csv", strings.NewReader("a"))
	host, port, err := net.SplitHostPort(srv.Addr)
	require.NoError(t, err)
	portNo, err := strconv.Atoi(port)
	require.NoError(t, err)
	cn := &config.Connection{
		Name: "partner", Type: "sftp", Host: host, Port: portNo, User: srv.User,
		PrivateKey: config.NewSecret(string(key)), KnownHosts: srv.KnownHosts,
	}
	src, err := ingest.OpenSource(ctx, cn)
	require.NoError(t, err)
	defer src.Close()
	files, err := src.List(ctx, srv.Root+"/in", pattern.MustParse("*.csv"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	assert.Equal(t, strings.TrimPrefix(srv.Root, "/")+"/in/a.csv", files[0].Name)

	bad := *cn
	bad.User = "nobody-" + testsvc.Name(t)
	_, err = ingest.OpenSource(ctx, &bad)
	require.Error(t, err, "a refused login fails OpenSource")
	assert.ErrorContains(t, err, "connection partner")
}

func TestHostKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	other := newSigner(t, ed25519Key).PublicKey()

	t.Run("unknown host is refused", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t)
		src := newSource(t, sftp.Options{Addr: srv.addr, User: "u", Password: config.NewSecret(srv.password), KnownHosts: srv.knownHosts()})
		err := src.Connect(ctx)
		var hke *sftp.HostKeyError
		require.ErrorAs(t, err, &hke)
		assert.Empty(t, hke.Known)
		assert.Equal(t, ssh.FingerprintSHA256(srv.hostKeys[0].PublicKey()), hke.Fingerprint)
		assert.Contains(t, err.Error(), "ssh-keyscan -p")
	})
	t.Run("changed key is refused", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t)
		src := newSource(t, sftp.Options{Addr: srv.addr, User: "u", Password: config.NewSecret(srv.password), KnownHosts: srv.knownHosts(other)})
		err := src.Connect(ctx)
		var hke *sftp.HostKeyError
		require.ErrorAs(t, err, &hke)
		assert.Len(t, hke.Known, 1)
		assert.Contains(t, err.Error(), "does not match")
	})
	t.Run("insecure accepts any key", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t)
		src := newSource(t, sftp.Options{Addr: srv.addr, User: "u", Password: config.NewSecret(srv.password), InsecureIgnoreHostKey: true})
		require.NoError(t, src.Connect(ctx))
	})
	t.Run("no known_hosts needs insecure", func(t *testing.T) {
		t.Parallel()
		_, err := sftp.New(sftp.Options{Addr: "127.0.0.1:22", User: "u", Password: config.NewSecret("p")})
		assert.ErrorContains(t, err, "known_hosts")
	})

	// A server with several host keys of which known_hosts holds only one: the client is
	// pinned to that key's algorithms, so the handshake uses it.
	for _, tc := range []struct {
		name      string
		known     keyKind
		algorithm string
	}{
		{"only RSA known", rsaKey, ""},
		{"only ECDSA known", ecdsaKey, ""},
		{"only ed25519 known", ed25519Key, ""},
		{"RSA pinned by config", rsaKey, "ssh-rsa"},
		{"RSA SHA-256 pinned by config", rsaKey, "rsa-sha2-256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, ed25519Key, ecdsaKey, rsaKey)
			src := newSource(t, sftp.Options{
				Addr: srv.addr, User: "u", Password: config.NewSecret(srv.password),
				KnownHosts: srv.knownHosts(srv.hostKeys[tc.known].PublicKey()), HostKeyAlgorithm: tc.algorithm,
			})
			require.NoError(t, src.Connect(ctx))
		})
	}
	t.Run("pinned to an algorithm known_hosts has no key for", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t, ed25519Key, rsaKey)
		src := newSource(t, sftp.Options{
			Addr: srv.addr, User: "u", Password: config.NewSecret(srv.password),
			KnownHosts: srv.knownHosts(srv.hostKeys[1].PublicKey()), HostKeyAlgorithm: "ssh-ed25519",
		})
		var hke *sftp.HostKeyError
		require.ErrorAs(t, src.Connect(ctx), &hke, "what Go's client does unpinned on a multi-key host")
	})
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startServer(t)
	known := srv.knownHosts(srv.hostKeys[0].PublicKey())
	base := sftp.Options{Addr: srv.addr, User: "u", KnownHosts: known}

	withPassword := base
	withPassword.Password = config.NewSecret(srv.password)
	require.NoError(t, newSource(t, withPassword).Connect(ctx))

	wrongPassword := base
	wrongPassword.Password = config.NewSecret("hunter2")
	err := newSource(t, wrongPassword).Connect(ctx)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")

	encrypted := base
	encrypted.PrivateKey = config.NewSecret(srv.clientKeyPEM("s3cret"))
	encrypted.PrivateKeyPassphrase = config.NewSecret("s3cret")
	require.NoError(t, newSource(t, encrypted).Connect(ctx))

	noPassphrase := encrypted
	noPassphrase.PrivateKeyPassphrase = config.Secret{}
	_, err = sftp.New(noPassphrase)
	assert.ErrorContains(t, err, "private_key_passphrase")

	wrongPassphrase := encrypted
	wrongPassphrase.PrivateKeyPassphrase = config.NewSecret("nope")
	_, err = sftp.New(wrongPassphrase)
	assert.Error(t, err)

	_, err = sftp.New(base)
	assert.ErrorContains(t, err, "password or private key")
}

// After the server drops the connection, the next call reconnects, and a read in progress
// resumes where it was.
func TestReconnect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startServer(t)
	root := t.TempDir()
	conns := &sourcetest.Conns{}
	src := newSource(t, sftp.Options{
		Addr: srv.addr, User: "u", Password: config.NewSecret(srv.password),
		KnownHosts: srv.knownHosts(srv.hostKeys[0].PublicKey()), Root: root, Dial: conns.Dial,
	})
	h := sourcetest.Dir(t, root)
	data := strings.Repeat("0123456789abcdef", 1<<18) // 4 MiB
	h.Put("a.txt", strings.NewReader(data))

	_, err := src.Stat(ctx, "a.txt")
	require.NoError(t, err)
	require.Equal(t, 1, conns.Dials())
	srv.Break()
	_, err = src.Stat(ctx, "a.txt")
	require.NoError(t, err)
	assert.Equal(t, 2, conns.Dials(), "one new connection")

	r, err := src.Open(ctx, "a.txt")
	require.NoError(t, err)
	defer r.Close()
	head := make([]byte, 1<<20)
	_, err = io.ReadFull(r, head)
	require.NoError(t, err)
	srv.Break()
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, data, string(head)+string(rest))
	assert.Equal(t, 3, conns.Dials(), "the read resumed on a new connection")
}

// A file that changes while the connection is down is not resumed: the read fails.
func TestResumeRefusesChangedFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, srv, root := inProcess(t)
	h := sourcetest.Dir(t, root)
	h.Put("a.txt", strings.NewReader(strings.Repeat("a", 4<<20)))
	r, err := src.Open(ctx, "a.txt")
	require.NoError(t, err)
	defer r.Close()
	_, err = io.CopyN(io.Discard, r, 1<<20)
	require.NoError(t, err)
	h.Put("a.txt", strings.NewReader(strings.Repeat("b", 5<<20)))
	srv.Break()
	_, err = io.Copy(io.Discard, r)
	assert.ErrorContains(t, err, "changed")
}

// A file that grows while being read is an error, not a longer or mixed read.
func TestGrowingFileFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, _, root := inProcess(t)
	h := sourcetest.Dir(t, root)
	h.Put("a.txt", strings.NewReader(strings.Repeat("a", 2<<20)))
	r, err := src.Open(ctx, "a.txt")
	require.NoError(t, err)
	defer r.Close()
	f, err := os.OpenFile(root+"/a.txt", os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(strings.Repeat("b", 1<<20))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = io.Copy(io.Discard, r)
	assert.ErrorContains(t, err, "grew")
}

// A file cut short while it is read is an error, not a short read.
func TestTruncatedFileFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, _, root := inProcess(t)
	sourcetest.Dir(t, root).Put("a.txt", strings.NewReader(strings.Repeat("a", 4<<20)))
	r, err := src.Open(ctx, "a.txt")
	require.NoError(t, err)
	defer r.Close()
	_, err = io.CopyN(io.Discard, r, 1<<20)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(root+"/a.txt", 2<<20))
	n, err := io.Copy(io.Discard, r)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.EqualValues(t, 1<<20, n)
}

// A server that stops answering is noticed by the keepalive, and the next call reconnects.
func TestKeepAliveDetectsDeadServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startServer(t)
	var (
		mu     sync.Mutex
		frozen []*freezable
	)
	src := newSource(t, sftp.Options{
		Addr: srv.addr, User: "u", Password: config.NewSecret(srv.password),
		KnownHosts: srv.knownHosts(srv.hostKeys[0].PublicKey()), Root: t.TempDir(),
		KeepAlive: 50 * time.Millisecond,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			f := &freezable{Conn: conn, thaw: make(chan struct{})}
			mu.Lock()
			frozen = append(frozen, f)
			mu.Unlock()
			return f, nil
		},
	})
	_, err := src.List(ctx, "", pattern.MustParse("*"))
	require.NoError(t, err)
	mu.Lock()
	first := frozen[0]
	mu.Unlock()
	first.freeze() // the server's replies stop arriving, as on a dead link
	select {
	case <-first.closed():
	case <-time.After(10 * time.Second):
		t.Fatal("the keepalive did not close a connection whose server stopped answering")
	}
	_, err = src.List(ctx, "", pattern.MustParse("*"))
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, frozen, 2)
}

// freezable is a connection whose reads can be made to block until it is closed.
type freezable struct {
	net.Conn
	mu       sync.Mutex
	frozen   bool
	thaw     chan struct{}
	doneOnce sync.Once
}

func (f *freezable) freeze() {
	f.mu.Lock()
	f.frozen = true
	f.mu.Unlock()
}

func (f *freezable) closed() <-chan struct{} { return f.thaw }

func (f *freezable) Read(p []byte) (int, error) {
	n, err := f.Conn.Read(p)
	f.mu.Lock()
	frozen := f.frozen
	f.mu.Unlock()
	if frozen {
		<-f.thaw
		return 0, net.ErrClosed
	}
	return n, err
}

func (f *freezable) Close() error {
	f.doneOnce.Do(func() { close(f.thaw) })
	return f.Conn.Close()
}
