package dmf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/dmfpipe/dmfpipe/internal/backoff"
)

// retryPolicy says which failures of a request may be retried by sending it again.
type retryPolicy int

const (
	// retryAll is for idempotent requests: 429, 5xx and network errors are retried.
	retryAll retryPolicy = iota
	// retryUnsent is for requests that must not run twice: only answers that say the
	// request was refused before processing (429, 403) and failures before the
	// request left the machine are retried; anything else is reported as
	// ErrResponseLost.
	retryUnsent
)

// defaultRetryAfter is the wait after a 429 without a usable Retry-After (§5.3).
const defaultRetryAfter = 30 * time.Second

// maxResponseBody bounds a response read into memory; bodies that can be large
// (packages, files) are streamed by a consume function instead.
const maxResponseBody = 64 << 20

// maxErrorBody bounds the body of an error answer kept for its message.
const maxErrorBody = 64 << 10

// request is one logical call; do sends it as many times as its policy allows.
type request struct {
	op      string
	method  string
	url     string // for the request, and redacted, for errors
	header  http.Header
	body    func() io.Reader // nil for no body; called once per attempt
	size    int64            // body length, or -1 when unknown
	auth    bool             // send the bearer token (F&O endpoints only, never SAS URLs)
	limited bool             // count against the environment's rate limit
	sas     bool             // a Blob SAS URL: its signature cannot change, so a 403 is final
	policy  retryPolicy
	timeout time.Duration
	// failFast makes persistent errors (IsPersistent) final at once, whatever
	// Options.PersistentErrorTimeout says (Check).
	failFast bool
	// send, when set, makes the attempt instead of an HTTP request built from the
	// fields above: a library call (oauth2, the azblob SDK) through c.library.
	send func(ctx context.Context) (*http.Response, error)
	// consume streams a 2xx body; nil reads it into response.body.
	consume func(io.Reader) error
	// rewind undoes a partially consumed body before a retry; nil makes a failure
	// while consuming final.
	rewind func() error
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func bytesBody(b []byte) (func() io.Reader, int64) {
	return func() io.Reader { return bytes.NewReader(b) }, int64(len(b))
}

// attemptError is a failure to get an HTTP response.
type attemptError struct {
	err     error
	unsent  bool // the request certainly did not reach the server
	final   bool // retrying cannot help (a request that cannot be built, a bad answer)
	consume bool // the response arrived but reading its body failed
}

func (e *attemptError) Error() string { return e.err.Error() }
func (e *attemptError) Unwrap() error { return e.err }

// permanentError is returned by a consume function for a failure that another
// attempt cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// callError is a failed attempt that got no HTTP answer: the call, where it went
// (redacted) and what happened.
type callError struct {
	op, method, url string
	err             error
}

func (e *callError) Error() string { return fmt.Sprintf("%s %s %s: %v", e.op, e.method, e.url, e.err) }
func (e *callError) Unwrap() error { return e.err }

// retryClock measures one call's retries against its deadlines. Time waited counts
// as requested even when Options.Sleep returns early (tests), so the deadlines bound
// the retries by what the waits would have taken.
type retryClock struct {
	c     *Client
	start time.Time
	ahead time.Duration // requested waits minus the time they took
}

func (c *Client) newRetryClock() *retryClock { return &retryClock{c: c, start: time.Now()} }

func (k *retryClock) elapsed() time.Duration { return time.Since(k.start) + k.ahead }

// sleep waits d with Options.Sleep.
func (k *retryClock) sleep(ctx context.Context, d time.Duration) error {
	t0 := time.Now()
	if err := k.c.opts.Sleep(ctx, d); err != nil {
		return err
	}
	if took := time.Since(t0); took < d {
		k.ahead += d - took
	}
	return nil
}

// retryBackoff is the schedule of the waits after 5xx and network failures.
func (c *Client) retryBackoff() backoff.Policy {
	return backoff.Policy{Initial: c.opts.RetryBackoff, Max: c.opts.RetryBackoffMax, Multiplier: 2, Jitter: retryJitter}
}

// retryJitter spreads retry waits so that callers that failed together (a throttled
// or restarted environment) do not return in lockstep (§5.3: ±10 %).
const retryJitter = 0.1

// jitter spreads a wait that does not come from retryBackoff (a Retry-After).
func jitter(d time.Duration) time.Duration { return backoff.Spread(d, retryJitter) }

// do sends r, retrying per its policy until success, a non-retryable answer, the
// caller's context, the retry deadline or, for persistent errors, the persistent
// error timeout.
func (c *Client) do(ctx context.Context, r *request) (*response, error) {
	clock := c.newRetryClock()
	backoffs := 0
	persistentSince := time.Duration(-1) // elapsed time at the first of a run of persistent failures
	refreshed := false
	for attempt := 1; ; attempt++ {
		resp, token, err := c.attempt(ctx, clock, r)
		var (
			wait       time.Duration
			cause      error
			throttled  bool
			persistent bool
		)
		var ae *attemptError
		switch {
		case err == nil && resp.status >= 200 && resp.status < 300:
			return resp, nil
		case errors.As(err, &ae):
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s: %w", r.op, ctx.Err())
			}
			cause = &callError{op: r.op, method: r.method, url: redactURL(r.url), err: ae.err}
			switch {
			case ae.final:
				return nil, cause
			case ae.consume && r.rewind == nil:
				return nil, cause
			case r.policy == retryUnsent && !ae.unsent:
				return nil, fmt.Errorf("%w: %w", ErrResponseLost, cause)
			}
			if ae.consume {
				if err := r.rewind(); err != nil {
					return nil, fmt.Errorf("%w (and cannot restart: %w)", cause, err)
				}
			}
			persistent = isPersistentTransport(ae.err)
			backoffs++
			wait = c.retryBackoff().Delay(backoffs)
		case err != nil:
			return nil, err
		case resp.status == http.StatusTooManyRequests:
			cause = newHTTPError(r.op, r.method, r.url, resp.status, resp.body)
			wait = jitter(retryAfter(resp.header.Get("Retry-After"), time.Now()))
			throttled = true
		case resp.status == http.StatusUnauthorized && r.auth && !refreshed:
			// A token can be revoked or rejected before its expiry: fetch a new one once.
			c.tokens.invalidate(token)
			refreshed = true
			continue
		case resp.status >= 500:
			he := newHTTPError(r.op, r.method, r.url, resp.status, resp.body)
			if r.policy == retryUnsent {
				return nil, fmt.Errorf("%w: %w", ErrResponseLost, he)
			}
			cause = he
			backoffs++
			wait = c.retryBackoff().Delay(backoffs)
		default:
			he := newHTTPError(r.op, r.method, r.url, resp.status, resp.body)
			if r.sas || !isPersistentAnswer(he) {
				return nil, he
			}
			// Refused before processing: safe to send again, whatever r.policy.
			cause, persistent = he, true
			backoffs++
			wait = c.retryBackoff().Delay(backoffs)
		}
		elapsed := clock.elapsed()
		if !persistent {
			persistentSince = -1
		} else {
			if persistentSince < 0 {
				persistentSince = elapsed
			}
			limit := c.opts.PersistentErrorTimeout
			if r.failFast || limit < 0 {
				return nil, cause
			}
			if elapsed-persistentSince+wait > limit {
				return nil, fmt.Errorf("giving up after %d attempts in %s (persistent error timeout %s): %w",
					attempt, roundWait(elapsed), limit, cause)
			}
		}
		if elapsed+wait > c.opts.RetryDeadline {
			return nil, fmt.Errorf("giving up after %d attempts (retry deadline %s): %w", attempt, c.opts.RetryDeadline, cause)
		}
		c.opts.OnRetry(Retry{Op: r.op, Attempt: attempt, Wait: wait, Err: cause, Persistent: persistent})
		if throttled && r.limited {
			// The environment-wide pause holds this caller too, in limiter.wait.
			c.limiter.pause(wait)
			continue
		}
		if err := clock.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%s: %w (last failure: %w)", r.op, err, cause)
		}
	}
}

