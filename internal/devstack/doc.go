// Package devstack starts and stops the services that dmfpipe's tests and `pipeline dev`
// use on this machine: a throwaway PostgreSQL cluster, the Azurite Blob emulator, Mailpit
// for SMTP, an OpenSSH server for SFTP, and Chromium for the console's browser tests.
//
// Every service listens on 127.0.0.1 on a port the kernel hands out (never a fixed one),
// keeps its files in the directory given to Start, and runs in a session of its own so that
// it outlives the process that started it. The exported fields of each service struct are
// its state: marshalled to JSON and read back in another process (internal/cmd/testenv keeps
// them in .testenv/state.json), they are enough to check it with Running and end it with Stop.
// A PID is always checked against the process start time recorded with it, so a recycled
// PID is never signalled.
//
// Tools come from the machine or the repository:
//   - PostgreSQL: initdb, pg_ctl and postgres from PATH, else the newest
//     /usr/lib/postgresql/*/bin. PostgreSQL refuses to run as root, so as root the cluster
//     runs as the `nobody` user: its directory is chowned to that user and the binaries run
//     with dropped credentials (syscall.SysProcAttr.Credential, no sudo). The directory and
//     its parents must then be reachable by `nobody` (a directory made under /tmp is).
//   - Azurite: the npm package pinned by tools/azurite/package-lock.json, installed there
//     with `npm ci` when node_modules is missing or older than the lock file.
//   - Mailpit: the Go module pinned by tools/mailpit/go.mod, built with `go build` into a
//     binary path the caller chooses when it is missing or older than that go.mod.
//   - OpenSSH: /usr/sbin/sshd, installed with apt-get when missing and running as root.
//   - Chromium (a tool the browser tests start themselves, not a server): /usr/bin/chromium
//     or another name on PATH, Debian's chromium package installed with apt-get when
//     missing and running as root.
//
// A tool that is missing and that the stack may not install makes Start fail with an error
// wrapping ErrNotInstalled that says what to install.
package devstack
