// Package azblob is the ingest.Source of an Azure Blob Storage container (connection type
// "azblob").
//
// Blob storage has no folders: a folder is a name prefix ending in "/", so listing a
// folder that holds no blobs finds nothing rather than failing, and Move creates nothing
// but the blob. Blobs that only mark a directory (a name ending in "/", or the
// hdi_isfolder metadata of accounts with a hierarchical namespace) are not files.
//
// Move is a server-side copy (Copy Blob, waited on until it succeeds) followed by the
// deletion of the source. The copy only starts while the source still has the ETag it had
// when the move began and only creates the destination if no blob of that name exists, so
// a file is never overwritten and a source re-uploaded during the move is not deleted.
//
// Open streams the blob's body; a read broken by a network error is resumed from its
// offset with a ranged request pinned to the blob's ETag (the SDK's retry reader), so a
// resumed read never mixes two versions of a blob.
package azblob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/ingest/pattern"
)

func init() {
	ingest.Register("azblob", func(_ context.Context, cn *config.Connection) (ingest.Source, error) {
		c, err := NewContainerClient(cn, nil)
		if err != nil {
			return nil, err
		}
		return New(c, Options{}), nil
	})
}

// NewContainerClient builds the client of the container a connection names, authenticated
// with whichever of its settings is given: a connection string, a SAS URL (of the
// container, or of the account with Container set), an account name and key (at
// AccountURL, or at https://<account>.blob.core.windows.net), or AccountURL alone, which
// uses the Azure SDK's default credential chain (environment, workload identity, managed
// identity, Azure CLI). It does no I/O.
func NewContainerClient(cn *config.Connection, opts *container.ClientOptions) (*container.Client, error) {
	switch {
	case !cn.ConnectionString.IsZero():
		c, err := container.NewClientFromConnectionString(cn.ConnectionString.Value(), cn.Container, opts)
		if err != nil {
			// The SDK's message may quote the connection string; never pass it on.
			return nil, errors.New("azblob: the connection string cannot be parsed")
		}
		return c, nil
	case !cn.SASURL.IsZero():
		u, err := sasContainerURL(cn.SASURL.Value(), cn.Container)
		if err != nil {
			return nil, err
		}
		return container.NewClientWithNoCredential(u, opts)
	case cn.AccountName != "":
		cred, err := container.NewSharedKeyCredential(cn.AccountName, cn.AccountKey.Value())
		if err != nil {
			return nil, errors.New("azblob: the account key is not valid base64")
		}
		account := cn.AccountURL
		if account == "" {
			account = "https://" + cn.AccountName + ".blob.core.windows.net"
		}
		return container.NewClientWithSharedKeyCredential(containerURL(account, cn.Container), cred, opts)
	case cn.AccountURL != "":
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("azblob: setting up the default Azure credential: %w", err)
		}
		return container.NewClient(containerURL(cn.AccountURL, cn.Container), cred, opts)
	}
	return nil, errors.New("azblob: no credentials: set connection_string, sas_url, account_name with account_key, or account_url")
}

func containerURL(account, name string) string {
	return strings.TrimRight(account, "/") + "/" + url.PathEscape(name)
}

// sasContainerURL returns the container URL of a SAS URL: the URL itself when it names a
// container, otherwise the account URL with the container added.
func sasContainerURL(raw, name string) (string, error) {
	parts, err := sas.ParseURL(raw)
	if err != nil {
		return "", errors.New("azblob: the SAS URL cannot be parsed")
	}
	switch {
	case parts.BlobName != "":
		return "", errors.New("azblob: the SAS URL names a blob; give a container or account SAS URL")
	case parts.ContainerName == "" && name == "":
		return "", errors.New("azblob: the SAS URL names no container and container is not set")
	case parts.ContainerName != "" && name != "" && parts.ContainerName != name:
		return "", fmt.Errorf("azblob: the SAS URL is for container %q but container is %q", parts.ContainerName, name)
	case parts.ContainerName == "":
		parts.ContainerName = name
	}
	return parts.String(), nil
}

// Options tunes a Source. The zero value is ready to use.
type Options struct {
	// ReadRetries is how many times a broken read is resumed before Read fails.
	// Defaults to 5.
	ReadRetries int
	// CopyPoll is the first wait between checks of a pending server-side copy; it doubles
	// up to 5s. Defaults to 200ms. (Copies within an account usually finish at once.)
	CopyPoll time.Duration
	// BlockSize is the size of the blocks a file written to the container is staged in.
	// Defaults to DefaultBlockSize.
	BlockSize int
}

// Source is an Azure Blob container.
type Source struct {
	c    *container.Client
	opts Options
}

// New returns the Source of a container; it does no I/O.
func New(c *container.Client, opts Options) *Source {
	if opts.ReadRetries <= 0 {
		opts.ReadRetries = 5
	}
	if opts.CopyPoll <= 0 {
		opts.CopyPoll = 200 * time.Millisecond
	}
	return &Source{c: c, opts: opts}
}

// notFound reports whether err is the service saying the blob (or the source of a copy,
// or the container) is not there.
func notFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

