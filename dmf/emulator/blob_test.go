package emulator_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
)

func (b *bundle) writeURL(name string) string {
	b.t.Helper()
	var loc struct{ BlobURL string }
	require.NoError(b.t, json.Unmarshal([]byte(b.str("GetAzureWriteUrl", map[string]string{"uniqueFileName": name})), &loc))
	return loc.BlobURL
}

func TestGetAzureWriteURL(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	raw := b.value("GetAzureWriteUrl", map[string]string{"uniqueFileName": "00000000-0000-0000-0000-000000000000"})
	var doc string
	require.NoError(t, json.Unmarshal(raw, &doc), "value is a JSON string")
	var loc map[string]string
	require.NoError(t, json.Unmarshal([]byte(doc), &loc), "which holds a JSON document")
	assert.Regexp(t, `^\{[0-9A-F-]{36}\}$`, loc["BlobId"])
	u, err := url.Parse(loc["BlobUrl"])
	require.NoError(t, err)
	assert.Equal(t, "/devstoreaccount1/dmf/00000000-0000-0000-0000-000000000000", u.Path)
	for _, p := range []string{"sv", "se", "sig", "sp"} {
		assert.NotEmpty(t, u.Query().Get(p), p)
	}
	assert.Equal(t, b.srv.URL, u.Scheme+"://"+u.Host, "the SAS URL points at the emulator itself")
}

func TestBlobPutAndGet(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	blobURL := b.writeURL("a.zip")

	resp := b.do(http.MethodPut, blobURL, []byte("data"), nil, false)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "x-ms-blob-type is required")
	assert.Equal(t, "MissingRequiredHeader", resp.Header.Get("x-ms-error-code"))
	resp.Body.Close()

	resp = b.do(http.MethodPut, blobURL, []byte("package bytes"), map[string]string{"x-ms-blob-type": "BlockBlob"}, false)
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("ETag"))
	resp.Body.Close()

	resp = b.do(http.MethodGet, blobURL, nil, nil, false)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "package bytes", string(readAll(t, resp)))

	stats := b.em.Stats()
	assert.Equal(t, int64(2), stats.Requests["blob.PutBlob"])
	require.Len(t, stats.ProtocolViolations, 1)
	assert.Contains(t, stats.ProtocolViolations[0], "x-ms-blob-type")
}

func TestBlobBlocks(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	blobURL := b.writeURL("big.zip")
	var want bytes.Buffer
	var list strings.Builder
	list.WriteString(`<?xml version="1.0" encoding="utf-8"?><BlockList>`)
	for i := range 3 {
		id := base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("block-%06d", i)))
		chunk := bytes.Repeat([]byte{byte('a' + i)}, 1000+i)
		want.Write(chunk)
		resp := b.do(http.MethodPut, blobURL+"&comp=block&blockid="+url.QueryEscape(id), chunk, nil, false)
		require.Equal(t, http.StatusCreated, resp.StatusCode, string(readAll(t, resp)))
		resp.Body.Close()
		list.WriteString("<Latest>" + id + "</Latest>")
	}
	list.WriteString("</BlockList>")

	resp := b.do(http.MethodGet, blobURL, nil, nil, false)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "uncommitted blocks are not a blob")
	resp.Body.Close()

	resp = b.do(http.MethodPut, blobURL+"&comp=blocklist", []byte(list.String()), nil, false)
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(readAll(t, resp)))
	resp.Body.Close()

	resp = b.do(http.MethodGet, blobURL, nil, nil, false)
	assert.Equal(t, want.Bytes(), readAll(t, resp))

	missing := `<BlockList><Latest>` + base64.StdEncoding.EncodeToString([]byte("nope")) + `</Latest></BlockList>`
	resp = b.do(http.MethodPut, blobURL+"&comp=blocklist", []byte(missing), nil, false)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, "InvalidBlockList", resp.Header.Get("x-ms-error-code"))
	resp.Body.Close()

	resp = b.do(http.MethodPut, blobURL+"&comp=block&blockid=not%20base64!", []byte("x"), nil, false)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp.Body.Close()
}

func TestBlobSAS(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)}
	b := setup(t, emulator.Config{Now: clock.Now})
	blobURL := b.writeURL("s.zip")
	put := map[string]string{"x-ms-blob-type": "BlockBlob"}

	u, _ := url.Parse(blobURL)
	q := u.Query()
	q.Set("sig", "forged")
	u.RawQuery = q.Encode()
	resp := b.do(http.MethodPut, u.String(), []byte("x"), put, false)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "bad signature")
	resp.Body.Close()

	resp = b.do(http.MethodPut, strings.Split(blobURL, "?")[0], []byte("x"), put, false)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "no SAS")
	resp.Body.Close()

	// A bearer token on a SAS URL works but is a protocol violation.
	resp = b.do(http.MethodPut, blobURL, []byte("x"), put, true)
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	resp.Body.Close()
	v := b.em.Stats().ProtocolViolations
	require.Len(t, v, 1)
	assert.Contains(t, v[0], "Authorization header")

	clock.Advance(2 * time.Hour)
	resp = b.do(http.MethodGet, blobURL, nil, nil, false)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "expired SAS")
	resp.Body.Close()
}
