// Package dmf is dmfpipe's client for the Dynamics 365 Finance & Operations Data
// Management Framework (DMF): the data management package REST API, the recurring
// integrations (connector) API, and the Entra ID token source they share. The
// protocol is specified in dmf-api.md; section numbers in comments refer to it.
//
// A Client is built from plain Options and is safe for concurrent use. Check makes
// one cheap authenticated read, so that a wrong secret or an unreachable environment
// fails in about a second, before any work is staged.
//
// # Libraries
//
// Tokens come from golang.org/x/oauth2/clientcredentials (v2: scope=<base>/.default;
// v1: resource=<base>), cached by oauth2.ReuseTokenSourceWithExpiry and replaced 5
// minutes before expiry; a 401 from F&O drops the cached token and fetches a fresh
// one once. Blob SAS URLs (package upload, exported packages, error files) are
// reached with the azblob SDK's block blob client, with no credential: one Put Blob
// up to Options.BlockUploadThreshold, Put Block + Put Block List above it. Both
// libraries send through Options.HTTPClient, and neither retries on its own (the
// SDK's retry policy is off): each library call is one attempt of the client's retry
// loop, so one policy decides.
//
// # Retries
//
// Every call goes through that loop: 429 responses are honoured with their
// Retry-After (on F&O, Blob and token endpoints alike), 5xx and network failures are
// retried with exponential backoff until a deadline, and calls to one environment
// share a process-wide rate limit. Calls that are not idempotent (ImportFromPackage,
// ExportToPackage, enqueue) are never re-sent blindly: when their response is lost
// the client first looks the execution up, and re-sends only what F&O never saw.
// Backoff and the "until ready" polls (5 s growing 1.5x to 60 s) follow one schedule
// type, internal/backoff.Policy.
//
// Options.OnRetry hears of each retry before its wait, with the call, the attempt, the
// wait and the cause ("GetAzureWriteUrl: connection refused at 127.0.0.1:8098, retry
// 3 in 8s"); by default the retry is logged at warn level. Failures that retrying
// will not cure soon (IsPersistent: connection refused, unknown host, an untrusted
// TLS certificate, rejected client credentials, 403) are retried only for
// Options.PersistentErrorTimeout: a server keeps the default (the retry deadline) and
// rides out an outage, a foreground run sets a short one and fails with the cause.
//
// Secrets (client secret, tokens, SAS signatures) never appear in logs, retries or
// error messages.
//
// The package zip format itself lives in dmf/datapackage.
package dmf
