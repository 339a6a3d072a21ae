package azblob_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/ingest/azblob"
	"github.com/dmfpipe/dmfpipe/ingest/pattern"
	"github.com/dmfpipe/dmfpipe/ingest/sourcetest"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

// storage is the sourcetest.Helper of a container: its own client, unaffected by Break.
type storage struct {
	t     *testing.T
	c     *container.Client
	conns *sourcetest.Conns
}

func (s storage) Put(name string, content io.Reader) {
	_, err := s.c.NewBlockBlobClient(name).UploadStream(context.Background(), content, &blockblob.UploadStreamOptions{BlockSize: 4 << 20})
	require.NoError(s.t, err)
}

func (s storage) Remove(name string) {
	_, err := s.c.NewBlobClient(name).Delete(context.Background(), nil)
	require.NoError(s.t, err)
}

func (s storage) Get(name string) ([]byte, bool) {
	resp, err := s.c.NewBlobClient(name).DownloadStream(context.Background(), nil)
	var re *azcore.ResponseError
	if err != nil && assert.ErrorAs(s.t, err, &re) && re.StatusCode == http.StatusNotFound {
		return nil, false
	}
	require.NoError(s.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return data, true
}

func (s storage) Break() { s.conns.CloseAll() }

// clientOptions routes a client's requests through conns, without the SDK's retry delays.
func clientOptions(conns *sourcetest.Conns) *container.ClientOptions {
	return &container.ClientOptions{ClientOptions: policy.ClientOptions{
		Transport: &http.Client{Transport: &http.Transport{DialContext: conns.Dial}},
		Retry:     policy.RetryOptions{RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 100 * time.Millisecond},
	}}
}

// newContainer creates an empty container in Azurite for the test.
func newContainer(t *testing.T) (connString, name string) {
	connString = testsvc.Azurite(t)
	name = testsvc.Name(t)
	c, err := container.NewClientFromConnectionString(connString, name, nil)
	require.NoError(t, err)
	_, err = c.Create(context.Background(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = c.Delete(context.Background(), nil) })
	return connString, name
}

func newSource(t *testing.T) (ingest.Source, sourcetest.Helper) {
	connString, name := newContainer(t)
	conns := &sourcetest.Conns{}
	c, err := azblob.NewContainerClient(&config.Connection{
		Type: "azblob", ConnectionString: config.NewSecret(connString), Container: name,
	}, clientOptions(conns))
	require.NoError(t, err)
	direct, err := container.NewClientFromConnectionString(connString, name, nil)
	require.NoError(t, err)
	src := azblob.New(c, azblob.Options{})
	t.Cleanup(func() { assert.NoError(t, src.Close()) })
	return src, storage{t: t, c: direct, conns: conns}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	sourcetest.Run(t, newSource)
}

// account holds the parts of Azurite's connection string.
type account struct{ name, key, blobEndpoint string }

func parseConnString(t *testing.T, cs string) account {
	var a account
	for part := range strings.SplitSeq(cs, ";") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "AccountName":
			a.name = v
		case "AccountKey":
			a.key = v
		case "BlobEndpoint":
			a.blobEndpoint = v
		}
	}
	require.NotEmpty(t, a.name)
	require.NotEmpty(t, a.blobEndpoint)
	return a
}

// Every way of authenticating that Azurite supports reaches the same container through
// OpenSource, and can list, read and move.
func TestOpenSourceCredentials(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	connString, name := newContainer(t)
	acct := parseConnString(t, connString)
	direct, err := container.NewClientFromConnectionString(connString, name, nil)
	require.NoError(t, err)
	_, err = direct.NewBlockBlobClient("in/a.csv").UploadBuffer(ctx, []byte("a,b\n"), nil)
	require.NoError(t, err)

	cred, err := container.NewSharedKeyCredential(acct.name, acct.key)
	require.NoError(t, err)
	perms := sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true}
	containerSAS, err := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPSandHTTP,
		ExpiryTime:    time.Now().Add(time.Hour),
		Permissions:   perms.String(),
		ContainerName: name,
	}.SignWithSharedKey(cred)
	require.NoError(t, err)
	containerSASURL := strings.TrimRight(acct.blobEndpoint, "/") + "/" + name + "?" + containerSAS.Encode()

	for label, cn := range map[string]*config.Connection{
		"connection string": {ConnectionString: config.NewSecret(connString), Container: name},
		"account key":       {AccountURL: acct.blobEndpoint, AccountName: acct.name, AccountKey: config.NewSecret(acct.key), Container: name},
		"container SAS URL": {SASURL: config.NewSecret(containerSASURL)},
	} {
		t.Run(label, func(t *testing.T) {
			cn.Name, cn.Type = "landing", "azblob"
			src, err := ingest.OpenSource(ctx, cn)
			require.NoError(t, err)
			defer src.Close()
			files, err := src.List(ctx, "in", pattern.MustParse("*.csv"))
			require.NoError(t, err)
			require.Len(t, files, 1)
			r, err := src.Open(ctx, "in/a.csv")
			require.NoError(t, err)
			got, err := io.ReadAll(r)
			require.NoError(t, err)
			r.Close()
			assert.Equal(t, "a,b\n", string(got))
			moved, err := src.Move(ctx, "in/a.csv", "archive/"+strings.ReplaceAll(label, " ", "-"))
			require.NoError(t, err)
			moved, err = src.Move(ctx, moved, "in")
			require.NoError(t, err)
			assert.Equal(t, "in/a.csv", moved)
		})
	}
}

