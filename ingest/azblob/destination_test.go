package azblob_test

import (
	"testing"

	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/ingest/desttest"
	"github.com/dmfpipe/dmfpipe/ingest/sourcetest"
)

func TestDestinationConformance(t *testing.T) {
	t.Parallel()
	desttest.Run(t, func(t *testing.T) (ingest.Destination, sourcetest.Helper) {
		src, h := newSource(t)
		return src.(ingest.Destination), h
	})
}
