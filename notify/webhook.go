package notify

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
	"strings"
	"time"
	"unicode"

	"github.com/dmfpipe/dmfpipe/config"
)

// DefaultWebhookTimeout bounds a webhook POST when Webhook.Timeout is zero.
const DefaultWebhookTimeout = 30 * time.Second

// Webhook posts a job's notification as JSON: a Microsoft Teams message holding an
// Adaptive Card (the format a Teams "Workflows" incoming webhook posts to a channel), with
// the job itself, machine-readable, under the extra top-level key "dmfpipe" for any other
// receiver. See [CardMessage].
type Webhook struct {
	// URL is the endpoint. Its path and query are a secret (Teams and Slack webhook URLs
	// carry their token there): errors, and the URL printed or logged, show only its
	// scheme and host; a response body that echoes the path or query has them redacted.
	URL config.SecretURL
	// Client defaults to http.DefaultClient; Timeout applies whatever the client.
	Client *http.Client
	// Timeout bounds the whole POST, response included. Defaults to DefaultWebhookTimeout.
	Timeout time.Duration
}

// Send implements [Sender]. Errors are *Error values for [IsPermanent]; a 429 or 503
// with Retry-After sets Error.RetryAfter.
func (w *Webhook) Send(ctx context.Context, job Job) error {
	u, err := url.Parse(w.URL.Value())
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		// url.Parse's error repeats the URL; say only that it is wrong.
		return permanent(ChannelWebhook, 0, errors.New("webhook URL is not an absolute http(s) URL"))
	}
	where := w.URL.String()
	body, err := json.Marshal(CardMessage(job))
	if err != nil {
		return permanent(ChannelWebhook, 0, fmt.Errorf("encoding the message for %s: %w", where, err))
	}
	ctx, cancel := context.WithTimeout(ctx, orDefault(w.Timeout, DefaultWebhookTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return permanent(ChannelWebhook, 0, fmt.Errorf("request to %s: %w", where, unwrapURLError(err)))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "dmfpipe")
	client := w.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error would print the whole URL.
		return transient(ChannelWebhook, 0, fmt.Errorf("posting to %s: %w", where, unwrapURLError(err)))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	msg := fmt.Sprintf("posting to %s: %s", where, resp.Status)
	if s := redact(string(snippet), u); s != "" {
		msg += ": " + s
	}
	code := resp.StatusCode
	if code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests {
		return permanent(ChannelWebhook, code, errors.New(msg))
	}
	e := transient(ChannelWebhook, code, errors.New(msg))
	e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	return e
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redact makes a response body fit for an error: one line, short, and without the URL's
// secret path, query or user info in case the server echoed them.
func redact(body string, u *url.URL) string {
	secrets := []string{u.RawQuery, u.EscapedPath(), u.Path}
	if u.User != nil {
		secrets = append(secrets, u.User.String())
	}
	for _, secret := range secrets {
		if len(secret) > 1 {
			body = strings.ReplaceAll(body, secret, "[redacted]")
		}
	}
	body = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, body)
	body = strings.Join(strings.Fields(body), " ")
	if len(body) > 200 {
		body = strings.ToValidUTF8(body[:200], "") + "..."
	}
	return body
}

// retryAfter parses a Retry-After header (seconds or an HTTP date); 0 when absent or bad.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// CardMessage is the webhook's JSON body for job: a Teams message with one Adaptive Card
// (version 1.4: title, facts, the error, the first row errors and an "Open in console"
// action), and the job's data under "dmfpipe".
func CardMessage(job Job) map[string]any {
	s := job.summary()
	body := []any{
		map[string]any{
			"type": "TextBlock", "text": s.Subject, "weight": "Bolder", "size": "Medium", "wrap": true,
			"color": statusColor(job.Status),
		},
	}
	facts := make([]any, 0, len(s.Facts))
	for _, f := range s.Facts {
		facts = append(facts, map[string]any{"title": f.Name, "value": f.Value})
	}
	body = append(body, map[string]any{"type": "FactSet", "facts": facts})
	if s.Error != "" {
		label := "Error"
		if job.Status == StatusSkipped {
			label = "Why"
		}
		body = append(body, map[string]any{
			"type": "TextBlock", "text": label + ": " + s.Error, "wrap": true, "color": "Attention",
		})
	}
	if len(s.Errors) > 0 {
		body = append(body, map[string]any{"type": "TextBlock", "text": "First row errors", "weight": "Bolder", "wrap": true})
		for _, e := range s.Errors {
			body = append(body, map[string]any{"type": "TextBlock", "text": "- " + e.String(), "wrap": true, "spacing": "None"})
		}
		if s.More != "" {
			body = append(body, map[string]any{
				"type": "TextBlock", "text": "... and " + s.More + " more rows waiting in staging.", "wrap": true,
			})
		}
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"body":    body,
		"msteams": map[string]any{"width": "Full"},
	}
	if s.Link != "" {
		card["actions"] = []any{map[string]any{"type": "Action.OpenUrl", "title": "Open in console", "url": s.Link}}
	}
	return map[string]any{
		"type":    "message",
		"summary": s.Subject,
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content":     card,
		}},
		"dmfpipe": jobData(job),
	}
}

func statusColor(s Status) string {
	switch s {
	case StatusFailed:
		return "Attention"
	case StatusPartiallySucceeded:
		return "Warning"
	case StatusSucceeded:
		return "Good"
	}
	return "Default"
}

// jobData is the job as plain JSON for receivers that are not Teams.
func jobData(j Job) map[string]any {
	errs := make([]any, 0, len(j.Errors))
	for _, e := range j.Errors {
		errs = append(errs, map[string]any{
			"line": e.Line, "sheet": e.Sheet, "column": e.Column, "field": e.Field, "rule": e.Rule, "message": e.Message,
		})
	}
	d := map[string]any{
		"project": j.Project,
		"job_id":  j.ID,
		"trigger": j.Trigger,
		"status":  j.Status,
		"file":    j.File,
		"counts": map[string]any{
			"read": j.Counts.Read, "staged": j.Counts.Staged, "invalid": j.Counts.Invalid,
			"uploaded": j.Counts.Uploaded, "imported": j.Counts.Imported, "rejected": j.Counts.Rejected,
		},
		"chunks":           j.Chunks,
		"duration_seconds": j.Duration.Seconds(),
		"errors":           errs,
		"error":            j.Error,
		"subject":          j.Subject(),
	}
	if !j.Started.IsZero() {
		d["started"] = j.Started.UTC().Format(time.RFC3339)
	}
	if link := j.Link(); link != "" {
		d["url"] = link
	}
	return d
}

var _ Sender = (*Webhook)(nil)
