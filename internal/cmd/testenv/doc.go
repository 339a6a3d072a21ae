// Command testenv starts, reuses and stops the services of dmfpipe's tests (see
// internal/devstack): PostgreSQL, Azurite, Mailpit, an OpenSSH server for SFTP and Chromium.
// Run it from anywhere in the checkout with `go run ./internal/cmd/testenv`:
//
//	testenv up [--only postgres,azurite,mailpit,sshd,chromium]
//	    start the services that are not running; they stay up until `down`
//	testenv down
//	    stop every service and remove its files
//	testenv run [--only ...] -- CMD ARGS...
//	    start what is missing, run CMD with the PIPELINE_TEST_* variables set, then stop
//	    what this run started (unless another run still uses it); exits with CMD's code
//	testenv env
//	    print .testenv/env (lines `export NAME='value'`, for `. .testenv/env`)
//
// State lives in .testenv/state.json at the repository root: for each service its process
// (PID and start time), ports and temp directory, whether `up` keeps it, and the `run`
// processes using the services. A service in the state whose process is alive and whose
// port answers is reused; any other is dropped and started anew. A file lock on
// .testenv/lock serialises concurrent invocations.
//
// PIPELINE_TEST_DATABASE_URL, when set in the environment of `up` or `run`, is passed
// through and no PostgreSQL is started. A tool that is missing and may not be installed
// (sshd for a non-root user, say) is a warning and its tests skip, except with CI=true
// where it is an error.
package main
