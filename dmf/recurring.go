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
	"strings"
)

// ErrNoFile is returned by DownloadMessage for a dequeued message without a file
// (IsDownLoadFileExist false).
var ErrNoFile = errors.New("message has no file")

// ErrTooLarge is returned by Enqueue for a body above Options.MaxEnqueueBytes.
var ErrTooLarge = errors.New("enqueue body too large")

// EnqueueRequest is one file for a recurring import job (§3.1).
type EnqueueRequest struct {
	// ActivityID is the recurring data job's GUID, with or without braces. Required.
	ActivityID string
	// Entity is the DMF entity label; required when the job takes individual files,
	// left empty when it takes data packages.
	Entity string
	// Company is the target legal entity; optional.
	Company string
	// ExternalID is sent as x-ms-dyn-externalidentifier to correlate messages,
	// e.g. the file name; optional.
	ExternalID string
	// ContentType defaults to application/octet-stream.
	ContentType string
	// Body holds Size bytes: the file or package. It is re-read on a retry.
	Body io.ReaderAt
	Size int64
}

// Enqueue sends a file to a recurring import job and returns the message ID. Every
// enqueue makes a new message, so it is retried only when F&O certainly did not get
// it (429, connection refused); a lost answer is reported as ErrResponseLost.
func (c *Client) Enqueue(ctx context.Context, r EnqueueRequest) (string, error) {
	const op = "enqueue"
	if r.ActivityID == "" || r.Body == nil {
		return "", errors.New("enqueue: activity id and body are required")
	}
	if c.opts.MaxEnqueueBytes > 0 && r.Size > c.opts.MaxEnqueueBytes {
		return "", fmt.Errorf("enqueue: %d bytes, limit %d: %w", r.Size, c.opts.MaxEnqueueBytes, ErrTooLarge)
	}
	q := url.Values{}
	if r.Entity != "" {
		q.Set("entity", r.Entity)
	}
	if r.Company != "" {
		q.Set("company", r.Company)
	}
	u := c.connectorURL("enqueue", r.ActivityID)
	if len(q) > 0 {
		// Spaces as %20, as Microsoft's samples send them (entity=General%20journal).
		u += "?" + strings.ReplaceAll(q.Encode(), "+", "%20")
	}
	h := http.Header{"Content-Type": {r.ContentType}}
	if r.ContentType == "" {
		h.Set("Content-Type", "application/octet-stream")
	}
	if r.ExternalID != "" {
		h.Set("X-Ms-Dyn-Externalidentifier", r.ExternalID)
	}
	size := r.Size
	resp, err := c.do(ctx, &request{
		op:      op,
		method:  http.MethodPost,
		url:     u,
		header:  h,
		body:    func() io.Reader { return io.NewSectionReader(r.Body, 0, size) },
		size:    size,
		auth:    true,
		limited: true,
		policy:  retryUnsent,
		timeout: c.opts.TransferTimeout,
	})
	if err != nil {
		return "", err
	}
	id := parseMessageID(resp.body)
	if id == "" {
		return "", errors.New("enqueue: answer holds no message id")
	}
	return id, nil
}

// parseMessageID reads enqueue's answer: a message ID, usually JSON-quoted, perhaps
// in braces, perhaps OData-wrapped.
func parseMessageID(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '{' {
		if s, err := valueString(body); err == nil {
			body = []byte(s)
		}
	}
	var s string
	if json.Unmarshal(body, &s) != nil {
		s = string(body)
	}
	return strings.Trim(s, " \t\r\n\"'{}")
}

// Message is a dequeued recurring export message (§3.2).
type Message struct {
	CorrelationID            string   `json:"CorrelationId"`
	PopReceipt               string   `json:"PopReceipt"`
	DownloadLocation         string   `json:"DownloadLocation"`
	IsDownLoadFileExist      flexBool `json:"IsDownLoadFileExist"`
	FileDownLoadErrorMessage string   `json:"FileDownLoadErrorMessage"`
	// Raw is the dequeue body exactly as received; Ack sends it back.
	Raw json.RawMessage `json:"-"`
}

// Dequeue takes the next message of a recurring export job, or returns nil when the
// queue is empty (204, or 200 with an empty body). Until acknowledged, the message
// comes back after 30 minutes, so a lost answer is safe to retry.
func (c *Client) Dequeue(ctx context.Context, activityID string) (*Message, error) {
	resp, err := c.do(ctx, &request{
		op:      "dequeue",
		method:  http.MethodGet,
		url:     c.connectorURL("dequeue", activityID),
		header:  http.Header{"Accept": {"application/json"}},
		auth:    true,
		limited: true,
		policy:  retryAll,
		timeout: c.opts.RequestTimeout,
	})
	if err != nil {
		return nil, err
	}
	body := bytes.TrimSpace(resp.body)
	if resp.status == http.StatusNoContent || len(body) == 0 {
		return nil, nil
	}
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("dequeue: decoding message: %w", err)
	}
	m.Raw = append(json.RawMessage(nil), body...)
	return &m, nil
}

