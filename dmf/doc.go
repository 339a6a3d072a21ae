// Package dmf is dmfpipe's client for the Dynamics 365 Finance & Operations Data
// Management Framework (DMF): the data management package REST API, the recurring
// integrations (connector) API, and the Entra ID token source they share. The
// protocol is specified in dmf-api.md; section numbers in comments refer to it.
//
// A Client is built from plain Options and is safe for concurrent use. Every call
// goes through one retry loop: 429 responses are honoured with their Retry-After
// (on F&O, Blob and token endpoints alike), 5xx and network failures are retried
// with exponential backoff until a deadline, and calls to one environment share a
// process-wide rate limit. Calls that are not idempotent (ImportFromPackage,
// ExportToPackage, enqueue) are never re-sent blindly: when their response is lost
// the client first looks the execution up, and re-sends only what F&O never saw.
//
// Blob SAS URLs (package upload, exported packages, error files) never receive the
// bearer token, and secrets (client secret, tokens, SAS signatures) never appear
// in logs or error messages.
//
// The package zip format itself lives in dmf/datapackage.
package dmf
