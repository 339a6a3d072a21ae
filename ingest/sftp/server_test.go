package sftp_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	pkgsftp "github.com/pkg/sftp"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// server is an in-process SSH server with the SFTP subsystem, serving this machine's
// filesystem, for tests that need to control the server side.
type server struct {
	t        *testing.T
	addr     string
	hostKeys []ssh.Signer
	// clientKey is the key the server accepts; password the password.
	clientKey ed25519.PrivateKey
	password  string

	mu    sync.Mutex
	conns []net.Conn
}

type keyKind int

const (
	ed25519Key keyKind = iota
	ecdsaKey
	rsaKey
)

// rsaHostKey is made once: RSA key generation is slow.
var rsaHostKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

func newSigner(t *testing.T, kind keyKind) ssh.Signer {
	t.Helper()
	var key any
	var err error
	switch kind {
	case ed25519Key:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case ecdsaKey:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case rsaKey:
		key, err = rsaHostKey()
	}
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(key)
	require.NoError(t, err)
	return signer
}

// startServer starts a server with host keys of the given kinds (ed25519 when none).
func startServer(t *testing.T, kinds ...keyKind) *server {
	t.Helper()
	if len(kinds) == 0 {
		kinds = []keyKind{ed25519Key}
	}
	_, clientKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	clientPub, err := ssh.NewPublicKey(clientKey.Public())
	require.NoError(t, err)
	s := &server{t: t, clientKey: clientKey, password: "correct horse"}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if subtle.ConstantTimeCompare(key.Marshal(), clientPub.Marshal()) == 1 {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
		PasswordCallback: func(_ ssh.ConnMetadata, password []byte) (*ssh.Permissions, error) {
			if string(password) == s.password {
				return nil, nil
			}
			return nil, errors.New("wrong password")
		},
	}
	for _, k := range kinds {
		signer := newSigner(t, k)
		s.hostKeys = append(s.hostKeys, signer)
		cfg.AddHostKey(signer)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.addr = ln.Addr().String()
	t.Cleanup(func() {
		ln.Close()
		s.Break()
	})
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, conn)
			s.mu.Unlock()
			go s.serve(conn, cfg)
		}
	}()
	return s
}

func (s *server) serve(conn net.Conn, cfg *ssh.ServerConfig) {
	defer conn.Close()
	_, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			for req := range chReqs {
				ok := req.Type == "subsystem" && len(req.Payload) > 4 && string(req.Payload[4:]) == "sftp"
				_ = req.Reply(ok, nil)
				if ok {
					go func() {
						srv, err := pkgsftp.NewServer(ch)
						if err == nil {
							_ = srv.Serve()
						}
						ch.Close()
					}()
				}
			}
		}()
	}
}

// Break closes every connection from the server's side.
func (s *server) Break() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

// knownHosts writes a known_hosts file listing keys for the server's address.
func (s *server) knownHosts(keys ...ssh.PublicKey) string {
	path := filepath.Join(s.t.TempDir(), "known_hosts")
	var data []byte
	for _, k := range keys {
		data = append(data, knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, k)+"\n"...)
	}
	require.NoError(s.t, os.WriteFile(path, data, 0o600))
	return path
}

// clientKeyPEM returns the accepted client key as PEM, encrypted when passphrase is set.
func (s *server) clientKeyPEM(passphrase string) string {
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(s.clientKey, "test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(s.clientKey, "test", []byte(passphrase))
	}
	require.NoError(s.t, err)
	return string(pem.EncodeToMemory(block))
}
