package redis

import (
	"context"
	"time"
)

// bounded runs fn under ctx, limited to timeout when it is positive, and
// returns as soon as that context ends, whether or not fn has. go-redis
// bounds socket reads and writes by a context's deadline only when the
// client was built with ContextTimeoutEnabled; otherwise a stalled Redis
// holds a call for the client's read timeout and retries (seconds), and
// the library's timeout would be a promise the client does not keep.
//
// When the context ends first, fn goes on in its goroutine until the
// client gives up, holding its connection meanwhile; its results are
// dropped. fn must not write anything its caller reads after an error.
func bounded(ctx context.Context, timeout time.Duration, fn func(context.Context) error) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if ctx.Done() == nil {
		return fn(ctx) // nothing can end it early
	}
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
