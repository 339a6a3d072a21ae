package dmf

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// ErrResponseLost means a call that must not be re-sent blindly (enqueue, or an
// import or export whose execution could not be found) failed without a usable
// answer: F&O may or may not have acted on it.
var ErrResponseLost = errors.New("response lost; the request may have been processed")

// ErrPollDeadline means a polling loop reached its deadline (PollOptions.Deadline)
// before the awaited state.
var ErrPollDeadline = errors.New("polling deadline exceeded")

// HTTPError is a non-success HTTP answer.
type HTTPError struct {
	// Op names the call: an action name ("ImportFromPackage"), "token",
	// "blob upload", "enqueue"...
	Op string
	// Method and URL are the request's; the URL has its query removed (SAS
	// signatures are secrets).
	Method string
	URL    string
	// StatusCode is the HTTP status.
	StatusCode int
	// Code and Message come from the OData error envelope
	// ({"error":{"code","message","innererror":{"message"}}}), an Entra ID error
	// ({"error","error_description"}) or a Blob error (<Error><Code><Message>), or
	// are a trimmed excerpt of the body.
	Code    string
	Message string
}

func (e *HTTPError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s: HTTP %d", e.Op, e.Method, e.URL, e.StatusCode)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	return b.String()
}

// IsExecutionNotFound reports the 400 "... were not found" F&O returns for an execution
// that does not exist yet (dmf-api.md §2.5). The text is the only signal F&O gives.
func IsExecutionNotFound(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.StatusCode == 400 &&
		strings.Contains(strings.ToLower(he.Message), "were not found")
}

// newHTTPError builds an HTTPError from a response body.
func newHTTPError(op, method, rawURL string, status int, body []byte) *HTTPError {
	e := &HTTPError{Op: op, Method: method, URL: redactURL(rawURL), StatusCode: status}
	e.Code, e.Message = parseErrorBody(body)
	return e
}

// maxErrorText bounds the body excerpt kept in an HTTPError.
const maxErrorText = 500

func parseErrorBody(body []byte) (code, message string) {
	// Blob storage starts its XML errors with a byte order mark.
	body = bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\ufeff")))
	if len(body) == 0 {
		return "", ""
	}
	switch body[0] {
	case '{':
		var env struct {
			Error            json.RawMessage `json:"error"`
			ErrorDescription string          `json:"error_description"`
			Message          string          `json:"message"`
		}
		if json.Unmarshal(body, &env) == nil {
			var odata struct {
				Code       string `json:"code"`
				Message    string `json:"message"`
				InnerError struct {
					Message string `json:"message"`
				} `json:"innererror"`
			}
			var entra string
			switch {
			case json.Unmarshal(env.Error, &odata) == nil && (odata.Message != "" || odata.Code != ""):
				msg := odata.InnerError.Message
				if msg == "" {
					msg = odata.Message
				}
				return odata.Code, truncate(msg)
			case json.Unmarshal(env.Error, &entra) == nil && entra != "":
				return entra, truncate(firstLine(env.ErrorDescription))
			case env.Message != "":
				return "", truncate(env.Message)
			}
		}
	case '<':
		var blob struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		}
		if xml.Unmarshal(body, &blob) == nil && (blob.Code != "" || blob.Message != "") {
			return blob.Code, truncate(firstLine(blob.Message))
		}
	}
	return "", truncate(string(body))
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

func truncate(s string) string { return truncateAt(strings.TrimSpace(s), maxErrorText) }

// truncateAt shortens s to at most n bytes, on a rune boundary, marking the cut.
func truncateAt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// redactURL drops the query and user info of a URL: SAS signatures and download
// tokens must never reach a log line or an error message.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexAny(raw, "?#"); i >= 0 {
			return raw[:i] + "?…"
		}
		return raw
	}
	hadQuery := u.RawQuery != ""
	u.RawQuery, u.Fragment, u.User = "", "", nil
	if hadQuery {
		return u.String() + "?…"
	}
	return u.String()
}
