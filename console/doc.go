// Package console is dmfpipe's operator web console and its JSON API: an http.Handler
// built from the composition root's parts (app.App, the database pool, the worker's
// stages and River client). It writes no SQL of its own: every page reads through the
// stores (staging, jobhistory, scheduler) and every change goes through the import
// stages (imports.Stages: EditRow, RejectRow, Act, Resubmit, Retry, Cancel), which
// record the audit trail as the signed-in user.
//
// Pages are server-rendered html/template, with every asset embedded (htmx 2.0.11,
// vendored in static/, and the console's own CSS), so the console works offline.
// Filters live in the URL: a link shows the same view. Pages of rows are keyset pages
// (after / before a row number), so they cost the same at row 900,000 as at row 1.
//
// # Who may do what
//
// Users and their roles come from the config (console.users, Argon2id hashes made with
// `pipeline console hash-password`), or from a trusted reverse proxy's user header
// (console.trusted_proxy_header). A viewer reads everything; an operator and an admin
// also change data (fix, set aside, resubmit, retry, cancel, pause, resume, run now); an
// admin alone may act in River's UI (mounted at /riverui, read-only with job arguments
// hidden for everyone else). Sessions live in Postgres (table sessions, migration 00008)
// so that every serve node knows them; the cookie is HttpOnly, SameSite=Lax and Secure
// unless console.secure_cookies is false. Logins are rate-limited per client address and
// per user name. Every route that changes data answers POST only, behind
// http.CrossOriginProtection, and needs an operator: Routes lists them, and a test
// checks each against a viewer, a request without a session and a cross-origin POST.
//
// Pauses, resumes and runs now are in the project's audit trail (jobhistory.ProjectEntry),
// the rows' and jobs' changes in the job's (jobhistory.Audit), each as the user who made
// them.
//
// The JSON API under /api/v1/ shows and does what the pages do, with a session or an
// API token (console.api_tokens, `Authorization: Bearer <token>`); a token acts as
// token:NAME in the audit trail.
package console
