package dmf_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/dmf/emulator"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

// Small blocks so that the block path runs on a small payload: 300 KiB + 7 bytes is
// 19 blocks of 16 KiB, the last one short.
const (
	testThreshold = 64 << 10
	testBlockSize = 16 << 10
	testBlobSize  = 300<<10 + 7
	testBlocks    = (testBlobSize + testBlockSize - 1) / testBlockSize
)

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func smallBlocks(o *dmf.Options) {
	o.BlockUploadThreshold = testThreshold
	o.BlockSize = testBlockSize
}

// blobPath names the single (Put Blob) and block (Put Block + Put Block List) uploads.
var blobPaths = []struct {
	name string
	size int
}{
	{"single", testThreshold}, // at the threshold: still one Put Blob
	{"blocks", testBlobSize},
}

func TestUploadBlobToEmulator(t *testing.T) {
	t.Parallel()
	for _, p := range blobPaths {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, emulator.Config{}, smallBlocks, nil)
			loc, err := b.client.GetAzureWriteURL(t.Context(), "")
			require.NoError(t, err)
			data := randomBytes(t, p.size)
			require.NoError(t, b.client.UploadBlob(t.Context(), loc.BlobURL, bytes.NewReader(data), int64(len(data))))

			var got bytes.Buffer
			n, err := b.client.DownloadBlob(t.Context(), loc.BlobURL, &got)
			require.NoError(t, err)
			assert.Equal(t, int64(len(data)), n)
			assert.True(t, bytes.Equal(data, got.Bytes()), "the bytes arrive whole")

			resp, err := http.Get(loc.BlobURL)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, "application/zip", resp.Header.Get("Content-Type"))

			st := b.em.Stats()
			if p.name == "single" {
				assert.Equal(t, int64(1), st.Requests["blob.PutBlob"])
				assert.Zero(t, st.Requests["blob.PutBlock"])
			} else {
				assert.Zero(t, st.Requests["blob.PutBlob"])
				assert.Equal(t, int64(testBlocks), st.Requests["blob.PutBlock"])
				assert.Equal(t, int64(1), st.Requests["blob.PutBlockList"])
			}
			b.noViolations(t)
		})
	}
}

// azuriteSAS creates a container for the test in Azurite and returns a read-write
// SAS URL for one blob in it, and a client for that blob with the account key.
func azuriteSAS(t *testing.T) (string, *blockblob.Client) {
	t.Helper()
	connString := testsvc.Azurite(t)
	name := testsvc.Name(t)
	cc, err := container.NewClientFromConnectionString(connString, name, nil)
	require.NoError(t, err)
	_, err = cc.Create(context.Background(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = cc.Delete(context.Background(), nil) })
	bc := cc.NewBlockBlobClient("package.zip")
	sasURL, err := bc.GetSASURL(sas.BlobPermissions{Read: true, Write: true, Create: true}, time.Now().Add(time.Hour), nil)
	require.NoError(t, err)
	return sasURL, bc
}

// noFO is a client that only talks to Blob storage: its F&O environment is never
// called.
func noFO(t *testing.T, mutate func(*dmf.Options)) *dmf.Client {
	t.Helper()
	o := dmf.Options{BaseURL: "https://contoso.operations.dynamics.com", Tenant: "t", ClientID: "id", ClientSecret: "secret",
		Sleep: (&sleeper{}).sleep}
	if mutate != nil {
		mutate(&o)
	}
	c, err := dmf.New(o)
	require.NoError(t, err)
	return c
}

func TestUploadBlobToAzurite(t *testing.T) {
	t.Parallel()
	for _, p := range blobPaths {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			sasURL, bc := azuriteSAS(t)
			c := noFO(t, smallBlocks)
			data := randomBytes(t, p.size)
			require.NoError(t, c.UploadBlob(t.Context(), sasURL, bytes.NewReader(data), int64(len(data))))

			resp, err := bc.DownloadStream(t.Context(), nil)
			require.NoError(t, err)
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			assert.True(t, bytes.Equal(data, got), "the bytes arrive whole: %d of %d", len(got), len(data))
			require.NotNil(t, resp.ContentType)
			assert.Equal(t, "application/zip", *resp.ContentType)

			list, err := bc.GetBlockList(t.Context(), blockblob.BlockListTypeAll, nil)
			require.NoError(t, err)
			assert.Empty(t, list.UncommittedBlocks)
			if p.name == "single" {
				assert.Empty(t, list.CommittedBlocks, "one Put Blob")
			} else {
				require.Len(t, list.CommittedBlocks, testBlocks)
				for _, blk := range list.CommittedBlocks[:testBlocks-1] {
					assert.Equal(t, int64(testBlockSize), *blk.Size)
				}
			}

			// And back through the client, from the SAS URL.
			var buf bytes.Buffer
			n, err := c.DownloadBlob(t.Context(), sasURL, &buf)
			require.NoError(t, err)
			assert.Equal(t, int64(len(data)), n)
			assert.True(t, bytes.Equal(data, buf.Bytes()))
		})
	}
}

