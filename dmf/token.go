package dmf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/sync/singleflight"
)

// opToken is the Op of token requests, in errors and retries.
const opToken = "token"

// tokenRefreshMargin: a cached token is replaced when less than this remains
// (dmf-api.md §1.2).
const tokenRefreshMargin = 5 * time.Minute

// tokenSource fetches Entra ID client-credentials tokens and caches them.
//
// clientcredentials builds the request (v2: scope=<base>/.default; v1:
// resource=<base> as an endpoint parameter) and parses the answer, and
// oauth2.ReuseTokenSourceWithExpiry caches the token and replaces it 5 minutes
// before expiry. Three things stay ours, which oauth2 does not offer: every token
// request goes through the client's retry loop (429 Retry-After, backoff, the
// persistent error timeout) with a timeout per attempt; a caller waiting for a token
// can give up on its context (oauth2's TokenSource has none) while concurrent
// callers share one fetch; and a token that F&O answered 401 is dropped.
type tokenSource struct {
	c      *Client
	config clientcredentials.Config // holds the client secret; never logged

	mu     sync.Mutex
	reuse  oauth2.TokenSource // caches one token; replaced to drop it
	cached *oauth2.Token      // the token reuse last handed out, for a lock-free check
	flight singleflight.Group
}

func newTokenSource(c *Client) *tokenSource {
	ts := &tokenSource{c: c, config: clientcredentials.Config{
		ClientID:     c.opts.ClientID,
		ClientSecret: c.opts.ClientSecret,
		TokenURL:     c.opts.TokenURL,
		// In the form, as Entra ID documents it; the default (auto-detect) would send
		// the secret twice when the first style fails.
		AuthStyle: oauth2.AuthStyleInParams,
	}}
	// The audience is exactly the environment URL, without a trailing slash (§1.1).
	if c.opts.TokenVersion == TokenV1 {
		ts.config.EndpointParams = url.Values{"resource": {c.opts.BaseURL}}
	} else {
		ts.config.Scopes = []string{c.opts.BaseURL + "/.default"}
	}
	ts.reuse = ts.newReuse(nil)
	return ts
}

// newReuse returns a cache holding t (nil: empty) that fetches through the retry loop.
func (ts *tokenSource) newReuse(t *oauth2.Token) oauth2.TokenSource {
	return oauth2.ReuseTokenSourceWithExpiry(t, fetcher{ts}, tokenRefreshMargin)
}

// fetcher is the oauth2.TokenSource behind the cache. It has no context of its own:
// the fetch outlives a caller that gives up, so that the callers still waiting on it
// get their token, and stays bounded by the retry deadline.
type fetcher struct{ ts *tokenSource }

func (f fetcher) Token() (*oauth2.Token, error) { return f.ts.fetch(context.Background(), false) }

// token returns a bearer token valid for at least tokenRefreshMargin. Concurrent
// callers that find no valid token share a single fetch.
func (ts *tokenSource) token(ctx context.Context) (string, error) {
	ts.mu.Lock()
	if ts.cached.Valid() { // Valid applies the margin: the cache set it on the token
		tok := ts.cached.AccessToken
		ts.mu.Unlock()
		return tok, nil
	}
	ts.mu.Unlock()
	ch := ts.flight.DoChan("token", func() (any, error) {
		ts.mu.Lock()
		reuse := ts.reuse
		ts.mu.Unlock()
		t, err := reuse.Token()
		if err != nil {
			return nil, err
		}
		ts.mu.Lock()
		if ts.reuse == reuse {
			ts.cached = t
		}
		ts.mu.Unlock()
		return t.AccessToken, nil
	})
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return res.Val.(string), nil
	}
}

// fresh fetches a new token now, failing at once on persistent errors, and caches
// it (Check).
func (ts *tokenSource) fresh(ctx context.Context) (string, error) {
	t, err := ts.fetch(ctx, true)
	if err != nil {
		return "", err
	}
	ts.mu.Lock()
	ts.reuse = ts.newReuse(t)
	ts.cached = t
	ts.mu.Unlock()
	return t.AccessToken, nil
}

// invalidate drops the cached token if it is still tok (a 401 answered it).
func (ts *tokenSource) invalidate(tok string) {
	ts.mu.Lock()
	if ts.cached != nil && ts.cached.AccessToken == tok {
		ts.cached = nil
		ts.reuse = ts.newReuse(nil)
	}
	ts.mu.Unlock()
}

// fetch requests a token, retrying per the client's policy.
func (ts *tokenSource) fetch(ctx context.Context, failFast bool) (*oauth2.Token, error) {
	var t *oauth2.Token
	_, err := ts.c.do(ctx, &request{
		op:       opToken,
		method:   http.MethodPost,
		url:      ts.c.opts.TokenURL,
		policy:   retryAll,
		timeout:  ts.c.opts.RequestTimeout,
		failFast: failFast,
		send: func(ctx context.Context) (*http.Response, error) {
			return ts.c.library(ctx, func(ctx context.Context) (io.ReadCloser, error) {
				var err error
				t, err = ts.config.Token(context.WithValue(ctx, oauth2.HTTPClient, ts.c.wire))
				return nil, err
			})
		},
	})
	if err != nil {
		return nil, fmt.Errorf("getting access token: %w", err)
	}
	if t.Expiry.IsZero() {
		// clientcredentials reads expires_in only; the v1 endpoint may send expires_on
		// (epoch seconds, as a string) alone.
		on, ok := epochSeconds(t.Extra("expires_on"))
		if !ok {
			return nil, errors.New("getting access token: response has neither expires_in nor expires_on")
		}
		t.Expiry = time.Unix(on, 0)
	}
	ts.c.log.Debug("dmf: access token fetched", "expires", t.Expiry.UTC().Format(time.RFC3339))
	return t, nil
}

// epochSeconds reads a JSON number or numeric string.
func epochSeconds(v any) (int64, bool) {
	var f float64
	switch v := v.(type) {
	case float64:
		f = v
	case string:
		var err error
		if f, err = strconv.ParseFloat(v, 64); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return int64(f), f > 0
}

// flexInt is an integer that Entra ID may send as a JSON number or a numeric string
// (the v1 endpoint sends "3599").
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	v, err := strconv.ParseFloat(string(bytes.TrimSpace(b)), 64)
	if err != nil {
		return fmt.Errorf("not a number: %q", b)
	}
	*n = flexInt(v)
	return nil
}
