package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/dmfpipe/dmfpipe/config"
)

// Default timeouts of [Email].
const (
	DefaultDialTimeout = 15 * time.Second
	DefaultSendTimeout = time.Minute
)

// Email sends a job's notification as a multipart (text and HTML) mail.
type Email struct {
	// SMTP is the mail server. Port defaults to 587 and TLS to "starttls" ("tls" is
	// implicit TLS, "none" plain text for loopback test servers). Username and Password
	// are optional: without a username no AUTH is attempted.
	SMTP config.SMTP
	// To are the recipients.
	To []string
	// DialTimeout bounds connecting (TCP and, for "tls", the handshake). Defaults to
	// DefaultDialTimeout.
	DialTimeout time.Duration
	// SendTimeout bounds the whole conversation, from connecting to QUIT; it also bounds
	// each SMTP command. Defaults to DefaultSendTimeout.
	SendTimeout time.Duration
	// TLSConfig adjusts TLS, e.g. RootCAs for a relay with a certificate of a private CA.
	// Nil means the system roots; ServerName defaults to SMTP.Host and MinVersion to TLS 1.2.
	TLSConfig *tls.Config
}

// Validate reports a configuration that cannot send.
func (e *Email) Validate() error {
	switch {
	case e.SMTP.Host == "":
		return errors.New("smtp host is required")
	case e.SMTP.From == "":
		return errors.New("smtp from is required")
	case len(e.To) == 0:
		return errors.New("no recipients")
	}
	switch e.SMTP.TLS {
	case "", "starttls", "tls", "none":
	default:
		return fmt.Errorf("smtp tls must be starttls, tls or none, not %q", e.SMTP.TLS)
	}
	return nil
}

// Send implements [Sender]. Errors are *Error values for [IsPermanent].
func (e *Email) Send(ctx context.Context, job Job) error {
	if err := e.Validate(); err != nil {
		return permanent(ChannelEmail, 0, err)
	}
	msg, err := e.message(job)
	if err != nil {
		return permanent(ChannelEmail, 0, err)
	}
	sendTimeout := orDefault(e.SendTimeout, DefaultSendTimeout)
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	client, err := e.client(ctx, sendTimeout)
	if err != nil {
		return permanent(ChannelEmail, 0, err)
	}
	err = client.DialAndSendWithContext(ctx, msg)
	if err == nil || msg.IsDelivered() {
		// The server took the message; a failed QUIT after that is no reason to send it
		// again.
		return nil
	}
	err = fmt.Errorf("sending %q to %s: %w", job.Subject(), e.addr(), err)
	if ctx.Err() != nil {
		// The connection was closed under the conversation; say why.
		return transient(ChannelEmail, 0, fmt.Errorf("%w (%w)", err, context.Cause(ctx)))
	}
	code := smtpCode(err)
	if code >= 500 || (code == 0 && badMessage(err)) {
		return permanent(ChannelEmail, code, err)
	}
	return transient(ChannelEmail, code, err)
}

func (e *Email) message(job Job) (*mail.Msg, error) {
	text, html, err := job.bodies()
	if err != nil {
		return nil, err
	}
	msg := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := msg.From(e.SMTP.From); err != nil {
		return nil, fmt.Errorf("smtp from %q: %w", e.SMTP.From, err)
	}
	if err := msg.To(e.To...); err != nil {
		return nil, fmt.Errorf("recipients: %w", err)
	}
	msg.Subject(job.Subject())
	msg.SetDate()
	msg.SetMessageID()
	msg.SetUserAgent("dmfpipe")
	msg.SetBodyString(mail.TypeTextPlain, text)
	msg.AddAlternativeString(mail.TypeTextHTML, html)
	return msg, nil
}

// client builds a go-mail client whose connection is closed when ctx ends, so that
// SendTimeout bounds the whole conversation and not only each command.
func (e *Email) client(ctx context.Context, commandTimeout time.Duration) (*mail.Client, error) {
	mode := e.SMTP.TLS
	if mode == "" {
		mode = "starttls"
	}
	dialTimeout := orDefault(e.DialTimeout, DefaultDialTimeout)
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		nd := &net.Dialer{Timeout: dialTimeout}
		var (
			conn net.Conn
			err  error
		)
		if mode == "tls" {
			td := &tls.Dialer{NetDialer: nd, Config: e.tlsConfig()}
			conn, err = td.DialContext(dctx, network, addr)
		} else {
			conn, err = nd.DialContext(dctx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		context.AfterFunc(ctx, func() { _ = conn.Close() })
		return conn, nil
	}
	opts := []mail.Option{
		mail.WithPort(e.port()),
		mail.WithTimeout(commandTimeout),
		mail.WithDialContextFunc(dial),
	}
	// With implicit TLS the dialer already encrypted the connection, so go-mail must not
	// try STARTTLS on top.
	switch mode {
	case "starttls":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory), mail.WithTLSConfig(e.tlsConfig()))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	}
	if e.SMTP.Username != "" {
		// go-mail's auto-discovery leaves PLAIN and LOGIN out when it did not do the TLS
		// itself (our dialer does it for "tls"); the smtp package still refuses to send a
		// password in clear text to anything but localhost.
		opts = append(opts,
			mail.WithOpportunisticSMTPAuth(mail.SMTPAuthSCRAMSHA256, mail.SMTPAuthSCRAMSHA1,
				mail.SMTPAuthCramMD5, mail.SMTPAuthPlain, mail.SMTPAuthLogin),
			mail.WithUsername(e.SMTP.Username),
			mail.WithPassword(e.SMTP.Password.Value()),
		)
	}
	client, err := mail.NewClient(e.SMTP.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client for %s: %w", e.addr(), err)
	}
	return client, nil
}

func (e *Email) tlsConfig() *tls.Config {
	cfg := &tls.Config{}
	if e.TLSConfig != nil {
		cfg = e.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = e.SMTP.Host
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg
}

func (e *Email) port() int {
	if e.SMTP.Port == 0 {
		return 587
	}
	return e.SMTP.Port
}

func (e *Email) addr() string { return net.JoinHostPort(e.SMTP.Host, strconv.Itoa(e.port())) }

// smtpCode finds the server's reply code in err: go-mail's SendError for the MAIL, RCPT
// and DATA stages, a textproto.Error for the greeting, EHLO, STARTTLS and AUTH.
func smtpCode(err error) int {
	var se *mail.SendError
	if errors.As(err, &se) && se.ErrorCode() != 0 {
		return se.ErrorCode()
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// badMessage reports an error that go-mail raised about the message itself before the
// server said anything: sending it again cannot help.
func badMessage(err error) bool {
	var se *mail.SendError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Reason {
	case mail.ErrGetSender, mail.ErrGetRcpts, mail.ErrNoUnencoded:
		return true
	}
	return false
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

var _ Sender = (*Email)(nil)
