// Package sftp is the ingest.Source of a folder tree on an SFTP server (connection type
// "sftp"), over github.com/pkg/sftp and golang.org/x/crypto/ssh.
//
// # Host keys
//
// The server's host key is checked against a known_hosts file (read at every connect, so
// edits take effect without a restart) and an unknown or changed key is refused with a
// *HostKeyError, unless InsecureIgnoreHostKey is set. Go's SSH client negotiates a single
// host key algorithm and then checks only that key, so a server with several keys (say
// ed25519 and RSA) of which known_hosts holds only one would fail; the client is therefore
// pinned to the algorithms of the keys known_hosts has for the host, or to
// HostKeyAlgorithm when it is set. Hosts vouched for by @cert-authority lines need
// HostKeyAlgorithm set to the certificate algorithm.
//
// # Connections
//
// One SSH connection is shared by all calls and made on first use. A dropped connection
// is noticed (by a failed call, or by a keepalive left unanswered) and replaced on the
// next call; List and Stat are retried once on a new connection when the old one drops
// under them. A read broken by a drop resumes at its offset on a new connection, after
// checking that the file's size and modification time are still those it had when it was
// opened; otherwise, and after too many drops, Read fails. A read never ends early
// without an error: at end of file the bytes read must equal the size the file had when
// it was opened.
//
// Server calls are not interruptible by ctx once sent (the SFTP library has no
// cancellation); the keepalive bounds how long a dead server can hold one.
//
// # Paths
//
// Names are relative to Root, which is "/" for connections of the config: a project's
// "/outbound/orders" is that folder on the server.
//
// Move checks that the target name is free and renames with the SFTP rename, which fails
// rather than replace an existing file (SFTP v3, OpenSSH), falling back to the
// posix-rename extension when plain rename is refused for another reason. Servers whose
// plain rename replaces files exist; against them, moves of same-named files by two
// processes into one folder at the same instant could collide (moves within one process
// are serialised).
package sftp

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	pkgsftp "github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/ingest/pattern"
)

func init() {
	ingest.Register("sftp", func(ctx context.Context, cn *config.Connection) (ingest.Source, error) {
		port := cn.Port
		if port == 0 {
			port = 22
		}
		src, err := New(Options{
			Addr:                  net.JoinHostPort(cn.Host, strconv.Itoa(port)),
			User:                  cn.User,
			Password:              cn.Password,
			PrivateKey:            cn.PrivateKey,
			PrivateKeyPassphrase:  cn.PrivateKeyPassphrase,
			KnownHosts:            cn.KnownHosts,
			HostKeyAlgorithm:      cn.HostKeyAlgorithm,
			InsecureIgnoreHostKey: cn.InsecureIgnoreHostKey,
		})
		if err != nil {
			return nil, err
		}
		// Connect now, so that a wrong password or host key shows when the source is opened.
		if err := src.Connect(ctx); err != nil {
			src.Close()
			return nil, err
		}
		return src, nil
	})
}

