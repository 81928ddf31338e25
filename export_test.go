package apikey

import "context"

// VerifyWith makes a middleware check keys with verify instead of
// Manager.Check, for answers no store gives.
func VerifyWith(verify func(ctx context.Context, key string, scopes ...string) (*Key, error)) MiddlewareOption {
	return func(c *middlewareConfig) {
		c.check = func(ctx context.Context, key string, o CheckOptions) (*Key, Decision, error) {
			k, err := verify(ctx, key, o.Scopes...)
			return k, Decision{}, err
		}
	}
}

// LimiterBuckets reports how many buckets l holds.
func LimiterBuckets(l *LocalLimiter) int { return l.buckets() }

// DraftFields exposes the IETF RateLimit serialisation for its test.
var DraftFields = draftFields
