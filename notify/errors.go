package notify

import "time"

// Channel names the way a notification travels.
type Channel string

// The channels.
const (
	ChannelEmail   Channel = "email"
	ChannelWebhook Channel = "webhook"
)

// Error is a notification that could not be delivered.
type Error struct {
	Channel Channel
	// Permanent is set when sending the same notification again cannot succeed.
	Permanent bool
	// Code is the SMTP reply code or the HTTP status that refused the notification; 0 when
	// none arrived (connection failure, timeout, bad configuration).
	Code int
	// RetryAfter is the delay a webhook asked for with Retry-After; 0 when none.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string { return string(e.Channel) + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether err says that retrying the notification cannot help: a
// 5xx SMTP reply, a 4xx webhook status other than 408 and 429, or a configuration that
// cannot work. Errors joined by [Multi] are permanent only when every one of them is, so
// that a transient failure of one channel is retried. Any other error, including a nil
// one, is not permanent.
func IsPermanent(err error) bool {
	switch e := err.(type) {
	case nil:
		return false
	case *Error:
		return e.Permanent
	case interface{ Unwrap() []error }:
		errs := e.Unwrap()
		for _, inner := range errs {
			if !IsPermanent(inner) {
				return false
			}
		}
		return len(errs) > 0
	case interface{ Unwrap() error }:
		return IsPermanent(e.Unwrap())
	}
	return false
}

// permanent and transient build an *Error for ch.
func permanent(ch Channel, code int, err error) *Error {
	return &Error{Channel: ch, Permanent: true, Code: code, Err: err}
}

func transient(ch Channel, code int, err error) *Error {
	return &Error{Channel: ch, Code: code, Err: err}
}
