package dmf

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// retryPolicy says which failures of a request may be retried by sending it again.
type retryPolicy int

const (
	// retryAll is for idempotent requests: 429, 5xx and network errors are retried.
	retryAll retryPolicy = iota
	// retryUnsent is for requests that must not run twice: only 429 (refused before
	// processing) and failures before the request left the machine are retried;
	// anything else is reported as ErrResponseLost.
	retryUnsent
)

// defaultRetryAfter is the wait after a 429 without a usable Retry-After (§5.3).
const defaultRetryAfter = 30 * time.Second

// maxResponseBody bounds a response read into memory; bodies that can be large
// (packages, files) are streamed by a consume function instead.
const maxResponseBody = 64 << 20

// request is one logical call; do sends it as many times as its policy allows.
type request struct {
	op      string
	method  string
	url     string
	header  http.Header
	body    func() io.Reader // nil for no body; called once per attempt
	size    int64            // body length, or -1 when unknown
	auth    bool             // send the bearer token (F&O endpoints only, never SAS URLs)
	limited bool             // count against the environment's rate limit
	policy  retryPolicy
	timeout time.Duration
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
	final   bool // retrying cannot help (bad certificate, token failure)
	consume bool // the response arrived but reading its body failed
}

func (e *attemptError) Error() string { return e.err.Error() }
func (e *attemptError) Unwrap() error { return e.err }

// permanentError is returned by a consume function for a failure that another
// attempt cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// do sends r, retrying per its policy until success, a non-retryable answer, the
// caller's context or the retry deadline.
func (c *Client) do(ctx context.Context, r *request) (*response, error) {
	deadline := time.Now().Add(c.opts.RetryDeadline)
	backoff := c.opts.RetryBackoff
	refreshed := false
	for attempt := 1; ; attempt++ {
		resp, token, err := c.attempt(ctx, r)
		var (
			wait      time.Duration
			cause     error
			throttled bool
		)
		var ae *attemptError
		switch {
		case err == nil && resp.status >= 200 && resp.status < 300:
			return resp, nil
		case errors.As(err, &ae):
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s: %w", r.op, ctx.Err())
			}
			cause = fmt.Errorf("%s %s %s: %w", r.op, r.method, redactURL(r.url), ae.err)
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
			wait, backoff = jitter(backoff), min(2*backoff, c.opts.RetryBackoffMax)
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
			wait, backoff = jitter(backoff), min(2*backoff, c.opts.RetryBackoffMax)
		default:
			return nil, newHTTPError(r.op, r.method, r.url, resp.status, resp.body)
		}
		if time.Now().Add(wait).After(deadline) {
			return nil, fmt.Errorf("giving up after %d attempts (retry deadline %s): %w", attempt, c.opts.RetryDeadline, cause)
		}
		c.log.Warn("dmf: retrying", "op", r.op, "attempt", attempt, "wait", wait.Round(time.Millisecond), "cause", cause.Error())
		if throttled && r.limited {
			// The environment-wide pause holds this caller too, in limiter.wait.
			c.limiter.pause(wait)
			continue
		}
		if err := c.opts.Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%s: %w (last failure: %w)", r.op, err, cause)
		}
	}
}

// attempt sends r once. It returns the bearer token it used, for invalidation.
func (c *Client) attempt(ctx context.Context, r *request) (*response, string, error) {
	if r.limited {
		if err := c.limiter.wait(ctx, c.opts.Sleep); err != nil {
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
	}
	actx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var body io.Reader
	if r.body != nil {
		body = r.body()
	}
	req, err := http.NewRequestWithContext(actx, r.method, r.url, body)
	if err != nil {
		return nil, "", &attemptError{err: err, final: true}
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
	req.Header.Set("User-Agent", "dmfpipe")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, token, classify(err)
	}
	defer resp.Body.Close()
	out := &response{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 && r.consume != nil {
		if err := r.consume(resp.Body); err != nil {
			var pe *permanentError
			if errors.As(err, &pe) {
				return nil, token, &attemptError{err: pe.err, final: true}
			}
			return nil, token, &attemptError{err: unwrapURLError(err), consume: true}
		}
		return out, token, nil
	}
	limit := int64(maxResponseBody)
	if resp.StatusCode >= 300 {
		limit = 64 << 10 // enough for any error envelope
	}
	out.body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, token, &attemptError{err: unwrapURLError(err)}
	}
	if int64(len(out.body)) > limit && resp.StatusCode < 300 {
		return nil, token, &attemptError{err: fmt.Errorf("response larger than %d bytes", limit), final: true}
	}
	return out, token, nil
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
	case errors.As(err, &certErr):
		return &attemptError{err: err, final: true}
	case errors.As(err, &dnsErr):
		// "No such host" is an answer, not an outage: retrying for the whole retry
		// deadline would only hide a mistyped URL.
		return &attemptError{err: err, unsent: true, final: dnsErr.IsNotFound}
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return &attemptError{err: err, unsent: true}
	}
	return &attemptError{err: err}
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

// jitter spreads d by ±10% so that throttled callers do not return in lockstep.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}
