package dmf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dmfpipe/dmfpipe/internal/backoff"
)

// Token endpoint versions (dmf-api.md §1.1).
const (
	// TokenV2 requests scope=<BaseURL>/.default from the Entra ID v2.0 endpoint.
	TokenV2 = "v2"
	// TokenV1 requests resource=<BaseURL> from the Entra ID v1 endpoint.
	TokenV1 = "v1"
)

// Options configure a Client. The zero value of every optional field selects the
// documented default. Every retry and poll loop waits on the schedule of
// internal/backoff.Policy.
type Options struct {
	// BaseURL is the environment root, e.g. https://contoso.operations.dynamics.com.
	// Required. A trailing slash is removed. http is refused unless the host is
	// loopback (127.0.0.0/8, ::1, localhost), which is where the emulator runs.
	BaseURL string
	// Tenant is the Entra ID tenant (GUID or domain). Required unless TokenURL is set.
	Tenant string
	// ClientID and ClientSecret are the app registration's credentials. Required.
	ClientID     string
	ClientSecret string
	// TokenURL overrides the token endpoint. Defaults to
	// https://login.microsoftonline.com/<Tenant>/oauth2/v2.0/token, or
	// .../oauth2/token when TokenVersion is TokenV1.
	TokenURL string
	// TokenVersion is TokenV2 (the default) or TokenV1.
	TokenVersion string

	// MaxRequestsPerMinute caps the calls to this environment (BaseURL) made by every
	// Client in the process together. Defaults to 600. Token and Blob calls are not
	// counted: they do not go to F&O.
	MaxRequestsPerMinute int

	// HTTPClient sends every request. Defaults to a client with its own copy of
	// http.DefaultTransport and no overall timeout (the timeouts below apply per
	// attempt).
	HTTPClient *http.Client
	// Logger receives retries (see OnRetry), throttling and polling progress.
	// Defaults to discarding. Secrets are never logged.
	Logger *slog.Logger
	// OnRetry is called before each wait of a retry, with the call, the attempt that
	// failed, the wait and the cause (Retry.String reads like "GetAzureWriteUrl:
	// connection refused at 127.0.0.1:8098, retry 3 in 8s"). Concurrent calls (and
	// a token fetch they share) call it from their own goroutines: it must be safe
	// for that, and quick. Defaults to logging the retry at warn level through
	// Logger; when set, Logger still gets it, at debug level.
	OnRetry func(Retry)

	// RequestTimeout bounds one attempt of an ordinary call. Defaults to 2 minutes.
	RequestTimeout time.Duration
	// LongRequestTimeout bounds one attempt of ImportFromPackage and
	// ExportToPackage, which F&O answers only after staging. Defaults to 30 minutes.
	LongRequestTimeout time.Duration
	// TransferTimeout bounds one attempt of a Blob upload, block or download.
	// Defaults to 60 minutes.
	TransferTimeout time.Duration
	// RetryDeadline bounds the retries of one call (429 waits, 5xx and network
	// backoff) in addition to the caller's context. Defaults to 30 minutes.
	RetryDeadline time.Duration
	// PersistentErrorTimeout bounds the retries of failures that retrying will not
	// cure soon (IsPersistent: connection refused, unknown host, an untrusted TLS
	// certificate, rejected client credentials, 403): once such failures have lasted
	// this long in a row, the call fails with the cause. A foreground run sets a
	// short one (30 seconds) to fail fast; a server keeps retrying. Defaults to
	// RetryDeadline; negative returns them at once.
	PersistentErrorTimeout time.Duration
	// RetryBackoff is the first wait after a 5xx, network or persistent error; it
	// doubles up to RetryBackoffMax, with ±10% jitter (never above the max).
	// Defaults to 2 seconds and 60 seconds.
	RetryBackoff    time.Duration
	RetryBackoffMax time.Duration

	// Poll is the schedule for GetExecutionSummaryStatus and the other "until ready"
	// loops.
	Poll PollOptions

	// BlockUploadThreshold is the package size above which UploadBlob switches from
	// one Put Blob to Put Block + Put Block List. Defaults to 128 MiB.
	BlockUploadThreshold int64
	// BlockSize is the size of each block of a block upload. Defaults to 16 MiB.
	BlockSize int64
	// MaxEnqueueBytes refuses larger recurring enqueues before sending (F&O answers
	// 413 somewhere around 36-50 MB). Defaults to 32 MiB; negative disables the check.
	MaxEnqueueBytes int64

	// Sleep waits between attempts and polls. Defaults to a timer that honours ctx.
	// Tests substitute a faster one: RetryDeadline and PersistentErrorTimeout count
	// the waits as requested, however long Sleep really took.
	Sleep func(ctx context.Context, d time.Duration) error
}