// Options configures a Source.
type Options struct {
	// Addr is the server's host:port.
	Addr string
	// User is the login name.
	User string
	// Password authenticates by password (and keyboard-interactive); optional when
	// PrivateKey is set.
	Password config.Secret
	// PrivateKey is a PEM private key (OpenSSH, PKCS#1, PKCS#8).
	PrivateKey config.Secret
	// PrivateKeyPassphrase decrypts PrivateKey when it is encrypted.
	PrivateKeyPassphrase config.Secret
	// KnownHosts is the path of a known_hosts file; required unless InsecureIgnoreHostKey.
	KnownHosts string
	// HostKeyAlgorithm pins the host key algorithm ("ssh-ed25519", "rsa-sha2-512",
	// "ssh-rsa" meaning any RSA signature, ...). Defaults to the algorithms of the keys
	// KnownHosts has for the host.
	HostKeyAlgorithm string
	// InsecureIgnoreHostKey accepts any host key: anyone on the network path can then
	// pose as the server.
	InsecureIgnoreHostKey bool
	// Root is the absolute server path names are relative to. Defaults to "/".
	Root string
	// ConnectTimeout bounds dialing and the SSH and SFTP handshakes. Defaults to 30s.
	ConnectTimeout time.Duration
	// KeepAlive is the interval of keepalive requests; a connection whose server leaves
	// one unanswered for as long is closed. Defaults to 15s; negative disables.
	KeepAlive time.Duration
	// ReadResumes is how many times one Open's read resumes after a dropped connection.
	// Defaults to 3.
	ReadResumes int
	// Dial opens the TCP connection. Defaults to net.Dialer.DialContext.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Source is a folder tree on an SFTP server.
type Source struct {
	opts Options
	auth []ssh.AuthMethod

	mu     sync.Mutex
	cur    *session
	closed bool

	// moveMu serialises this Source's moves: servers whose rename replaces an existing
	// file (pkg/sftp's own server, some appliances) are then safe within this process.
	moveMu sync.Mutex
}

// New checks the options and parses the private key; it does no I/O.
func New(opts Options) (*Source, error) {
	if opts.Addr == "" || opts.User == "" {
		return nil, errors.New("sftp: address and user are required")
	}
	if _, _, err := net.SplitHostPort(opts.Addr); err != nil {
		return nil, fmt.Errorf("sftp: address %q: %w", opts.Addr, err)
	}
	if opts.KnownHosts == "" && !opts.InsecureIgnoreHostKey {
		return nil, errors.New("sftp: a known_hosts file is required (or insecure_ignore_host_key)")
	}
	if opts.Root == "" {
		opts.Root = "/"
	}
	if !path.IsAbs(opts.Root) {
		return nil, fmt.Errorf("sftp: root %q is not absolute", opts.Root)
	}
	opts.Root = path.Clean(opts.Root)
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 30 * time.Second
	}
	if opts.KeepAlive == 0 {
		opts.KeepAlive = 15 * time.Second
	}
	if opts.ReadResumes <= 0 {
		opts.ReadResumes = 3
	}
	if opts.Dial == nil {
		opts.Dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	s := &Source{opts: opts}
	if !opts.PrivateKey.IsZero() {
		signer, err := parseKey(opts.PrivateKey, opts.PrivateKeyPassphrase)
		if err != nil {
			return nil, err
		}
		s.auth = append(s.auth, ssh.PublicKeys(signer))
	}
	if !opts.Password.IsZero() {
		password := opts.Password.Value()
		s.auth = append(s.auth, ssh.Password(password),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, echos []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range questions {
					if !echos[i] {
						answers[i] = password
					}
				}
				return answers, nil
			}))
	}
	if len(s.auth) == 0 {
		return nil, errors.New("sftp: a password or private key is required")
	}
	return s, nil
}

func parseKey(key, passphrase config.Secret) (ssh.Signer, error) {
	pem := []byte(key.Value())
	if !passphrase.IsZero() {
		signer, err := ssh.ParsePrivateKeyWithPassphrase(pem, []byte(passphrase.Value()))
		if err != nil {
			// The library's messages do not quote the key; the wrap keeps its type.
			return nil, fmt.Errorf("sftp: private key: %w", err)
		}
		return signer, nil
	}
	signer, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, errors.New("sftp: the private key is encrypted: set private_key_passphrase")
	}
	if err != nil {
		return nil, fmt.Errorf("sftp: private key: %w", err)
	}
	return signer, nil
}

// HostKeyError is a server host key that known_hosts does not vouch for.
type HostKeyError struct {
	// Host is the address dialled.
	Host string
	// Key and Fingerprint (SHA256:...) are what the server presented.
	Key         string
	Fingerprint string
	// KnownHosts is the file checked.
	KnownHosts string
	// Known lists the known_hosts lines ("file:line: key") for the host; empty when the
	// host is unknown, otherwise the key changed (or someone is intercepting).
	Known []string
	// Revoked is set when known_hosts marks the key @revoked.
	Revoked bool
}

