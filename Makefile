GO ?= go
# Starts the test services (internal/devstack) that are not running, runs a command with
# the PIPELINE_TEST_* variables set, then stops what it started.
TESTENV = $(GO) run ./internal/cmd/testenv
# How much each fuzz target runs in `make test`: a count of inputs, not a duration
# (longer: make fuzz FUZZTIME=5m). With a duration, Go's fuzzer can fail with "context
# deadline exceeded" when the time runs out in the middle of minimizing an input.
# Minimizing a new interesting input runs a count of inputs too, not Go's default 60 s.
FUZZTIME ?= 50000x
FUZZMINIMIZE ?= 2000x
# package:target
FUZZ_TARGETS = ingest/reader:FuzzCSV ingest/reader:FuzzJSON ingest/reader:FuzzXLSX validate:FuzzPattern ingest/pattern:FuzzMatch internal/jsonstr:FuzzAppend

.PHONY: build dev test test-race fuzz bench vet services-up services-down clean

# The pipeline binary, in bin/.
build:
	$(GO) build -o bin/pipeline ./cmd/pipeline

# The product on its embedded defaults: a throwaway Postgres, the F&O emulator, the
# example config and sample imports, then the operator console until Ctrl-C
# (pipeline dev --help); ARGS=--exit stops after the summary, for scripts and CI.
dev:
	$(GO) run ./cmd/pipeline dev $(ARGS)

# The whole suite against real services, started on free loopback ports and stopped
# after, then a short run of each fuzz target.
test: vet
	$(TESTENV) run -- $(GO) test -count=1 ./...
	$(MAKE) fuzz

# The same under the race detector (slower: run it before merging concurrency changes).
test-race:
	$(TESTENV) run -- $(GO) test -race -count=1 ./...

fuzz:
	@for pt in $(FUZZ_TARGETS); do \
		p=$${pt%%:*}; t=$${pt#*:}; \
		echo "fuzz $$p $$t for $(FUZZTIME)"; \
		$(GO) test ./$$p -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) || exit 1; \
	done

# Benchmarks (numbers for the issue notes); BENCH selects, e.g. make bench BENCH=CSV.
BENCH ?= .
bench:
	$(TESTENV) run -- $(GO) test -run '^$$' -bench '$(BENCH)' -benchmem ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

# Start the test services and keep them running (reused by `make test` and by
# `go run ./internal/cmd/testenv run -- go test ./pkg/...`); `. .testenv/env` sets the
# variables in a shell.
services-up:
	$(TESTENV) up

services-down:
	$(TESTENV) down

clean:
	rm -rf bin
