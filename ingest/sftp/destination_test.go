package sftp_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/ingest"
	"github.com/dmfpipe/dmfpipe/ingest/desttest"
	"github.com/dmfpipe/dmfpipe/ingest/sftp"
	"github.com/dmfpipe/dmfpipe/ingest/sourcetest"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

func TestDestinationConformanceInProcess(t *testing.T) {
	t.Parallel()
	desttest.Run(t, func(t *testing.T) (ingest.Destination, sourcetest.Helper) {
		src, _, root := inProcess(t)
		return src, sourcetest.Dir(t, root)
	})
}

func TestDestinationConformanceOpenSSH(t *testing.T) {
	t.Parallel()
	desttest.Run(t, func(t *testing.T) (ingest.Destination, sourcetest.Helper) {
		srv := testsvc.SFTP(t)
		key, err := os.ReadFile(srv.KeyPath)
		require.NoError(t, err)
		src := newSource(t, sftp.Options{
			Addr: srv.Addr, User: srv.User, PrivateKey: config.NewSecret(string(key)),
			KnownHosts: srv.KnownHosts, Root: srv.Root,
		})
		return src, sourcetest.Dir(t, srv.Root)
	})
}
