package apikey

import (
	"context"
	"math"
	"net/http"
)

// authContext carries an authenticated request's identity, and what the
// gates of one decision tell each other. It is one allocation (what
// context.WithValue would cost), kept to 64 bytes, and holds the Manager
// that verified the key, so that RequireScopes applies that Manager's
// wildcards and implications, and LimitRoute its limiter.
//
// Only the request's own goroutine writes its fields after it is made
// (state, covered, room), and only the middleware and the gates read
// them.
type authContext struct {
	context.Context
	rec     *Record  // nil without a key; FromContext gives &rec.Key
	manager *Manager // nil for a context of ContextWithAuthMethod (no key)
	method  string
	// responder answers refusals as the middleware that authenticated the
	// request was configured to (realm, error handler, logger, cost,
	// headers), so that the gates downstream answer the same way. nil:
	// the defaults.
	responder *responder
	// room is the share of the tightest limit reported in the headers so
	// far (+Inf without one), for a LimitRoute deciding on its own to tell
	// whether its limit is tighter.
	room  float32
	state uint8
	// covered counts the gates, directly inside the one that decided, that
	// the decision covered: each passes through and counts it down.
	covered uint8
}

// authContext.state flags.
const (
	// stateRoute: the middleware only authenticated the key; the route's
	// outermost gate decides for its whole chain (scopes, limits, quota).
	stateRoute uint8 = 1 << iota
	// stateRefused: a gate refused the request after something was taken
	// for it; whoever took gives it back when the handler returns.
	stateRefused
)

// key is the request's key, nil without one.
func (c *authContext) key() *Key {
	if c.rec == nil {
		return nil
	}
	return &c.rec.Key
}

// scopePolicy is the policy of the Manager that verified the key.
func (c *authContext) scopePolicy() *scopePolicy {
	if c.manager == nil {
		return nil
	}
	return c.manager.policy
}

// refused records that a gate refused the request, for those that took
// from its budget to give it back.
func (c *authContext) refused() {
	if c != nil {
		c.state |= stateRefused
	}
}

// GiveBack tells the middleware that the handler refused the request in
// ctx for a reason of its own (say a 403 it writes after its own
// authorization check), so that what the request took from the key's rate
// limits and quota is given back when the handler returns, as it is for a
// refusal of RequireScopes or LimitRoute. A refused request spends no
// budget. It does nothing for a request the middleware did not charge.
func GiveBack(ctx context.Context) { fromContext(ctx).refused() }

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

// authMethodAPIKey is what AuthMethod reports for a request authenticated
// with an API key.
const authMethodAPIKey = "api_key"

// NewContext returns a copy of ctx carrying k and this Manager's scope
// rules, as the middleware does after a successful Verify: for handlers
// that call Verify themselves and then use FromContext or RequireScopes
// downstream.
func (m *Manager) NewContext(ctx context.Context, k *Key) context.Context {
	return newKeyContext(ctx, k, m)
}

// newKeyContext carries a copy of k (in one allocation with the context):
// the gates work on records.
func newKeyContext(ctx context.Context, k *Key, m *Manager) *authContext {
	c := &struct {
		authContext
		rec Record
	}{}
	c.rec.Key = *k
	c.authContext = authContext{Context: ctx, rec: &c.rec, manager: m, method: authMethodAPIKey, room: roomOf(Decision{})}
	return &c.authContext
}

// ContextWithAuthMethod returns a copy of ctx that reports method from AuthMethod,
// for a fallback authenticator (a session, a JWT) to say how it
// authenticated the request. No Key is attached.
func ContextWithAuthMethod(ctx context.Context, method string) context.Context {
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
	if !ok || c.rec == nil {
		return nil, false
	}
	return &c.rec.Key, true
}

// AuthMethod returns how the request was authenticated: "api_key",
// what a fallback authenticator set with ContextWithAuthMethod, or "" when it was
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

// authRequest is a request copy and its context in one allocation, where
// r.WithContext(&authContext{…}) makes two.
type authRequest struct {
	ac  authContext
	req http.Request
}

// withAuthContext returns a shallow copy of r whose context is ac over
// r's context, and that context, in one allocation. The copy that
// WithContext makes stays on the stack (it does not escape) and is moved
// into the allocation.
func withAuthContext(r *http.Request, ac authContext) (*http.Request, *authContext) {
	ar := &authRequest{ac: ac}
	ar.ac.Context = r.Context()
	ar.req = *r.WithContext(&ar.ac)
	return &ar.req, &ar.ac
}