// attempt sends r once. It returns the bearer token it used, for invalidation.
func (c *Client) attempt(ctx context.Context, clock *retryClock, r *request) (*response, string, error) {
	if r.limited {
		if err := c.limiter.wait(ctx, clock.sleep); err != nil {
			// Either ctx ended or the limiter's wait would outlast ctx's deadline.
			return nil, "", &attemptError{err: err, unsent: true, final: true}
		}
	}
	var token string
	if r.auth {
		var err error
		if token, err = c.tokens.token(ctx); err != nil {
			return nil, "", fmt.Errorf("%s: %w", r.op, err)
		}
		if err := beforeSend(ctx); err != nil {
			return nil, token, &attemptError{err: err, unsent: true, final: true}
		}
	}
	actx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var (
		resp *http.Response
		err  error
	)
	if r.send != nil {
		resp, err = r.send(actx)
	} else {
		resp, err = c.sendHTTP(actx, r, token)
	}
	// timedOut names an attempt timeout as such, rather than as the context error
	// the transport reports.
	timedOut := func(err error) error {
		if ctx.Err() == nil && actx.Err() != nil {
			return &timeoutError{after: r.timeout, err: unwrapURLError(err)}
		}
		return unwrapURLError(err)
	}
	if err != nil {
		var ae *attemptError
		if errors.As(err, &ae) {
			return nil, token, ae
		}
		return nil, token, classify(timedOut(err))
	}
	defer resp.Body.Close()
	out := &response{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 && r.consume != nil {
		if err := r.consume(resp.Body); err != nil {
			var pe *permanentError
			if errors.As(err, &pe) {
				return nil, token, &attemptError{err: pe.err, final: true}
			}
			return nil, token, &attemptError{err: timedOut(err), consume: true}
		}
		return out, token, nil
	}
	limit := int64(maxResponseBody)
	if resp.StatusCode >= 300 {
		limit = maxErrorBody // enough for any error envelope
	}
	out.body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, token, &attemptError{err: timedOut(err)}
	}
	if int64(len(out.body)) > limit && resp.StatusCode < 300 {
		return nil, token, &attemptError{err: fmt.Errorf("response larger than %d bytes", limit), final: true}
	}
	return out, token, nil
}