func (e *HostKeyError) Error() string {
	switch {
	case e.Revoked:
		return fmt.Sprintf("host key %s %s of %s is marked @revoked in %s", e.Key, e.Fingerprint, e.Host, e.KnownHosts)
	case len(e.Known) == 0:
		host, port, _ := net.SplitHostPort(e.Host)
		return fmt.Sprintf("host %s is not in %s (it presented %s %s); after checking that fingerprint with the server's owner, add it: ssh-keyscan -p %s %s >> %s",
			e.Host, e.KnownHosts, e.Key, e.Fingerprint, port, host, e.KnownHosts)
	}
	return fmt.Sprintf("host key of %s does not match %s: it presented %s %s, known are %s; refusing to connect (the key changed, or someone is intercepting)",
		e.Host, e.KnownHosts, e.Key, e.Fingerprint, strings.Join(e.Known, "; "))
}

// probeKey is a key no known_hosts holds, offered to a known_hosts callback to learn the
// keys it has for a host.
var probeKey = sync.OnceValue(func() ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return key
})

// algorithmsFor lists the host key algorithms that verify a key of type keyType.
func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// hostKeyCheck returns the host key callback and algorithms for a connection to the
// server at remote.
func (s *Source) hostKeyCheck(remote net.Addr) (ssh.HostKeyCallback, []string, error) {
	var algos []string
	if s.opts.HostKeyAlgorithm != "" {
		algos = algorithmsFor(s.opts.HostKeyAlgorithm)
	}
	if s.opts.InsecureIgnoreHostKey {
		return ssh.InsecureIgnoreHostKey(), algos, nil
	}
	known, err := knownhosts.New(s.opts.KnownHosts)
	if err != nil {
		return nil, nil, fmt.Errorf("reading known_hosts: %w", err)
	}
	if algos == nil {
		var ke *knownhosts.KeyError
		if err := known(s.opts.Addr, remote, probeKey()); errors.As(err, &ke) {
			seen := map[string]bool{}
			for _, k := range ke.Want {
				for _, a := range algorithmsFor(k.Key.Type()) {
					if !seen[a] {
						seen[a] = true
						algos = append(algos, a)
					}
				}
			}
		}
	}
	check := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := known(hostname, remote, key)
		if err == nil {
			return nil
		}
		hke := &HostKeyError{Host: s.opts.Addr, Key: key.Type(), Fingerprint: ssh.FingerprintSHA256(key), KnownHosts: s.opts.KnownHosts}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &re):
			hke.Revoked = true
		case errors.As(err, &ke):
			for _, k := range ke.Want {
				hke.Known = append(hke.Known, k.String())
			}
		default:
			return err
		}
		return hke
	}
	return check, algos, nil
}

// session is one SSH connection with its SFTP client.
type session struct {
	ssh  *ssh.Client
	sftp *pkgsftp.Client
	done chan struct{} // closed when the SSH connection has ended
	once sync.Once
}

func (ss *session) dead() bool {
	select {
	case <-ss.done:
		return true
	default:
		return false
	}
}

// close ends the connection. The SSH connection goes first: the SFTP client's Close waits
// for the server to end the subsystem, which a dead server never does.
func (ss *session) close() {
	ss.once.Do(func() {
		ss.ssh.Close()
		ss.sftp.Close()
	})
}

// endsWithin reports whether the connection has ended, or ends within d. A failed call
// and the end of its connection are seen by different goroutines, so a call failing for
// a dead connection may return before the end is noticed.
func (ss *session) endsWithin(d time.Duration) bool {
	select {
	case <-ss.done:
		return true
	case <-time.After(d):
		return false
	}
}

// Connect connects now instead of at the first call; a connection is made anyway when
// needed.
func (s *Source) Connect(ctx context.Context) error {
	_, err := s.session(ctx)
	return err
}