// A 5xx on one block is retried by the client's policy, and by it alone: the SDK sends
// each request once.
func TestUploadBlobRetriesOneBlock(t *testing.T) {
	t.Parallel()
	var putBlocks, failed atomic.Int64
	log := &retryLog{}
	b := setup(t, emulator.Config{}, func(o *dmf.Options) {
		smallBlocks(o)
		o.OnRetry = log.record
	}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("comp") == "block" {
				if putBlocks.Add(1) == 3 && failed.CompareAndSwap(0, 1) {
					_, _ = io.Copy(io.Discard, r.Body)
					w.Header().Set("x-ms-error-code", "ServerBusy")
					w.WriteHeader(http.StatusServiceUnavailable)
					fmt.Fprint(w, `<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code><Message>The server is busy.`+"\n"+`RequestId:1</Message></Error>`)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	loc, err := b.client.GetAzureWriteURL(t.Context(), "")
	require.NoError(t, err)
	data := randomBytes(t, testBlobSize)
	require.NoError(t, b.client.UploadBlob(t.Context(), loc.BlobURL, bytes.NewReader(data), int64(len(data))))
	assert.Equal(t, int64(testBlocks+1), putBlocks.Load(), "one retry, of one block")
	retries := log.all()
	require.Len(t, retries, 1)
	assert.Regexp(t, `^blob put block: HTTP 503 ServerBusy: The server is busy, retry 1 in [0-9.]+s$`, retries[0].String())
	assert.NotContains(t, retries[0].Err.Error(), "sig=")

	var got bytes.Buffer
	_, err = b.client.DownloadBlob(t.Context(), loc.BlobURL, &got)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got.Bytes()))
	b.noViolations(t)
}

// TransferTimeout bounds each attempt: a stalled Put Blob is abandoned and sent again.
func TestUploadBlobTransferTimeout(t *testing.T) {
	t.Parallel()
	var stalled atomic.Bool
	log := &retryLog{}
	b := setup(t, emulator.Config{}, func(o *dmf.Options) {
		o.TransferTimeout = 100 * time.Millisecond
		o.OnRetry = log.record
	}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/devstoreaccount1/") && stalled.CompareAndSwap(false, true) {
				_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the client leave
				select {
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	loc, err := b.client.GetAzureWriteURL(t.Context(), "")
	require.NoError(t, err)
	data := randomBytes(t, 1000)
	require.NoError(t, b.client.UploadBlob(t.Context(), loc.BlobURL, bytes.NewReader(data), int64(len(data))))
	retries := log.all()
	require.Len(t, retries, 1)
	assert.Regexp(t, `^blob upload: no answer within 100ms, retry 1 in `, retries[0].String())
	assert.Equal(t, int64(1), b.em.Stats().Requests["blob.PutBlob"], "the stalled attempt never reached the emulator")
}

// A 403 from Blob storage is final: the SAS URL's signature cannot change.
func TestUploadBlobForbiddenIsFinal(t *testing.T) {
	t.Parallel()
	log := &retryLog{}
	b := setup(t, emulator.Config{}, func(o *dmf.Options) { o.OnRetry = log.record }, nil)
	loc, err := b.client.GetAzureWriteURL(t.Context(), "")
	require.NoError(t, err)
	u, err := url.Parse(loc.BlobURL)
	require.NoError(t, err)
	q := u.Query()
	q.Set("sig", "Zm9yZ2VkLXNpZ25hdHVyZQ==")
	u.RawQuery = q.Encode()
	err = b.client.UploadBlob(t.Context(), u.String(), strings.NewReader("x"), 1)
	var he *dmf.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusForbidden, he.StatusCode)
	assert.Equal(t, "AuthenticationFailed", he.Code)
	assert.NotContains(t, err.Error(), "Zm9yZ2Vk")
	assert.Empty(t, log.all())
	assert.Equal(t, int64(1), b.em.Stats().Requests["blob.PutBlob"])
}
