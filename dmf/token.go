package dmf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// tokenRefreshMargin: a cached token is replaced when less than this remains
// (dmf-api.md §1.2).
const tokenRefreshMargin = 5 * time.Minute

// tokenSource fetches Entra ID client-credentials tokens and caches them. Concurrent
// callers that find no valid token share a single request.
type tokenSource struct {
	c    *Client
	form string // url-encoded request body; holds the client secret, never logged

	mu     sync.Mutex
	cached string
	expiry time.Time
	flight singleflight.Group
}

func newTokenSource(c *Client) *tokenSource {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.opts.ClientID},
		"client_secret": {c.opts.ClientSecret},
	}
	// The audience is exactly the environment URL, without a trailing slash (§1.1).
	if c.opts.TokenVersion == TokenV1 {
		form.Set("resource", c.opts.BaseURL)
	} else {
		form.Set("scope", c.opts.BaseURL+"/.default")
	}
	return &tokenSource{c: c, form: form.Encode()}
}

// token returns a bearer token valid for at least tokenRefreshMargin.
func (ts *tokenSource) token(ctx context.Context) (string, error) {
	ts.mu.Lock()
	if ts.cached != "" && time.Until(ts.expiry) > tokenRefreshMargin {
		tok := ts.cached
		ts.mu.Unlock()
		return tok, nil
	}
	ts.mu.Unlock()
	// The fetch outlives a caller that gives up, so the callers still waiting on it
	// get their token; it stays bounded by the retry deadline.
	ch := ts.flight.DoChan("token", func() (any, error) {
		return ts.fetch(context.WithoutCancel(ctx))
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

// invalidate drops the cached token if it is still tok (a 401 answered it).
func (ts *tokenSource) invalidate(tok string) {
	ts.mu.Lock()
	if ts.cached == tok {
		ts.cached = ""
	}
	ts.mu.Unlock()
}

func (ts *tokenSource) fetch(ctx context.Context) (string, error) {
	body := []byte(ts.form)
	newBody, size := bytesBody(body)
	started := time.Now()
	resp, err := ts.c.do(ctx, &request{
		op:      "token",
		method:  http.MethodPost,
		url:     ts.c.opts.TokenURL,
		header:  http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}},
		body:    newBody,
		size:    size,
		policy:  retryAll,
		timeout: ts.c.opts.RequestTimeout,
	})
	if err != nil {
		return "", fmt.Errorf("getting access token: %w", err)
	}
	var tr struct {
		AccessToken string  `json:"access_token"`
		ExpiresIn   flexInt `json:"expires_in"`
		ExpiresOn   flexInt `json:"expires_on"`
	}
	if err := json.Unmarshal(resp.body, &tr); err != nil {
		return "", fmt.Errorf("getting access token: decoding response: %w", err)
	}
	if tr.AccessToken == "" {
		return "", errors.New("getting access token: response has no access_token")
	}
	var expiry time.Time
	switch {
	case tr.ExpiresIn > 0:
		// Counted from the request, not the answer: the token's clock started then.
		expiry = started.Add(time.Duration(tr.ExpiresIn) * time.Second)
	case tr.ExpiresOn > 0:
		expiry = time.Unix(int64(tr.ExpiresOn), 0)
	default:
		return "", errors.New("getting access token: response has neither expires_in nor expires_on")
	}
	ts.mu.Lock()
	ts.cached, ts.expiry = tr.AccessToken, expiry
	ts.mu.Unlock()
	ts.c.log.Debug("dmf: access token fetched", "expires", expiry.UTC().Format(time.RFC3339))
	return tr.AccessToken, nil
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
