package notify_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/devstack"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/notify"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and returns a pool
// that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// tlsMailpit starts a Mailpit of the test's own that takes mail only over TLS: implicit
// TLS with requireFlag --smtp-require-tls, STARTTLS with --smtp-require-starttls. It
// accepts PLAIN authentication only over TLS.
func tlsMailpit(t *testing.T, requireFlag string) (smtpAddr, apiURL string, roots *x509.CertPool) {
	t.Helper()
	testsvc.Mailpit(t) // the shared one built the binary (or the test is skipped)
	wd, err := os.Getwd()
	require.NoError(t, err)
	repo, err := devstack.FindRepo(wd)
	require.NoError(t, err)
	bin := repo.NewMailpit().Bin
	dir := t.TempDir()
	certFile, keyFile, roots := selfSigned(t, dir)
	smtpAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	httpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	cmd := exec.Command(bin, "--smtp", smtpAddr, "--listen", httpAddr,
		"--database", filepath.Join(dir, "mailpit.db"),
		"--smtp-auth-accept-any", "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile, requireFlag,
		"--smtp-disable-rdns", "--disable-version-check", "--quiet")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", smtpAddr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}, 30*time.Second, 20*time.Millisecond, "mailpit with TLS did not start")
	return smtpAddr, "http://" + httpAddr, roots
}

func TestEmailOverTLS(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ mode, flag string }{
		{"tls", "--smtp-require-tls"},
		{"starttls", "--smtp-require-starttls"},
	} {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			smtpAddr, apiURL, roots := tlsMailpit(t, c.flag)

			// An untrusted certificate is refused, and nothing is sent.
			e, to := email(t, smtpAddr)
			e.SMTP.TLS = c.mode
			err := e.Send(context.Background(), partialJob())
			require.Error(t, err)
			assert.NotContains(t, err.Error(), smtpSecret)

			e.TLSConfig = &tls.Config{RootCAs: roots}
			require.NoError(t, e.Send(context.Background(), partialJob()))
			m := mailTo(t, apiURL, to)
			assert.Equal(t, "[dmfpipe] customers-nightly: partially succeeded (7 rows invalid, 5 rejected by F&O)", m.Subject)
			assert.Equal(t, "dmf", m.Username, "authenticated over TLS")
		})
	}
}

// Plain SMTP to a server that requires TLS is refused by the server.
func TestEmailPlainToTLSOnlyServer(t *testing.T) {
	t.Parallel()
	smtpAddr, _, _ := tlsMailpit(t, "--smtp-require-starttls")
	e, _ := email(t, smtpAddr)
	e.SMTP.Username = "" // no AUTH: the refusal comes at MAIL FROM
	err := e.Send(context.Background(), partialJob())
	require.Error(t, err)
	var ne *notify.Error
	require.ErrorAs(t, err, &ne)
	assert.Equal(t, 530, ne.Code, "%v", err)
	assert.True(t, notify.IsPermanent(err))
}
