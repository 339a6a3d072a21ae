package azblob

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/dmfpipe/dmfpipe/ingest"
)

// A container as an ingest.Destination: a file's bytes are staged as uncommitted blocks
// of the blob itself (Put Block), which no listing or read shows, and the block list is
// committed last (Put Block List) on the condition that no blob of that name exists
// (If-None-Match: *), so the blob appears at once and complete, and never replaces one.
// Blocks left uncommitted by a crash are discarded by the service after a week. Each
// writer's block IDs start with a random tag of its own, so concurrent writers of one
// name never commit each other's blocks.

// DefaultBlockSize is the size of the blocks a file is staged in (Options.BlockSize).
// With Azure's 50,000 blocks a blob, a file can reach 195 GiB.
const DefaultBlockSize = 4 << 20

// Create implements ingest.Destination.
func (s *Source) Create(ctx context.Context, name string) (ingest.PendingFile, error) {
	clean, err := ingest.CleanName(name)
	if err != nil {
		return nil, err
	}
	size := s.opts.BlockSize
	if size <= 0 {
		size = DefaultBlockSize
	}
	return &pendingBlob{ctx: ctx, bb: s.c.NewBlockBlobClient(clean), name: clean, tag: ingest.NewTag(), buf: make([]byte, 0, size)}, nil
}

type pendingBlob struct {
	ctx  context.Context
	bb   *blockblob.Client
	name string
	tag  string
	buf  []byte
	ids  []string
	done bool
}

// maxBlocks is Azure's limit of committed blocks a blob.
const maxBlocks = 50_000

func (p *pendingBlob) Write(b []byte) (int, error) {
	if p.done {
		return 0, fmt.Errorf("writing %s: %w", p.name, os.ErrClosed)
	}
	n := len(b)
	for len(b) > 0 {
		room := cap(p.buf) - len(p.buf)
		if room == 0 {
			if err := p.stage(p.ctx); err != nil {
				return n - len(b), err
			}
			continue
		}
		take := min(room, len(b))
		p.buf = append(p.buf, b[:take]...)
		b = b[take:]
	}
	return n, nil
}

// stage sends the buffered bytes as the next block.
func (p *pendingBlob) stage(ctx context.Context) error {
	if len(p.ids) == maxBlocks {
		return fmt.Errorf("writing %s: more than %d blocks of %d bytes, Azure's limit", p.name, maxBlocks, cap(p.buf))
	}
	// Block IDs must all have the same length.
	id := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s-%08d", p.tag, len(p.ids)))
	if _, err := p.bb.StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(p.buf)), nil); err != nil {
		return wrap("writing", p.name, err)
	}
	p.ids = append(p.ids, id)
	p.buf = p.buf[:0]
	return nil
}

func (p *pendingBlob) Commit(ctx context.Context) error {
	if p.done {
		return fmt.Errorf("committing %s: %w", p.name, os.ErrClosed)
	}
	p.done = true
	if len(p.buf) > 0 {
		if err := p.stage(ctx); err != nil {
			return err
		}
	}
	_, err := p.bb.CommitBlockList(ctx, p.ids, &blockblob.CommitBlockListOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to(azcore.ETagAny)}},
	})
	switch {
	case err == nil:
		return nil
	case bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet):
		return fmt.Errorf("committing %s: it already exists; not replaced: %w", p.name, ingest.ErrExist)
	}
	return wrap("committing", p.name, err)
}

func (p *pendingBlob) Abort() error {
	p.done = true
	p.buf = nil
	return nil
}

var _ ingest.Destination = (*Source)(nil)
