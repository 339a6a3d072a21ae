package dmf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// Check verifies, before any work is staged, that the client can work with the
// environment: it fetches a new token (the client credentials are right and the
// token endpoint answers), then reads one DataManagementDefinitionGroups record,
// through the rate limit (F&O is reachable, accepts the token and lets the
// application read data projects). Failures that retrying will not cure soon
// (IsPersistent: a wrong secret, a refused connection, an unknown host, an untrusted
// certificate, 403) are returned at once, whatever Options.PersistentErrorTimeout
// says; throttling and 5xx are retried as for any call.
//
// The error says plainly what is wrong, e.g. "Entra ID rejected the client
// credentials (AADSTS7000215: Invalid client secret provided)"; errors.As still finds
// the *HTTPError or network error beneath.
func (c *Client) Check(ctx context.Context) error {
	if _, err := c.tokens.fresh(ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("checking F&O at %s: %w", c.opts.BaseURL, err)
		}
		return &checkError{msg: c.tokenProblem(err), err: err}
	}
	const op = "DataManagementDefinitionGroups"
	resp, err := c.do(ctx, &request{
		op:       op,
		method:   http.MethodGet,
		url:      c.opts.BaseURL + "/data/" + op + "?" + url.Values{"$top": {"1"}, "$select": {"Name"}}.Encode(),
		header:   http.Header{"Accept": {"application/json"}, "Odata-Version": {"4.0"}, "Odata-Maxversion": {"4.0"}},
		auth:     true,
		limited:  true,
		policy:   retryAll,
		timeout:  c.opts.RequestTimeout,
		failFast: true,
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("checking F&O at %s: %w", c.opts.BaseURL, err)
		}
		return &checkError{msg: c.foProblem(err), err: err}
	}
	var page struct {
		Value []json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(resp.body, &page); err != nil || page.Value == nil {
		return &checkError{msg: fmt.Sprintf("F&O at %s did not answer an OData query with an OData collection; is the base URL the environment's root?",
			c.opts.BaseURL), err: err}
	}
	return nil
}

// checkError is a Check failure: a plain message, and the error it stands for.
type checkError struct {
	msg string
	err error
}

func (e *checkError) Error() string { return e.msg }
func (e *checkError) Unwrap() error { return e.err }

// tokenProblem says what a failed token request means.
func (c *Client) tokenProblem(err error) string {
	var he *HTTPError
	if errors.As(err, &he) {
		switch {
		case isPersistentAnswer(he), he.Code == "unauthorized_client":
			return fmt.Sprintf("Entra ID rejected the client credentials (%s)", entraReason(he))
		case he.Code != "":
			return fmt.Sprintf("Entra ID refused the token request (%s)", entraReason(he))
		}
		return fmt.Sprintf("the token endpoint %s answered %s", redactURL(c.opts.TokenURL), describe(err))
	}
	return fmt.Sprintf("cannot get a token from %s: %s", redactURL(c.opts.TokenURL), describe(err))
}

// entraReason is an Entra ID error's first sentence ("AADSTS7000215: Invalid client
// secret provided"), or its code.
func entraReason(he *HTTPError) string {
	if m := firstSentence(he.Message); m != "" {
		return m
	}
	if he.Code != "" {
		return he.Code
	}
	return fmt.Sprintf("HTTP %d", he.StatusCode)
}

// foProblem says what a failed F&O request means.
func (c *Client) foProblem(err error) string {
	var he *HTTPError
	if !errors.As(err, &he) {
		return fmt.Sprintf("cannot reach F&O at %s: %s", c.opts.BaseURL, describe(err))
	}
	switch he.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Sprintf("F&O at %s rejected the access token (HTTP 401); is the client ID registered in "+
			"System administration > Setup > Microsoft Entra applications, and is the base URL the token's audience?", c.opts.BaseURL)
	case http.StatusForbidden:
		return fmt.Sprintf("F&O at %s denied access (%s); check the security roles of the user the application is mapped to",
			c.opts.BaseURL, describe(err))
	case http.StatusNotFound:
		return fmt.Sprintf("F&O at %s has no OData endpoint (HTTP 404); is the base URL the environment's root?", c.opts.BaseURL)
	}
	return fmt.Sprintf("F&O at %s answered %s", c.opts.BaseURL, describe(err))
}