// wrap turns an SDK error into a one-line error for the operation, matching
// ingest.ErrNotExist when the blob is missing. SAS signatures are redacted from the
// message: the SDK's transport errors quote request URLs.
func wrap(op, name string, err error) error {
	err = &serviceError{err: err}
	if notFound(err) {
		return fmt.Errorf("%s %s: %w (%w)", op, name, ingest.ErrNotExist, err)
	}
	return fmt.Errorf("%s %s: %w", op, name, err)
}

// serviceError is an SDK error with a short message and no secrets.
type serviceError struct{ err error }

var sigParam = regexp.MustCompile(`(?i)\b(sig|SharedAccessSignature)=[^&;\s"']+`)

func (e *serviceError) Error() string {
	var re *azcore.ResponseError
	if errors.As(e.err, &re) {
		if re.ErrorCode != "" {
			return fmt.Sprintf("azure storage: HTTP %d %s", re.StatusCode, re.ErrorCode)
		}
		return fmt.Sprintf("azure storage: HTTP %d", re.StatusCode)
	}
	return sigParam.ReplaceAllString(e.err.Error(), "$1=REDACTED")
}

func (e *serviceError) Unwrap() error { return e.err }

func isFolderMarker(name string, metadata map[string]*string) bool {
	if strings.HasSuffix(name, "/") {
		return true
	}
	for k, v := range metadata {
		if strings.EqualFold(k, "hdi_isfolder") && v != nil && strings.EqualFold(*v, "true") {
			return true
		}
	}
	return false
}

func fileInfo(name string, size *int64, modified *time.Time, etag *azcore.ETag) ingest.FileInfo {
	f := ingest.FileInfo{Name: name}
	if size != nil {
		f.Size = *size
	}
	if modified != nil {
		f.ModTime = *modified
	}
	if etag != nil {
		// Headers quote ETags, listings do not: keep one form.
		f.ETag = strings.Trim(string(*etag), `"`)
	}
	return f
}

// List implements ingest.Source. A single-level pattern lists the folder with the "/"
// delimiter, so sub-folders are not enumerated; the pattern's literal start narrows the
// listing further ("orders_*.csv" lists only names starting with "orders_").
func (s *Source) List(ctx context.Context, dir string, pat *pattern.Pattern) ([]ingest.FileInfo, error) {
	clean, err := ingest.CleanPath(dir)
	if err != nil {
		return nil, fmt.Errorf("listing %q: %w", dir, err)
	}
	base := ""
	if clean != "" {
		base = clean + "/"
	}
	prefix := base + pat.LiteralPrefix()
	var files []ingest.FileInfo
	add := func(items []*container.BlobItem) {
		for _, it := range items {
			if it.Name == nil || it.Properties == nil || isFolderMarker(*it.Name, it.Metadata) {
				continue
			}
			name := *it.Name
			if c, err := ingest.CleanName(name); err != nil || c != name {
				continue // a name this package cannot address ("a//b", "../x")
			}
			if _, ok := pat.Match(strings.TrimPrefix(name, base)); !ok {
				continue
			}
			files = append(files, fileInfo(name, it.Properties.ContentLength, it.Properties.LastModified, it.Properties.ETag))
		}
	}
	include := container.ListBlobsInclude{Metadata: true}
	if pat.Depth() == 1 {
		pager := s.c.NewListBlobsHierarchyPager("/", &container.ListBlobsHierarchyOptions{Prefix: &prefix, Include: include})
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return nil, wrap("listing", prefix, err)
			}
			add(page.Segment.BlobItems)
		}
	} else {
		pager := s.c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix, Include: include})
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return nil, wrap("listing", prefix, err)
			}
			add(page.Segment.BlobItems)
		}
	}
	ingest.SortFiles(files)
	return files, nil
}

// Stat implements ingest.Source.
func (s *Source) Stat(ctx context.Context, name string) (ingest.FileInfo, error) {
	clean, err := ingest.CleanName(name)
	if err != nil {
		return ingest.FileInfo{}, err
	}
	props, err := s.c.NewBlobClient(clean).GetProperties(ctx, nil)
	if err != nil {
		return ingest.FileInfo{}, wrap("stat", clean, err)
	}
	if isFolderMarker(clean, props.Metadata) {
		return ingest.FileInfo{}, fmt.Errorf("stat %s: a folder: %w", clean, ingest.ErrNotExist)
	}
	return fileInfo(clean, props.ContentLength, props.LastModified, props.ETag), nil
}

// Open implements ingest.Source. ctx governs the whole read, not only the first request.
func (s *Source) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	clean, err := ingest.CleanName(name)
	if err != nil {
		return nil, err
	}
	resp, err := s.c.NewBlobClient(clean).DownloadStream(ctx, nil)
	if err != nil {
		return nil, wrap("opening", clean, err)
	}
	if isFolderMarker(clean, resp.Metadata) {
		resp.Body.Close()
		return nil, fmt.Errorf("opening %s: a folder: %w", clean, ingest.ErrNotExist)
	}
	body := resp.NewRetryReader(ctx, &blob.RetryReaderOptions{
		MaxRetries:        int32(s.opts.ReadRetries),
		EarlyCloseAsError: true,
	})
	r := &reader{name: clean, body: body, size: -1}
	if resp.ContentLength != nil {
		r.size = *resp.ContentLength
	}
	return r, nil
}

