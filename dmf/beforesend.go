package dmf

import "context"

type beforeSendKey struct{}

// WithBeforeSend returns a context whose F&O calls run f right before each attempt's
// request goes out: after the environment's rate limit let it through and its bearer
// token is at hand, so f runs as close to F&O's receipt as the client can. An error from
// f ends the call unsent, with that error (wrapped); the call is not retried.
//
// The import stages claim a status call in an execution's poll schedule this way, so
// that a call kept waiting by the rate limiter still keeps to the schedule from when it
// reached F&O.
func WithBeforeSend(ctx context.Context, f func(ctx context.Context) error) context.Context {
	return context.WithValue(ctx, beforeSendKey{}, f)
}

// beforeSend runs the function WithBeforeSend put in ctx, if any.
func beforeSend(ctx context.Context) error {
	if f, ok := ctx.Value(beforeSendKey{}).(func(context.Context) error); ok {
		return f(ctx)
	}
	return nil
}
