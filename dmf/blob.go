package dmf

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// blobAPIVersion is sent as x-ms-version so that the size limits of a current
// storage service apply (a 128 MiB Put Blob, 100+ MiB blocks) whatever version the
// SAS was signed with.
const blobAPIVersion = "2020-10-02"

// UploadBlob uploads size bytes of r to a Blob SAS URL (GetAzureWriteUrl's BlobURL)
// without the bearer token. Up to BlockUploadThreshold it sends one Put Blob;
// above, Put Block per BlockSize and a Put Block List. Each request is retried on
// its own (they are idempotent), re-reading its bytes from r.
func (c *Client) UploadBlob(ctx context.Context, blobURL string, r io.ReaderAt, size int64) error {
	if err := checkRawURL(blobURL); err != nil {
		return fmt.Errorf("blob upload: %w", err)
	}
	if size <= c.opts.BlockUploadThreshold {
		return c.putBlob(ctx, blobURL, io.NewSectionReader(r, 0, size), size)
	}
	var ids []string
	for off, i := int64(0), 0; off < size; off, i = off+c.opts.BlockSize, i+1 {
		n := min(c.opts.BlockSize, size-off)
		// Block IDs must all have the same length before encoding.
		id := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "dmfpipe-block-%08d", i))
		section := io.NewSectionReader(r, off, n)
		_, err := c.do(ctx, &request{
			op:      "blob put block",
			method:  http.MethodPut,
			url:     withQuery(blobURL, "comp=block&blockid="+url.QueryEscape(id)),
			header:  blobHeader(),
			body:    func() io.Reader { return io.NewSectionReader(section, 0, n) },
			size:    n,
			policy:  retryAll,
			timeout: c.opts.TransferTimeout,
		})
		if err != nil {
			return fmt.Errorf("uploading block %d: %w", i, err)
		}
		ids = append(ids, id)
	}
	var list bytes.Buffer
	list.WriteString(`<?xml version="1.0" encoding="utf-8"?><BlockList>`)
	for _, id := range ids {
		list.WriteString("<Latest>" + id + "</Latest>")
	}
	list.WriteString("</BlockList>")
	h := blobHeader()
	h.Set("Content-Type", "application/xml")
	h.Set("X-Ms-Blob-Content-Type", "application/zip")
	newBody, n := bytesBody(list.Bytes())
	if _, err := c.do(ctx, &request{
		op:      "blob put block list",
		method:  http.MethodPut,
		url:     withQuery(blobURL, "comp=blocklist"),
		header:  h,
		body:    newBody,
		size:    n,
		policy:  retryAll,
		timeout: c.opts.RequestTimeout,
	}); err != nil {
		return fmt.Errorf("committing %d blocks: %w", len(ids), err)
	}
	return nil
}

func (c *Client) putBlob(ctx context.Context, blobURL string, r *io.SectionReader, size int64) error {
	h := blobHeader()
	h.Set("X-Ms-Blob-Type", "BlockBlob")
	h.Set("Content-Type", "application/zip")
	_, err := c.do(ctx, &request{
		op:      "blob upload",
		method:  http.MethodPut,
		url:     blobURL,
		header:  h,
		body:    func() io.Reader { return io.NewSectionReader(r, 0, size) },
		size:    size,
		policy:  retryAll,
		timeout: c.opts.TransferTimeout,
	})
	return err
}

func blobHeader() http.Header {
	return http.Header{
		"X-Ms-Version": {blobAPIVersion},
		"X-Ms-Date":    {time.Now().UTC().Format(http.TimeFormat)},
	}
}

// withQuery appends raw query parameters to a URL that may already carry a SAS
// query, leaving the existing (signed) parameters byte for byte as they are.
func withQuery(u, extra string) string {
	if strings.Contains(u, "?") {
		return u + "&" + extra
	}
	return u + "?" + extra
}

// DownloadBlob streams a Blob SAS URL (an exported package, an error file) to w,
// without the bearer token, and returns the bytes written. A download that breaks
// off is restarted when w can be rewound (an *os.File or anything with Seek and
// Truncate); otherwise only failures before the first byte are retried.
func (c *Client) DownloadBlob(ctx context.Context, blobURL string, w io.Writer) (int64, error) {
	if err := checkRawURL(blobURL); err != nil {
		return 0, fmt.Errorf("blob download: %w", err)
	}
	return c.download(ctx, &request{
		op:      "blob download",
		method:  http.MethodGet,
		url:     blobURL,
		header:  http.Header{"X-Ms-Version": {blobAPIVersion}},
		policy:  retryAll,
		timeout: c.opts.TransferTimeout,
	}, w)
}

// truncater is an io.Writer that can be rewound to restart a download.
type truncater interface {
	io.Seeker
	Truncate(size int64) error
}

// download sends r (a GET) and streams its body to w.
func (c *Client) download(ctx context.Context, r *request, w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	start := int64(-1)
	if t, ok := w.(truncater); ok {
		if off, err := t.Seek(0, io.SeekCurrent); err == nil {
			start = off
		}
	}
	r.consume = func(body io.Reader) error {
		_, err := io.Copy(cw, body)
		if cw.err != nil {
			// The destination failed (disk full...): fetching again cannot help.
			return &permanentError{err: cw.err}
		}
		return err
	}
	r.rewind = func() error {
		if cw.n == 0 {
			return nil
		}
		t, ok := w.(truncater)
		if !ok || start < 0 {
			return errors.New("the destination cannot be rewound")
		}
		if err := t.Truncate(start); err != nil {
			return err
		}
		if _, err := t.Seek(start, io.SeekStart); err != nil {
			return err
		}
		cw.n = 0
		return nil
	}
	if _, err := c.do(ctx, r); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil {
		c.err = err
	}
	return n, err
}

// checkRawURL checks a URL handed out by the server before the client uses it.
func checkRawURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%s is not an absolute URL", redactURL(raw))
	}
	return checkScheme(u)
}
