package apikey

import (
	"context"
	"math"
)

// authContext carries an authenticated request's identity. It is one
// allocation (what context.WithValue would cost), kept to 64 bytes, and
// holds the Manager that verified the key, so that RequireScopes applies
// that Manager's wildcards and implications, and LimitRoute its limiter.
type authContext struct {
	context.Context
	key     *Key
	manager *Manager // nil for NewContext: exact scope matching only
	method  string
	// responder answers refusals as the middleware that authenticated the
	// request was configured to (realm, error handler, logger), so that
	// RequireScopes downstream answers the same way. nil: the defaults.
	responder *responder
	// room is the share of the key's tightest limit left after this
	// request (+Inf without one), for LimitRoute to tell whether its own
	// limit is tighter; draftHeaders, whether to send the IETF fields.
	room         float32
	draftHeaders bool
}

// scopePolicy is the policy of the Manager that verified the key.
func (c *authContext) scopePolicy() *scopePolicy {
	if c.manager == nil {
		return nil
	}
	return c.manager.policy
}

// roomOf is the share of d's limit left: +Inf when no limit applied.
func roomOf(d Decision) float32 {
	if d.Policy == "" || d.Limit <= 0 {
		return float32(math.Inf(1))
	}
	return float32(d.Remaining) / float32(d.Limit)
}

type authContextKey struct{}

func (c *authContext) Value(k any) any {
	if k == (authContextKey{}) {
		return c
	}
	return c.Context.Value(k)
}

// AuthMethodAPIKey is what AuthMethod reports for a request authenticated
// with an API key.
const AuthMethodAPIKey = "api_key"

// NewContext returns a copy of ctx carrying k, as the middleware does after
// a successful Verify; FromContext returns it. Scope checks on such a
// context use the Manager's rules (see Manager.NewContext); this one knows
// only exact matches and wildcards.
func NewContext(ctx context.Context, k *Key) context.Context {
	return &authContext{Context: ctx, key: k, method: AuthMethodAPIKey, room: roomOf(Decision{})}
}

// NewContext returns a copy of ctx carrying k and this Manager's scope
// rules, for handlers that call Verify themselves and then use
// RequireScopes downstream.
func (m *Manager) NewContext(ctx context.Context, k *Key) context.Context {
	return &authContext{Context: ctx, key: k, manager: m, method: AuthMethodAPIKey, room: roomOf(Decision{})}
}

// WithAuthMethod returns a copy of ctx that reports method from AuthMethod,
// for a fallback authenticator (a session, a JWT) to say how it
// authenticated the request. No Key is attached.
func WithAuthMethod(ctx context.Context, method string) context.Context {
	c := &authContext{Context: ctx, method: method}
	if parent := fromContext(ctx); parent != nil {
		c.responder = parent.responder // answer as the middleware in front does
	}
	return c
}

// FromContext returns the key that authenticated the request, if any. The
// Key is shared: treat it as read-only.
func FromContext(ctx context.Context) (*Key, bool) {
	c, ok := ctx.Value(authContextKey{}).(*authContext)
	if !ok || c.key == nil {
		return nil, false
	}
	return c.key, true
}

// AuthMethod returns how the request was authenticated: AuthMethodAPIKey,
// what a fallback authenticator set with WithAuthMethod, or "" when it was
// not.
func AuthMethod(ctx context.Context) string {
	if c, ok := ctx.Value(authContextKey{}).(*authContext); ok {
		return c.method
	}
	return ""
}

// fromContext returns the request's auth data for scope checks.
func fromContext(ctx context.Context) *authContext {
	c, _ := ctx.Value(authContextKey{}).(*authContext)
	return c
}