// session returns the live connection, connecting when there is none.
func (s *Source) session(ctx context.Context) (*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("sftp: source is closed")
	}
	if s.cur != nil {
		if !s.cur.dead() {
			return s.cur, nil
		}
		s.cur.close()
		s.cur = nil
	}
	ss, err := s.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", s.opts.Addr, err)
	}
	s.cur = ss
	return ss, nil
}

// drop closes ss and forgets it, if it is still the current connection.
func (s *Source) drop(ss *session) {
	ss.close()
	s.mu.Lock()
	if s.cur == ss {
		s.cur = nil
	}
	s.mu.Unlock()
}

func (s *Source) dial(ctx context.Context) (*session, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.ConnectTimeout)
	defer cancel()
	conn, err := s.opts.Dial(ctx, "tcp", s.opts.Addr)
	if err != nil {
		return nil, err
	}
	// The handshakes below are bounded by the deadline, and by ctx.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	check, algos, err := s.hostKeyCheck(conn.RemoteAddr())
	if err != nil {
		conn.Close()
		return nil, err
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, s.opts.Addr, &ssh.ClientConfig{
		User:              s.opts.User,
		Auth:              s.auth,
		HostKeyCallback:   check,
		HostKeyAlgorithms: algos,
	})
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, err
	}
	client := ssh.NewClient(c, chans, reqs)
	sc, err := pkgsftp.NewClient(client)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("starting the sftp subsystem: %w", err)
	}
	if !stop() {
		client.Close()
		return nil, ctx.Err()
	}
	_ = conn.SetDeadline(time.Time{})
	ss := &session{ssh: client, sftp: sc, done: make(chan struct{})}
	go func() {
		_ = client.Wait()
		close(ss.done)
	}()
	if s.opts.KeepAlive > 0 {
		go keepAlive(ss, s.opts.KeepAlive)
	}
	return ss, nil
}

// keepAlive sends a keepalive request every interval and closes the connection when one
// is not answered within interval.
func keepAlive(ss *session, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ss.done:
			return
		case <-t.C:
		}
		answered := make(chan struct{})
		go func() {
			// Any reply, even a refusal, shows the server is alive.
			_, _, _ = ss.ssh.SendRequest("keepalive@openssh.com", true, nil)
			close(answered)
		}()
		select {
		case <-answered:
		case <-ss.done:
			return
		case <-time.After(interval):
			ss.close()
			return
		}
	}
}

// connLost reports whether err means the connection under a call failed, as opposed to
// the server answering with an error.
func connLost(err error) bool {
	var status *pkgsftp.StatusError
	if errors.As(err, &status) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return false
	}
	var netErr net.Error
	return errors.Is(err, pkgsftp.ErrSSHFxConnectionLost) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.As(err, &netErr)
}

// do runs fn on the live connection. When the connection drops under an idempotent fn,
// fn runs once more on a new connection.
func (s *Source) do(ctx context.Context, idempotent bool, fn func(*session) error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		ss, err := s.session(ctx)
		if err != nil {
			return err
		}
		err = fn(ss)
		if err == nil || !connLost(err) && !ss.dead() {
			return err
		}
		s.drop(ss)
		if !idempotent || attempt > 0 {
			return fmt.Errorf("connection to %s lost: %w", s.opts.Addr, err)
		}
	}
}

// remote is the server path of a cleaned relative name.
func (s *Source) remote(clean string) string { return path.Join(s.opts.Root, clean) }