// PollOptions is a polling schedule: wait Initial, grow by 1.5x up to Max, give up
// after Deadline. Retries of the polled calls themselves (429, 5xx) follow the retry
// options, inside each poll.
type PollOptions struct {
	// Initial is the first interval. Defaults to 5 seconds.
	Initial time.Duration
	// Max caps the interval. Defaults to 60 seconds.
	Max time.Duration
	// Deadline bounds the whole wait. Defaults to 2 hours.
	Deadline time.Duration
	// NotFoundGrace is how long after polling starts a 400 "were not found" from
	// GetExecutionSummaryStatus still means "not registered yet". Defaults to 5 minutes.
	NotFoundGrace time.Duration
}

func (o *Options) normalize() error {
	o.BaseURL = strings.TrimRight(strings.TrimSpace(o.BaseURL), "/")
	if o.BaseURL == "" {
		return errors.New("dmf options: base URL is required")
	}
	u, err := url.Parse(o.BaseURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("dmf options: base URL %q is not an absolute URL", o.BaseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("dmf options: base URL %q must not have a query or fragment", o.BaseURL)
	}
	if err := checkScheme(u); err != nil {
		return fmt.Errorf("dmf options: base URL: %w", err)
	}
	if o.ClientID == "" || o.ClientSecret == "" {
		return errors.New("dmf options: client id and client secret are required")
	}
	switch strings.ToLower(o.TokenVersion) {
	case "", TokenV2:
		o.TokenVersion = TokenV2
	case TokenV1:
		o.TokenVersion = TokenV1
	default:
		return fmt.Errorf("dmf options: token version %q is not %q or %q", o.TokenVersion, TokenV2, TokenV1)
	}
	if o.TokenURL == "" {
		if o.Tenant == "" {
			return errors.New("dmf options: tenant is required when no token URL is given")
		}
		o.TokenURL = "https://login.microsoftonline.com/" + url.PathEscape(o.Tenant) + "/oauth2/v2.0/token"
		if o.TokenVersion == TokenV1 {
			o.TokenURL = "https://login.microsoftonline.com/" + url.PathEscape(o.Tenant) + "/oauth2/token"
		}
	}
	tu, err := url.Parse(o.TokenURL)
	if err != nil || tu.Host == "" {
		return fmt.Errorf("dmf options: token URL %q is not an absolute URL", o.TokenURL)
	}
	if err := checkScheme(tu); err != nil {
		return fmt.Errorf("dmf options: token URL: %w", err)
	}
	if o.MaxRequestsPerMinute <= 0 {
		o.MaxRequestsPerMinute = 600
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	setDefault(&o.RequestTimeout, 2*time.Minute)
	setDefault(&o.LongRequestTimeout, 30*time.Minute)
	setDefault(&o.TransferTimeout, 60*time.Minute)
	setDefault(&o.RetryDeadline, 30*time.Minute)
	if o.PersistentErrorTimeout == 0 {
		o.PersistentErrorTimeout = o.RetryDeadline
	}
	setDefault(&o.RetryBackoff, 2*time.Second)
	setDefault(&o.RetryBackoffMax, 60*time.Second)
	setDefault(&o.Poll.Initial, 5*time.Second)
	setDefault(&o.Poll.Max, 60*time.Second)
	setDefault(&o.Poll.Deadline, 2*time.Hour)
	setDefault(&o.Poll.NotFoundGrace, 5*time.Minute)
	if o.BlockUploadThreshold <= 0 {
		o.BlockUploadThreshold = 128 << 20
	}
	if o.BlockSize <= 0 {
		o.BlockSize = 16 << 20
	}
	if o.MaxEnqueueBytes == 0 {
		o.MaxEnqueueBytes = 32 << 20
	}
	if o.Sleep == nil {
		o.Sleep = backoff.Sleep
	}
	log := o.Logger
	if onRetry := o.OnRetry; onRetry != nil {
		o.OnRetry = func(r Retry) {
			onRetry(r)
			log.Debug("dmf: "+r.String(), retryAttrs(r)...)
		}
	} else {
		o.OnRetry = func(r Retry) { log.Warn("dmf: "+r.String(), retryAttrs(r)...) }
	}
	return nil
}

// retryAttrs are the log attributes of a retry, next to its String as the message.
func retryAttrs(r Retry) []any {
	return []any{"op", r.Op, "attempt", r.Attempt, "wait", r.Wait.Round(time.Millisecond),
		"persistent", r.Persistent, "cause", r.Err.Error()}
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// ErrInsecureURL is returned for an http:// URL whose host is not loopback.
var ErrInsecureURL = errors.New("http is allowed only for loopback hosts; use https")

// checkScheme enforces https, except for loopback hosts where http is allowed.
func checkScheme(u *url.URL) error {
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%s: %w", redactURL(u.String()), ErrInsecureURL)
	default:
		return fmt.Errorf("%s: unsupported scheme %q", redactURL(u.String()), u.Scheme)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
