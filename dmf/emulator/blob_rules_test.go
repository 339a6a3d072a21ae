package emulator_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
)

// The rules Azure holds SAS clients to, which the azblob SDK follows.
func TestBlobAzureRules(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	blobURL := b.writeURL("rules.zip")
	status := func(resp *http.Response) (int, string) {
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("x-ms-error-code")
	}

	// x-ms-blob-content-type sets the content type, over the body's Content-Type (the
	// SDK sends application/octet-stream there).
	resp := b.do(http.MethodPut, blobURL, []byte("zip"), map[string]string{"x-ms-blob-type": "BlockBlob",
		"Content-Type": "application/octet-stream", "x-ms-blob-content-type": "application/zip", "x-ms-version": "2026-12-06"}, false)
	code, _ := status(resp)
	require.Equal(t, http.StatusCreated, code)
	resp = b.do(http.MethodGet, blobURL, nil, nil, false)
	assert.Equal(t, "application/zip", resp.Header.Get("Content-Type"))
	resp.Body.Close()

	resp = b.do(http.MethodPut, blobURL, []byte("x"), map[string]string{"x-ms-blob-type": "BlockBlob", "x-ms-version": "latest"}, false)
	code, ec := status(resp)
	assert.Equal(t, http.StatusBadRequest, code, "x-ms-version is a service version date")
	assert.Equal(t, "InvalidHeaderValue", ec)

	// A write without Content-Length (chunked) is refused.
	req, err := http.NewRequest(http.MethodPut, blobURL, io.NopCloser(strings.NewReader("chunked")))
	require.NoError(t, err)
	req.Header.Set("x-ms-blob-type", "BlockBlob")
	req.ContentLength = -1
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	code, ec = status(resp)
	assert.Equal(t, http.StatusLengthRequired, code)
	assert.Equal(t, "MissingContentLengthHeader", ec)

	block := func(id string) (int, string) {
		return status(b.do(http.MethodPut, blobURL+"&comp=block&blockid="+url.QueryEscape(base64.StdEncoding.EncodeToString([]byte(id))),
			[]byte("data"), nil, false))
	}
	code, ec = block(strings.Repeat("x", 65))
	assert.Equal(t, http.StatusBadRequest, code, "a block ID is at most 64 bytes")
	assert.Equal(t, "InvalidQueryParameterValue", ec)
	code, _ = block(strings.Repeat("x", 64))
	assert.Equal(t, http.StatusCreated, code)
	code, ec = block("short")
	assert.Equal(t, http.StatusBadRequest, code, "the block IDs of a blob have one length")
	assert.Equal(t, "InvalidBlobOrBlock", ec)
	code, _ = block(strings.Repeat("y", 64))
	assert.Equal(t, http.StatusCreated, code)
}