// sendHTTP builds r's HTTP request and sends it with Options.HTTPClient.
func (c *Client) sendHTTP(ctx context.Context, r *request, token string) (*http.Response, error) {
	var body io.Reader
	if r.body != nil {
		body = r.body()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return nil, &attemptError{err: err, final: true}
	}
	if r.body != nil && r.size >= 0 {
		req.ContentLength = r.size
		if r.size == 0 {
			req.Body = http.NoBody
		}
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", userAgent)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return c.opts.HTTPClient.Do(req)
}

// userAgent is sent on every request the client builds; the azblob SDK prefixes its
// own with it.
const userAgent = "dmfpipe"

// Libraries (oauth2 for tokens, the azblob SDK for blobs) build and send their own
// requests. They send them through c.wire, Options.HTTPClient behind a recorder that
// hands the attempt what happened on the wire, so that do makes the same retry
// decision for them as for the client's own requests. Neither library retries by
// itself: oauth2 never does, and the SDK is configured not to (blobClientOptions).

// exchange records the round trip of one library call.
type exchange struct {
	sent    bool
	resp    *http.Response
	err     error
	errBody []byte // an error answer's body, which the library reads too
}

type exchangeKey struct{}

// recorder is the RoundTripper of c.wire.
type recorder struct{ next http.RoundTripper }

func (rt recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.next.RoundTrip(req)
	ex, ok := req.Context().Value(exchangeKey{}).(*exchange)
	if !ok {
		return resp, err
	}
	ex.sent, ex.resp, ex.err, ex.errBody = true, resp, err, nil
	if err == nil && (resp.StatusCode < 200 || resp.StatusCode >= 300) {
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		if rerr != nil {
			ex.err = rerr
			return nil, rerr
		}
		ex.errBody = body
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	return resp, err
}

// newWire returns hc with a recorder in front of its transport.
func newWire(hc *http.Client) *http.Client {
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	return &http.Client{Transport: recorder{next: next}, CheckRedirect: hc.CheckRedirect, Jar: hc.Jar, Timeout: hc.Timeout}
}

// library runs call, a library operation that sends one request through c.wire, and
// returns the response that came back on the wire. call returns the body it left
// unread (a download), or nil. Errors the library makes of error answers are
// dropped: the answer itself is returned, and do decides.
func (c *Client) library(ctx context.Context, call func(ctx context.Context) (io.ReadCloser, error)) (*http.Response, error) {
	ex := &exchange{}
	body, err := call(context.WithValue(ctx, exchangeKey{}, ex))
	switch {
	case !ex.sent:
		// The library failed before sending; it would fail the same way again.
		if err == nil {
			err = errors.New("the library sent no request")
		}
		return nil, &attemptError{err: unwrapURLError(err), unsent: true, final: true}
	case ex.err != nil:
		return nil, ex.err
	}
	resp := *ex.resp
	switch {
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		if body != nil {
			body.Close()
		}
		resp.Body = io.NopCloser(bytes.NewReader(ex.errBody))
	case err != nil:
		// A success answer the library could not use (a token response without a
		// token): the same answer would come again.
		if body != nil {
			body.Close()
		}
		return nil, &attemptError{err: unwrapURLError(err), final: true}
	case body != nil:
		resp.Body = body
	default:
		resp.Body = http.NoBody
	}
	return &resp, nil
}

// unwrapURLError drops net/http's *url.Error wrapper, whose text holds the full
// request URL (and with it any SAS signature).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date; 30 s when
// missing or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return defaultRetryAfter
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return defaultRetryAfter
}
