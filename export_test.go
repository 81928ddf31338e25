package apikey

import "context"

// VerifyWith makes a middleware check keys with verify instead of
// Manager.Verify, for answers no store can produce (429 until the rate
// limiter exists).
func VerifyWith(verify func(ctx context.Context, key string, scopes ...string) (*Key, error)) MiddlewareOption {
	return func(c *middlewareConfig) { c.verify = verify }
}
