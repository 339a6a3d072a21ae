package dmf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// Retry describes a failed attempt that the client is about to retry; Options.OnRetry
// receives one before each wait.
type Retry struct {
	// Op names the call: an action name ("GetAzureWriteUrl"), "token", "blob
	// upload", "enqueue"…, as in HTTPError.Op.
	Op string
	// Attempt is the number of the attempt that failed, from 1; the next one is
	// retry number Attempt.
	Attempt int
	// Wait is how long the client waits before the next attempt.
	Wait time.Duration
	// Err is why the attempt failed: an *HTTPError, a network error, …. It carries
	// no secrets; URLs in it are redacted.
	Err error
	// Persistent reports that Err is a failure retrying will not cure soon
	// (IsPersistent); the call gives up on it after Options.PersistentErrorTimeout.
	Persistent bool
}

// String reads like "GetAzureWriteUrl: connection refused at 127.0.0.1:8098, retry 3
// in 8s".
func (r Retry) String() string {
	return fmt.Sprintf("%s: %s, retry %d in %s", r.Op, describe(r.Err), r.Attempt, roundWait(r.Wait))
}

// roundWait rounds d for people: 8s, 2.5s, 150ms.
func roundWait(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// IsPersistent reports whether err is a failure that retrying will not cure soon, one
// that needs a fix elsewhere (configuration, network, an administrator):
//   - the connection was refused;
//   - the host name does not resolve (DNS "no such host");
//   - the server's TLS certificate does not verify;
//   - the token endpoint rejected the client credentials (HTTP 401 or invalid_client:
//     a wrong or expired secret);
//   - a server answered 403 Forbidden.
//
// The client retries such failures with backoff for at most
// Options.PersistentErrorTimeout and then returns them; Check returns them at once.
// A 403 from Blob storage is not retried at all: the SAS URL's signature is fixed.
func IsPersistent(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		return isPersistentAnswer(he)
	}
	return isPersistentTransport(err)
}

func isPersistentAnswer(he *HTTPError) bool {
	switch {
	case he.StatusCode == http.StatusForbidden:
		return true
	case he.Op == opToken:
		return he.StatusCode == http.StatusUnauthorized || he.Code == "invalid_client"
	}
	return false
}

func isPersistentTransport(err error) bool {
	var (
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return true
	case errors.As(err, &dnsErr):
		return dnsErr.IsNotFound
	case errors.As(err, &certErr):
		return true
	}
	return isCertificateError(err)
}

// isCertificateError matches the x509 errors a custom TLS setup can return without
// tls.CertificateVerificationError around them.
func isCertificateError(err error) bool {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
	)
	return errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalid)
}

// classify turns a transport failure into an attemptError, telling failures before
// sending (safe to retry anything) from those after (the server may have acted).
func classify(err error) *attemptError {
	err = unwrapURLError(err)
	var (
		opErr   *net.OpError
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &certErr), isCertificateError(err):
		// The handshake failed: no byte of the request was sent.
		return &attemptError{err: err, unsent: true}
	case errors.As(err, &dnsErr):
		return &attemptError{err: err, unsent: true}
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return &attemptError{err: err, unsent: true}
	}
	return &attemptError{err: err}
}

// timeoutError is an attempt that outlasted its timeout (Options.RequestTimeout and
// the like) while the caller's context was still live.
type timeoutError struct {
	after time.Duration
	err   error
}

func (e *timeoutError) Error() string { return fmt.Sprintf("no answer within %s", e.after) }
func (e *timeoutError) Unwrap() error { return e.err }

// describe says in a few words what err is: the network failure and where, or the
// HTTP status with the first sentence of the server's message. It is the cause in
// Retry.String and in Check's errors.
func describe(err error) string {
	var (
		he      *HTTPError
		opErr   *net.OpError
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		te      *timeoutError
		ce      *callError
	)
	switch {
	case err == nil:
		return "no error"
	case errors.As(err, &he):
		s := fmt.Sprintf("HTTP %d", he.StatusCode)
		if he.Code != "" {
			s += " " + he.Code
		}
		if m := firstSentence(he.Message); m != "" {
			s += ": " + m
		}
		return s
	case errors.Is(err, syscall.ECONNREFUSED):
		if errors.As(err, &opErr) && opErr.Addr != nil {
			return "connection refused at " + opErr.Addr.String()
		}
		return "connection refused"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "unknown host " + dnsErr.Name
		}
		return fmt.Sprintf("cannot resolve %s: %s", dnsErr.Name, dnsErr.Err)
	case errors.As(err, &certErr):
		return "TLS certificate not trusted: " + certErr.Err.Error()
	case isCertificateError(err):
		return "TLS certificate not trusted: " + err.Error()
	case errors.As(err, &te):
		return te.Error()
	case errors.Is(err, syscall.ECONNRESET):
		if errors.As(err, &opErr) && opErr.Addr != nil {
			return "connection reset by " + opErr.Addr.String()
		}
		return "connection reset"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection closed before the answer was complete"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.As(err, &ce):
		return ce.err.Error()
	}
	return err.Error()
}

// firstSentence shortens a server message to its first sentence, without Entra ID's
// trace and correlation IDs or the final full stop.
func firstSentence(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, " Trace ID:"); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, ".")
}