// List implements ingest.Source.
func (s *Source) List(ctx context.Context, dir string, pat *pattern.Pattern) ([]ingest.FileInfo, error) {
	var files []ingest.FileInfo
	err := s.do(ctx, true, func(ss *session) error {
		var err error
		files, err = ingest.Glob(ctx, dir, pat, func(ctx context.Context, d string) ([]ingest.DirEntry, error) {
			return s.readDir(ctx, ss.sftp, d)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing %q: %w", dir, err)
	}
	return files, nil
}

func (s *Source) readDir(ctx context.Context, c *pkgsftp.Client, dir string) ([]ingest.DirEntry, error) {
	infos, err := c.ReadDirContext(ctx, s.remote(dir))
	if err != nil {
		return nil, err
	}
	out := make([]ingest.DirEntry, 0, len(infos))
	for _, info := range infos {
		if info.Mode()&fs.ModeSymlink != 0 {
			target, err := c.Stat(s.remote(path.Join(dir, info.Name())))
			if err != nil {
				if connLost(err) {
					return nil, err
				}
				continue // a dangling link
			}
			info = renamed{target, info.Name()}
		}
		if de, ok := ingest.EntryOf(info.Name(), info); ok {
			out = append(out, de)
		}
	}
	return out, nil
}

// renamed is a link's target described under the link's name.
type renamed struct {
	fs.FileInfo
	name string
}

func (r renamed) Name() string { return r.name }

// Stat implements ingest.Source.
func (s *Source) Stat(ctx context.Context, name string) (ingest.FileInfo, error) {
	clean, err := ingest.CleanName(name)
	if err != nil {
		return ingest.FileInfo{}, err
	}
	var info fs.FileInfo
	err = s.do(ctx, true, func(ss *session) error {
		info, err = ss.sftp.Stat(s.remote(clean))
		return err
	})
	if err != nil {
		return ingest.FileInfo{}, fmt.Errorf("stat %s: %w", clean, err)
	}
	if !info.Mode().IsRegular() {
		return ingest.FileInfo{}, fmt.Errorf("stat %s: not a file: %w", clean, ingest.ErrNotExist)
	}
	return ingest.FileInfo{Name: clean, Size: info.Size(), ModTime: info.ModTime()}, nil
}

// readBuffer is how much one server round trip of a read asks for; the SFTP library
// splits it into concurrent requests, which keeps a high-latency link busy.
const readBuffer = 1 << 20

// Open implements ingest.Source. ctx is also used to reconnect during the read.
func (s *Source) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	clean, err := ingest.CleanName(name)
	if err != nil {
		return nil, err
	}
	r := &reader{s: s, ctx: ctx, name: clean}
	if err := s.do(ctx, true, r.open); err != nil {
		return nil, fmt.Errorf("opening %s: %w", clean, err)
	}
	r.buf = make([]byte, readBuffer)
	return r, nil
}

// reader reads a file through a buffer, resuming at its offset after a dropped
// connection.
type reader struct {
	s    *Source
	ctx  context.Context
	name string

	ss      *session // the connection f belongs to
	f       *pkgsftp.File
	opened  bool
	size    int64     // at open
	modTime time.Time // at open
	resumes int

	buf        []byte
	start, end int   // unread part of buf
	off        int64 // file offset of buf[end]
	eof        bool
	err        error
}

// open opens the file on ss; on a reopen the file must be unchanged.
func (r *reader) open(ss *session) error {
	f, err := ss.sftp.Open(r.s.remote(r.name))
	if err != nil {
		return err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("not a file: %w", ingest.ErrNotExist)
	}
	if !r.opened {
		r.size, r.modTime, r.opened = info.Size(), info.ModTime(), true
	} else if info.Size() != r.size || !info.ModTime().Equal(r.modTime) {
		f.Close()
		return fmt.Errorf("the file changed while being read (size %d, now %d)", r.size, info.Size())
	}
	r.ss, r.f = ss, f
	return nil
}

func (r *reader) Read(p []byte) (int, error) {
	for r.start == r.end {
		if r.err != nil {
			return 0, r.err
		}
		if r.eof {
			return 0, io.EOF
		}
		r.err = r.fill()
	}
	n := copy(p, r.buf[r.start:r.end])
	r.start += n
	return n, nil
}

// fill reads the next part of the file into buf. It returns the error Read must return
// once buf is drained.
func (r *reader) fill() error {
	if err := r.ctx.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", r.name, err)
	}
	n, err := r.f.ReadAt(r.buf, r.off)
	r.start, r.end = 0, n
	r.off += int64(n)
	switch {
	case err == nil:
		if r.off > r.size {
			return fmt.Errorf("reading %s: the file grew beyond its size of %d while being read", r.name, r.size)
		}
		return nil
	case errors.Is(err, io.EOF) && r.off == r.size:
		r.eof = true
		return nil
	case errors.Is(err, io.EOF) && r.off > r.size:
		return fmt.Errorf("reading %s: the file grew beyond its size of %d while being read", r.name, r.size)
	case errors.Is(err, io.EOF) && n > 0:
		return nil // a short reply: ask again from the new offset
	}
	var dropped bool
	switch {
	case errors.Is(err, io.EOF):
		// An early end of file: a truncated file, or a request sent on a closed connection.
		dropped = r.ss.endsWithin(time.Second)
	case connLost(err):
		dropped = true
	}
	if dropped && r.resumes < r.s.opts.ReadResumes {
		r.resumes++
		r.f.Close()
		r.f = nil
		if err := r.reopen(); err != nil {
			return fmt.Errorf("reading %s: resuming at byte %d after a dropped connection: %w", r.name, r.off, err)
		}
		return nil
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("reading %s: the file ended at %d of its %d bytes: %w", r.name, r.off, r.size, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("reading %s at byte %d: %w", r.name, r.off, err)
}

// reopen replaces the broken connection and opens the file again.
func (r *reader) reopen() error {
	r.s.drop(r.ss)
	ss, err := r.s.session(r.ctx)
	if err != nil {
		return err
	}
	return r.open(ss)
}

func (r *reader) Close() error {
	r.buf, r.start, r.end = nil, 0, 0
	if r.err == nil {
		r.err = fmt.Errorf("reading %s: %w", r.name, os.ErrClosed)
	}
	if r.f == nil {
		return nil
	}
	f := r.f
	r.f = nil
	return f.Close()
}

// Move implements ingest.Source. It is not retried when the connection drops under it:
// the rename may have happened.
func (s *Source) Move(ctx context.Context, from, toDir string) (string, error) {
	src, dir, err := ingest.CleanMove(from, toDir)
	if err != nil {
		return "", err
	}
	var target string
	err = s.do(ctx, false, func(ss *session) error {
		c := ss.sftp
		info, err := c.Stat(s.remote(src))
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("not a file: %w", ingest.ErrNotExist)
		}
		if err := c.MkdirAll(s.remote(dir)); err != nil {
			return fmt.Errorf("creating folder %q: %w", dir, err)
		}
		s.moveMu.Lock()
		defer s.moveMu.Unlock()
		entries, err := c.ReadDirContext(ctx, s.remote(dir))
		if err != nil {
			return err
		}
		taken := make(map[string]bool, len(entries))
		for _, e := range entries {
			taken[e.Name()] = true
		}
		target, err = ingest.PlaceNumbered(src, dir, taken, func(t string) (bool, error) {
			return s.rename(c, src, t)
		})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("moving %s to %q: %w", src, dir, err)
	}
	return target, nil
}

// rename renames src to target unless target exists.
func (s *Source) rename(c *pkgsftp.Client, src, target string) (bool, error) {
	from, to := s.remote(src), s.remote(target)
	if _, err := c.Lstat(to); err == nil {
		return false, nil // arrived since the folder was read
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	err := c.Rename(from, to)
	if err == nil {
		return true, nil
	}
	if connLost(err) {
		return false, err
	}
	if _, serr := c.Lstat(to); serr == nil {
		return false, nil // taken since the folder was read
	}
	if _, serr := c.Lstat(from); errors.Is(serr, os.ErrNotExist) {
		return false, serr
	}
	// Some servers refuse the plain rename (of SFTP v3) but support the POSIX one, which
	// would replace a target: it is only used now that the target was seen missing.
	if _, ok := c.HasExtension("posix-rename@openssh.com"); ok {
		if perr := c.PosixRename(from, to); perr == nil {
			return true, nil
		}
	}
	return false, err
}

// Close implements ingest.Source.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.cur != nil {
		s.cur.close()
		s.cur = nil
	}
	return nil
}

var _ ingest.Source = (*Source)(nil)