// DownloadMessage streams a dequeued message's file to w (with the bearer token)
// and returns the bytes written. The DownloadLocation is re-rooted on the configured
// environment URL: behind F&O's load balancers it comes back as http:// (often with
// :80), which becomes the environment's https:// (§3.3).
func (c *Client) DownloadMessage(ctx context.Context, m *Message, w io.Writer) (int64, error) {
	if !bool(m.IsDownLoadFileExist) {
		return 0, fmt.Errorf("download of message %s: %w: %s", m.CorrelationID, ErrNoFile, m.FileDownLoadErrorMessage)
	}
	loc, err := c.downloadURL(m.DownloadLocation)
	if err != nil {
		return 0, fmt.Errorf("download of message %s: %w", m.CorrelationID, err)
	}
	return c.download(ctx, &request{
		op:      "download",
		method:  http.MethodGet,
		url:     loc,
		auth:    true,
		limited: true,
		policy:  retryAll,
		timeout: c.opts.TransferTimeout,
	}, w)
}

// downloadURL puts a download location on the environment's scheme, host and port.
// A location on another host is refused: it must never see the bearer token.
func (c *Client) downloadURL(loc string) (string, error) {
	u, err := url.Parse(loc)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("download location %s is not an absolute URL", redactURL(loc))
	}
	base, _ := url.Parse(c.opts.BaseURL) // validated by New
	if !strings.EqualFold(u.Hostname(), base.Hostname()) {
		return "", fmt.Errorf("download location host %q is not the environment's %q; not sending the token",
			u.Hostname(), base.Hostname())
	}
	u.Scheme, u.Host = base.Scheme, base.Host
	return u.String(), nil
}

// Ack acknowledges a downloaded export message by sending its dequeue body back
// (§3.4). It is idempotent and retried like any other call.
func (c *Client) Ack(ctx context.Context, activityID string, m *Message) error {
	if len(m.Raw) == 0 {
		return errors.New("ack: message has no dequeue body")
	}
	newBody, size := bytesBody(m.Raw)
	_, err := c.do(ctx, &request{
		op:      "ack",
		method:  http.MethodPost,
		url:     c.connectorURL("ack", activityID),
		header:  http.Header{"Content-Type": {"application/json"}},
		body:    newBody,
		size:    size,
		auth:    true,
		limited: true,
		policy:  retryAll,
		timeout: c.opts.RequestTimeout,
	})
	return err
}

// JobStatus is the legacy connector job status (§3.5).
type JobStatus struct {
	DataJobStatus struct {
		DataProject              string `json:"DataProject"`
		DataJobIdentifier        string `json:"DataJobIdentifier"`
		ExternalIdentifier       string `json:"ExternalIdentifier"`
		ExecutionIdentifier      string `json:"ExecutionIdentifier"`
		DataJobStartedDateTime   string `json:"DataJobStartedDateTime"`
		DataJobCompletedDateTime string `json:"DataJobCompletedDateTime"`
		DataJobState             string `json:"DataJobState"`
	} `json:"DataJobStatus"`
	ExecutionLog    string `json:"ExecutionLog"`
	ExecutionDetail []struct {
		EntityName        string  `json:"EntityName"`
		Company           string  `json:"Company"`
		StagingRecords    flexInt `json:"StagingRecords"`
		StagingStatus     string  `json:"StagingStatus"`
		StagingErrorCount flexInt `json:"StagingErrorCount"`
		TargetRecords     flexInt `json:"TargetRecords"`
		TargetStatus      string  `json:"TargetStatus"`
		TargetErrorCount  flexInt `json:"TargetErrorCount"`
	} `json:"ExecutionDetail"`
}

// JobStatus reads the connector job status of an enqueued message.
func (c *Client) JobStatus(ctx context.Context, activityID, messageID string) (*JobStatus, error) {
	u := c.connectorURL("jobstatus", activityID) + "?" + url.Values{"jobId": {messageID}}.Encode()
	var js JobStatus
	if err := c.getJSON(ctx, "jobstatus", u, &js); err != nil {
		return nil, err
	}
	return &js, nil
}

func (c *Client) connectorURL(endpoint, activityID string) string {
	return c.opts.BaseURL + "/api/connector/" + endpoint + "/" + url.PathEscape(strings.TrimSpace(activityID))
}
