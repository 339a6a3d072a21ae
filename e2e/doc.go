// Package e2e holds dmfpipe's end-to-end tests: they build the real `pipeline` binary
// once and run it as separate processes (`emulator`, `migrate up`, `serve`) against the
// test services of internal/testsvc (PostgreSQL, the OpenSSH SFTP server, Mailpit), the
// way an operator would deploy it.
//
// The tests cover a scheduled SFTP import of a large file in chunks over two lanes with
// archiving and an email, a `pipeline run` against an emulator injecting 429s and 5xxs,
// a three-node cluster on one database in which each tick of a schedule fires once, a
// cluster that loses the node running an ingest (SIGKILL) and still completes the job,
// and `pipeline export` killed between a recurring message's write and its ack, and in
// the middle of writing a file (local, SFTP, Blob).
//
// Every process writes its stdout and stderr to files in the test's temporary directory;
// a failing test prints their tails, and every process is stopped when its test ends.
// The package has no non-test code.
package e2e
