package dmf

import (
	"log/slog"
	"net/http"
)

// Client talks to one F&O environment. It is safe for concurrent use.
type Client struct {
	opts    Options
	log     *slog.Logger
	tokens  *tokenSource
	limiter *envLimiter
	wire    *http.Client // Options.HTTPClient for library calls (newWire)
}

// New validates opts, fills in defaults and returns a Client. It does no I/O: the
// first token is fetched by the first call.
func New(opts Options) (*Client, error) {
	if err := opts.normalize(); err != nil {
		return nil, err
	}
	c := &Client{opts: opts, log: opts.Logger, wire: newWire(opts.HTTPClient)}
	c.tokens = newTokenSource(c)
	c.limiter = limiterFor(opts.BaseURL, opts.MaxRequestsPerMinute)
	return c, nil
}

// BaseURL returns the environment root the client talks to.
func (c *Client) BaseURL() string { return c.opts.BaseURL }

// jsonHeader is the header set of F&O OData and JSON calls.
func jsonHeader() http.Header {
	return http.Header{
		"Content-Type":     {"application/json"},
		"Accept":           {"application/json"},
		"Odata-Version":    {"4.0"},
		"Odata-Maxversion": {"4.0"},
	}
}
