GO ?= go
# Starts the test services (internal/devstack) that are not running, runs a command with
# the PIPELINE_TEST_* variables set, then stops what it started.
TESTENV = $(GO) run ./internal/cmd/testenv

.PHONY: test test-race services-up services-down

# The whole suite against real services, started on free loopback ports and stopped after.
test:
	$(TESTENV) run -- $(GO) test -count=1 ./...

# The same under the race detector (slower: run it before merging concurrency changes).
test-race:
	$(TESTENV) run -- $(GO) test -race -count=1 ./...

# Start the test services and keep them running (reused by `make test` and by
# `go run ./internal/cmd/testenv run -- go test ./pkg/...`); `. .testenv/env` sets the
# variables in a shell.
services-up:
	$(TESTENV) up

services-down:
	$(TESTENV) down