// Entra ID needs a token from Azure, which cannot be had here; building the client must
// still work without any I/O.
func TestEntraIDClientBuildsWithoutIO(t *testing.T) {
	t.Parallel()
	c, err := azblob.NewContainerClient(&config.Connection{AccountURL: "https://acct.blob.core.windows.net/", Container: "landing"}, nil)
	require.NoError(t, err)
	assert.Equal(t, "https://acct.blob.core.windows.net/landing", c.URL())
}

func TestBadCredentialsNeverLeakSecrets(t *testing.T) {
	t.Parallel()
	_, err := azblob.NewContainerClient(&config.Connection{ConnectionString: config.NewSecret("AccountKey=hunter2;garbage")}, nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")

	_, err = azblob.NewContainerClient(&config.Connection{SASURL: config.NewSecret("https://acct.blob.core.windows.net/c/blob.csv?sig=hunter2")}, nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")

	// A transport error quotes the request URL; the SAS signature is redacted.
	c, err := azblob.NewContainerClient(&config.Connection{SASURL: config.NewSecret("http://127.0.0.1:1/devstoreaccount1/c?sv=2023-01-03&sig=hunter2")},
		&container.ClientOptions{ClientOptions: policy.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}})
	require.NoError(t, err)
	_, err = azblob.New(c, azblob.Options{}).Stat(context.Background(), "a.csv")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
}

// Directory marker blobs (a name ending in "/", or hdi_isfolder metadata as accounts with
// a hierarchical namespace have) are not files.
func TestFolderMarkersAreNotFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, h := newSource(t)
	c := h.(storage).c
	h.Put("in/a.csv", bytes.NewReader([]byte("a")))
	_, err := c.NewBlockBlobClient("in/sub").UploadBuffer(ctx, nil, &blockblob.UploadBufferOptions{
		Metadata: map[string]*string{"hdi_isfolder": to("true")},
	})
	require.NoError(t, err)
	_, err = c.NewBlockBlobClient("in/marker/").UploadBuffer(ctx, nil, nil)
	require.NoError(t, err)

	files, err := src.List(ctx, "in", pattern.MustParse("*"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	assert.Equal(t, "in/a.csv", files[0].Name)
	assert.NotEmpty(t, files[0].ETag)
	_, err = src.Stat(ctx, "in/sub")
	assert.ErrorIs(t, err, ingest.ErrNotExist)
	_, err = src.Open(ctx, "in/sub")
	assert.ErrorIs(t, err, ingest.ErrNotExist)
}

// A blob replaced while it is being read fails the read instead of mixing two versions.
func TestRewriteDuringReadFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, h := newSource(t)
	h.Put("in/big.bin", bytes.NewReader(bytes.Repeat([]byte("a"), 8<<20)))
	r, err := src.Open(ctx, "in/big.bin")
	require.NoError(t, err)
	defer r.Close()
	_, err = io.CopyN(io.Discard, r, 1<<20)
	require.NoError(t, err)
	h.Put("in/big.bin", bytes.NewReader(bytes.Repeat([]byte("b"), 8<<20)))
	h.(storage).Break()
	_, err = io.Copy(io.Discard, r)
	require.Error(t, err)
}

// A read broken by a dropped connection resumes on a new one and delivers every byte.
func TestReadResumesAfterDrop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, h := newSource(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	h.Put("in/big.bin", bytes.NewReader(data))
	r, err := src.Open(ctx, "in/big.bin")
	require.NoError(t, err)
	defer r.Close()
	head := make([]byte, 1<<20)
	_, err = io.ReadFull(r, head)
	require.NoError(t, err)
	conns := h.(storage).conns
	before := conns.Dials()
	h.(storage).Break()
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, append(head, rest...)), "content after resuming")
	assert.Greater(t, conns.Dials(), before, "the read went on over a new connection")
}

func to[T any](v T) *T { return &v }