// reader checks that a download delivered as many bytes as the blob has, so that a body
// cut short without a transport error is an error, not a silently short file.
type reader struct {
	name string
	body io.ReadCloser
	size int64
	n    int64
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	r.n += int64(n)
	if errors.Is(err, io.EOF) && r.size >= 0 && r.n != r.size {
		return n, fmt.Errorf("reading %s: got %d of %d bytes: %w", r.name, r.n, r.size, io.ErrUnexpectedEOF)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, wrap("reading", r.name, err)
	}
	return n, err
}

func (r *reader) Close() error { return r.body.Close() }

// Move implements ingest.Source.
func (s *Source) Move(ctx context.Context, from, toDir string) (string, error) {
	src, dir, err := ingest.CleanMove(from, toDir)
	if err != nil {
		return "", err
	}
	srcBlob := s.c.NewBlobClient(src)
	props, err := srcBlob.GetProperties(ctx, nil)
	if err != nil {
		return "", wrap("moving", src, err)
	}
	if props.ETag == nil {
		return "", fmt.Errorf("moving %s: the service sent no ETag", src)
	}
	etag := *props.ETag
	taken, err := s.namesLike(ctx, dir, path.Base(src))
	if err != nil {
		return "", fmt.Errorf("moving %s: %w", src, err)
	}
	target, err := ingest.PlaceNumbered(src, dir, taken, func(target string) (bool, error) {
		return s.copy(ctx, srcBlob, etag, target)
	})
	if err != nil {
		return "", fmt.Errorf("moving %s to %q: %w", src, dir, err)
	}
	if target == src {
		return src, nil
	}
	_, err = srcBlob.Delete(ctx, &blob.DeleteOptions{
		DeleteSnapshots:  to(blob.DeleteSnapshotsOptionTypeInclude),
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &etag}},
	})
	switch {
	case err == nil, notFound(err):
		return target, nil
	case bloberror.HasCode(err, bloberror.ConditionNotMet):
		return "", fmt.Errorf("moving %s: it changed during the move; its earlier version was copied to %s and the new one left in place", src, target)
	}
	return "", wrap("moving "+src+": copied to "+target+" but deleting", src, err)
}

// namesLike returns the base names in dir that start like base's stem, the only ones a
// numbered name can collide with.
func (s *Source) namesLike(ctx context.Context, dir, base string) (map[string]bool, error) {
	prefix := path.Join(dir, strings.TrimSuffix(base, path.Ext(base)))
	if dir == "" {
		prefix = strings.TrimSuffix(base, path.Ext(base))
	}
	taken := map[string]bool{}
	pager := s.c.NewListBlobsHierarchyPager("/", &container.ListBlobsHierarchyOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, wrap("listing", prefix, err)
		}
		for _, it := range page.Segment.BlobItems {
			if it.Name != nil {
				taken[path.Base(*it.Name)] = true
			}
		}
	}
	return taken, nil
}

// copy copies the source blob (at etag) to target unless target exists, and waits for the
// copy to finish. It returns false when target exists.
func (s *Source) copy(ctx context.Context, src *blob.Client, etag azcore.ETag, target string) (bool, error) {
	dst := s.c.NewBlobClient(target)
	resp, err := dst.StartCopyFromURL(ctx, src.URL(), &blob.StartCopyFromURLOptions{
		SourceModifiedAccessConditions: &blob.SourceModifiedAccessConditions{SourceIfMatch: &etag},
		AccessConditions: &blob.AccessConditions{
			ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to(azcore.ETagAny)},
		},
	})
	switch {
	case err == nil:
	case bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet, bloberror.TargetConditionNotMet):
		return false, nil
	case bloberror.HasCode(err, bloberror.SourceConditionNotMet):
		return false, fmt.Errorf("copying to %s: the source changed since the move began", target)
	default:
		return false, wrap("copying to", target, err)
	}
	status, copyID := resp.CopyStatus, resp.CopyID
	wait := s.opts.CopyPoll
	for status != nil && *status == blob.CopyStatusTypePending {
		select {
		case <-ctx.Done():
			if copyID != nil {
				_, _ = dst.AbortCopyFromURL(context.WithoutCancel(ctx), *copyID, nil)
			}
			return false, fmt.Errorf("copying to %s: %w", target, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
		props, err := dst.GetProperties(ctx, nil)
		if err != nil {
			return false, wrap("checking the copy to", target, err)
		}
		status = props.CopyStatus
	}
	if status != nil && *status != blob.CopyStatusTypeSuccess {
		_, _ = dst.Delete(ctx, nil)
		return false, fmt.Errorf("copying to %s: the copy ended %s", target, *status)
	}
	return true, nil
}

// Close implements ingest.Source; the container client holds nothing to release.
func (s *Source) Close() error { return nil }

func to[T any](v T) *T { return &v }

var _ ingest.Source = (*Source)(nil)
