package admin

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/keyward/apikey"
)

// Option configures NewHandler.
type Option func(*config)

type config struct {
	authorizer     Authorizer
	authorizerSet  bool
	middlewareOpts []apikey.MiddlewareOption
	createLimit    func(ctx context.Context, ownerID string) error
	createLimitSet bool
	maxBody        int64
	clock          func() time.Time
	requestID      string
	clientAddr     func(*http.Request) string
	logger         *slog.Logger
	trustedOrigins []string
	ui             *UIConfig // WithUI; nil: no page
}

const (
	// DefaultMaxBodyBytes caps request bodies; larger ones answer 413.
	DefaultMaxBodyBytes = 64 << 10
	// ScopeManage lets a caller create, change, rotate and revoke keys.
	ScopeManage = "api_keys:manage"
	// ScopeRead lets a caller list and read keys and the audit log.
	ScopeRead = "api_keys:read"
)

func defaultConfig() config {
	return config{
		maxBody:    DefaultMaxBodyBytes,
		clock:      time.Now,
		requestID:  "X-Request-Id",
		clientAddr: func(r *http.Request) string { return r.RemoteAddr },
		logger:     slog.New(slog.DiscardHandler),
	}
}

// WithAuthorizer authenticates callers with a (the host's sessions or
// JWTs) instead of the Manager's middleware.
func WithAuthorizer(a Authorizer) Option {
	return func(c *config) { c.authorizer, c.authorizerSet = a, true }
}

// WithMiddlewareOptions configures the middleware that authenticates
// callers when there is no Authorizer (realm, headers, LogFailures …).
func WithMiddlewareOptions(opts ...apikey.MiddlewareOption) Option {
	return func(c *config) { c.middlewareOpts = append(c.middlewareOpts, opts...) }
}

// WithCreateLimit calls limit before a key is created or rotated, with the
// owner of the new key. An error matching apikey.ErrRateLimited answers
// 429 (with Retry-After when the error has a RetryAfter() time.Duration
// method); any other error 503. The default allows 10 creations per owner
// and hour (Hook Mesh's figure) through the Manager's rate limiter (see
// CreateLimitPerOwner); nil turns the limit off.
func WithCreateLimit(limit func(ctx context.Context, ownerID string) error) Option {
	return func(c *config) { c.createLimit, c.createLimitSet = limit, true }
}

// DefaultCreateLimit is how many keys an owner may create (or rotate) per
// hour by default.
const DefaultCreateLimit = 10

// CreateLimitPerOwner returns a create limit for WithCreateLimit that takes
// from a per-owner limit of m's rate limiter, so that on many instances
// with the Redis limiter it holds across all of them.
func CreateLimitPerOwner(m *apikey.Manager, limit apikey.Limit) func(ctx context.Context, ownerID string) error {
	return func(ctx context.Context, ownerID string) error {
		_, err := m.Allow(ctx, apikey.LimitRequest{
			Key: apikey.LimitKey{Policy: "api_key_creation", Subject: ownerID}, Limit: limit, Cost: 1, Name: "api_key_creation"})
		return err
	}
}

// WithMaxBodyBytes caps request bodies (default 64 KiB); larger ones
// answer 413.
func WithMaxBodyBytes(n int64) Option { return func(c *config) { c.maxBody = n } }

// WithClock sets the time expires_in_days counts from (default time.Now).
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// WithRequestIDHeader names the header whose value becomes the request ID
// of audit events (default X-Request-Id); "" turns it off. Values longer
// than 128 bytes or with bytes outside printable ASCII are ignored.
func WithRequestIDHeader(name string) Option { return func(c *config) { c.requestID = name } }

// WithClientAddr sets how the client address of audit events is found
// (default r.RemoteAddr); behind a proxy, read the header it sets.
func WithClientAddr(f func(*http.Request) string) Option {
	return func(c *config) { c.clientAddr = f }
}

// WithLogger sets where unexpected errors are logged (default: discarded).
// Keys are never logged.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithTrustedOrigins names other origins (scheme://host[:port]) whose
// browsers may send state-changing requests. By default every POST, PATCH,
// DELETE and PUT from a browser must be same-origin (Sec-Fetch-Site, else
// Origin against Host; Go's http.CrossOriginProtection), or it answers 403
// csrf_failed; clients that send neither header, as API clients do, are
// unaffected.
func WithTrustedOrigins(origins ...string) Option {
	return func(c *config) { c.trustedOrigins = append(c.trustedOrigins, origins...) }
}
