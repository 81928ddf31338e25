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
	maxBody        int64
	clock          func() time.Time
	requestID      string
	clientAddr     func(*http.Request) string
	logger         *slog.Logger
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
// method); any other error 503. Reference services allow 10 creations per
// owner and hour; plug the Manager's rate limiter in here. The default is
// no limit.
func WithCreateLimit(limit func(ctx context.Context, ownerID string) error) Option {
	return func(c *config) { c.createLimit = limit }
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
