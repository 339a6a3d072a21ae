package dmf

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
)

// maxBlocks is Azure's limit of committed blocks per block blob.
const maxBlocks = 50_000

// packageContentType is the content type of uploaded packages.
const packageContentType = "application/zip"

// blobClient returns an azblob SDK client for a Blob SAS URL. It sends no
// credential (the SAS is the credential, and the bearer token never goes to Blob
// storage), through c.wire, and does not retry: every SDK call is one attempt of
// c.do, so the client's retry policy is the only one.
func (c *Client) blobClient(blobURL string) (*blockblob.Client, error) {
	bc, err := blockblob.NewClientWithNoCredential(blobURL, &blockblob.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: c.wire,
		Retry:     policy.RetryOptions{MaxRetries: -1}, // one try
		Telemetry: policy.TelemetryOptions{ApplicationID: userAgent},
	}})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", redactURL(blobURL), unwrapURLError(err))
	}
	return bc, nil
}

// blobRequest is one attempt-at-a-time SDK call on a SAS URL, retried by c.do.
func (c *Client) blobRequest(op, method, blobURL string, call func(ctx context.Context) (io.ReadCloser, error)) *request {
	return &request{
		op:      op,
		method:  method,
		url:     blobURL,
		sas:     true,
		policy:  retryAll,
		timeout: c.opts.TransferTimeout,
		send: func(ctx context.Context) (*http.Response, error) {
			return c.library(ctx, call)
		},
	}
}

// UploadBlob uploads size bytes of r to a Blob SAS URL (GetAzureWriteUrl's BlobURL)
// with the azblob SDK, without the bearer token. Up to BlockUploadThreshold it sends
// one Put Blob; above, a Put Block per BlockSize and a Put Block List. Each request
// is retried on its own (they are idempotent), re-reading its bytes from r, and each
// attempt is bounded by TransferTimeout.
func (c *Client) UploadBlob(ctx context.Context, blobURL string, r io.ReaderAt, size int64) error {
	if err := checkRawURL(blobURL); err != nil {
		return fmt.Errorf("blob upload: %w", err)
	}
	if size < 0 {
		return fmt.Errorf("blob upload: negative size %d", size)
	}
	bc, err := c.blobClient(blobURL)
	if err != nil {
		return fmt.Errorf("blob upload: %w", err)
	}
	headers := &blob.HTTPHeaders{BlobContentType: to.Ptr(packageContentType)}
	if size <= c.opts.BlockUploadThreshold {
		_, err := c.do(ctx, c.blobRequest("blob upload", http.MethodPut, blobURL, func(ctx context.Context) (io.ReadCloser, error) {
			_, err := bc.Upload(ctx, section(r, 0, size), &blockblob.UploadOptions{HTTPHeaders: headers})
			return nil, err
		}))
		return err
	}
	blocks := (size + c.opts.BlockSize - 1) / c.opts.BlockSize
	if blocks > maxBlocks {
		return fmt.Errorf("blob upload: %d bytes in blocks of %d make %d blocks, more than Azure's %d; raise the block size",
			size, c.opts.BlockSize, blocks, maxBlocks)
	}
	ids := make([]string, 0, blocks)
	for off, i := int64(0), 0; off < size; off, i = off+c.opts.BlockSize, i+1 {
		n := min(c.opts.BlockSize, size-off)
		// Block IDs must all have the same length before encoding.
		id := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "dmfpipe-block-%08d", i))
		_, err := c.do(ctx, c.blobRequest("blob put block", http.MethodPut, blobURL, func(ctx context.Context) (io.ReadCloser, error) {
			_, err := bc.StageBlock(ctx, id, section(r, off, n), nil)
			return nil, err
		}))
		if err != nil {
			return fmt.Errorf("uploading block %d of %d: %w", i+1, blocks, err)
		}
		ids = append(ids, id)
	}
	commit := c.blobRequest("blob put block list", http.MethodPut, blobURL, func(ctx context.Context) (io.ReadCloser, error) {
		_, err := bc.CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{HTTPHeaders: headers})
		return nil, err
	})
	commit.timeout = c.opts.RequestTimeout
	if _, err := c.do(ctx, commit); err != nil {
		return fmt.Errorf("committing %d blocks: %w", len(ids), err)
	}
	return nil
}

// section is bytes [off, off+n) of r as the SDK wants a body: seekable, from 0.
func section(r io.ReaderAt, off, n int64) io.ReadSeekCloser {
	return streaming.NopCloser(io.NewSectionReader(r, off, n))
}

// DownloadBlob streams a Blob SAS URL (an exported package, an error file) to w with
// the azblob SDK, without the bearer token, and returns the bytes written. A
// download that breaks off is restarted when w can be rewound (an *os.File or
// anything with Seek and Truncate); otherwise only failures before the first byte
// are retried.
func (c *Client) DownloadBlob(ctx context.Context, blobURL string, w io.Writer) (int64, error) {
	if err := checkRawURL(blobURL); err != nil {
		return 0, fmt.Errorf("blob download: %w", err)
	}
	bc, err := c.blobClient(blobURL)
	if err != nil {
		return 0, fmt.Errorf("blob download: %w", err)
	}
	return c.download(ctx, c.blobRequest("blob download", http.MethodGet, blobURL, func(ctx context.Context) (io.ReadCloser, error) {
		resp, err := bc.DownloadStream(ctx, nil)
		return resp.Body, err
	}), w)
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
