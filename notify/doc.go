// Package notify tells people how a job ended: an email through SMTP and an optional
// webhook (a Microsoft Teams Adaptive Card message, which also carries the job as JSON).
//
// It owns the content (a [Job] summary rendered through the embedded text and HTML
// templates, the subject line, the link to the job in the console), the decision which
// outcomes notify ([ShouldNotify]), and the delivery with timeouts. It does not decide when
// to send: the River worker that calls a [Sender] runs in its own retried job, so a slow or
// refusing mail server never holds an import. Errors are [*Error] values that say whether a
// retry can help ([IsPermanent]): a 5xx SMTP reply or a 4xx webhook status (but 408 and
// 429) is permanent; connection failures, timeouts, 4xx SMTP replies and 5xx or 429
// webhook statuses are worth retrying.
//
// Secrets stay out of errors: the SMTP password is never formatted, and a webhook URL
// appears as its scheme and host only (an incoming-webhook URL's path and query are its
// credential).
package notify
