// Package testsvc gives integration tests the services that internal/cmd/testenv started
// (`make test` runs every test that way), through the PIPELINE_TEST_* variables defined in
// internal/devstack.
//
// A test that needs a service whose variables are not set fails when CI=true, and is
// skipped otherwise with a message saying to run `make test`.
//
// The services are shared by every test of the run, so each test keeps to its own part:
// Database creates a database per test, SFTP makes a directory per test, and tests using
// Azurite or Mailpit use container names and mail recipients of their own (see Name).
package testsvc
